//! Ollama's `--verbose` stats (`engines::ollama::cli::parse_verbose_stats`): arbitrary text as
//! `ollama run`'s stderr, spinner and escape codes included (invalid UTF-8 replaced).
//!
//! Checks, besides "no panic":
//! - every figure read is finite, and counts and rates are non-negative;
//! - the last readable line with a label wins: the text twice over parses like the text
//!   once;
//! - the `eval rate` / `prompt eval rate` trap: a `prompt eval rate` line appended to any
//!   text sets the prefill rate and leaves the decode rate alone, and the other way round.
#![no_main]

use inferbench::engines::ollama::cli::{VerboseStats, parse_verbose_stats};
use inferbench::climode::parse::strip_terminal_noise;
use libfuzzer_sys::fuzz_target;

fn check(s: &VerboseStats) {
    for (what, v) in [
        ("total_ms", s.total_ms),
        ("load_ms", s.load_ms),
        ("prompt_eval_ms", s.prompt_eval_ms),
        ("eval_ms", s.eval_ms),
    ] {
        if let Some(v) = v {
            assert!(v.is_finite(), "{what} = {v}");
        }
    }
    for (what, v) in [
        ("prompt_eval_rate", s.prompt_eval_rate),
        ("eval_rate", s.eval_rate),
    ] {
        if let Some(v) = v {
            assert!(v.is_finite() && v >= 0.0, "{what} = {v}");
        }
    }
    let _ = (s.decode_tps(), s.prefill_tps(), s.to_report(), s.is_empty());
}

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();

    let stats = parse_verbose_stats(text);
    check(&stats);

    let clean = strip_terminal_noise(text);
    assert_eq!(
        parse_verbose_stats(&format!("{clean}\n{clean}")),
        stats,
        "twice over"
    );

    let with_prompt = parse_verbose_stats(&format!("{clean}\nprompt eval rate:  12.50 tokens/s\n"));
    assert_eq!(
        with_prompt.eval_rate, stats.eval_rate,
        "prompt eval rate moved eval rate"
    );
    assert_eq!(with_prompt.prompt_eval_rate, Some(12.5));
    let with_eval = parse_verbose_stats(&format!("{clean}\neval rate: 3.25 tokens/s"));
    assert_eq!(
        with_eval.prompt_eval_rate, stats.prompt_eval_rate,
        "eval rate moved prefill"
    );
    assert_eq!(with_eval.eval_rate, Some(3.25));
    let with_count = parse_verbose_stats(&format!("{clean}\neval count:  7 token(s)\n"));
    assert_eq!(with_count.prompt_eval_count, stats.prompt_eval_count);
    assert_eq!(with_count.eval_count, Some(7));
});
