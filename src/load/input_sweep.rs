//! `--sweep input:L1,L2,…[,out=N]` (pure): prefill and decode measured apart, for any
//! server that takes exact input lengths.
//!
//! At each input length L (prompts built to exactly L tokens with our tokenizer, chat
//! template included; see [`crate::workload::synthetic`]) two load steps run one request
//! at a time (closed loop, concurrency 1), each on distinct prompts:
//!
//! - **prefill** `in=L prefill`: 1 output token, `--requests` times (default
//!   [`DEFAULT_PREFILL_REPS`]): the TTFT of each request is queueing-free prefill plus
//!   fixed overhead;
//! - **decode** `in=L decode`: N output tokens (`out=N`, default [`DEFAULT_DECODE_TOKENS`],
//!   `ignore_eos` where the engine has it), `--requests` times (default
//!   [`DEFAULT_DECODE_REPS`]): decode tok/s (1 ÷ TPOT) at context L … L+N.
//!
//! Each step first sends `--load-warmup` requests (default 1) that are left out.
//! The report ([`report`]) regresses TTFT on L over every measured prefill request
//! ([`crate::measure::prefill`]): time per prompt token and fixed overhead, both with
//! intervals, the prefill rate 1000 ÷ slope, and per length L·1000 ÷ (TTFT(L) −
//! intercept). Against a llama-server we started, llama-bench from the same binary folder
//! runs `pp L` and `tg N` at depth L with the same model, threads and batch settings
//! ([`bench_commands`]), and each row says how far ours is from it.

use super::schedule::{InputSpec, LoadError, LoadSpec, Step, Sweep, parse_sweep};
use crate::engines::llamacpp::cli::BenchRow;
use crate::measure::inference::Interval;
use crate::measure::prefill::{LineFit, fit_line, rate_at, rate_from_slope};
use crate::process::CommandSpec;
use crate::results::{
    Arrival, BenchFigure, BenchRun, InputSweepReport, InputSweepRow, PrefillFit, RunRecord,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Measured prefill requests per length by default.
pub const DEFAULT_PREFILL_REPS: u64 = 5;
/// Measured decode requests per length by default.
pub const DEFAULT_DECODE_REPS: u64 = 3;
/// Output tokens of a decode request by default (llama-bench's tg128).
pub const DEFAULT_DECODE_TOKENS: u32 = 128;
/// Warm-up requests per step by default.
pub const DEFAULT_WARMUP: u64 = 1;
/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// The input sweep of `--sweep input:…`, planned with `--requests` and `--load-warmup`;
/// `None` for any other load.
pub fn from_load(load: &LoadSpec) -> Result<Option<InputSweep>, LoadError> {
    let Some(s) = &load.sweep else {
        return Ok(None);
    };
    match parse_sweep(s)? {
        Sweep::Input(spec) => {
            InputSweep::plan(spec, load.requests, load.load_warmup, load.duration).map(Some)
        }
        _ => Ok(None),
    }
}

/// Which measurement a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Prefill,
    Decode,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// The planned input sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSweep {
    pub lengths: Vec<u64>,
    pub decode_tokens: u32,
    pub prefill_reps: u64,
    pub decode_reps: u64,
    pub warmup: u64,
}

impl InputSweep {
    /// The sweep of `spec`; `--requests` sets both repetition counts, `--load-warmup` the
    /// warm-up of each step. `--duration` does not apply (each measurement is a count).
    pub fn plan(
        spec: InputSpec,
        requests: Option<u64>,
        warmup: Option<u64>,
        duration: Option<f64>,
    ) -> Result<InputSweep, LoadError> {
        if duration.is_some() {
            return Err(LoadError::InputSweep(
                "--duration does not apply to --sweep input: (each measurement is a number of requests: use --requests)".into(),
            ));
        }
        if requests == Some(0) {
            return Err(LoadError::Requests(0));
        }
        Ok(InputSweep {
            lengths: spec.lengths,
            decode_tokens: spec.decode_tokens.unwrap_or(DEFAULT_DECODE_TOKENS),
            prefill_reps: requests.unwrap_or(DEFAULT_PREFILL_REPS),
            decode_reps: requests.unwrap_or(DEFAULT_DECODE_REPS),
            warmup: warmup.unwrap_or(DEFAULT_WARMUP),
        })
    }

    /// Step `index`'s length and phase: prefill then decode, length after length.
    pub fn step_of(&self, index: usize) -> Option<(u64, Phase)> {
        let l = *self.lengths.get(index / 2)?;
        Some((
            l,
            if index.is_multiple_of(2) {
                Phase::Prefill
            } else {
                Phase::Decode
            },
        ))
    }

    /// The load steps: two per length, one request at a time; step i uses seed + i.
    pub fn steps(&self, seed: u64) -> Vec<Step> {
        (0..self.lengths.len() * 2)
            .filter_map(|index| {
                let (_, phase) = self.step_of(index)?;
                Some(Step {
                    index,
                    arrival: Arrival::Closed { concurrency: 1 },
                    requests: Some(match phase {
                        Phase::Prefill => self.prefill_reps,
                        Phase::Decode => self.decode_reps,
                    }),
                    duration: None,
                    warmup: self.warmup,
                    seed: seed.wrapping_add(index as u64),
                    shard: None,
                    not_before_unix_ns: None,
                })
            })
            .collect()
    }

    /// Output tokens asked for in a phase.
    pub fn output_tokens(&self, phase: Phase) -> u32 {
        match phase {
            Phase::Prefill => 1,
            Phase::Decode => self.decode_tokens,
        }
    }

    /// One line for the log and the results.
    pub fn describe(&self) -> String {
        format!(
            "input sweep: lengths {} tokens; prefill {} × 1 output token, decode {} × {} output tokens per length, {} warm-up per step",
            self.lengths
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            self.prefill_reps,
            self.decode_reps,
            self.decode_tokens,
            self.warmup
        )
    }
}

/// The label of a step's records (`load_step`), e.g. "in=512 prefill".
pub fn label(length: u64, phase: Phase) -> String {
    format!("in={length} {}", phase.as_str())
}

/// llama-server flags llama-bench takes with the same meaning, and whether each has a
/// value: threads, layers on the GPU, batch and micro-batch, flash attention, KV-cache
/// types, the split over GPUs.
const SHARED_FLAGS: &[(&[&str], &str)] = &[
    (&["-t", "--threads"], "-t"),
    (&["-ngl", "--gpu-layers", "--n-gpu-layers"], "-ngl"),
    (&["-b", "--batch-size"], "-b"),
    (&["-ub", "--ubatch-size"], "-ub"),
    (&["-fa", "--flash-attn"], "-fa"),
    (&["-ctk", "--cache-type-k"], "-ctk"),
    (&["-ctv", "--cache-type-v"], "-ctv"),
    (&["-sm", "--split-mode"], "-sm"),
    (&["-mg", "--main-gpu"], "-mg"),
    (&["-ts", "--tensor-split"], "-ts"),
    (&["-m", "--model"], "-m"),
];

/// The two llama-bench commands beside the llama-server started as `server_argv`: from
/// the same folder (`llama-bench` beside `llama-server`), the same model and the shared
/// flags; `pp L` for every length at depth 0, then `tg N` at depth L. `-r` is the
/// sweep's repetition count. Errors say why there is none (no model in the command).
pub fn bench_commands(
    server_argv: &[String],
    sweep: &InputSweep,
) -> Result<[CommandSpec; 2], String> {
    let server = server_argv
        .first()
        .ok_or_else(|| "the server's command is not known".to_string())?;
    let dir = Path::new(server).parent().unwrap_or(Path::new(""));
    let program = dir.join("llama-bench");
    let mut shared: Vec<String> = Vec::new();
    let mut i = 1;
    while i < server_argv.len() {
        let a = server_argv[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with('-') => (n, Some(v.to_string())),
            _ => (a, None),
        };
        if let Some((_, to)) = SHARED_FLAGS.iter().find(|(from, _)| from.contains(&name)) {
            let value = match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    server_argv.get(i).cloned()
                }
            };
            if let Some(v) = value {
                shared.push((*to).to_string());
                shared.push(v);
            }
        }
        i += 1;
    }
    if !shared.iter().any(|a| a == "-m") {
        return Err("the server's command names no model (-m)".into());
    }
    let list = sweep
        .lengths
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let with_lib = |spec: CommandSpec| {
        // The pip build links shared libraries that live beside the binaries.
        if dir.as_os_str().is_empty() {
            return spec;
        }
        let mut paths = std::ffi::OsString::from(dir);
        if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|o| !o.is_empty()) {
            paths.push(":");
            paths.push(old);
        }
        spec.env("LD_LIBRARY_PATH", paths)
    };
    let base = || CommandSpec::new(&program).args(shared.iter());
    let pp = base().args(["-p", &list, "-n", "0"]).args([
        "-r",
        &sweep.prefill_reps.to_string(),
        "-o",
        "json",
    ]);
    let tg = base()
        .args([
            "-p",
            "0",
            "-n",
            &sweep.decode_tokens.to_string(),
            "-d",
            &list,
        ])
        .args(["-r", &sweep.decode_reps.to_string(), "-o", "json"]);
    Ok([with_lib(pp), with_lib(tg)])
}

/// llama-bench's figures by length: `pp L` rows at depth 0, `tg N` rows at depth L.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BenchFigures {
    pub pp: BTreeMap<u64, BenchFigure>,
    pub tg: BTreeMap<u64, BenchFigure>,
}

/// Pick the rows of the sweep out of llama-bench's output rows.
pub fn bench_figures(rows: &[BenchRow], decode_tokens: u32) -> BenchFigures {
    let figure = |test: String, r: &BenchRow| BenchFigure {
        test,
        tps: r.avg_ts,
        sd_tps: r.stddev_ts,
        samples_tps: r.samples_ts.clone(),
    };
    let mut out = BenchFigures::default();
    for r in rows {
        if r.is_pp() && r.n_depth == 0 {
            out.pp
                .insert(r.n_prompt, figure(format!("pp{}", r.n_prompt), r));
        } else if r.is_tg() && r.n_gen == u64::from(decode_tokens) {
            out.tg.insert(
                r.n_depth,
                figure(format!("tg{} @ d{}", r.n_gen, r.n_depth), r),
            );
        }
    }
    out
}

fn pct(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => Some((a - b) / b * 100.0),
        _ => None,
    }
}

fn interval(lo_hi: Option<(f64, f64)>) -> Option<Interval> {
    lo_hi.map(|(lo, hi)| Interval {
        lo,
        hi,
        level: LEVEL,
    })
}

fn prefill_fit(f: &LineFit, source: &str) -> PrefillFit {
    let rate = rate_from_slope(f);
    PrefillFit {
        n: f.n,
        slope_ms_per_token: f.slope,
        slope_ci: f.slope_ci,
        intercept_ms: f.intercept,
        intercept_ci: f.intercept_ci,
        residual_sd_ms: f.residual_sd,
        prefill_tps: rate.map(|r| r.value),
        prefill_tps_ci: rate.and_then(|r| r.ci),
        source: source.to_string(),
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    crate::measure::stats::mean(v)
}

/// Measured, successful records of one step.
fn step_records(records: &[RunRecord], length: u64, phase: Phase) -> Vec<&RunRecord> {
    let want = label(length, phase);
    records
        .iter()
        .filter(|r| r.ok && !r.warmup && r.load_step.as_deref() == Some(want.as_str()))
        .collect()
}

/// The report of an input sweep (pure): the records of its steps (any others are
/// ignored), llama-bench's figures where it ran, and what ran of it.
pub fn report(
    sweep: &InputSweep,
    records: &[RunRecord],
    bench: &BenchFigures,
    bench_run: BenchRun,
) -> InputSweepReport {
    let points: Vec<(f64, f64)> = sweep
        .lengths
        .iter()
        .flat_map(|&l| {
            step_records(records, l, Phase::Prefill)
                .into_iter()
                .filter_map(move |r| r.ttft_ms.map(|t| (l as f64, t)))
        })
        .collect();
    let fit = fit_line(&points, LEVEL);
    let bench_points: Vec<(f64, f64)> = bench
        .pp
        .iter()
        .flat_map(|(&l, f)| {
            f.samples_tps
                .iter()
                .filter(|t| **t > 0.0)
                .map(move |t| (l as f64, l as f64 * 1000.0 / t))
        })
        .collect();
    let bench_fit = fit_line(&bench_points, LEVEL);
    let rows: Vec<InputSweepRow> = sweep
        .lengths
        .iter()
        .map(|&l| row(l, records, fit.as_ref(), bench))
        .collect();
    let fit = fit.map(|f| prefill_fit(&f, "ours (TTFT)"));
    let bench_fit = bench_fit.map(|f| prefill_fit(&f, "llama-bench (pp)"));
    let fit_vs_bench_pct = pct(
        fit.as_ref().and_then(|f| f.prefill_tps),
        bench_fit.as_ref().and_then(|f| f.prefill_tps),
    );
    let mut notes = vec![
        "TTFT and decode tok/s are our clock: TTFT from the request's first byte written to the first content event, decode tok/s = 1 ÷ TPOT over the stream's content events.".to_string(),
        "engine prefill/decode tok/s: the engine's own clock for the same requests (llama-server timings), where it reports them.".to_string(),
        format!(
            "intervals: {:.0}% Student's t (regression: n − 2 degrees of freedom; a mean: n − 1).",
            LEVEL * 100.0
        ),
    ];
    if fit.is_none() {
        notes.push(format!(
            "no regression: {} measured prefill requests with a TTFT (it needs 3, at 2 lengths or more)",
            points.len()
        ));
    }
    if bench_run.ran {
        notes.push("llama-bench: pp L at depth 0 and tg N at depth L, the engine's own benchmark (its clock, no HTTP), from the same binary folder with the server's model, threads and batch flags.".into());
    }
    InputSweepReport {
        decode_tokens: sweep.decode_tokens,
        level: LEVEL,
        fit,
        bench_fit,
        fit_vs_bench_pct,
        rows,
        bench: bench_run,
        notes,
    }
}

/// One length's row.
fn row(
    l: u64,
    records: &[RunRecord],
    fit: Option<&LineFit>,
    bench: &BenchFigures,
) -> InputSweepRow {
    let pre = step_records(records, l, Phase::Prefill);
    let dec = step_records(records, l, Phase::Decode);
    let ttfts: Vec<f64> = pre.iter().filter_map(|r| r.ttft_ms).collect();
    let ttft = crate::measure::stats::mean_t_interval(&ttfts, LEVEL);
    let rate = match (fit, ttft) {
        (Some(f), Some((m, _))) => rate_at(f, l as f64, m, ttfts.len()),
        _ => None,
    };
    let decode: Vec<f64> = dec.iter().filter_map(|r| r.decode_tps).collect();
    let dec_mean = crate::measure::stats::mean_t_interval(&decode, LEVEL);
    let engine = |rs: &[&RunRecord], f: fn(&crate::results::EngineReport) -> Option<f64>| {
        let v: Vec<f64> = rs
            .iter()
            .filter_map(|r| r.engine_report.as_ref().and_then(f))
            .collect();
        mean(&v)
    };
    let bench_pp = bench.pp.get(&l).cloned();
    let bench_tg = bench.tg.get(&l).cloned();
    let prefill_tps = rate.map(|r| r.value);
    let decode_tps = dec_mean.map(|d| d.0);
    InputSweepRow {
        input_tokens: l,
        prefill_requests: pre.len(),
        ttft_ms: ttft.map(|t| t.0),
        ttft_ci: interval(ttft.and_then(|t| t.1)),
        prefill_tps,
        prefill_tps_ci: rate.and_then(|r| r.ci),
        engine_prefill_tps: engine(&pre, |e| e.prefill_tps),
        engine_prompt_tokens: pre.iter().filter_map(|r| r.prompt_tokens).max(),
        decode_requests: dec.len(),
        decode_tps,
        decode_tps_ci: interval(dec_mean.and_then(|d| d.1)),
        engine_decode_tps: engine(&dec, |e| e.decode_tps),
        prefill_vs_bench_pct: pct(prefill_tps, bench_pp.as_ref().map(|b| b.tps)),
        decode_vs_bench_pct: pct(decode_tps, bench_tg.as_ref().map(|b| b.tps)),
        bench_pp,
        bench_tg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{EngineReport, Mode, Sampling};

    fn spec(s: &str) -> Result<InputSpec, LoadError> {
        super::super::schedule::parse_input_spec(s, s)
    }

    #[test]
    fn lengths_and_out_parse_and_nonsense_is_refused() {
        assert_eq!(
            spec("128, 512,1024"),
            Ok(InputSpec {
                lengths: vec![128, 512, 1024],
                decode_tokens: None
            })
        );
        assert_eq!(spec("64,256,out=16").unwrap().decode_tokens, Some(16));
        for (bad, why) in [
            ("128", "at least two input lengths"),
            ("128,x", "\"x\" is not an input length"),
            ("0,128", "at least 1 token"),
            ("128,128", "given twice"),
            ("128,256,out=1", "N ≥ 2"),
            ("128,,256", "\"\" is not an input length"),
        ] {
            let e = spec(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn steps_alternate_prefill_and_decode_one_request_at_a_time() {
        let s = InputSweep::plan(spec("128,512").unwrap(), None, None, None).unwrap();
        assert_eq!((s.prefill_reps, s.decode_reps, s.warmup), (5, 3, 1));
        assert_eq!(s.decode_tokens, DEFAULT_DECODE_TOKENS);
        let steps = s.steps(40);
        assert_eq!(steps.len(), 4);
        assert_eq!(s.step_of(0), Some((128, Phase::Prefill)));
        assert_eq!(s.step_of(3), Some((512, Phase::Decode)));
        assert_eq!(s.step_of(4), None);
        assert!(
            steps
                .iter()
                .all(|st| st.arrival == Arrival::Closed { concurrency: 1 })
        );
        assert_eq!(
            steps.iter().map(|s| s.requests).collect::<Vec<_>>(),
            vec![Some(5), Some(3), Some(5), Some(3)]
        );
        assert_eq!(steps[3].seed, 43);
        let s = InputSweep::plan(spec("8,16").unwrap(), Some(2), Some(0), None).unwrap();
        assert_eq!((s.prefill_reps, s.decode_reps, s.warmup), (2, 2, 0));
        assert!(
            InputSweep::plan(spec("8,16").unwrap(), None, None, Some(5.0))
                .unwrap_err()
                .to_string()
                .contains("--duration does not apply")
        );
        assert_eq!(label(512, Phase::Decode), "in=512 decode");
    }

    #[test]
    fn llama_bench_gets_the_servers_folder_model_and_flags() {
        let argv: Vec<String> = [
            "/opt/llama/llama-server",
            "-m",
            "/m/g.gguf",
            "--host",
            "127.0.0.1",
            "--port",
            "8002",
            "-t",
            "2",
            "--jinja",
            "-ngl",
            "0",
            "--parallel",
            "1",
            "--ubatch-size=256",
            "--metrics",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = InputSweep::plan(spec("128,512,out=64").unwrap(), Some(4), None, None).unwrap();
        let [pp, tg] = bench_commands(&argv, &s).unwrap();
        assert_eq!(
            pp.argv(),
            [
                "/opt/llama/llama-bench",
                "-m",
                "/m/g.gguf",
                "-t",
                "2",
                "-ngl",
                "0",
                "-ub",
                "256",
                "-p",
                "128,512",
                "-n",
                "0",
                "-r",
                "4",
                "-o",
                "json"
            ]
        );
        assert_eq!(
            tg.argv()[9..],
            [
                "-p", "0", "-n", "64", "-d", "128,512", "-r", "4", "-o", "json"
            ]
        );
        assert!(bench_commands(&argv[..1], &s).is_err());
    }

    fn rec(step: &str, ttft: f64, decode: Option<f64>, engine: Option<(f64, f64)>) -> RunRecord {
        let mut r = RunRecord::new(
            "e",
            Mode::Api,
            "/completion",
            "p",
            "synthetic",
            0,
            Sampling {
                max_tokens: 1,
                temperature: 0.0,
                seed: None,
                top_p: None,
                top_k: None,
                ignore_eos: true,
            },
            "t",
        );
        r.ok = true;
        r.load_step = Some(step.into());
        r.ttft_ms = Some(ttft);
        r.decode_tps = decode;
        r.engine_report = engine.map(|(p, d)| EngineReport {
            source: "llama-server timings".into(),
            prefill_tps: Some(p),
            decode_tps: Some(d),
            ..Default::default()
        });
        r
    }

    fn bench_row(p: u64, n: u64, d: u64, samples: &[f64]) -> BenchRow {
        BenchRow {
            n_prompt: p,
            n_gen: n,
            n_depth: d,
            avg_ts: samples.iter().sum::<f64>() / samples.len() as f64,
            stddev_ts: 1.0,
            samples_ts: samples.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn the_report_fits_ttft_and_sets_llama_bench_beside_it() {
        let s = InputSweep::plan(spec("100,200,300,out=16").unwrap(), None, None, None).unwrap();
        // TTFT = 11 + 0.5·L ± 1 ms (the fit of measure::prefill's tests): 2000 tok/s.
        let mut records = vec![
            rec("in=100 prefill", 60.0, None, Some((2100.0, 0.0))),
            rec("in=100 prefill", 62.0, None, Some((2300.0, 0.0))),
            rec("in=200 prefill", 110.0, None, None),
            rec("in=200 prefill", 112.0, None, None),
            rec("in=300 prefill", 160.0, None, None),
            rec("in=300 prefill", 162.0, None, None),
            rec("in=100 decode", 70.0, Some(90.0), Some((0.0, 95.0))),
            rec("in=100 decode", 70.0, Some(110.0), Some((0.0, 105.0))),
            rec("in=300 decode", 170.0, Some(80.0), None),
        ];
        // Warm-up, failed and other steps' records are left out.
        let mut w = rec("in=100 prefill", 999.0, None, None);
        w.warmup = true;
        records.push(w);
        let mut f = rec("in=200 prefill", 999.0, None, None);
        f.ok = false;
        records.push(f);
        records.push(rec("c=4", 999.0, None, None));
        let rows = [
            bench_row(100, 0, 0, &[2400.0, 2600.0]),
            bench_row(200, 0, 0, &[2000.0, 2000.0]),
            bench_row(300, 0, 0, &[1500.0, 1500.0]),
            bench_row(0, 16, 100, &[125.0]),
            bench_row(0, 16, 300, &[100.0]),
            bench_row(0, 128, 100, &[1.0]),
        ];
        let bench = bench_figures(&rows, 16);
        assert_eq!(bench.pp.len(), 3);
        assert_eq!(bench.tg.len(), 2, "the tg128 row is not this sweep's");
        let run = BenchRun {
            ran: true,
            ..Default::default()
        };
        let r = report(&s, &records, &bench, run);
        let fit = r.fit.as_ref().unwrap();
        assert_eq!(fit.n, 6);
        assert!((fit.slope_ms_per_token - 0.5).abs() < 1e-9);
        assert!((fit.intercept_ms - 11.0).abs() < 1e-9);
        assert!((fit.prefill_tps.unwrap() - 2000.0).abs() < 1e-6);
        assert_eq!(r.rows.len(), 3);
        let r100 = &r.rows[0];
        assert_eq!((r100.prefill_requests, r100.decode_requests), (2, 2));
        assert_eq!(r100.ttft_ms, Some(61.0));
        // 100·1000 / (61 − 11) = 2000 tok/s vs llama-bench pp100 2500: −20 %.
        assert!((r100.prefill_tps.unwrap() - 2000.0).abs() < 1e-6);
        assert!((r100.prefill_vs_bench_pct.unwrap() + 20.0).abs() < 1e-9);
        assert_eq!(r100.engine_prefill_tps, Some(2200.0));
        assert_eq!(r100.decode_tps, Some(100.0));
        // Two values 90 and 110: s = 14.142…, half = t(0.95, 1)·s/√2 = 12.706…·10.
        let ci = r100.decode_tps_ci.unwrap();
        assert!(
            (ci.hi - 100.0 - 127.062_047_361_746_98).abs() < 1e-6,
            "{ci:?}"
        );
        assert_eq!(r100.engine_decode_tps, Some(100.0));
        // 100 vs tg16 @ d100 125: −20 %.
        assert!((r100.decode_vs_bench_pct.unwrap() + 20.0).abs() < 1e-9);
        assert_eq!(r100.bench_tg.as_ref().unwrap().test, "tg16 @ d100");
        let r200 = &r.rows[1];
        assert_eq!((r200.prefill_requests, r200.decode_requests), (2, 0));
        assert_eq!((r200.decode_tps, r200.bench_tg.clone()), (None, None));
        let r300 = &r.rows[2];
        // One decode value: a mean, no interval.
        assert_eq!((r300.decode_tps, r300.decode_tps_ci), (Some(80.0), None));
        // llama-bench's pp times: 100/2400·1000, 100/2600·1000, 100, 100, 200, 200 ms.
        let bf = r.bench_fit.as_ref().unwrap();
        assert_eq!(bf.n, 6);
        assert_eq!(bf.source, "llama-bench (pp)");
        let want = crate::measure::prefill::fit_line(
            &[
                (100.0, 100_000.0 / 2400.0),
                (100.0, 100_000.0 / 2600.0),
                (200.0, 100.0),
                (200.0, 100.0),
                (300.0, 200.0),
                (300.0, 200.0),
            ],
            0.95,
        )
        .unwrap();
        assert!((bf.slope_ms_per_token - want.slope).abs() < 1e-12);
        let pct = (2000.0 - 1000.0 / want.slope) / (1000.0 / want.slope) * 100.0;
        assert!((r.fit_vs_bench_pct.unwrap() - pct).abs() < 1e-9);
    }

    #[test]
    fn without_prefill_records_there_is_no_fit_and_the_report_says_so() {
        let s = InputSweep::plan(spec("100,200").unwrap(), None, None, None).unwrap();
        let r = report(&s, &[], &BenchFigures::default(), BenchRun::default());
        assert!(r.fit.is_none() && r.bench_fit.is_none());
        assert!(r.notes.iter().any(|n| n.starts_with("no regression: 0")));
        assert!(r.rows.iter().all(|row| row.prefill_tps.is_none()));
    }
}
