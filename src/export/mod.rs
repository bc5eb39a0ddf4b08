//! Renderers from the result model to bytes. Each is pure (`&ResultsDoc → String`); file
//! I/O lives in [`crate::output`].

pub mod json;
pub mod log;
pub mod markdown;

// Load-branch exporters (pure, like the rest).
pub mod csv;
pub mod html;

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    escape(s, false, false)
}

/// Escape text for HTML and Markdown contexts: `& < > " '` become entities, and the
/// Markdown metacharacters that could change table or emphasis structure are
/// backslash-escaped. Newlines become spaces when `single_line` is set.
pub fn escape_text(s: &str, single_line: bool) -> String {
    escape(s, true, single_line)
}

fn escape(s: &str, markdown: bool, single_line: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' | '#' if markdown => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' if single_line => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_html_and_markdown() {
        assert_eq!(
            super::escape_text("<script>a|b</script>\n*x*", true),
            "&lt;script&gt;a\\|b&lt;/script&gt; \\*x\\*"
        );
    }
}
