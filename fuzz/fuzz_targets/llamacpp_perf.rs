//! llama.cpp output parsers (`engines::llamacpp::cli`): arbitrary text as a tool's stderr and
//! stdout (invalid UTF-8 replaced, as the runner reads it lossily).
//!
//! Feeds the perf block (`common_perf_print:` / `llama_perf_context_print:` /
//! `llama_print_timings:`), the chat `[ Prompt: … | Generation: … ]` line, llama-simple's
//! `decoded N tokens …` line, `llama-bench -o json`, and the chat reply locator (input
//! split at its first NUL into stdout and the user prompt).
//!
//! Checks, besides "no panic":
//! - every figure read is finite and non-negative;
//! - the last line with a label wins: the text twice over parses like the text once;
//! - the `prompt eval time` / `eval time` trap: a `prompt eval time` line appended to any
//!   text sets `prompt_eval` to it and leaves `eval` alone, and the other way round;
//! - the chat reply range lies inside stdout, on character boundaries.
#![no_main]

use inferbench::engines::llamacpp::cli::{
    Parsed, PerfBlock, Phase, chat_reply_range, parse_bench_json, parse_perf_block, strip_echo,
};
use inferbench::climode::parse::strip_terminal_noise;
use libfuzzer_sys::fuzz_target;

fn check_figure(what: &str, v: Option<f64>) {
    if let Some(v) = v {
        assert!(v.is_finite() && v >= 0.0, "{what} = {v}");
    }
}

fn check_phase(what: &str, p: &Option<Phase>) {
    if let Some(p) = p {
        assert!(p.ms.is_some(), "{what} without its ms");
        check_figure(what, p.ms);
        check_figure(what, p.ms_per_token);
        check_figure(what, p.tokens_per_second);
        let _ = (p.rate(), p.is_consistent());
    }
}

fn check_block(b: &PerfBlock) {
    check_figure("load_ms", b.load_ms);
    check_figure("total_ms", b.total_ms);
    check_phase("sampling", &b.sampling);
    check_phase("prompt_eval", &b.prompt_eval);
    check_phase("eval", &b.eval);
    assert_eq!(
        b.prefix.is_empty(),
        b.is_empty(),
        "prefix {:?} vs labels",
        b.prefix
    );
    let _ = b.to_report();
}

fn phase(ms: f64, count: u64) -> Option<Phase> {
    Some(Phase {
        ms: Some(ms),
        count: Some(count),
        ms_per_token: None,
        tokens_per_second: None,
    })
}

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let text = text.as_ref();

    // As stdout with an empty stderr: the perf block, chat and llama-simple parsers each
    // read the text once.
    let parsed = Parsed::from_output(text, "");
    let block = parsed.perf.clone();
    check_block(&block);
    let _ = parsed.report();

    let clean = strip_terminal_noise(text);
    assert_eq!(
        parse_perf_block(&format!("{clean}\n{clean}")),
        block,
        "twice over"
    );

    let prompt_line = "common_perf_print: prompt eval time =    1.00 ms /  1 tokens";
    let with_prompt = parse_perf_block(&format!("{clean}\n{prompt_line}\n"));
    assert_eq!(
        with_prompt.eval, block.eval,
        "a prompt eval line moved eval"
    );
    assert_eq!(with_prompt.prompt_eval, phase(1.0, 1));
    assert_eq!(with_prompt.prefix, "common_perf_print");
    let eval_line = "llama_perf_context_print:        eval time = 2.00 ms / 3 runs";
    let with_eval = parse_perf_block(&format!("{clean}\n{eval_line}"));
    assert_eq!(
        with_eval.prompt_eval, block.prompt_eval,
        "an eval line moved prompt eval"
    );
    assert_eq!(with_eval.eval, phase(2.0, 3));

    if let Some(c) = parsed.chat {
        check_figure("prompt_tps", c.prompt_tps);
        check_figure("generation_tps", c.generation_tps);
    }
    if let Some(s) = parsed.simple {
        check_figure("seconds", Some(s.seconds));
        check_figure("speed", s.tokens_per_second);
    }
    if text.trim_start().starts_with('[') {
        let _ = parse_bench_json(text);
    }

    let (stdout, user) = text.split_once('\0').unwrap_or((text, ""));
    if let Some((from, to)) = chat_reply_range(stdout, user) {
        assert!(
            from <= to && to <= stdout.len(),
            "{from}..{to} of {}",
            stdout.len()
        );
        assert!(
            stdout.get(from..to).is_some(),
            "{from}..{to} splits a character"
        );
    }
    let body = strip_echo(stdout, user);
    assert!(stdout.contains(body), "strip_echo invented text");
});
