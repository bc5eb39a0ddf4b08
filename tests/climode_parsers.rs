//! The CLI-mode parsers against fixtures captured from real programs and crafted from
//! documented formats (tests/fixtures/cli/README.md says which is which), plus property
//! tests: no panic on any input, the right numbers for any spacing, prefix and order.

use inferbench::climode::parse;
use inferbench::engines::{llamacpp::cli as llamacpp, ollama::cli as ollama, uzu::cli as uzu};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/cli/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ------------------------------------------------------------------------------------
// llama.cpp, real captures
// ------------------------------------------------------------------------------------

#[test]
fn real_llama_completion_with_time_prefix() {
    let p = llamacpp::Parsed::from_output(
        &fixture("llama-completion.stdout"),
        &fixture("llama-completion.stderr"),
    );
    assert_eq!(p.perf.prefix, "common_perf_print");
    let r = p.report().unwrap();
    assert_eq!(r.decode_tps, Some(3.93));
    assert_eq!(r.decode_tokens, Some(31));
    assert_eq!(r.decode_ms, Some(7881.83));
    assert_eq!(r.prefill_tps, Some(38.45));
    assert_eq!(r.prompt_tokens, Some(16));
    assert_eq!(r.load_ms, Some(427.41));
    assert_eq!(r.total_ms, Some(8312.91));
    assert!(p.perf.eval.as_ref().unwrap().is_consistent());
    assert!(p.perf.prompt_eval.as_ref().unwrap().is_consistent());
}

#[test]
fn real_llama_completion_without_prefix() {
    let b = llamacpp::parse_perf_block(&fixture("llama-completion-noprefix.stderr"));
    let r = b.to_report();
    assert_eq!(r.decode_tps, Some(8.72));
    assert_eq!(r.prefill_tps, Some(10.29));
    assert_eq!(r.load_ms, Some(2013.22));
}

#[test]
fn real_llama_completion_jinja_and_echo() {
    let stdout = fixture("llama-completion-jinja.stdout");
    let b = llamacpp::parse_perf_block(&fixture("llama-completion-jinja.stderr"));
    assert_eq!(b.to_report().decode_tps, Some(61.87));
    assert_eq!(b.eval.unwrap().count, Some(7));
    let echo = "system\nBe brief.\nuser\nWhat is the capital of France?\nassistant\n";
    assert_eq!(
        llamacpp::strip_echo(&stdout, echo),
        "The capital of France is Paris."
    );
}

#[test]
fn real_new_llama_cli_chat_line() {
    let p = llamacpp::Parsed::from_output(
        &fixture("llama-cli-chat.stdout"),
        &fixture("llama-cli-chat.stderr"),
    );
    assert!(p.perf.is_empty());
    let r = p.report().unwrap();
    assert_eq!(r.prefill_tps, Some(69.2));
    assert_eq!(r.decode_tps, Some(34.6));
}

#[test]
fn real_llama_cli_refuses_no_cnv() {
    assert!(llamacpp::refuses_no_cnv(&fixture(
        "llama-cli-refuses-no-cnv.stderr"
    )));
    assert!(!llamacpp::refuses_no_cnv(&fixture(
        "llama-completion.stderr"
    )));
}

#[test]
fn real_llama_bench_json_tg_row() {
    let rows = llamacpp::parse_bench_json(&fixture("llama-bench.json")).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].is_pp());
    let tg = llamacpp::tg_row(&rows).unwrap();
    assert_eq!((tg.n_prompt, tg.n_gen, tg.n_threads), (0, 32, 2));
    assert_eq!(tg.avg_ts, 13.931001);
    assert_eq!(tg.samples_ts, vec![21.2084, 6.65355]);
    assert_eq!(tg.model_size, 246_587_904);
}

// ------------------------------------------------------------------------------------
// llama.cpp, crafted variants
// ------------------------------------------------------------------------------------

/// What the seed's harness most likely did: the first "eval time … tokens per second"
/// anywhere in the text.
fn naive_first_eval_rate(text: &str) -> Option<f64> {
    let i = text.find("eval time")?;
    let rest = &text[i..];
    let j = rest.find("tokens per second")?;
    let before = rest[..j].trim_end();
    let start = before.rfind(|c: char| !(c.is_ascii_digit() || c == '.'))? + 1;
    before[start..].parse().ok()
}

#[test]
fn seed_failure_shape_yields_decode_not_prefill() {
    let text = fixture("crafted-llama-perf-context-seed-failure.stderr");
    // The fixture really is the trap: the naive reading gives the prefill rate.
    assert_eq!(naive_first_eval_rate(&text), Some(2337.30));
    let b = llamacpp::parse_perf_block(&text);
    assert_eq!(b.prefix, "llama_perf_context_print");
    let r = b.to_report();
    assert_eq!(r.decode_tps, Some(165.47));
    assert_eq!(r.decode_tokens, Some(63));
    assert_eq!(r.prefill_tps, Some(2337.30));
    assert_eq!(b.sampling.unwrap().tokens_per_second, Some(17081.85));
    assert!(b.eval.unwrap().is_consistent());
}

#[test]
fn reordered_tight_spacing_crlf() {
    let b = llamacpp::parse_perf_block(&fixture("crafted-llama-perf-reordered-spacing.stderr"));
    let r = b.to_report();
    assert_eq!(r.decode_tps, Some(78.17));
    assert_eq!(r.decode_tokens, Some(63));
    assert_eq!(r.prefill_tps, Some(711.74));
    assert_eq!(r.prompt_tokens, Some(20));
    assert_eq!(r.load_ms, Some(1287.0));
    assert_eq!(r.total_ms, Some(850.0));
}

#[test]
fn oldest_llama_print_timings_prefix() {
    let b = llamacpp::parse_perf_block(&fixture("crafted-llama-print-timings.stderr"));
    assert_eq!(b.prefix, "llama_print_timings");
    assert_eq!(b.to_report().decode_tps, Some(74.66));
    assert_eq!(b.sampling.unwrap().count, Some(128));
}

#[test]
fn llama_simple_summary_is_not_a_decode_rate() {
    let text = fixture("crafted-llama-simple.stderr");
    let s = llamacpp::parse_simple_summary(&text).unwrap();
    assert_eq!(
        (s.tokens, s.seconds, s.tokens_per_second),
        (31, 0.42, Some(73.81))
    );
    // With its perf block present, the decode figure is the eval line.
    let p = llamacpp::Parsed::from_output("", &text);
    assert_eq!(p.report().unwrap().decode_tps, Some(77.31));
    // Alone, the summary gives a total but no decode rate.
    let only =
        llamacpp::Parsed::from_output("", "main: decoded 31 tokens in 0.42 s, speed: 73.81 t/s\n");
    let r = only.report().unwrap();
    assert_eq!(r.decode_tps, None);
    assert_eq!(r.total_ms, Some(420.0));
}

// ------------------------------------------------------------------------------------
// Ollama, crafted from its printing code
// ------------------------------------------------------------------------------------

#[test]
fn ollama_first_run_load_kept_out_of_decode() {
    let s = ollama::parse_verbose_stats(&fixture("crafted-ollama-verbose-first-run.stderr"));
    assert_eq!(s.total_ms, Some(4232.71));
    assert_eq!(s.load_ms, Some(1502.9187));
    assert_eq!(s.prompt_eval_count, Some(26));
    assert_eq!(s.prompt_eval_ms, Some(130.079));
    assert_eq!(s.prefill_tps(), Some(199.88));
    assert_eq!(s.eval_count, Some(298));
    assert_eq!(s.eval_ms, Some(2597.443));
    assert_eq!(s.decode_tps(), Some(114.73));
    // The printed rate is eval count / eval duration: the load is not in it.
    let computed: f64 = 298.0 / 2.597443;
    assert!((computed - 114.73).abs() < 0.01, "{computed}");
    let r = s.to_report();
    assert_eq!(r.load_ms, Some(1502.9187));
    assert_eq!(r.decode_ms, Some(2597.443));
}

#[test]
fn ollama_minutes_and_microseconds() {
    let s = ollama::parse_verbose_stats(&fixture("crafted-ollama-verbose-warm.stderr"));
    assert_eq!(s.total_ms, Some(62500.0));
    assert!((s.load_ms.unwrap() - 0.0212).abs() < 1e-12);
    assert_eq!(s.prompt_eval_ms, Some(1200.0));
    assert_eq!(s.eval_ms, Some(60250.0));
    assert_eq!(s.decode_tps(), Some(8.30));
}

#[test]
fn ollama_reordered_eval_before_prompt_eval() {
    let s = ollama::parse_verbose_stats(&fixture("crafted-ollama-reordered.stderr"));
    assert_eq!(s.decode_tps(), Some(74.36));
    assert_eq!(s.prefill_tps(), Some(2337.30));
    assert_eq!(s.eval_count, Some(298));
    assert_eq!(s.prompt_eval_count, Some(26));
}

// ------------------------------------------------------------------------------------
// Uzu, crafted from its printing code
// ------------------------------------------------------------------------------------

#[test]
fn uzu_bench_output() {
    let rs = uzu::parse_bench_output(&fixture("crafted-uzu-bench-output.json")).unwrap();
    assert_eq!(rs.len(), 2);
    let r = rs[0].to_report();
    assert_eq!(r.decode_tps, Some(171.3));
    assert_eq!(r.prefill_tps, Some(582.52));
    assert_eq!(r.prompt_tokens, Some(24));
    // The generate rate times the 127 intervals after the first of 128 tokens.
    assert_eq!(r.decode_tokens, Some(127));
    assert!((rs[0].ttft_ms().unwrap() - 41.2).abs() < 1e-9);
    assert_eq!(rs[0].memory_mib(), Some(1536.0));
    assert_eq!(rs[0].engine_version.as_deref(), Some("0.5.19"));
    assert_eq!(rs[1].to_report().decode_tps, None);
    assert_eq!(rs[1].memory_used, None);
    // E2E from the output: TTFT + (128 − 1) tokens ÷ 171.3 tok/s; one token: TTFT alone.
    let e2e = 41.2 + 127.0 / 171.3 * 1000.0;
    assert!((rs[0].e2e_ms().unwrap() - e2e).abs() < 1e-9);
    assert!((r.decode_ms.unwrap() - 127.0 / 171.3 * 1000.0).abs() < 1e-9);
    assert!((rs[1].e2e_ms().unwrap() - 39.8).abs() < 1e-9);
}

#[test]
fn uzu_run_line() {
    let out = fixture("crafted-uzu-run.stdout");
    let s = uzu::parse_run_stats(&out).unwrap();
    assert_eq!(s.to_report().decode_tps, Some(171.302));
    assert_eq!(s.output_tokens, 128);
    assert_eq!(uzu::run_text(&out), "The capital of France is Paris.");
    let p = uzu::parse_run_stats(&fixture("crafted-uzu-run-prefill-only.stdout")).unwrap();
    let r = p.to_report();
    assert_eq!(
        r.decode_tps, None,
        "a prefill-only speed is not a decode rate"
    );
    assert_eq!(r.prefill_tps, Some(582.519));
}

// ------------------------------------------------------------------------------------
// Property tests
// ------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_text(s in "\\PC*") {
        let _ = llamacpp::parse_perf_block(&s);
        let _ = llamacpp::parse_chat_rates(&s);
        let _ = llamacpp::parse_simple_summary(&s);
        let _ = llamacpp::Parsed::from_output(&s, &s).report();
        let _ = llamacpp::parse_bench_json(&s);
        let _ = ollama::parse_verbose_stats(&s);
        let _ = uzu::parse_run_stats(&s);
        let _ = uzu::run_text(&s);
        let _ = uzu::parse_bench_output(&s);
        let _ = parse::parse_go_duration_ms(&s);
        let _ = parse::scan_quantities(&s);
        let _ = parse::strip_log_time_prefix(&s);
    }

    #[test]
    fn parsers_never_panic_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = String::from_utf8_lossy(&b);
        let _ = llamacpp::parse_perf_block(&s);
        let _ = llamacpp::parse_chat_rates(&s);
        let _ = ollama::parse_verbose_stats(&s);
        let _ = uzu::parse_run_stats(&s);
    }

    #[test]
    fn parsers_never_panic_on_near_misses(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("common_perf_print: eval time = ".to_string()),
                Just("eval rate: ".to_string()),
                Just("prompt eval duration: 1.".to_string()),
                Just("[ Prompt: | Generation: ]".to_string()),
                Just("time: s, speed: t/s, tokens: ".to_string()),
                "[0-9a-z .:/=()|,µ\\[\\]-]{0,40}",
            ],
            0..12,
        )
    ) {
        let s = lines.join("\n");
        let _ = llamacpp::parse_perf_block(&s);
        let _ = llamacpp::parse_chat_rates(&s);
        let _ = llamacpp::parse_simple_summary(&s);
        let _ = ollama::parse_verbose_stats(&s);
        let _ = uzu::parse_run_stats(&s);
    }
}

/// Whitespace runs of 0..n spaces or tabs (at least `min` characters).
fn ws(min: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just(' '), Just('\t')], min..6)
        .prop_map(|v| v.into_iter().collect())
}

/// Values as llama.cpp prints them (two decimals), parsed back exactly.
fn two_dec(v: f64) -> f64 {
    format!("{v:.2}").parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn perf_block_right_numbers_any_spacing_prefix_order(
        prefix in prop_oneof![
            Just("common_perf_print"),
            Just("llama_perf_context_print"),
            Just("llama_print_timings"),
        ],
        timestamps in any::<bool>(),
        crlf in any::<bool>(),
        order in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
        spaces in proptest::collection::vec(ws(0), 12),
        lead in proptest::collection::vec(ws(0), 4),
        prompt_ms in 0.01f64..1e5,
        prompt_n in 1u64..100_000,
        eval_ms in 0.01f64..1e6,
        eval_n in 1u64..100_000,
        load_ms in 0.0f64..1e5,
        total_ms in 0.0f64..1e6,
    ) {
        let rate = |n: u64, ms: f64| n as f64 * 1000.0 / ms;
        let s = &spaces;
        let lines = [
            format!("{}load time{}={}{:.2} ms", lead[0], s[0], s[1], load_ms),
            format!(
                "{}prompt eval time{}={}{:.2}{}ms{}/{}{} tokens{}({:.2} ms per token,{}{:.2} tokens per second)",
                lead[1], s[2], s[3], prompt_ms, s[4], s[5], s[6], prompt_n, s[7],
                prompt_ms / prompt_n as f64, s[8], rate(prompt_n, prompt_ms)
            ),
            format!(
                "{}eval time{}={}{:.2} ms{}/{}{} runs{}({:.2} ms per token,{}{:.2} tokens per second)",
                lead[2], s[9], s[10], eval_ms, s[11], s[0], eval_n, s[1],
                eval_ms / eval_n as f64, s[2], rate(eval_n, eval_ms)
            ),
            format!("{}total time{}={}{:.2} ms /{}{} tokens", lead[3], s[3], s[4], total_ms, s[5], prompt_n + eval_n),
        ];
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from("llama_model_loader: - kv 0: general.architecture str = gemma3\n");
        for (k, &i) in order.iter().enumerate() {
            if timestamps {
                text.push_str(&format!("0.{:02}.{:03}.{:03} I ", k, i * 7, k * 11));
            }
            text.push_str(prefix);
            text.push(':');
            text.push_str(&lines[i]);
            text.push_str(eol);
        }
        let b = llamacpp::parse_perf_block(&text);
        prop_assert_eq!(&b.prefix, prefix);
        let r = b.to_report();
        prop_assert_eq!(r.load_ms, Some(two_dec(load_ms)));
        prop_assert_eq!(r.total_ms, Some(two_dec(total_ms)));
        prop_assert_eq!(r.prompt_ms, Some(two_dec(prompt_ms)));
        prop_assert_eq!(r.prompt_tokens, Some(prompt_n));
        prop_assert_eq!(r.decode_ms, Some(two_dec(eval_ms)));
        prop_assert_eq!(r.decode_tokens, Some(eval_n));
        prop_assert_eq!(r.decode_tps, Some(two_dec(rate(eval_n, eval_ms))));
        prop_assert_eq!(r.prefill_tps, Some(two_dec(rate(prompt_n, prompt_ms))));
    }

    #[test]
    fn chat_line_right_numbers_any_spacing_order(
        p in 0.1f64..1e5,
        g in 0.1f64..1e4,
        swap in any::<bool>(),
        s in proptest::collection::vec(ws(0), 6),
    ) {
        let prompt = format!("{}Prompt:{}{:.1} t/s{}", s[0], s[1], p, s[2]);
        let gen_part = format!("{}Generation:{}{:.1} t/s{}", s[3], s[4], g, s[5]);
        let line = if swap { format!("[{gen_part}|{prompt}]") } else { format!("[{prompt}|{gen_part}]") };
        let r = llamacpp::parse_chat_rates(&format!("answer\n\n{line}\n\nExiting...\n")).unwrap();
        prop_assert_eq!(r.generation_tps, Some(format!("{g:.1}").parse::<f64>().unwrap()));
        prop_assert_eq!(r.prompt_tps, Some(format!("{p:.1}").parse::<f64>().unwrap()));
    }
}

/// A Go-style duration string for `ns` nanoseconds, in one of several valid spellings.
fn go_duration(ns: u64, style: u8) -> (String, f64) {
    let ms = ns as f64 / 1e6;
    match style % 5 {
        0 => (format!("{}ms", ms), ms),
        1 => (format!("{}s", ns as f64 / 1e9), ms),
        2 => {
            let minutes = ns / 60_000_000_000;
            let rest = (ns % 60_000_000_000) as f64 / 1e9;
            (format!("{minutes}m{rest}s"), ms)
        }
        3 => (format!("{}µs", ns as f64 / 1e3), ms),
        _ => (format!("{ns}ns"), ms),
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ollama_right_numbers_any_spacing_order(
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
        s in proptest::collection::vec(ws(0), 8),
        styles in proptest::collection::vec(any::<u8>(), 4),
        total_ns in 1u64..10_000_000_000_000,
        load_ns in 1u64..100_000_000_000,
        pe_ns in 1u64..100_000_000_000,
        e_ns in 1u64..10_000_000_000_000,
        pe_n in 1u64..100_000,
        e_n in 1u64..100_000,
        spinner in any::<bool>(),
    ) {
        let (total, total_ms) = go_duration(total_ns, styles[0]);
        let (load, load_ms) = go_duration(load_ns, styles[1]);
        let (pe, pe_ms) = go_duration(pe_ns, styles[2]);
        let (e, e_ms) = go_duration(e_ns, styles[3]);
        let pe_rate = pe_n as f64 * 1000.0 / pe_ms;
        let e_rate = e_n as f64 * 1000.0 / e_ms;
        let lines = [
            format!("total duration:{}{total}", s[0]),
            format!("load duration:{}{load}", s[1]),
            format!("prompt eval count:{}{pe_n} token(s)", s[2]),
            format!("prompt eval duration:{}{pe}", s[3]),
            format!("prompt eval rate:{}{pe_rate:.2} tokens/s", s[4]),
            format!("eval count:{}{e_n} token(s)", s[5]),
            format!("eval duration:{}{e}", s[6]),
            format!("eval rate:{}{e_rate:.2} tokens/s", s[7]),
        ];
        let mut text = String::new();
        if spinner {
            text.push_str("\u{1b}[?25l⠙ \u{1b}[?25h\u{1b}[2K\u{1b}[1G");
        }
        for &i in &order {
            text.push_str(&lines[i]);
            text.push('\n');
        }
        let st = ollama::parse_verbose_stats(&text);
        prop_assert!(close(st.total_ms, total_ms), "{:?} {}", st.total_ms, total_ms);
        prop_assert!(close(st.load_ms, load_ms));
        prop_assert!(close(st.prompt_eval_ms, pe_ms));
        prop_assert!(close(st.eval_ms, e_ms));
        prop_assert_eq!(st.prompt_eval_count, Some(pe_n));
        prop_assert_eq!(st.eval_count, Some(e_n));
        prop_assert_eq!(st.decode_tps(), Some(two_dec(e_rate)));
        prop_assert_eq!(st.prefill_tps(), Some(two_dec(pe_rate)));
    }
}
