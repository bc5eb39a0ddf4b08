//! The helpers every CLI-output parser is built on (`climode::parse`), fed arbitrary text
//! (invalid UTF-8 replaced, as the runner reads engine output lossily).
//!
//! Checks, besides "no panic":
//! - `strip_terminal_noise` leaves no ESC, CR or braille glyph and is idempotent;
//! - `strip_log_time_prefix` returns a suffix of its input;
//! - `split_ident_prefix` splits at the first `:` into a C identifier and the rest;
//! - `normalize_spaces` is idempotent and has no leading, trailing or double space;
//! - `scan_quantities` and `first_number` find only finite, non-negative values, with
//!   trimmed, single-spaced units free of ASCII capitals;
//! - `parse_go_duration_ms` gives a finite figure or `None`, and agrees with itself
//!   across surrounding spaces and a leading `+`/`-`.
#![no_main]

use inferbench::climode::parse::{
    first_number, normalize_spaces, parse_go_duration_ms, scan_quantities, split_ident_prefix,
    strip_log_time_prefix, strip_terminal_noise,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();

    let clean = strip_terminal_noise(text);
    assert!(
        !clean.contains(['\u{1b}', '\r'])
            && !clean.contains(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
        "noise left in {clean:?}"
    );
    assert_eq!(strip_terminal_noise(&clean), clean, "not idempotent");

    for line in clean.lines().chain(text.lines()) {
        let stripped = strip_log_time_prefix(line);
        assert!(
            line.ends_with(stripped),
            "{stripped:?} is no suffix of {line:?}"
        );

        if let Some((ident, rest)) = split_ident_prefix(line) {
            assert_eq!(format!("{ident}:{rest}"), line);
            assert!(!ident.is_empty() && !ident.contains(':'));
            assert!(ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            assert!(!ident.starts_with(|c: char| c.is_ascii_digit()));
        }

        let n = normalize_spaces(line);
        assert_eq!(normalize_spaces(&n), n);
        assert!(!n.starts_with(' ') && !n.ends_with(' ') && !n.contains("  "));

        let qs = scan_quantities(line);
        for q in &qs {
            if let Some(v) = q.value {
                assert!(v.is_finite() && v >= 0.0, "value {v} in {line:?}");
            }
            let u = &q.unit;
            assert!(
                !u.starts_with(' ') && !u.ends_with(' ') && !u.contains("  "),
                "{u:?}"
            );
            assert!(!u.contains(|c: char| c.is_ascii_uppercase()), "{u:?}");
        }
        if let Some(v) = first_number(line) {
            assert!(v.is_finite() && v >= 0.0, "first number {v} in {line:?}");
        }

        let d = parse_go_duration_ms(line);
        if let Some(ms) = d {
            assert!(ms.is_finite(), "{ms} from {line:?}");
        }
        assert_eq!(parse_go_duration_ms(&format!("  {line}\t")), d);
        let t = line.trim();
        if !t.starts_with(['+', '-']) && !t.is_empty() {
            assert_eq!(parse_go_duration_ms(&format!("+{t}")), d, "+{t}");
            let neg = parse_go_duration_ms(&format!("-{t}"));
            assert_eq!(neg.map(|v| -v), d, "-{t}");
        }
    }
});
