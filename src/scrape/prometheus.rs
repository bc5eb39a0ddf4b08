//! A parser of the Prometheus text exposition format (version 0.0.4, which vLLM, SGLang,
//! TGI and llama-server serve at `/metrics`), pure: text in, samples out, no I/O.
//!
//! Why our own: the one small crate for it (`prometheus-parse` 0.2) reads metric names
//! as `\w+`, so it cannot read `llamacpp:requests_processing` or `vllm:num_requests_running`
//! (names with colons are the norm here), and it splits label sets on `,` and `=`, which
//! breaks on a label value holding either.
//!
//! What it reads, line by line:
//! - `# HELP name text` (text escapes `\\` and `\n`) and `# TYPE name kind`; any other
//!   comment (`# EOF` of OpenMetrics included) is skipped;
//! - `name{label="value",...} value [timestamp]`: names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label
//!   names `[a-zA-Z_][a-zA-Z0-9_]*`, label values with the escapes `\\`, `\"`, `\n`, a
//!   trailing comma allowed, spaces and tabs around tokens; values as Go writes floats
//!   (`+Inf`, `-Inf`, `NaN`, exponents); an optional integer timestamp in ms; an
//!   OpenMetrics exemplar (` # {...} v`) after them is ignored.
//!
//! A line that is none of these is kept as a [`LineError`] with its number and the reason,
//! and the rest of the text is still read: one odd line from a server must not cost the
//! whole scrape. [`parse`] takes any `&str` and never panics (a fuzz target's signature).

use std::collections::BTreeMap;

/// The kind a `# TYPE` line gives a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    fn from_word(w: &str) -> Kind {
        match w {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" | "gaugehistogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            _ => Kind::Untyped,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the epoch, when the line gave one.
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of one label.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// Everything one exposition said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// Family name → kind, from `# TYPE` lines.
    pub types: BTreeMap<String, Kind>,
    /// Family name → help text, from `# HELP` lines.
    pub help: BTreeMap<String, String>,
    pub errors: Vec<LineError>,
}

impl Exposition {
    /// The kind of the family a sample name belongs to: its own `# TYPE`, else that of the
    /// name less a histogram or summary suffix (`_bucket`, `_sum`, `_count`) or a counter's
    /// `_total` / `_created`; `Untyped` when none says.
    pub fn kind_of(&self, sample_name: &str) -> Kind {
        if let Some(k) = self.types.get(sample_name) {
            return *k;
        }
        for suffix in ["_bucket", "_sum", "_count", "_total", "_created"] {
            if let Some(k) = sample_name
                .strip_suffix(suffix)
                .and_then(|base| self.types.get(base))
            {
                return *k;
            }
        }
        Kind::Untyped
    }

    /// Samples named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// Parse a whole exposition. Never fails: unreadable lines go to [`Exposition::errors`].
pub fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            comment_line(comment, &mut out);
            continue;
        }
        match sample_line(line) {
            Ok(s) => out.samples.push(s),
            Err(reason) => out.errors.push(LineError {
                line: i + 1,
                reason: reason.to_string(),
            }),
        }
    }
    out
}

fn comment_line(comment: &str, out: &mut Exposition) {
    let mut words = comment.trim_start_matches([' ', '\t']);
    let keyword = take_word(&mut words);
    match keyword {
        "HELP" => {
            let name = take_word(&mut words);
            if is_metric_name(name) {
                out.help
                    .insert(name.to_string(), unescape_help(words.trim_start()));
            }
        }
        "TYPE" => {
            let name = take_word(&mut words);
            let kind = take_word(&mut words);
            if is_metric_name(name) {
                out.types.insert(name.to_string(), Kind::from_word(kind));
            }
        }
        _ => {}
    }
}

/// The next space- or tab-separated word of `s`, advancing it.
fn take_word<'a>(s: &mut &'a str) -> &'a str {
    let t = s.trim_start_matches([' ', '\t']);
    let end = t.find([' ', '\t']).unwrap_or(t.len());
    let (w, rest) = t.split_at(end);
    *s = rest;
    w
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn is_name_start(b: u8, colon: bool) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':')
}

fn is_name_char(b: u8, colon: bool) -> bool {
    is_name_start(b, colon) || b.is_ascii_digit()
}

fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0], true) && b.iter().all(|&c| is_name_char(c, true))
}

/// Length of the name at the start of `s` (0 when there is none).
fn name_len(s: &[u8], colon: bool) -> usize {
    match s.first() {
        Some(&c) if is_name_start(c, colon) => s
            .iter()
            .position(|&c| !is_name_char(c, colon))
            .unwrap_or(s.len()),
        _ => 0,
    }
}

fn skip_blanks(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

fn sample_line(line: &str) -> Result<Sample, &'static str> {
    let n = name_len(line.as_bytes(), true);
    if n == 0 {
        return Err("no metric name at the start of the line");
    }
    let name = &line[..n];
    let mut rest = skip_blanks(&line[n..]);
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = label_set(after, &mut labels)?;
    }
    let value_word = take_word(&mut rest);
    if value_word.is_empty() {
        return Err("no value after the metric name");
    }
    let value = parse_value(value_word).ok_or("the value is not a number")?;
    let mut timestamp_ms = None;
    let ts_word = take_word(&mut rest);
    if !ts_word.is_empty() && ts_word != "#" {
        timestamp_ms = Some(
            ts_word
                .parse::<i64>()
                .map_err(|_| "the timestamp is not an integer")?,
        );
        let after = skip_blanks(rest);
        if !after.is_empty() && !after.starts_with('#') {
            return Err("text after the timestamp");
        }
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Read `a="x",b="y"}` into `labels`; returns what follows the closing brace.
fn label_set<'a>(
    mut s: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, &'static str> {
    loop {
        s = skip_blanks(s);
        if let Some(after) = s.strip_prefix('}') {
            return Ok(after);
        }
        let n = name_len(s.as_bytes(), false);
        if n == 0 {
            return Err("a label name was expected");
        }
        let key = &s[..n];
        s = skip_blanks(&s[n..]);
        s = s
            .strip_prefix('=')
            .ok_or("`=` was expected after a label name")?;
        s = skip_blanks(s);
        s = s.strip_prefix('"').ok_or("a label value must be quoted")?;
        let (value, after) = quoted(s)?;
        labels.push((key.to_string(), value));
        s = skip_blanks(after);
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else if !s.starts_with('}') {
            return Err("`,` or `}` was expected after a label value");
        }
    }
}

/// The rest of a quoted label value (after the opening quote), unescaped, and what follows
/// the closing quote.
fn quoted(s: &str) -> Result<(String, &str), &'static str> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("a label value ends in a lone backslash"),
            },
            c => out.push(c),
        }
    }
    Err("a label value is not closed")
}

/// A float as Go and Python clients write it: `+Inf`, `-Inf`, `NaN`, decimals, exponents.
pub fn parse_value(w: &str) -> Option<f64> {
    match w {
        "+Inf" | "Inf" | "+inf" | "inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Rust also reads "infinity" and the like; the format has only the spellings above.
    if w.bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    w.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_server_exposition_as_served() {
        let text = "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens\n\
# TYPE llamacpp:prompt_tokens_total counter\n\
llamacpp:prompt_tokens_total 11\n\
# HELP llamacpp:requests_processing Number of requests processing\n\
# TYPE llamacpp:requests_processing gauge\n\
llamacpp:requests_processing 1\n\
# TYPE llamacpp:prompt_seconds_total counter\n\
llamacpp:prompt_seconds_total 0.266558\n\n";
        let e = parse(text);
        assert_eq!(e.errors, vec![]);
        assert_eq!(e.samples.len(), 3);
        assert_eq!(e.samples[0].name, "llamacpp:prompt_tokens_total");
        assert_eq!(e.samples[0].value, 11.0);
        assert_eq!(e.samples[2].value, 0.266558);
        assert_eq!(e.kind_of("llamacpp:requests_processing"), Kind::Gauge);
        assert_eq!(e.kind_of("llamacpp:prompt_tokens_total"), Kind::Counter);
        assert_eq!(
            e.help["llamacpp:prompt_tokens_total"],
            "Number of prompt tokens processed, excluding cached tokens"
        );
    }

    #[test]
    fn labels_with_escapes_commas_and_equals() {
        let e = parse(
            r#"msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9"#,
        );
        assert_eq!(e.errors, vec![]);
        let s = &e.samples[0];
        assert_eq!(s.label("path"), Some(r"C:\DIR\FILE.TXT"));
        assert_eq!(s.label("error"), Some("Cannot find file:\n\"FILE.TXT\""));
        assert_eq!(s.value, 1.458255915e9);
        let e = parse(r#"m{a="x,y=z", b = "}" ,} 2"#);
        assert_eq!(e.errors, vec![]);
        assert_eq!(
            e.samples[0].labels,
            vec![("a".into(), "x,y=z".into()), ("b".into(), "}".into())]
        );
        assert_eq!(e.samples[0].value, 2.0);
    }

    #[test]
    fn histogram_buckets_inf_nan_and_timestamps() {
        let text = "# TYPE vllm:time_to_first_token_seconds histogram\n\
vllm:time_to_first_token_seconds_bucket{le=\"0.001\",model_name=\"m\"} 0.0\n\
vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 16.0\n\
vllm:time_to_first_token_seconds_count{model_name=\"m\"} 16.0\n\
vllm:time_to_first_token_seconds_sum{model_name=\"m\"} 1.5\n\
weird NaN\n\
neg -Inf 1395066363000\n\
old_ts 3 -1\n";
        let e = parse(text);
        assert_eq!(e.errors, vec![]);
        assert_eq!(e.samples.len(), 7);
        assert_eq!(e.samples[1].label("le"), Some("+Inf"));
        assert_eq!(
            parse_value(e.samples[1].label("le").unwrap()),
            Some(f64::INFINITY)
        );
        assert_eq!(
            e.kind_of("vllm:time_to_first_token_seconds_bucket"),
            Kind::Histogram
        );
        assert_eq!(
            e.kind_of("vllm:time_to_first_token_seconds_sum"),
            Kind::Histogram
        );
        assert!(e.samples[4].value.is_nan());
        assert_eq!(e.samples[5].value, f64::NEG_INFINITY);
        assert_eq!(e.samples[5].timestamp_ms, Some(1_395_066_363_000));
        assert_eq!(e.samples[6].timestamp_ms, Some(-1));
        assert_eq!(e.kind_of("weird"), Kind::Untyped);
    }

    #[test]
    fn comments_blank_lines_eof_exemplars_and_tabs() {
        let text = "# a free comment\n#HELP x\tthe help \\\\ of \\n x\n\n# EOF\n\
x\t{ a = \"1\" }\t5\n\
foo_total 17.0 1520879607789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
bar 1 # {id=\"e\"} 2\n";
        let e = parse(text);
        assert_eq!(e.errors, vec![]);
        assert_eq!(e.help["x"], "the help \\ of \n x");
        assert_eq!(e.samples.len(), 3);
        assert_eq!(e.samples[0].label("a"), Some("1"));
        assert_eq!(e.samples[1].value, 17.0);
        assert_eq!(e.samples[1].timestamp_ms, Some(1_520_879_607_789));
        assert_eq!(e.samples[2].timestamp_ms, None);
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_is_read() {
        let text = "good 1\n{x=\"1\"} 2\nno_value\nm{a=1} 3\nm{a=\"open} 3\nm 1 2 3\nm infinity\nm 0x10\nalso_good 2\r\n";
        let e = parse(text);
        assert_eq!(
            e.samples
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            vec!["good", "also_good"]
        );
        let lines: Vec<usize> = e.errors.iter().map(|x| x.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8]);
        assert!(e.errors[2].reason.contains("quoted"), "{:?}", e.errors[2]);
    }

    #[test]
    fn values_as_go_writes_them() {
        assert_eq!(parse_value("1e-3"), Some(0.001));
        assert_eq!(parse_value("-0"), Some(-0.0));
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_value("infinity"), None);
        assert_eq!(parse_value(""), None);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "\u{0}",
            "m{",
            "m{a",
            "m{a=",
            "m{a=\"",
            "m{a=\"\\",
            "m{a=\"x\"",
            "# TYPE",
            "#",
            "ü 1",
            "m{ü=\"1\"} 1",
            "m 1 ü",
            "m{a=\"é\\ü\"} 1",
        ] {
            let _ = parse(text);
        }
        let e = parse("m{a=\"é\\ü\"} 1");
        assert_eq!(e.samples[0].label("a"), Some("é\\ü"));
    }
}
