//! Where results go: the seed's file names, the append-only JSONL of run records (on disk
//! before the next run starts), the detailed log, and the final exports.
//!
//! Layout under `--out-dir` (API mode; CLI mode drops the `api_` prefix):
//! ```text
//! report/api_benchmark_report_{N}runs_{YYYYMMDD_HHMMSS}.md
//! output/api_benchmark_results_{N}runs_{YYYYMMDD_HHMMSS}.json
//! output/api_benchmark_results_{N}runs_{YYYYMMDD_HHMMSS}.jsonl   (one record per run, appended as produced)
//! logging/api_benchmark_detailed_{YYYYMMDD_HHMMSS}.log
//! ```

use crate::results::{Mode, ResultsDoc, RunRecord};
use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The files of one benchmark invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    pub report: PathBuf,
    pub json: PathBuf,
    pub jsonl: PathBuf,
    pub log: PathBuf,
    pub html: PathBuf,
    pub csv: PathBuf,
    pub logging_dir: PathBuf,
}

/// The seed's file names for a mode, run count and timestamp (`YYYYMMDD_HHMMSS`). Pure.
pub fn paths(out_dir: &Path, mode: Mode, runs: u32, stamp: &str) -> OutputPaths {
    let prefix = match mode {
        Mode::Api => "api_benchmark",
        Mode::Cli => "benchmark",
    };
    let results = format!("{prefix}_results_{runs}runs_{stamp}");
    OutputPaths {
        report: out_dir
            .join("report")
            .join(format!("{prefix}_report_{runs}runs_{stamp}.md")),
        json: out_dir.join("output").join(format!("{results}.json")),
        jsonl: out_dir.join("output").join(format!("{results}.jsonl")),
        log: out_dir
            .join("logging")
            .join(format!("{prefix}_detailed_{stamp}.log")),
        html: out_dir
            .join("report")
            .join(format!("{prefix}_report_{runs}runs_{stamp}.html")),
        csv: out_dir.join("output").join(format!("{results}.csv")),
        logging_dir: out_dir.join("logging"),
    }
}

/// Appends run records to a JSONL file, one whole line per write, shareable across tasks.
#[derive(Clone)]
pub struct RecordWriter {
    file: Arc<Mutex<File>>,
    path: PathBuf,
}

impl RecordWriter {
    /// Append one record; it is in the kernel (it survives SIGKILL) when this returns.
    pub fn write(&self, record: &RunRecord) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        // A poisoned lock only means another writer panicked mid-call; the file is fine.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write of the whole line: an unbuffered File goes straight to the kernel.
        file.write_all(&line)
            .with_context(|| format!("appending to {}", self.path.display()))
    }
}

/// The timestamp used in file names, local time.
pub fn stamp_now() -> String {
    chrono::Local::now().format("%Y%m%d_%H%M%S").to_string()
}

/// One benchmark's open output files. Every record is appended to the JSONL and written
/// through to the OS before [`Session::record`] returns, so a crash or SIGKILL loses no
/// finished run.
pub struct Session {
    pub paths: OutputPaths,
    jsonl: RecordWriter,
    log: File,
    records: Vec<RunRecord>,
}

impl Session {
    /// Create the directories and open the JSONL and log files.
    pub fn create(out_dir: &Path, mode: Mode, runs: u32, stamp: &str) -> anyhow::Result<Self> {
        let paths = paths(out_dir, mode, runs, stamp);
        for dir in [&paths.report, &paths.json, &paths.log] {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating output directory {}", parent.display()))?;
            }
        }
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))
        };
        let jsonl = RecordWriter {
            file: Arc::new(Mutex::new(open(&paths.jsonl)?)),
            path: paths.jsonl.clone(),
        };
        let log = open(&paths.log)?;
        Ok(Session {
            paths,
            jsonl,
            log,
            records: Vec::new(),
        })
    }

    /// Append one record to the JSONL (written through before returning) and the log.
    pub fn record(&mut self, record: RunRecord) -> anyhow::Result<()> {
        self.jsonl.write(&record)?;
        self.adopt(record);
        Ok(())
    }

    /// A handle that appends records to this session's JSONL from other tasks (load
    /// mode writes each request's record the moment it ends). Records written through it
    /// join the session with [`Session::adopt`].
    pub fn record_writer(&self) -> RecordWriter {
        self.jsonl.clone()
    }

    /// Take a record that is already in the JSONL (written through [`Session::record_writer`])
    /// into the results and the log.
    pub fn adopt(&mut self, record: RunRecord) {
        self.log(&crate::export::log::run_line(&record));
        self.records.push(record);
    }

    /// Append a timestamped line to the detailed log. Logging failures are reported once
    /// on stderr and otherwise ignored: losing a log line must not lose a run.
    pub fn log(&mut self, message: &str) {
        let ts = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f");
        let mut text = String::with_capacity(message.len() + 32);
        for line in message.lines() {
            text.push_str(&format!("{ts} {line}\n"));
        }
        if let Err(e) = self.log.write_all(text.as_bytes()) {
            tracing::warn!("cannot write log {}: {e}", self.paths.log.display());
        }
    }

    pub fn records(&self) -> &[RunRecord] {
        &self.records
    }

    /// `--export`: every load step of `doc` in each of `formats`, one file per engine ×
    /// step ([`peer_export_path`]); the files written. Without load steps there is nothing
    /// to export: a warning, not an error.
    pub fn write_peer_exports(
        &mut self,
        doc: &ResultsDoc,
        formats: &[crate::cli::ExportFormat],
    ) -> anyhow::Result<Vec<PathBuf>> {
        let mut formats = formats.to_vec();
        let mut seen = Vec::new();
        formats.retain(|f| {
            let new = !seen.contains(f);
            seen.push(*f);
            new
        });
        if formats.is_empty() {
            return Ok(Vec::new());
        }
        if doc.load.is_empty() {
            let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
            let msg = format!(
                "--export {}: no load step was measured, so there is nothing to export \
                 (these formats describe load steps: --concurrency, --rate or --sweep)",
                names.join(", ")
            );
            tracing::warn!("{msg}");
            self.log(&msg);
            return Ok(Vec::new());
        }
        let mut written = Vec::new();
        for format in formats {
            for step in &doc.load {
                let mut path =
                    peer_export_path(&self.paths.json, &step.engine, &step.step, format.suffix());
                // A step run in several batches (a --find probe) has one report per batch.
                if written.contains(&path) {
                    let label = format!("{}_{}", step.step, step.index);
                    path =
                        peer_export_path(&self.paths.json, &step.engine, &label, format.suffix());
                }
                write_file(&path, &crate::export::peer::render(format, doc, step))?;
                self.log(&format!("wrote {} ({})", path.display(), format.name()));
                written.push(path);
            }
        }
        Ok(written)
    }

    /// Write the JSON document and the Markdown report (plus HTML/CSV when asked).
    pub fn write_exports(&mut self, doc: &ResultsDoc, html: bool, csv: bool) -> anyhow::Result<()> {
        write_file(&self.paths.json, &crate::export::json::render(doc)?)?;
        write_file(&self.paths.report, &crate::export::markdown::render(doc)?)?;
        if html {
            write_file(&self.paths.html, &crate::export::html::render(doc)?)?;
        }
        if csv {
            write_file(&self.paths.csv, &crate::export::csv::render(doc))?;
            if !doc.load.is_empty() {
                let steps = self.paths.csv.with_extension("steps.csv");
                write_file(&steps, &crate::export::csv::render_load(doc))?;
            }
        }
        self.log(&format!(
            "wrote {} and {}",
            self.paths.json.display(),
            self.paths.report.display()
        ));
        Ok(())
    }
}

/// Where `--export` writes one engine × step in another tool's format: beside the results
/// JSON, `{results}_{engine}_{step}.{suffix}` with the step label made a file name
/// (`c=16` → `c16`, `rate=2.5/s` → `rate2.5ps`). Pure.
pub fn peer_export_path(json: &Path, engine: &str, step: &str, suffix: &str) -> PathBuf {
    let clean = |s: &str| -> String {
        s.replace('=', "")
            .replace("/s", "ps")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let stem = json
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    json.with_file_name(format!("{stem}_{}_{}.{suffix}", clean(engine), clean(step)))
}

/// Write a whole file (via a temporary name and rename, so a reader never sees half).
pub fn write_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Read every record back from a JSONL file (skipping a torn last line).
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<RunRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(e) if i + 1 == text.lines().count() => {
                tracing::warn!("ignoring torn last line of {}: {e}", path.display());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("{}:{}", path.display(), i + 1));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_file_names() {
        let p = paths(Path::new("out"), Mode::Api, 10, "20250718_120000");
        assert_eq!(
            p.report,
            Path::new("out/report/api_benchmark_report_10runs_20250718_120000.md")
        );
        assert_eq!(
            p.json,
            Path::new("out/output/api_benchmark_results_10runs_20250718_120000.json")
        );
        assert_eq!(
            p.log,
            Path::new("out/logging/api_benchmark_detailed_20250718_120000.log")
        );
        let c = paths(Path::new("."), Mode::Cli, 1, "20250718_120000");
        assert_eq!(
            c.report,
            Path::new("./report/benchmark_report_1runs_20250718_120000.md")
        );
        assert_eq!(
            c.json,
            Path::new("./output/benchmark_results_1runs_20250718_120000.json")
        );
    }

    #[test]
    fn records_are_on_disk_after_record_returns() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Session::create(dir.path(), Mode::Api, 1, "20250101_000000").unwrap();
        let r = crate::export::summary::tests::rec("e", "short", true, 5.0);
        s.record(r.clone()).unwrap();
        // Read back through a separate handle while the session is still open.
        let back = read_jsonl(&s.paths.jsonl).unwrap();
        assert_eq!(back, vec![r]);
        let log = std::fs::read_to_string(&s.paths.log).unwrap();
        assert!(log.contains("e"), "{log}");
    }
}
