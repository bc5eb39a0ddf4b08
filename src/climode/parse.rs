//! Small pure helpers shared by the CLI-output parsers: terminal-noise removal, log-prefix
//! stripping, a number scanner, and Go `time.Duration` strings.
//!
//! Nothing here allocates more than one line at a time or can panic on any input; the
//! parsers built on it are property-tested with arbitrary text.

/// Remove ANSI escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ST`, and two-byte
/// `ESC x`), braille spinner glyphs (U+2800–U+28FF) and carriage returns.
///
/// Ollama draws a spinner on stderr before its stats, Uzu prints its stats line in bold,
/// and Windows-made logs end lines with `\r\n`; none of that may stand between a label and
/// the start of its line.
pub fn strip_terminal_noise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => {
                    // CSI: parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    // OSC: until BEL or ESC \.
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            '\u{2800}'..='\u{28ff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Strip llama.cpp's optional log prefix from a line: the time stamp and level letter
/// (`0.09.459.723 I `), as printed by builds with log timestamps on. Lines without one are
/// returned unchanged (trimmed at the start).
pub fn strip_log_time_prefix(line: &str) -> &str {
    let t = line.trim_start();
    let stamp_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let stamp = &t[..stamp_len];
    if stamp_len == 0 || !stamp.contains('.') || !stamp.starts_with(|c: char| c.is_ascii_digit()) {
        return t;
    }
    let rest = &t[stamp_len..];
    // " I " / " W " / " E " / " D " ...: one space, one ASCII capital, one space.
    let mut it = rest.char_indices();
    match (it.next(), it.next(), it.next()) {
        (Some((_, ' ')), Some((_, lvl)), Some((i, ' '))) if lvl.is_ascii_uppercase() => {
            rest[i..].trim_start()
        }
        _ => t,
    }
}

/// Split `ident: rest` where `ident` is a C identifier (`common_perf_print`,
/// `llama_perf_context_print`, `main`). Returns `None` for anything else.
pub fn split_ident_prefix(line: &str) -> Option<(&str, &str)> {
    let colon = line.find(':')?;
    let ident = &line[..colon];
    if ident.is_empty()
        || !ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || ident.starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    Some((ident, &line[colon + 1..]))
}

/// Collapse runs of whitespace to one space and trim: label comparison ignores spacing.
pub fn normalize_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number found in text and the words that follow it up to the next number or
/// punctuation, e.g. `(12.79, "ms per token")`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// `None` when the text said `inf`/`nan` (llama.cpp prints `inf tokens per second`
    /// for a zero-length phase).
    pub value: Option<f64>,
    /// The words after the number, spacing normalised, lower case.
    pub unit: String,
}

/// Scan `text` for numbers (`12`, `12.5`, `1e3`, `inf`, `nan`) each with the words that
/// follow it until `/` (unless it joins letters, as in `t/s`), `(`, `)`, `,`, `;`, `|`,
/// `[`, `]`, `=` or the next number.
pub fn scan_quantities(text: &str) -> Vec<Quantity> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (num_end, value) = if let Some(end) = number_at(b, i) {
            (
                end,
                text[i..end].parse::<f64>().ok().filter(|v| v.is_finite()),
            )
        } else if word_at(b, i, b"inf") || word_at(b, i, b"nan") {
            (i + 3, None)
        } else {
            i += 1;
            continue;
        };
        // Words until a separator or the next number.
        let mut j = num_end;
        while j < b.len() {
            let c = b[j];
            // `/` inside a unit (`t/s`, `tokens/s`) joins letters; elsewhere it separates.
            let unit_slash = c == b'/'
                && j > 0
                && b[j - 1].is_ascii_alphabetic()
                && b.get(j + 1).is_some_and(|n| n.is_ascii_alphabetic());
            if (matches!(
                c,
                b'/' | b'(' | b')' | b',' | b';' | b'|' | b'[' | b']' | b'='
            ) && !unit_slash)
                || number_at(b, j).is_some()
            {
                break;
            }
            j += 1;
        }
        let unit = normalize_spaces(&text[num_end..j]).to_lowercase();
        out.push(Quantity { value, unit });
        i = j.max(num_end);
    }
    out
}

/// If a decimal number starts at `i` (not inside a word), return its end.
fn number_at(b: &[u8], i: usize) -> Option<usize> {
    if !b[i].is_ascii_digit() {
        return None;
    }
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.') {
        return None;
    }
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    // Exponent: e+05, E-3.
    if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
        let mut k = j + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    Some(j)
}

fn word_at(b: &[u8], i: usize, w: &[u8]) -> bool {
    b.len() >= i + w.len()
        && b[i..i + w.len()].eq_ignore_ascii_case(w)
        && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        && b.get(i + w.len())
            .is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// Parse the first number in `text` (ignoring what follows it).
pub fn first_number(text: &str) -> Option<f64> {
    scan_quantities(text)
        .into_iter()
        .next()
        .and_then(|q| q.value)
}

/// Parse a Go `time.Duration` string (`4.23271s`, `130.079ms`, `1.2µs`, `1m2.5s`,
/// `1h0m0s`, `0s`, `350ns`) into milliseconds. `None` if it is not one.
pub fn parse_go_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ms = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor_ms = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms += value * factor_ms;
    }
    if !total_ms.is_finite() {
        return None;
    }
    Some(if neg { -total_ms } else { total_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_and_spinner_removed() {
        let s = "\u{1b}[?25l⠙ \u{1b}[?25h\u{1b}[2K\u{1b}[1Gtotal duration: 1s\r";
        assert_eq!(strip_terminal_noise(s), " total duration: 1s");
        assert_eq!(
            strip_terminal_noise("\u{1b}[1mtime: 1s\u{1b}[0m"),
            "time: 1s"
        );
        assert_eq!(strip_terminal_noise("\u{1b}]0;title\u{7}x"), "x");
    }

    #[test]
    fn time_prefix_stripped_only_when_present() {
        assert_eq!(
            strip_log_time_prefix("0.09.459.723 I common_perf_print: x"),
            "common_perf_print: x"
        );
        assert_eq!(
            strip_log_time_prefix("common_perf_print: x"),
            "common_perf_print: x"
        );
        assert_eq!(strip_log_time_prefix("12.5 tokens"), "12.5 tokens");
        assert_eq!(strip_log_time_prefix("1.2.3 i lower"), "1.2.3 i lower");
        assert_eq!(strip_log_time_prefix(""), "");
    }

    #[test]
    fn quantities() {
        let q = scan_quantities("805.95 ms/63 runs(12.79 ms per token,78.17 tokens per second)");
        let pairs: Vec<(Option<f64>, &str)> =
            q.iter().map(|q| (q.value, q.unit.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                (Some(805.95), "ms"),
                (Some(63.0), "runs"),
                (Some(12.79), "ms per token"),
                (Some(78.17), "tokens per second"),
            ]
        );
        let q = scan_quantities("0.00 ms / 1 tokens ( 0.00 ms per token, inf tokens per second)");
        assert_eq!(q[3].value, None);
        assert_eq!(q[3].unit, "tokens per second");
        assert_eq!(scan_quantities("x86_64 v2 0.8 %")[0].value, Some(0.8));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_ms("4.23271s"), Some(4232.71));
        assert_eq!(parse_go_duration_ms("130.079ms"), Some(130.079));
        let us = parse_go_duration_ms("1.2µs").unwrap();
        assert!((us - 0.0012).abs() < 1e-12);
        assert_eq!(parse_go_duration_ms("1.2us"), parse_go_duration_ms("1.2μs"));
        assert_eq!(parse_go_duration_ms("1m2.5s"), Some(62500.0));
        assert_eq!(parse_go_duration_ms("1h0m0s"), Some(3_600_000.0));
        assert_eq!(parse_go_duration_ms("0s"), Some(0.0));
        assert_eq!(parse_go_duration_ms("0"), Some(0.0));
        assert_eq!(parse_go_duration_ms("350ns"), Some(350e-6));
        assert_eq!(parse_go_duration_ms("12"), None);
        assert_eq!(parse_go_duration_ms("s"), None);
        assert_eq!(parse_go_duration_ms("1.5 s"), None);
        assert_eq!(parse_go_duration_ms(""), None);
        assert_eq!(parse_go_duration_ms("3d"), None);
    }
}
