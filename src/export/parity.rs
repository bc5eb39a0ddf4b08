//! Greedy parity across engines: the records' replies grouped by prompt and engine,
//! split into tokens by our tokenizer, compared pair by pair
//! ([`crate::measure::parity`]); the runs of an engine that departs flagged
//! `parity_departs`; the Markdown and console tables.
//!
//! Only sequential runs take part (non-warm-up, successful, outside load steps): a load
//! step's thousands of replies are neither tokenized nor kept twice.

use super::escape_text;
use crate::measure::parity::{self, Comparison, EARLY_TOKENS};
use crate::results::{
    Flag, ParityDeparture, ParityEngine, ParityPair, ParityReport, PromptParity, ResultsDoc,
    RunRecord,
};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The flag kind on the runs of an engine whose reply departs from the others'.
pub const FLAG: &str = "parity_departs";

/// Our tokenizer, as parity uses it (a trait so that tests can split text their own way).
pub trait ReplyTokens {
    /// Token ids of a reply, without special tokens; `None` when it cannot be split.
    fn encode(&self, text: &str) -> Option<Vec<u32>>;
    /// Text of some token ids (for excerpts).
    fn decode(&self, ids: &[u32]) -> Option<String>;
}

impl ReplyTokens for crate::prompt::tokenizer::TokenCounter {
    fn encode(&self, text: &str) -> Option<Vec<u32>> {
        self.encode_ids(text, false).ok()
    }
    fn decode(&self, ids: &[u32]) -> Option<String> {
        crate::prompt::tokenizer::TokenCounter::decode(self, ids).ok()
    }
}

/// Whether a run's reply takes part: measured (not a warm-up), successful, sequential.
fn takes_part(r: &RunRecord) -> bool {
    !r.warmup && r.ok && r.load_step.is_none()
}

fn engine_of(r: &RunRecord) -> ParityEngine {
    ParityEngine {
        engine: r.engine.clone(),
        mode: r.mode,
    }
}

/// The engines (× mode) with replies that parity compares, in order of first appearance.
pub fn engines(runs: &[RunRecord]) -> Vec<ParityEngine> {
    let mut out: Vec<ParityEngine> = Vec::new();
    for r in runs.iter().filter(|r| takes_part(r)) {
        let e = engine_of(r);
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// Every reply in tokens: by (prompt index, engine index), in run order; the prompts in
/// order of first appearance. A reply that cannot be tokenized is left out with a note.
type Replies = BTreeMap<(usize, usize), Vec<Vec<u32>>>;

fn tokenize(
    runs: &[RunRecord],
    engines: &[ParityEngine],
    tok: &dyn ReplyTokens,
    notes: &mut Vec<String>,
) -> (Vec<String>, Replies) {
    let mut prompts: Vec<String> = Vec::new();
    let mut replies = Replies::new();
    for r in runs.iter().filter(|r| takes_part(r)) {
        let p = match prompts.iter().position(|p| *p == r.prompt_id) {
            Some(p) => p,
            None => {
                prompts.push(r.prompt_id.clone());
                prompts.len() - 1
            }
        };
        let e = engines
            .iter()
            .position(|e| *e == engine_of(r))
            .unwrap_or_default();
        match tok.encode(&r.output_text) {
            Some(ids) => replies.entry((p, e)).or_default().push(ids),
            None => notes.push(format!(
                "{} {} run {}: the reply could not be tokenized; left out of parity",
                engines[e].label(),
                r.prompt_id,
                r.run_index
            )),
        }
    }
    (prompts, replies)
}

/// A reply around `position`: a few tokens before, "▸", a few from it on ("▸(end)" where
/// the reply ended there). Model output: escape before showing.
fn excerpt(tok: &dyn ReplyTokens, ids: &[u32], position: u32) -> String {
    let (start, at, end) = parity::excerpt_range(ids.len(), position as usize);
    let before = tok.decode(&ids[start..at]).unwrap_or_default();
    let after = if at == ids.len() {
        "(end)".to_string()
    } else {
        tok.decode(&ids[at..end]).unwrap_or_default()
    };
    format!(
        "{}{before}▸{after}{}",
        if start > 0 { "…" } else { "" },
        if end < ids.len() { "…" } else { "" }
    )
}

fn as_slices(v: &[Vec<u32>]) -> Vec<&[u32]> {
    v.iter().map(Vec::as_slice).collect()
}

/// One prompt's comparison of engines `i` < `j`, kept for the departures.
struct Compared {
    prompt: usize,
    i: usize,
    j: usize,
    c: Comparison,
}

/// Compare every pair of engines on every prompt both replied to; flag the runs of
/// engines that depart; fill `report`'s pairs, departures and notes.
pub fn check(runs: &mut [RunRecord], tok: &dyn ReplyTokens, report: &mut ParityReport) {
    let engines = engines(runs);
    let (prompts, replies) = tokenize(runs, &engines, tok, &mut report.notes);
    let mut compared: Vec<Compared> = Vec::new();
    for i in 0..engines.len() {
        for j in i + 1..engines.len() {
            let mut per_prompt = Vec::new();
            for (p, prompt_id) in prompts.iter().enumerate() {
                let (Some(a), Some(b)) = (replies.get(&(p, i)), replies.get(&(p, j))) else {
                    continue;
                };
                let Some(c) = parity::compare(&as_slices(a), &as_slices(b)) else {
                    continue;
                };
                let excerpts = c.first_difference.map(|d| {
                    (
                        excerpt(tok, &a[d.a], d.position),
                        excerpt(tok, &b[d.b], d.position),
                    )
                });
                per_prompt.push(PromptParity {
                    prompt_id: prompt_id.clone(),
                    comparisons: c.comparisons,
                    identical: c.identical,
                    mean_common_prefix: c.mean_common_prefix,
                    min_common_prefix: c.min_common_prefix,
                    mean_tokens_a: c.mean_tokens_a,
                    mean_tokens_b: c.mean_tokens_b,
                    first_difference: c.first_difference.map(|d| d.position),
                    excerpt_a: excerpts.as_ref().map(|x| x.0.clone()),
                    excerpt_b: excerpts.map(|x| x.1),
                });
                compared.push(Compared { prompt: p, i, j, c });
            }
            if !per_prompt.is_empty() {
                report
                    .pairs
                    .push(pair(&engines[i], &engines[j], per_prompt));
            }
        }
    }
    report.departures = departures(&engines, &prompts, &replies, &compared, tok);
    flag_runs(runs, &report.departures);
}

/// A pair's figures over its prompts: counts summed, means weighted by comparisons.
fn pair(a: &ParityEngine, b: &ParityEngine, per_prompt: Vec<PromptParity>) -> ParityPair {
    let comparisons: u32 = per_prompt.iter().map(|p| p.comparisons).sum();
    let identical: u32 = per_prompt.iter().map(|p| p.identical).sum();
    let weighted = |f: fn(&PromptParity) -> f64| {
        per_prompt
            .iter()
            .map(|p| f(p) * f64::from(p.comparisons))
            .sum::<f64>()
            / f64::from(comparisons)
    };
    ParityPair {
        a: a.clone(),
        b: b.clone(),
        prompts: per_prompt.len() as u32,
        comparisons,
        identical,
        identical_pct: f64::from(identical) / f64::from(comparisons) * 100.0,
        mean_common_prefix: weighted(|p| p.mean_common_prefix),
        min_common_prefix: per_prompt
            .iter()
            .map(|p| p.min_common_prefix)
            .min()
            .unwrap_or_default(),
        mean_tokens_a: weighted(|p| p.mean_tokens_a),
        mean_tokens_b: weighted(|p| p.mean_tokens_b),
        first_difference: per_prompt.iter().filter_map(|p| p.first_difference).min(),
        per_prompt,
    }
}

/// Per prompt, the engines whose reply departs within [`EARLY_TOKENS`] tokens
/// ([`parity::departing`]), each with the partner it departs from earliest and both
/// excerpts there.
fn departures(
    engines: &[ParityEngine],
    prompts: &[String],
    replies: &Replies,
    compared: &[Compared],
    tok: &dyn ReplyTokens,
) -> Vec<ParityDeparture> {
    let mut out = Vec::new();
    for (p, prompt_id) in prompts.iter().enumerate() {
        // The engines that replied to this prompt, by engine index.
        let present: Vec<usize> = (0..engines.len())
            .filter(|e| replies.contains_key(&(p, *e)))
            .collect();
        let find = |x: usize, y: usize| {
            compared
                .iter()
                .find(|k| k.prompt == p && k.i == x.min(y) && k.j == x.max(y))
        };
        let early = |x: usize, y: usize| {
            find(present[x], present[y]).is_some_and(|k| parity::departs_early(&k.c))
        };
        let who = parity::departing(present.len(), early);
        let pair_only = present.len() == 2;
        let kind = if pair_only {
            Departs::Pair
        } else if who.len() == present.len() {
            Departs::NoTwoAgree
        } else {
            Departs::FromMajority
        };
        for &x in who.iter().take(if pair_only { 1 } else { who.len() }) {
            let e = present[x];
            let from: Vec<usize> = present
                .iter()
                .copied()
                .filter(|&o| o != e && find(e, o).is_some_and(|k| parity::departs_early(&k.c)))
                .collect();
            // The partner it departs from earliest, and the replies there.
            let Some((o, k)) = from
                .iter()
                .filter_map(|&o| find(e, o).map(|k| (o, k)))
                .min_by_key(|(_, k)| k.c.first_difference.map(|d| d.position))
            else {
                continue;
            };
            let Some(d) = k.c.first_difference else {
                continue;
            };
            let (mine, theirs) = if e == k.i { (d.a, d.b) } else { (d.b, d.a) };
            let ex = excerpt(tok, &replies[&(p, e)][mine], d.position);
            let other_ex = excerpt(tok, &replies[&(p, o)][theirs], d.position);
            let message = departure_message(
                &engines[e],
                &engines[o],
                &from.iter().map(|&f| engines[f].label()).collect::<Vec<_>>(),
                prompt_id,
                d.position,
                (&ex, &other_ex),
                kind,
            );
            out.push(ParityDeparture {
                prompt_id: prompt_id.clone(),
                engine: engines[e].clone(),
                from: from.iter().map(|&f| engines[f].clone()).collect(),
                pair_only,
                position: d.position,
                excerpt: ex,
                other_excerpt: other_ex,
                message,
            });
        }
    }
    out
}

/// How an engine departs on one prompt.
#[derive(Clone, Copy)]
enum Departs {
    /// Two engines that part early: one cannot say which.
    Pair,
    /// Three or more, the others (most of them) agreeing without it.
    FromMajority,
    /// Three or more, and no two agree: every one departs.
    NoTwoAgree,
}

/// What the `parity_departs` flag says (excerpts quoted with escapes, as Rust's `{:?}`).
fn departure_message(
    e: &ParityEngine,
    o: &ParityEngine,
    from: &[String],
    prompt_id: &str,
    position: u32,
    (ex, other_ex): (&str, &str),
    kind: Departs,
) -> String {
    if let Departs::Pair = kind {
        format!(
            "the replies of {} and {} to prompt {prompt_id} differ at token {position} \
             (within the first {EARLY_TOKENS}; our tokenizer); with two engines it cannot say \
             which one departs: {} {ex:?} vs {} {other_ex:?}",
            e.label(),
            o.label(),
            e.label(),
            o.label()
        )
    } else {
        format!(
            "{}'s reply to prompt {prompt_id} departs from the others' ({}) within the first \
             {EARLY_TOKENS} tokens{}: at token {position} (our tokenizer), {ex:?} vs {} {other_ex:?}",
            e.label(),
            from.join(", "),
            if let Departs::NoTwoAgree = kind {
                " (no two engines agree there)"
            } else {
                ""
            },
            o.label()
        )
    }
}

/// Flag the runs (taking part) of each departing engine on its prompt; with two engines,
/// both of the pair.
fn flag_runs(runs: &mut [RunRecord], departures: &[ParityDeparture]) {
    for d in departures {
        let mut who = vec![&d.engine];
        if d.pair_only {
            who.extend(&d.from);
        }
        for r in runs
            .iter_mut()
            .filter(|r| takes_part(r) && r.prompt_id == d.prompt_id && who.contains(&&engine_of(r)))
        {
            r.flags.push(Flag {
                kind: FLAG.into(),
                message: d.message.clone(),
            });
        }
    }
}

/// One pair's cells, as every renderer shows them (unescaped): pair, prompts, identical,
/// mean and min common prefix, mean reply tokens, first difference (a token index or "–").
fn pair_cells(x: &ParityPair) -> [String; 7] {
    [
        format!("{} – {}", x.a.label(), x.b.label()),
        x.prompts.to_string(),
        format!(
            "{}/{} ({:.0}%)",
            x.identical, x.comparisons, x.identical_pct
        ),
        format!("{:.1}", x.mean_common_prefix),
        x.min_common_prefix.to_string(),
        format!("{:.1} / {:.1}", x.mean_tokens_a, x.mean_tokens_b),
        x.first_difference
            .map(|d| d.to_string())
            .unwrap_or_else(|| "–".into()),
    ]
}

/// "## Greedy parity": one row per pair, the departures, the notes; empty without a
/// parity report.
pub fn markdown(doc: &ResultsDoc) -> String {
    let Some(p) = &doc.parity else {
        return String::new();
    };
    let mut md = String::new();
    let _ = writeln!(md, "## Greedy parity\n");
    let _ = writeln!(
        md,
        "Computed because of {}. Each pair of engines' replies to the same prompt, compared token \
         by token with our tokenizer{}: every successful run of one against every run of the \
         other (warm-ups and load steps left out). Common prefix = leading tokens two replies \
         share; a reply that differs within the first {} tokens departs.\n",
        escape_text(&p.why, true),
        p.tokenizer
            .as_ref()
            .map(|t| format!(" ({})", escape_text(t, true)))
            .unwrap_or_default(),
        p.early_tokens
    );
    if !p.pairs.is_empty() {
        let _ = writeln!(
            md,
            "| Pair | Prompts | Identical | Mean common prefix | Min common prefix | Mean reply tokens | First difference |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for x in &p.pairs {
            let c = pair_cells(x).map(|c| escape_text(&c, true));
            let first = if c[6] == "–" {
                c[6].clone()
            } else {
                format!("token {}", c[6])
            };
            let _ = writeln!(md, "| {} | {first} |", c[..6].join(" | "));
        }
        md.push('\n');
    }
    for d in &p.departures {
        let _ = writeln!(
            md,
            "**⚠ {}** ({}): {}  ",
            escape_text(FLAG, true),
            escape_text(&d.prompt_id, true),
            escape_text(&d.message, true)
        );
    }
    for n in &p.notes {
        let _ = writeln!(md, "- {}", escape_text(n, true));
    }
    md.push('\n');
    md
}

/// The HTML report's parity table and departures; empty without a parity report.
pub fn html(doc: &ResultsDoc) -> String {
    use super::escape_html as esc;
    let Some(p) = &doc.parity else {
        return String::new();
    };
    let mut h = format!(
        "<h2>Greedy parity</h2><p class=\"note\">Computed because of {}. Each pair of engines' \
         replies to the same prompt, compared token by token with our tokenizer: every \
         successful run of one against every run of the other. A reply that differs within the \
         first {} tokens departs.</p>",
        esc(&p.why),
        p.early_tokens
    );
    if !p.pairs.is_empty() {
        h.push_str(
            "<table><tr><th class=\"l\">pair</th><th>prompts</th><th>identical</th><th>mean common prefix</th><th>min common prefix</th><th>mean reply tokens</th><th>first difference</th></tr>",
        );
        for x in &p.pairs {
            let c = pair_cells(x).map(|c| esc(&c));
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td></tr>",
                c[0],
                c[1..].join("</td><td>")
            );
        }
        h.push_str("</table>");
    }
    for d in &p.departures {
        let _ = write!(h, "<p>⚠ <b>{FLAG}</b>: {}</p>", esc(&d.message));
    }
    for n in &p.notes {
        let _ = write!(h, "<p class=\"note\">{}</p>", esc(n));
    }
    h
}

/// The console's parity table and departures; empty without a parity report.
pub fn console(doc: &ResultsDoc) -> String {
    let Some(p) = &doc.parity else {
        return String::new();
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nparity ({}; our tokenizer; tokens):\n{:<34} {:>7} {:>14} {:>11} {:>10} {:>10}",
        p.why, "pair", "prompts", "identical", "mean prefix", "min prefix", "first diff"
    );
    for x in &p.pairs {
        let c = pair_cells(x);
        let _ = writeln!(
            out,
            "{:<34} {:>7} {:>14} {:>11} {:>10} {:>10}",
            c[0],
            c[1],
            c[2].replace(" (", " ").replace(')', ""),
            c[3],
            c[4],
            c[6]
        );
    }
    for d in &p.departures {
        let _ = writeln!(out, "⚠ {FLAG}: {}", d.message);
    }
    for n in &p.notes {
        let _ = writeln!(out, "  {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, Sampling};

    /// One token per character, its id the code point: exact and invertible.
    struct Chars;
    impl ReplyTokens for Chars {
        fn encode(&self, text: &str) -> Option<Vec<u32>> {
            Some(text.chars().map(u32::from).collect())
        }
        fn decode(&self, ids: &[u32]) -> Option<String> {
            ids.iter().map(|&i| char::from_u32(i)).collect()
        }
    }

    fn run(engine: &str, prompt: &str, index: u32, text: &str) -> RunRecord {
        let mut r = RunRecord::new(
            engine,
            Mode::Api,
            "/v1/chat/completions",
            prompt,
            "short",
            index,
            Sampling {
                max_tokens: 32,
                temperature: 0.0,
                seed: None,
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "gemma3",
        );
        r.ok = true;
        r.output_text = text.into();
        r
    }

    fn checked(runs: &mut [RunRecord]) -> ParityReport {
        let mut report = ParityReport {
            why: "temperature 0".into(),
            early_tokens: EARLY_TOKENS,
            ..Default::default()
        };
        check(runs, &Chars, &mut report);
        report
    }

    fn flagged(runs: &[RunRecord]) -> Vec<(String, String)> {
        runs.iter()
            .filter(|r| r.flags.iter().any(|f| f.kind == FLAG))
            .map(|r| (r.engine.clone(), r.prompt_id.clone()))
            .collect()
    }

    const SAME: &str = "abcdefghijklmnopqrst";

    #[test]
    fn the_engine_that_departs_from_the_majority_is_flagged() {
        let mut runs = vec![
            run("a", "p1", 0, SAME),
            run("b", "p1", 0, SAME),
            run("c", "p1", 0, "abcXYZ"),
            run("a", "p1", 1, SAME),
            run("b", "p1", 1, SAME),
            run("c", "p1", 1, "abcXYZ"),
        ];
        let report = checked(&mut runs);
        let rows: Vec<_> = report
            .pairs
            .iter()
            .map(|p| {
                (
                    p.a.engine.as_str(),
                    p.b.engine.as_str(),
                    p.prompts,
                    p.comparisons,
                    p.identical,
                    p.identical_pct,
                    p.mean_common_prefix,
                    p.min_common_prefix,
                    p.first_difference,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("a", "b", 1, 4, 4, 100.0, 20.0, 20, None),
                ("a", "c", 1, 4, 0, 0.0, 3.0, 3, Some(3)),
                ("b", "c", 1, 4, 0, 0.0, 3.0, 3, Some(3)),
            ]
        );
        assert_eq!(report.pairs[1].mean_tokens_a, 20.0);
        assert_eq!(report.pairs[1].mean_tokens_b, 6.0);
        let pp = &report.pairs[1].per_prompt[0];
        assert_eq!(pp.excerpt_a.as_deref(), Some("abc▸defghijk…"));
        assert_eq!(pp.excerpt_b.as_deref(), Some("abc▸XYZ"));
        assert_eq!(report.departures.len(), 1);
        let d = &report.departures[0];
        assert_eq!(d.engine.engine, "c");
        assert_eq!(
            d.from.iter().map(|e| e.engine.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(!d.pair_only);
        assert_eq!(d.position, 3);
        assert_eq!(d.excerpt, "abc▸XYZ");
        assert_eq!(d.other_excerpt, "abc▸defghijk…");
        assert_eq!(
            d.message,
            "c api's reply to prompt p1 departs from the others' (a api, b api) within the \
             first 16 tokens: at token 3 (our tokenizer), \"abc▸XYZ\" vs a api \"abc▸defghijk…\""
        );
        assert_eq!(flagged(&runs), vec![("c".into(), "p1".into()); 2]);
    }

    #[test]
    fn two_engines_that_part_early_are_flagged_as_a_pair() {
        let mut runs = vec![
            run("a", "p1", 0, "hello\nworld"),
            run("b", "p1", 0, "help me"),
            run("a", "p2", 0, SAME),
            run("b", "p2", 0, SAME),
        ];
        let report = checked(&mut runs);
        assert_eq!(report.pairs.len(), 1);
        let p = &report.pairs[0];
        assert_eq!((p.prompts, p.comparisons, p.identical), (2, 2, 1));
        assert_eq!(p.identical_pct, 50.0);
        assert_eq!(p.mean_common_prefix, (3.0 + 20.0) / 2.0);
        assert_eq!((p.min_common_prefix, p.first_difference), (3, Some(3)));
        assert_eq!(report.departures.len(), 1);
        let d = &report.departures[0];
        assert!(d.pair_only);
        assert_eq!((d.prompt_id.as_str(), d.position), ("p1", 3));
        assert_eq!(
            d.message,
            "the replies of a api and b api to prompt p1 differ at token 3 (within the first 16; \
             our tokenizer); with two engines it cannot say which one departs: a api \
             \"hel▸lo\\nworld\" vs b api \"hel▸p me\""
        );
        // Both of the pair, on that prompt only.
        assert_eq!(
            flagged(&runs),
            vec![("a".into(), "p1".into()), ("b".into(), "p1".into())]
        );
        // The report escapes the model's text.
        let doc_md = markdown(&doc(report));
        assert!(
            doc_md.contains("| a api – b api | 2 | 1/2 (50%) | 11.5 | 3 | 15.5 / 13.5 | token 3 |"),
            "{doc_md}"
        );
        assert!(
            doc_md.contains("**⚠ parity\\_departs** (p1): the replies of a api"),
            "{doc_md}"
        );
    }

    #[test]
    fn when_no_two_engines_agree_every_one_departs_and_it_says_so() {
        let mut runs = vec![
            run("a", "p1", 0, "abcdef"),
            run("b", "p1", 0, "abXdef"),
            run("c", "p1", 0, "Ybcdef"),
        ];
        let report = checked(&mut runs);
        let got: Vec<_> = report
            .departures
            .iter()
            .map(|d| {
                (
                    d.engine.engine.as_str(),
                    d.position,
                    d.other_excerpt.as_str(),
                )
            })
            .collect();
        // Each with the partner it parts from earliest: a and b from c at 0.
        assert_eq!(
            got,
            vec![
                ("a", 0, "▸Ybcdef"),
                ("b", 0, "▸Ybcdef"),
                ("c", 0, "▸abcdef")
            ]
        );
        assert!(
            report.departures[0]
                .message
                .starts_with("a api's reply to prompt p1 departs from the others' (b api, c api) within the first 16 tokens (no two engines agree there): at token 0"),
            "{}",
            report.departures[0].message
        );
        assert_eq!(flagged(&runs).len(), 3);
    }

    #[test]
    fn a_difference_after_the_first_16_tokens_departs_from_nobody() {
        let late = format!("{}Z", &SAME[..16]);
        let mut runs = vec![run("a", "p1", 0, SAME), run("b", "p1", 0, &late)];
        let report = checked(&mut runs);
        assert_eq!(report.pairs[0].first_difference, Some(16));
        assert!(report.departures.is_empty());
        assert!(flagged(&runs).is_empty());
    }

    #[test]
    fn warm_ups_failures_and_load_steps_take_no_part() {
        let mut warm = run("a", "p1", 0, "zzz");
        warm.warmup = true;
        let mut failed = run("b", "p1", 0, "zzz");
        failed.ok = false;
        let mut load = run("c", "p1", 0, "zzz");
        load.load_step = Some("c=4".into());
        let mut runs = vec![
            warm,
            failed,
            load,
            run("a", "p1", 1, SAME),
            run("b", "p1", 1, SAME),
        ];
        assert_eq!(engines(&runs).len(), 2);
        let report = checked(&mut runs);
        assert_eq!(report.pairs.len(), 1);
        assert_eq!(report.pairs[0].comparisons, 1);
        assert_eq!(report.pairs[0].identical, 1);
        assert!(report.departures.is_empty());
        // Engines with no common prompt make no pair.
        let mut apart = vec![run("a", "p1", 0, SAME), run("b", "p2", 0, SAME)];
        assert!(checked(&mut apart).pairs.is_empty());
    }

    fn doc(parity: ParityReport) -> ResultsDoc {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "tool": "t", "mode": "api", "started_at": "", "finished_at": "",
            "environment": serde_json::to_value(crate::results::Environment::default()).unwrap_or_default(),
            "config": {}, "engines": [], "runs": [], "summaries": [],
            "parity": serde_json::to_value(parity).unwrap_or_default(),
        }))
        .expect("doc")
    }

    #[test]
    fn console_table_lists_every_pair() {
        let mut runs = vec![
            run("a", "p1", 0, SAME),
            run("b", "p1", 0, SAME),
            run("c", "p1", 0, "abcXYZ"),
        ];
        let out = console(&doc(checked(&mut runs)));
        assert!(out.contains("a api – b api"), "{out}");
        assert!(out.contains("1/1 100%"), "{out}");
        assert!(
            out.contains("⚠ parity_departs: c api's reply to prompt p1"),
            "{out}"
        );
        let h = html(&doc(checked(&mut runs)));
        assert!(
            h.contains("<td class=\"l\">a api – b api</td><td>1</td><td>1/1 (100%)</td>"),
            "{h}"
        );
        // The model's text is escaped.
        assert!(h.contains("&quot;abc▸XYZ&quot;"), "{h}");
        // A blank line, the title, the header.
        assert_eq!(console(&doc(ParityReport::default())).lines().count(), 3);
    }
}
