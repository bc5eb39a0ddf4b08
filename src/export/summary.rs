//! Group run records and summarise every metric of the
//! [`GROUP`](crate::results::metric::Scope::GROUP) scope (pure).
//!
//! Groups are engine × mode × tier, plus engine × mode over all tiers (`tier = "all"`).
//! Failed runs are counted and excluded; warm-up runs are neither counted nor summarised.
//! Runs whose TTFT holds the whole generation (a reply in one lump) are counted apart, so
//! that reports can mark the TTFT they are part of; their withheld figures (prefill tok/s,
//! ICL, decode from the stream) are `None` and so in no summary.
//!
//! Each engine × mode overall (tier "all") also carries the drift test of its decode rate
//! over the runs in order ([`crate::measure::drift`]), and a `drift` flag where it found
//! drift.

use crate::measure::drift;
use crate::measure::stats::summarize;
use crate::results::metric::{Metric, Scope};
use crate::results::{DriftTest, GroupSummary, Mode, RunRecord};
use std::collections::BTreeMap;

/// Summaries per engine × mode × tier and per engine × mode overall, in first-seen
/// engine order (so "relative to the first engine" follows the run order).
pub fn summarize_runs(runs: &[RunRecord]) -> Vec<GroupSummary> {
    let mut order: Vec<(String, Mode)> = Vec::new();
    let mut groups: BTreeMap<(String, Mode, String), Vec<&RunRecord>> = BTreeMap::new();
    for r in runs.iter().filter(|r| !r.warmup) {
        let key = (r.engine.clone(), r.mode);
        if !order.contains(&key) {
            order.push(key);
        }
        groups
            .entry((r.engine.clone(), r.mode, r.tier.clone()))
            .or_default()
            .push(r);
        groups
            .entry((r.engine.clone(), r.mode, "all".to_string()))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for (engine, mode) in order {
        let mut tiers: Vec<&String> = groups
            .keys()
            .filter(|(e, m, _)| *e == engine && *m == mode)
            .map(|(_, _, t)| t)
            .collect();
        // "all" first, then tiers in their natural order.
        tiers.sort_by_key(|t| match t.as_str() {
            "all" => 0,
            "short" => 1,
            "medium" => 2,
            "long" => 3,
            _ => 4,
        });
        for tier in tiers {
            let members = &groups[&(engine.clone(), mode, tier.clone())];
            let mut g = summarize_group(&engine, mode, tier, members);
            if tier == "all" {
                g.drift = drift_of(members);
                g.flags.extend(g.drift.as_ref().and_then(drift::flag));
            }
            out.push(g);
        }
    }
    out
}

fn summarize_group(engine: &str, mode: Mode, tier: &str, members: &[&RunRecord]) -> GroupSummary {
    let ok: Vec<&RunRecord> = members.iter().copied().filter(|r| r.ok).collect();
    let mut metrics = BTreeMap::new();
    for m in Metric::in_scope(Scope::GROUP) {
        let values: Vec<f64> = ok.iter().filter_map(|r| m.of(r)).collect();
        if let Some(s) = summarize(&values) {
            metrics.insert(m.name.to_string(), s);
        }
    }
    GroupSummary {
        engine: engine.to_string(),
        mode,
        tier: tier.to_string(),
        runs: members.len(),
        ok: ok.len(),
        failed: members.len() - ok.len(),
        metrics,
        ttft_holds_generation: ok.iter().filter(|r| r.ttft_holds_generation).count(),
        short_replies: ok
            .iter()
            .filter(|r| {
                r.output_tokens
                    .is_some_and(|n| n < r.sampling.max_tokens as u64)
            })
            .count(),
        drift: None,
        flags: Vec::new(),
    }
}

/// The drift test over `members` (one engine × mode, in run order): the decode rates of
/// the successful sequential runs (no load step), grouped by prompt in first-seen order.
pub fn drift_of(members: &[&RunRecord]) -> Option<DriftTest> {
    let mut by_prompt: Vec<(&str, Vec<f64>)> = Vec::new();
    for r in members
        .iter()
        .filter(|r| r.ok && !r.warmup && r.load_step.is_none())
    {
        let Some(tps) = r.decode_tps.filter(|x| x.is_finite()) else {
            continue;
        };
        match by_prompt.iter_mut().find(|(p, _)| *p == r.prompt_id) {
            Some((_, v)) => v.push(tps),
            None => by_prompt.push((&r.prompt_id, vec![tps])),
        }
    }
    let groups: Vec<Vec<f64>> = by_prompt.into_iter().map(|(_, v)| v).collect();
    drift::drift(&groups)
}

/// How far apart two engines' mean output lengths may be before their decode figures
/// are said not to be comparable (MLPerf accepts ±10% of the reference).
pub const LENGTH_SPREAD_PCT: f64 = 10.0;

/// The warning for summaries whose mean output lengths (the `output_tokens` metric)
/// differ by more than [`LENGTH_SPREAD_PCT`] between the shortest and the longest:
/// decode rates over shorter replies are not comparable. `None` with fewer than two
/// groups that have a length, or when they agree. Pure.
pub fn length_mismatch(groups: &[&GroupSummary]) -> Option<String> {
    let lengths: Vec<(String, f64)> = groups
        .iter()
        .filter_map(|g| {
            let m = g.metrics.get("output_tokens")?.mean;
            Some((format!("{} {}", g.engine, g.mode.as_str()), m))
        })
        .collect();
    let (lo, hi) = lengths
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), (_, m)| {
            (lo.min(*m), hi.max(*m))
        });
    if lengths.len() < 2 || hi <= 0.0 {
        return None;
    }
    let spread = (hi - lo) / hi * 100.0;
    (spread > LENGTH_SPREAD_PCT).then(|| {
        let each: Vec<String> = lengths
            .iter()
            .map(|(name, m)| format!("{name} {m:.1}"))
            .collect();
        format!(
            "mean output lengths differ by {spread:.0}% ({} tokens): decode rates over shorter \
             replies are not comparable (more than {LENGTH_SPREAD_PCT:.0}% apart)",
            each.join(", ")
        )
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::Sampling;

    pub(crate) fn rec(engine: &str, tier: &str, ok: bool, tps: f64) -> RunRecord {
        let mut r = RunRecord::new(
            engine,
            Mode::Api,
            "/v1/chat/completions",
            "p",
            tier,
            0,
            Sampling {
                max_tokens: 8,
                temperature: 0.0,
                seed: Some(1),
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "gemma3",
        );
        r.ok = ok;
        r.decode_tps = Some(tps);
        r
    }

    fn with_length(engine: &str, mean: f64) -> GroupSummary {
        let mut r = rec(engine, "short", true, 10.0);
        r.output_tokens = Some(mean as u64);
        summarize_runs(&[r]).remove(0)
    }

    #[test]
    fn output_lengths_more_than_ten_percent_apart_are_named() {
        let (a, b, c) = (
            with_length("a", 128.0),
            with_length("b", 116.0),
            with_length("c", 112.0),
        );
        // 128 vs 116: 9.4% apart, comparable.
        assert_eq!(length_mismatch(&[&a, &b]), None);
        // 128 vs 112: 12.5% apart.
        let w = length_mismatch(&[&a, &b, &c]).expect("named");
        assert!(
            w.starts_with(
                "mean output lengths differ by 12% (a api 128.0, b api 116.0, c api 112.0 tokens)"
            ),
            "{w}"
        );
        assert_eq!(length_mismatch(&[&c]), None);
    }

    #[test]
    fn short_replies_are_counted_among_the_successful_runs() {
        // 8 asked: 3 is short, 8 is full, no count is neither, a failed run is not counted.
        let with = |ok: bool, n: Option<u64>| {
            let mut r = rec("a", "short", ok, 10.0);
            r.output_tokens = n;
            r
        };
        let s = summarize_runs(&[
            with(true, Some(3)),
            with(true, Some(8)),
            with(true, None),
            with(false, Some(3)),
        ]);
        assert_eq!((s[0].ok, s[0].short_replies), (3, 1));
    }

    #[test]
    fn drift_is_tested_per_engine_over_each_prompts_runs_in_order() {
        // Prompt p falls 10 → 9.2 over 5 runs, prompt q (slower, longer) 5 → 4.6; a
        // failed run, a warm-up and a load-step run are left out.
        let run = |prompt: &str, ok: bool, tps: f64| {
            let mut r = rec("a", "short", ok, tps);
            r.prompt_id = prompt.into();
            r
        };
        let mut runs: Vec<RunRecord> = Vec::new();
        let mut warm = run("p", true, 1.0);
        warm.warmup = true;
        runs.push(warm);
        for (i, tps) in [10.0, 9.8, 9.6, 9.4, 9.2].into_iter().enumerate() {
            runs.push(run("p", true, tps));
            runs.push(run("q", true, tps / 2.0));
            if i == 2 {
                runs.push(run("p", false, 99.0));
                let mut step = run("p", true, 99.0);
                step.load_step = Some("c=2".into());
                runs.push(step);
            }
        }
        let s = summarize_runs(&runs);
        let all = s.iter().find(|g| g.tier == "all").unwrap();
        let d = all.drift.as_ref().unwrap();
        // S = −10 per prompt; the inversions of two 5-run prompts convolve: only both
        // fully reversed (or both sorted) reach |S| = 20: p = 2/120².
        assert_eq!((d.runs, d.prompts, d.s, d.tau), (10, 2, -20, -1.0));
        assert!((d.p - 2.0 / 14_400.0).abs() < 1e-15, "{}", d.p);
        // Thirds pooled: (10 + 5)/2 → (9.2 + 4.6)/2: −8%.
        assert!((d.change_pct + 8.0).abs() < 1e-9, "{}", d.change_pct);
        assert_eq!(all.flags.len(), 1);
        assert_eq!(all.flags[0].kind, "drift");
        assert!(
            all.flags[0].message.starts_with("decode fell 8.0% from the first third of the runs to the last (7.50 → 6.90 tok/s; 10 runs over 2 prompts; Kendall tau -1.00, p < 0.001, exact)"),
            "{}",
            all.flags[0].message
        );
        // Only the overall group is tested.
        let short = s.iter().find(|g| g.tier == "short").unwrap();
        assert!(short.drift.is_none() && short.flags.is_empty());
        // Steady runs: tested, no flag; and the JSON has the test, not an empty flag list.
        let steady: Vec<RunRecord> = (0..6)
            .map(|i| run("p", true, 10.0 + f64::from(i % 2)))
            .collect();
        let g = summarize_runs(&steady).remove(0);
        assert!(!g.drift.as_ref().unwrap().drift);
        let json = serde_json::to_value(&g).unwrap();
        assert!(
            json.get("flags").is_none() && json["drift"]["drift"] == false,
            "{json}"
        );
    }

    #[test]
    fn groups_count_failures_and_exclude_them() {
        let mut warm = rec("a", "short", true, 1000.0);
        warm.warmup = true;
        let runs = vec![
            rec("b", "short", true, 10.0),
            rec("a", "short", true, 20.0),
            rec("a", "long", true, 40.0),
            rec("a", "long", false, 99.0),
            warm,
        ];
        let s = summarize_runs(&runs);
        // engine b was seen first
        assert_eq!(s[0].engine, "b");
        let a_all = s
            .iter()
            .find(|g| g.engine == "a" && g.tier == "all")
            .unwrap();
        assert_eq!((a_all.runs, a_all.ok, a_all.failed), (3, 2, 1));
        assert_eq!(a_all.metrics["decode_tps"].mean, 30.0);
        assert_eq!(a_all.metrics["decode_tps"].n, 2);
        let a_long = s
            .iter()
            .find(|g| g.engine == "a" && g.tier == "long")
            .unwrap();
        assert_eq!(a_long.metrics["decode_tps"].mean, 40.0);
        assert_eq!(a_long.failed, 1);
    }

    #[test]
    fn runs_whose_ttft_holds_the_generation_are_counted_per_group() {
        let lump = |tier: &str, ok: bool| {
            let mut r = rec("a", tier, ok, 1.0);
            r.ttft_holds_generation = true;
            r
        };
        let mut warm = lump("short", true);
        warm.warmup = true;
        let runs = vec![
            lump("short", true),
            lump("long", false),
            rec("a", "long", true, 2.0),
            warm,
        ];
        let s = summarize_runs(&runs);
        let count = |tier: &str| {
            s.iter()
                .find(|g| g.tier == tier)
                .map(|g| g.ttft_holds_generation)
        };
        // Successful, measured runs only.
        assert_eq!(
            (count("all"), count("short"), count("long")),
            (Some(1), Some(1), Some(0))
        );
    }
}
