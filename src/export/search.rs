//! The "Search" part of the Markdown and HTML reports (pure): for each `--find` search,
//! the boundary with its attainment interval, the first failing load, how the search
//! ended, and every probe in the order run (load, verdict, requests that met the SLO,
//! attainment with its 95 % Wilson interval, batches). Nothing when there was no search.

use super::console::search_load_label;
use super::escape_html as esc;
use super::escape_text;
use crate::results::{ResultsDoc, SearchReport};
use std::fmt::Write;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// One sentence on the outcome, plain text.
fn outcome(s: &SearchReport) -> String {
    let what = match s.find {
        crate::results::Find::MaxConcurrency => "Highest concurrency",
        crate::results::Find::MaxRate => "Highest rate",
    };
    let boundary = match (s.boundary, s.boundary_ci) {
        (Some(b), Some(ci)) => format!(
            "{} (attainment {:.0}% CI [{}, {}])",
            search_load_label(s.find, b),
            100.0 * ci.level,
            pct(ci.lo),
            pct(ci.hi)
        ),
        _ => "none".into(),
    };
    let failing = s
        .first_failing
        .map(|f| search_load_label(s.find, f))
        .unwrap_or_else(|| format!("none up to {}", search_load_label(s.find, s.limit)));
    format!(
        "{what} whose requests met SLO {} for at least {}: {boundary}; first failing: {failing}; {}.",
        s.slo.describe(),
        pct(s.target),
        s.note
    )
}

/// "## Search" for the Markdown report.
pub fn markdown(doc: &ResultsDoc) -> String {
    let mut md = String::new();
    if doc.search.is_empty() {
        return md;
    }
    let _ = writeln!(md, "\n## Search\n");
    for s in &doc.search {
        let _ = writeln!(
            md,
            "**{}**: {}\n",
            escape_text(&s.engine, true),
            escape_text(&outcome(s), true)
        );
        let _ = writeln!(
            md,
            "| probe | load | verdict | met SLO | attainment | 95% CI | batches |\n|---:|---|---|---:|---:|---|---:|"
        );
        for (i, p) in s.probes.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} / {} | {} | [{}, {}] | {} |",
                i + 1,
                search_load_label(s.find, p.load),
                p.verdict.as_str(),
                p.good,
                p.total,
                pct(p.attainment),
                pct(p.ci.lo),
                pct(p.ci.hi),
                p.batches
            );
        }
    }
    md
}

/// `<h2>Search</h2>` for the HTML report.
pub fn html(doc: &ResultsDoc) -> String {
    let mut h = String::new();
    if doc.search.is_empty() {
        return h;
    }
    h.push_str("<h2>Search</h2><p class=\"note\">--find: the load doubles until a probe misses the target, then bisects between the last passing and the first failing load. A probe passes when the 95% Wilson interval of its SLO attainment lies at or above the target, fails when it lies below; while it straddles the target the probe runs another batch (a load step of its own, in the Load section), up to a bound, and one still undecided there counts as failing.</p>");
    for s in &doc.search {
        let _ = write!(
            h,
            "<p><b>{}</b>: {}</p><table><tr><th>probe</th><th class=\"l\">load</th><th class=\"l\">verdict</th><th>met SLO</th><th>attainment</th><th class=\"l\">95% CI</th><th>batches</th></tr>",
            esc(&s.engine),
            esc(&outcome(s))
        );
        for (i, p) in s.probes.iter().enumerate() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{} / {}</td><td>{}</td><td class=\"l\">[{}, {}]</td><td>{}</td></tr>",
                i + 1,
                esc(&search_load_label(s.find, p.load)),
                p.verdict.as_str(),
                p.good,
                p.total,
                pct(p.attainment),
                pct(p.ci.lo),
                pct(p.ci.hi),
                p.batches
            );
        }
        h.push_str("</table>");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::search::{Search, SearchConfig};
    use crate::results::{Environment, Find, Mode, Slo};

    fn doc(search: Vec<SearchReport>) -> ResultsDoc {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "tool": "t", "mode": "api", "started_at": "", "finished_at": "",
            "environment": serde_json::to_value(Environment::default()).unwrap_or_default(),
            "config": {}, "engines": [], "runs": [], "summaries": [],
            "search": serde_json::to_value(search).unwrap_or_default(),
        }))
        .expect("doc")
    }

    #[test]
    fn lists_the_boundary_and_every_probe_escaped() {
        let mut s = Search::new(SearchConfig {
            first_requests: Some(100),
            ..SearchConfig::new(Find::MaxConcurrency, 0.95)
        });
        while let Some(r) = s.next_run() {
            let good = if r.load <= 3.0 { r.requests } else { 0 };
            s.observe(good, r.requests);
        }
        let slo = Slo {
            ttft_ms: Some(40.0),
            ..Slo::default()
        };
        let d = doc(vec![s.report("<eng>", slo)]);
        assert_eq!(d.mode, Mode::Api);
        let md = markdown(&d);
        assert!(md.contains("## Search"), "{md}");
        assert!(
            md.contains(r"c=3 (attainment 95% CI \[96.3%, 100.0%\])"),
            "{md}"
        );
        assert!(md.contains("first failing: c=4"), "{md}");
        assert!(md.contains("| 1 | c=1 | pass | 100 / 100 |"), "{md}");
        assert_eq!(
            md.matches("\n| ").count() - 1,
            4,
            "header + 4 probes (1, 2, 4, 3): {md}"
        );
        let h = html(&d);
        assert!(h.contains("&lt;eng&gt;") && !h.contains("<eng>"), "{h}");
        assert!(h.contains("<td class=\"l\">fail</td>"), "{h}");
        assert!(markdown(&doc(vec![])).is_empty() && html(&doc(vec![])).is_empty());
    }
}
