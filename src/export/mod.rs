//! The results document and its renderers. [`assemble`] builds the [`ResultsDoc`] of a
//! run (with the [`summary`] of its records); each renderer is pure (`&ResultsDoc →
//! String`) and reads metrics through [`crate::results::metric`]; file I/O lives in
//! [`crate::output`]. [`peer`] renders load steps in other tools' formats (`--export`).
//!
//! [`ResultsDoc`]: crate::results::ResultsDoc

pub mod assemble;
pub mod calibration;
pub mod chart;
pub mod clocks;
pub mod console;
pub mod csv;
pub mod energy;
pub mod html;
pub mod input_sweep;
pub mod json;
pub mod log;
pub mod markdown;
pub mod parity;
pub mod peer;
pub mod search;
pub mod starts;
pub mod summary;

pub use assemble::assemble;

use crate::measure::stats::Summary;
use crate::results::metric::Metric;
use std::collections::BTreeMap;

/// The engine's settings on one line for a report ("device cpu (configured); dtype
/// bfloat16; attn_implementation sdpa (asked flash_attention_2); ..."): the device with
/// why, then what the engine reported, each with what was asked where it differs. `None`
/// when there is neither. Not escaped.
pub fn engine_settings_line(e: &crate::results::EngineInfo) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(d) = &e.device {
        parts.push(match &e.device_reason {
            Some(why) => format!("device {d} ({why})"),
            None => format!("device {d}"),
        });
    }
    for (k, v) in &e.engine_settings {
        // The resolved device above already says it, unless the engine reports otherwise.
        if k == "device" && e.device.is_some() && !v.differs() {
            continue;
        }
        parts.push(format!("{k} {}", v.describe()));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The mark a report puts after a TTFT figure that includes replies in one lump (a
/// `decode_not_measurable` reply: its TTFT holds the whole generation), before the
/// footnote [`lump_note`] that explains it.
pub const LUMP_MARK: &str = "†";

/// `cell` with [`LUMP_MARK`] after it when `lumps` runs of its figures came in one lump.
pub fn lump_marked(cell: String, lumps: u64) -> String {
    if lumps > 0 && cell != "–" {
        format!("{cell} {LUMP_MARK}")
    } else {
        cell
    }
}

/// The footnote of [`LUMP_MARK`] for `lumps` of `of` successful runs of `who` (escaped
/// by the caller as its format needs). Not escaped.
pub fn lump_note(who: &str, lumps: u64, of: u64) -> String {
    format!(
        "{LUMP_MARK} {who}: {} in {lumps} of {of} successful runs. The server sent each of those \
         replies in one burst, so their TTFT is no prefill time; their prefill tok/s, ICL and \
         decode from the stream are withheld (left out of every summary).",
        crate::measure::metrics::TTFT_HOLDS_GENERATION
    )
}

/// One statistic of a metric in a map of summaries (a group's or a step's), when there.
pub fn stat(summaries: &BTreeMap<String, Summary>, m: &Metric, stat: Stat) -> Option<f64> {
    summaries.get(m.name).map(|s| stat.of(s))
}

/// A statistic of a [`Summary`], as tables show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Mean,
    P50,
    P99,
}

impl Stat {
    /// "mean", "p50", "p99".
    pub fn name(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::P50 => "p50",
            Stat::P99 => "p99",
        }
    }

    pub fn of(self, s: &Summary) -> f64 {
        match self {
            Stat::Mean => s.mean,
            Stat::P50 => s.p50,
            Stat::P99 => s.p99,
        }
    }
}

/// Escape text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    escape(s, false, false)
}

/// Escape text for HTML and Markdown contexts: `& < > " '` become entities, and the
/// Markdown metacharacters that could change table or emphasis structure are
/// backslash-escaped. Newlines become spaces when `single_line` is set.
pub fn escape_text(s: &str, single_line: bool) -> String {
    escape(s, true, single_line)
}

fn escape(s: &str, markdown: bool, single_line: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '|' | '`' | '*' | '_' | '[' | ']' | '\\' | '#' if markdown => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' if single_line => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::results::{EngineInfo, EngineSetting};

    #[test]
    fn engine_settings_on_one_line_with_fallbacks_shown() {
        let set = |asked: Option<&str>, eff: &str| EngineSetting {
            asked: asked.map(str::to_string),
            effective: Some(eff.to_string()),
        };
        let mut e = EngineInfo {
            device: Some("cuda".into()),
            device_reason: Some("auto: an NVIDIA GPU is present".into()),
            ..Default::default()
        };
        e.engine_settings
            .insert("device".into(), set(Some("cuda"), "cuda:0"));
        e.engine_settings.insert(
            "attn_implementation".into(),
            set(Some("flash_attention_2"), "sdpa"),
        );
        e.engine_settings
            .insert("dtype".into(), set(Some("auto"), "bfloat16"));
        e.engine_settings
            .insert("torch_version".into(), set(None, "2.5.1"));
        assert_eq!(
            super::engine_settings_line(&e).unwrap(),
            "device cuda (auto: an NVIDIA GPU is present); attn_implementation sdpa (asked \
             flash_attention_2); dtype bfloat16; torch_version 2.5.1"
        );
        assert_eq!(super::engine_settings_line(&EngineInfo::default()), None);
    }

    #[test]
    fn escapes_html_and_markdown() {
        assert_eq!(
            super::escape_text("<script>a|b</script>\n*x*", true),
            "&lt;script&gt;a\\|b&lt;/script&gt; \\*x\\*"
        );
    }
}
