//! Load steps in the formats other tools read (`--export`), pure: a results document and
//! one of its [`StepReport`]s → the text of one file.
//!
//! - [`br`]: llm-d-benchmark's **Benchmark Report v0.2** (the format llm-d-benchmark
//!   converts vLLM, AIPerf, GuideLLM, inference-perf and InferenceMAX results into).
//! - [`vllm`]: the shape of **vLLM `bench serve --save-result`** (the JSON many dashboards
//!   read).
//!
//! Every figure is ours, under their name, computed the way `inferbench compare` computes
//! ours when it sets a peer's file beside a results document: per-request statistics over
//! the step's measured, successful requests ([`crate::measure::stats::summarize`]), the
//! throughputs from the step report. A file we write is therefore read back by `compare`
//! with the same figures as our own results file. What has no counterpart of ours is left
//! out, never estimated.
//!
//! One figure is computed here only: **ITL as vLLM defines it**, the gaps between
//! consecutive chunks of a stream pooled over every request ([`pooled_chunk_gaps_ms`]).
//! Our `icl_ms` is each request's mean gap, then averaged over requests; the two differ
//! when requests stream different numbers of chunks, and their percentiles differ always.

pub mod br;
pub mod vllm;

use crate::cli::ExportFormat;
use crate::measure::stats::{Summary, summarize};
use crate::results::metric::Metric;
use crate::results::{EngineInfo, ResultsDoc, RunRecord, StepReport};

impl ExportFormat {
    /// The end of the file name: `br0.2.json`, `vllm.json`.
    pub fn suffix(self) -> &'static str {
        match self {
            ExportFormat::Br02 => "br0.2.json",
            ExportFormat::Vllm => "vllm.json",
        }
    }

    /// How a report names it.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Br02 => "Benchmark Report v0.2",
            ExportFormat::Vllm => "vLLM bench serve",
        }
    }
}

/// One step in `format`.
pub fn render(format: ExportFormat, doc: &ResultsDoc, step: &StepReport) -> String {
    let view = StepView::new(doc, step);
    match format {
        ExportFormat::Br02 => br::render(&view),
        ExportFormat::Vllm => vllm::render(&view),
    }
}

/// The gaps between consecutive content events of one request, ms; none for a request
/// whose gaps are not the engine's rhythm (its ICL was withheld: a reply in one lump).
pub fn chunk_gaps_ms(r: &RunRecord) -> Vec<f64> {
    match (&r.timeline, r.icl_ms) {
        (Some(t), Some(_)) => t.events_ms.windows(2).map(|w| w[1] - w[0]).collect(),
        _ => Vec::new(),
    }
}

/// vLLM's ITL over `runs`: every request's chunk gaps, pooled (ms).
pub fn pooled_chunk_gaps_ms<'a>(runs: impl IntoIterator<Item = &'a RunRecord>) -> Vec<f64> {
    runs.into_iter().flat_map(chunk_gaps_ms).collect()
}

/// A step with what every format reads from it.
pub struct StepView<'a> {
    pub doc: &'a ResultsDoc,
    pub step: &'a StepReport,
    /// The step's measured requests (warm-up left out), failed ones included.
    pub measured: Vec<&'a RunRecord>,
    /// Of those, the successful ones.
    pub ok: Vec<&'a RunRecord>,
    pub engine: Option<&'a EngineInfo>,
}

impl<'a> StepView<'a> {
    pub fn new(doc: &'a ResultsDoc, step: &'a StepReport) -> Self {
        let measured: Vec<&RunRecord> = doc
            .runs
            .iter()
            .filter(|r| {
                !r.warmup && r.engine == step.engine && r.load_step.as_deref() == Some(&step.step)
            })
            .collect();
        let ok = measured.iter().copied().filter(|r| r.ok).collect();
        StepView {
            doc,
            step,
            measured,
            ok,
            engine: doc.engines.iter().find(|e| e.engine == step.engine),
        }
    }

    /// Statistics of a per-request metric over the successful requests (as `compare`
    /// computes ours); the step report's own summary when the document holds no records
    /// of the step (a merged result).
    pub fn summary(&self, m: &Metric) -> Option<Summary> {
        if self.ok.is_empty() {
            return self.step.metrics.get(m.name).cloned();
        }
        let values: Vec<f64> = self.ok.iter().filter_map(|r| m.of(r)).collect();
        summarize(&values)
    }

    /// Statistics of vLLM's ITL: the successful requests' chunk gaps, pooled.
    pub fn chunk_gaps(&self) -> Option<Summary> {
        summarize(&pooled_chunk_gaps_ms(self.ok.iter().copied()))
    }

    /// The sum of a token count over the successful requests, when every one has it.
    pub fn total(&self, count: fn(&RunRecord) -> Option<u64>) -> Option<u64> {
        self.ok.iter().map(|r| count(r)).sum()
    }

    /// The wall-clock instant of the step's first measured request.
    pub fn started(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        self.measured
            .iter()
            .filter_map(|r| chrono::DateTime::parse_from_rfc3339(&r.started_at).ok())
            .min()
    }

    /// Seconds of the step's span.
    pub fn span_s(&self) -> Option<f64> {
        self.step.span.map(|w| w.seconds())
    }

    /// The model the engine served, where the document says: the engine's own report,
    /// else its configured model name or model file.
    pub fn model(&self) -> Option<String> {
        if let Some(m) = self
            .engine
            .and_then(|e| e.engine_settings.get("model"))
            .and_then(|s| s.effective.clone())
        {
            return Some(m);
        }
        let cfg = self.doc.config.get("servers")?.get(&self.step.engine)?;
        let text = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
        text("model_name").or_else(|| {
            text("model_path").map(|p| {
                std::path::Path::new(&p)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or(p)
            })
        })
    }

    /// Our version, without the tool's name ("0.1.0").
    pub fn tool_version(&self) -> &str {
        self.doc
            .tool
            .strip_prefix("inferbench ")
            .unwrap_or(&self.doc.tool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, Sampling, TimelineMs};

    fn record(events: &[f64], icl: Option<f64>) -> RunRecord {
        let mut r = RunRecord::new(
            "e",
            Mode::Api,
            "/v1/chat/completions",
            "p",
            "short",
            0,
            Sampling {
                max_tokens: 8,
                temperature: 0.0,
                seed: None,
                top_p: None,
                top_k: None,
                ignore_eos: false,
            },
            "chatml",
        );
        r.timeline = Some(TimelineMs {
            scheduled_ms: 0.0,
            sent_ms: 0.0,
            first_byte_ms: None,
            end_ms: events.last().copied(),
            events_ms: events.to_vec(),
        });
        r.icl_ms = icl;
        r
    }

    #[test]
    fn chunk_gaps_are_pooled_not_averaged_per_request() {
        // Two requests: 3 gaps of 2 ms, 1 gap of 10 ms. Mean of per-request means is 6 ms;
        // vLLM's pooled ITL is (2+2+2+10)/4 = 4 ms.
        let a = record(&[10.0, 12.0, 14.0, 16.0], Some(2.0));
        let b = record(&[10.0, 20.0], Some(10.0));
        let gaps = pooled_chunk_gaps_ms([&a, &b]);
        assert_eq!(gaps, vec![2.0, 2.0, 2.0, 10.0]);
        assert_eq!(summarize(&gaps).map(|s| s.mean), Some(4.0));
        // A reply in one lump (ICL withheld) adds no gaps.
        let lump = record(&[10.0, 10.01, 10.02], None);
        assert!(chunk_gaps_ms(&lump).is_empty());
    }
}
