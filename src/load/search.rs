//! `--find max-concurrency|max-rate` with `--slo`: the highest load whose SLO attainment
//! meets a target, found by probing (pure: a state machine that says which load to run
//! next and is told what each run achieved; the pipeline runs the load steps).
//!
//! - **Attainment** of a probe: measured requests that succeeded and met every SLO ÷ all
//!   measured requests (failed ones included), as in goodput. Its **interval** is the
//!   Wilson score interval at the confidence level (95 % by default).
//! - **Verdict**: a probe passes when the interval's lower bound is at or above the target,
//!   fails when its upper bound is below it. While the interval straddles the target the
//!   probe is extended with another batch of requests at the same load (each batch is a
//!   load step of its own, with its own warm-up; their counts are pooled), doubling the
//!   probe's requests up to [`SearchConfig::max_requests`]. A probe still undecided there
//!   is recorded as `undecided` and counts as a failure: the boundary is the highest load
//!   that was shown to meet the target.
//! - **Grow**: from [`SearchConfig::start`], double the load until a probe fails (or the
//!   limit is reached, which is said in the note).
//! - **Bisect** between the last passing and the first failing load until they are one
//!   apart (concurrency) or within [`SearchConfig::resolution`] of each other relative to
//!   the passing one (rate).
//! - **Result**: the boundary (highest passing load) with its attainment interval, the
//!   first failing load, and every probe in the order run.

use super::schedule::{LoadError, LoadSpec, Step, plan_steps};
use crate::measure::inference::Interval;
use crate::results::Slo;
pub use crate::results::{Find, Probe, ProbeVerdict, SearchReport};

/// Default SLO attainment a load must reach, percent.
pub const DEFAULT_ATTAINMENT_PCT: f64 = 95.0;
/// Highest concurrency a search tries.
pub const MAX_CONCURRENCY: f64 = 4096.0;
/// Highest rate a search tries, requests/s.
pub const MAX_RATE: f64 = 10_000.0;
/// Relative resolution of a rate search.
pub const RATE_RESOLUTION: f64 = 0.05;
/// Times the first batch a probe may grow to.
pub const MAX_BATCH_FACTOR: u64 = 8;

/// How a search runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    pub find: Find,
    /// First load tried.
    pub start: f64,
    /// Highest load tried.
    pub limit: f64,
    /// Attainment a load must reach (fraction, 0..1).
    pub target: f64,
    /// Confidence level of the attainment interval.
    pub level: f64,
    /// Measured requests of a probe's first batch (`--requests`); `None`: the default for
    /// the load ([`default_first_requests_concurrency`], [`default_first_requests_rate`]).
    pub first_requests: Option<u64>,
    /// Most measured requests a probe may have, as a multiple of its first batch.
    pub max_factor: u64,
    /// Rate searches stop when (first failing − boundary) ≤ resolution × boundary.
    pub resolution: f64,
}

/// Measured requests of a probe's first batch at concurrency `c`: four per stream, at
/// least 100 (at 95 % confidence, 100 requests all good give a lower bound of 96.3 %).
pub fn default_first_requests_concurrency(c: f64) -> u64 {
    ((4.0 * c).ceil() as u64).max(100)
}

/// Measured requests of a probe's first batch at `rate`: ten seconds of arrivals, at least 100.
pub fn default_first_requests_rate(rate: f64) -> u64 {
    ((10.0 * rate).ceil() as u64).max(100)
}

impl SearchConfig {
    /// The defaults for `find` with a target attainment (fraction).
    pub fn new(find: Find, target: f64) -> SearchConfig {
        SearchConfig {
            find,
            start: 1.0,
            limit: match find {
                Find::MaxConcurrency => MAX_CONCURRENCY,
                Find::MaxRate => MAX_RATE,
            },
            target,
            level: crate::measure::inference::DEFAULT_LEVEL,
            first_requests: None,
            max_factor: MAX_BATCH_FACTOR,
            resolution: RATE_RESOLUTION,
        }
    }

    /// Measured requests of a probe's first batch at `load`.
    pub fn first_batch(&self, load: f64) -> u64 {
        let default = match self.find {
            Find::MaxConcurrency => default_first_requests_concurrency(load),
            Find::MaxRate => default_first_requests_rate(load),
        };
        self.first_requests.unwrap_or(default).max(1)
    }

    /// The most measured requests of a probe at `load`.
    pub fn max_requests(&self, load: f64) -> u64 {
        self.first_batch(load)
            .saturating_mul(self.max_factor.max(1))
    }
}

/// A validated `--find` search: how it runs, the SLO it judges by, and the user's load
/// flags each probe's step is planned from (warm-up, burstiness, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    pub cfg: SearchConfig,
    pub slo: Slo,
    pub spec: LoadSpec,
    pub seed: u64,
}

impl SearchPlan {
    /// The load step of one batch; `index` is its place among all steps run so far (its
    /// seed is seed + index).
    pub fn step(&self, run: Run, index: usize) -> Result<Step, LoadError> {
        let mut spec = self.spec.clone();
        spec.sweep = None;
        spec.duration = None;
        spec.requests = Some(run.requests);
        match self.cfg.find {
            Find::MaxConcurrency => {
                spec.concurrency = Some(run.load.round().max(1.0) as u32);
                spec.rate = None;
            }
            Find::MaxRate => {
                spec.rate = Some(run.load);
                spec.concurrency = None;
            }
        }
        let mut steps = plan_steps(&spec, self.seed.wrapping_add(index as u64))?;
        let mut step = steps.pop().ok_or(LoadError::Requests(0))?;
        step.index = index;
        Ok(step)
    }

    /// One line for the log: "--find max-concurrency: SLO ttft_ms≤40 met by ≥ 95% of requests".
    pub fn describe(&self) -> String {
        format!(
            "--find {}: SLO {} met by ≥ {}% of requests (95% Wilson interval)",
            self.cfg.find.as_str(),
            self.slo.describe(),
            self.cfg.target * 100.0
        )
    }
}

/// Check the `--find` flags: `None` without `--find`. `Err` says what to change.
pub fn plan_search(
    find: Option<&str>,
    attainment_pct: Option<f64>,
    slo: Option<Slo>,
    spec: &LoadSpec,
    seed: u64,
) -> Result<Option<SearchPlan>, String> {
    let Some(find) = find else {
        if attainment_pct.is_some() {
            return Err("--slo-attainment applies only to a --find search".into());
        }
        return Ok(None);
    };
    let find = parse_find(find)?;
    let Some(slo) = slo else {
        return Err(format!(
            "--find {} needs --slo, e.g. --slo ttft_ms=500: the search looks for the highest load that meets it",
            find.as_str()
        ));
    };
    if spec.concurrency.is_some() || spec.rate.is_some() || spec.sweep.is_some() {
        return Err(
            "--find chooses the load itself; drop --concurrency, --rate and --sweep".into(),
        );
    }
    if spec.duration.is_some() {
        return Err(
            "--find sizes each probe in requests; drop --duration (--requests sets a probe's first batch)"
                .into(),
        );
    }
    if find == Find::MaxConcurrency && spec.burstiness.is_some() {
        return Err("--burstiness applies to --find max-rate, not max-concurrency".into());
    }
    let pct = attainment_pct.unwrap_or(DEFAULT_ATTAINMENT_PCT);
    if !(pct.is_finite() && pct > 0.0 && pct < 100.0) {
        return Err(format!(
            "--slo-attainment must be a percentage above 0 and below 100, e.g. 95 (got {pct})"
        ));
    }
    let cfg = SearchConfig {
        first_requests: spec.requests,
        ..SearchConfig::new(find, pct / 100.0)
    };
    let plan = SearchPlan {
        cfg,
        slo,
        spec: spec.clone(),
        seed,
    };
    // The first probe's step must plan (checks --requests, --load-warmup, ...).
    let first = Run {
        load: plan.cfg.start,
        requests: plan.cfg.first_batch(plan.cfg.start),
    };
    plan.step(first, 0).map_err(|e| e.to_string())?;
    Ok(Some(plan))
}

/// Parse `--find`.
pub fn parse_find(s: &str) -> Result<Find, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "max-concurrency" | "concurrency" => Ok(Find::MaxConcurrency),
        "max-rate" | "rate" => Ok(Find::MaxRate),
        other => Err(format!(
            "--find {other:?} is not a search; give max-concurrency or max-rate"
        )),
    }
}

/// Wilson score interval of `good` successes in `total` trials; [0, 1] when `total` is 0.
pub fn wilson(good: u64, total: u64, level: f64) -> Interval {
    if total == 0 {
        return Interval {
            lo: 0.0,
            hi: 1.0,
            level,
        };
    }
    let n = total as f64;
    let p = good.min(total) as f64 / n;
    let z = crate::measure::inference::z_for_level(level);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Interval {
        lo: (center - half).max(0.0),
        hi: (center + half).min(1.0),
        level,
    }
}

/// One batch to run next: `requests` measured requests at `load`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub load: f64,
    pub requests: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Grow,
    Bisect { lo: f64, hi: f64 },
    Done,
}

/// The search as a state machine: [`Search::next_run`] says what to run, [`Search::observe`]
/// takes what that run achieved, until `next_run` returns `None`; then [`Search::report`].
#[derive(Debug, Clone)]
pub struct Search {
    cfg: SearchConfig,
    phase: Phase,
    /// Load of the probe in progress and its pooled counts.
    load: f64,
    good: u64,
    total: u64,
    batches: u32,
    /// Requests asked of the batch in progress (`None`: none asked yet).
    asked: Option<u64>,
    probes: Vec<Probe>,
    boundary: Option<f64>,
    first_failing: Option<f64>,
    note: String,
}

impl Search {
    pub fn new(cfg: SearchConfig) -> Search {
        let load = cfg.start;
        Search {
            cfg,
            phase: Phase::Grow,
            load,
            good: 0,
            total: 0,
            batches: 0,
            asked: None,
            probes: Vec::new(),
            boundary: None,
            first_failing: None,
            note: String::new(),
        }
    }

    /// The batch to run now; `None` when the search is over. Asking twice without an
    /// [`observe`](Search::observe) in between gives the same batch.
    pub fn next_run(&mut self) -> Option<Run> {
        if self.phase == Phase::Done {
            return None;
        }
        let requests = match self.asked {
            Some(r) => r,
            None => {
                let first = self.cfg.first_batch(self.load);
                // Double the probe's requests: the next batch is as large as all before it.
                let r = if self.total == 0 {
                    first
                } else {
                    self.total
                        .min(self.cfg.max_requests(self.load).saturating_sub(self.total))
                        .max(1)
                };
                self.asked = Some(r);
                r
            }
        };
        Some(Run {
            load: self.load,
            requests,
        })
    }

    /// What the last batch achieved: `good` of `total` measured requests met the SLO.
    pub fn observe(&mut self, good: u64, total: u64) {
        if self.phase == Phase::Done {
            return;
        }
        self.asked = None;
        self.good += good.min(total);
        self.total += total;
        self.batches += 1;
        let ci = wilson(self.good, self.total, self.cfg.level);
        let verdict = if ci.lo >= self.cfg.target {
            ProbeVerdict::Pass
        } else if ci.hi < self.cfg.target {
            ProbeVerdict::Fail
        } else if self.total < self.cfg.max_requests(self.load) && total > 0 {
            return; // undecided: extend
        } else {
            ProbeVerdict::Undecided
        };
        self.probes.push(Probe {
            load: self.load,
            good: self.good,
            total: self.total,
            attainment: if self.total > 0 {
                self.good as f64 / self.total as f64
            } else {
                0.0
            },
            ci,
            verdict,
            batches: self.batches,
        });
        (self.good, self.total, self.batches) = (0, 0, 0);
        let passed = verdict == ProbeVerdict::Pass;
        let load = self.load;
        match self.phase.clone() {
            Phase::Grow => {
                if passed {
                    self.boundary = Some(load);
                    if load >= self.cfg.limit {
                        self.finish(format!(
                            "every load up to the search limit {} met the target",
                            fmt_load(self.cfg.limit)
                        ));
                    } else {
                        self.load = self.round((load * 2.0).min(self.cfg.limit));
                    }
                } else {
                    self.first_failing = Some(load);
                    match self.boundary {
                        None => self.finish(format!(
                            "even the first load {} missed the target",
                            fmt_load(load)
                        )),
                        Some(lo) => self.bisect(lo, load),
                    }
                }
            }
            Phase::Bisect { lo, hi } => {
                if passed {
                    self.boundary = Some(load);
                    self.bisect(load, hi);
                } else {
                    self.first_failing = Some(load);
                    self.bisect(lo, load);
                }
            }
            Phase::Done => {}
        }
    }

    /// Next probe between a passing `lo` and a failing `hi`, or the end.
    fn bisect(&mut self, lo: f64, hi: f64) {
        let close = match self.cfg.find {
            Find::MaxConcurrency => hi - lo <= 1.0,
            Find::MaxRate => hi - lo <= self.cfg.resolution * lo,
        };
        if close {
            self.finish(format!(
                "boundary between {} (passed) and {} (failed)",
                fmt_load(lo),
                fmt_load(hi)
            ));
            return;
        }
        self.phase = Phase::Bisect { lo, hi };
        self.load = self.round((lo + hi) / 2.0);
    }

    fn round(&self, x: f64) -> f64 {
        match self.cfg.find {
            Find::MaxConcurrency => x.floor().max(1.0),
            // Three significant digits keep labels short.
            Find::MaxRate => {
                let mag = 10f64.powi(x.abs().log10().floor() as i32 - 2);
                (x / mag).round() * mag
            }
        }
    }

    fn finish(&mut self, note: String) {
        self.phase = Phase::Done;
        self.note = note;
    }

    /// Whether the search is over.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The result so far (complete once [`next_run`](Search::next_run) returned `None`).
    pub fn report(&self, engine: &str, slo: Slo) -> SearchReport {
        let boundary_ci = self.boundary.and_then(|b| {
            self.probes
                .iter()
                .rev()
                .find(|p| p.load == b && p.verdict == ProbeVerdict::Pass)
                .map(|p| p.ci)
        });
        SearchReport {
            engine: engine.to_string(),
            find: self.cfg.find,
            slo,
            target: self.cfg.target,
            boundary: self.boundary,
            first_failing: self.first_failing,
            boundary_ci,
            limit: self.cfg.limit,
            probes: self.probes.clone(),
            note: if self.is_done() {
                self.note.clone()
            } else {
                "the search did not finish".into()
            },
        }
    }
}

/// A load for a note: "12" or "2.5".
pub fn fmt_load(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(find: Find) -> SearchConfig {
        SearchConfig {
            first_requests: Some(100),
            max_factor: 4,
            ..SearchConfig::new(find, 0.95)
        }
    }

    /// Run a search where a load's true attainment is `truth(load)`: each batch of n
    /// gets round(truth·n) good requests. Returns the loads of every batch run.
    fn drive(s: &mut Search, truth: impl Fn(f64) -> f64) -> Vec<(f64, u64)> {
        let mut ran = Vec::new();
        while let Some(r) = s.next_run() {
            ran.push((r.load, r.requests));
            let good = (truth(r.load) * r.requests as f64).round() as u64;
            s.observe(good, r.requests);
            assert!(ran.len() < 200, "runaway search");
        }
        ran
    }

    #[test]
    fn wilson_matches_known_values() {
        // 100 of 100 at 95 %: [0.963, 1]; 50 of 100: [0.404, 0.596].
        let all = wilson(100, 100, 0.95);
        assert!((all.lo - 0.9630).abs() < 5e-4 && all.hi == 1.0, "{all:?}");
        let half = wilson(50, 100, 0.95);
        assert!((half.lo - 0.4038).abs() < 5e-4, "{half:?}");
        assert!((half.hi - 0.5962).abs() < 5e-4, "{half:?}");
        assert_eq!(wilson(0, 0, 0.95).lo, 0.0);
        assert_eq!(wilson(0, 0, 0.95).hi, 1.0);
    }

    #[test]
    fn grows_then_bisects_to_the_capacity() {
        // Everything meets the SLO up to 12 streams, nothing beyond.
        let mut s = Search::new(cfg(Find::MaxConcurrency));
        let ran = drive(&mut s, |c| if c <= 12.0 { 1.0 } else { 0.0 });
        let loads: Vec<f64> = ran.iter().map(|r| r.0).collect();
        assert_eq!(loads, vec![1.0, 2.0, 4.0, 8.0, 16.0, 12.0, 14.0, 13.0]);
        let r = s.report("e", Slo::default());
        assert_eq!(r.boundary, Some(12.0));
        assert_eq!(r.first_failing, Some(13.0));
        assert!(r.boundary_ci.is_some_and(|ci| ci.lo >= 0.95));
        assert_eq!(r.probes.len(), 8);
        assert!(
            r.note.contains("between 12 (passed) and 13 (failed)"),
            "{}",
            r.note
        );
    }

    #[test]
    fn an_undecided_probe_is_extended_then_counts_as_failing() {
        // At 3 streams attainment is exactly the target: the interval keeps straddling
        // it; the probe doubles 100 → 200 → 400 (the bound, 4 × 100) and is undecided.
        let mut s = Search::new(cfg(Find::MaxConcurrency));
        let ran = drive(&mut s, |c| if c < 3.0 { 1.0 } else { 0.95 });
        assert_eq!(
            ran,
            vec![
                (1.0, 100),
                (2.0, 100),
                (4.0, 100),
                (4.0, 100),
                (4.0, 200),
                (3.0, 100),
                (3.0, 100),
                (3.0, 200)
            ]
        );
        let r = s.report("e", Slo::default());
        assert_eq!(r.boundary, Some(2.0));
        assert_eq!(r.first_failing, Some(3.0));
        let p3 = r.probes.iter().find(|p| p.load == 3.0).expect("probe at 3");
        assert_eq!(
            (p3.verdict, p3.total, p3.batches),
            (ProbeVerdict::Undecided, 400, 3)
        );
    }

    #[test]
    fn a_probe_that_is_clear_after_a_second_batch_is_decided_then() {
        // 97 of 100: lower bound 0.915 < 0.95 → extend; 194 of 200 still straddles;
        // 100 % afterwards pools to 394/400 = 0.985, lower bound 0.968 ≥ 0.95 → pass.
        let mut s = Search::new(cfg(Find::MaxConcurrency));
        assert_eq!(
            s.next_run(),
            Some(Run {
                load: 1.0,
                requests: 100
            })
        );
        s.observe(97, 100);
        assert_eq!(
            s.next_run(),
            Some(Run {
                load: 1.0,
                requests: 100
            })
        );
        s.observe(97, 100);
        assert_eq!(
            s.next_run(),
            Some(Run {
                load: 1.0,
                requests: 200
            })
        );
        s.observe(200, 200);
        assert_eq!(s.next_run().map(|r| r.load), Some(2.0));
        let r = s.report("e", Slo::default());
        assert_eq!(r.probes[0].verdict, ProbeVerdict::Pass);
        assert_eq!((r.probes[0].good, r.probes[0].total), (394, 400));
    }

    #[test]
    fn first_probe_failing_and_the_limit_are_said() {
        let mut s = Search::new(cfg(Find::MaxConcurrency));
        let ran = drive(&mut s, |_| 0.0);
        assert_eq!(ran, vec![(1.0, 100)]);
        let r = s.report("e", Slo::default());
        assert_eq!((r.boundary, r.first_failing), (None, Some(1.0)));
        assert!(r.note.contains("even the first load 1"), "{}", r.note);

        let mut s = Search::new(SearchConfig {
            limit: 8.0,
            ..cfg(Find::MaxConcurrency)
        });
        let ran = drive(&mut s, |_| 1.0);
        assert_eq!(
            ran.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1.0, 2.0, 4.0, 8.0]
        );
        let r = s.report("e", Slo::default());
        assert_eq!((r.boundary, r.first_failing), (Some(8.0), None));
        assert!(r.note.contains("search limit 8"), "{}", r.note);
    }

    #[test]
    fn rate_search_stops_at_its_resolution() {
        // Meets the SLO up to 37 requests/s.
        let mut s = Search::new(cfg(Find::MaxRate));
        let ran = drive(&mut s, |r| if r <= 37.0 { 1.0 } else { 0.0 });
        let loads: Vec<f64> = ran.iter().map(|r| r.0).collect();
        assert_eq!(
            loads,
            vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 48.0, 40.0, 36.0, 38.0, 37.0
            ]
        );
        let r = s.report("e", Slo::default());
        assert_eq!((r.boundary, r.first_failing), (Some(37.0), Some(38.0)));
        let (b, f) = (r.boundary.unwrap_or(0.0), r.first_failing.unwrap_or(0.0));
        assert!(f - b <= RATE_RESOLUTION * b);
    }

    #[test]
    fn search_flags_are_checked() {
        let slo = Some(crate::load::schedule::parse_slo("ttft_ms=40").expect("slo"));
        let none = LoadSpec::default();
        assert_eq!(plan_search(None, None, None, &none, 1), Ok(None));
        assert!(
            plan_search(None, Some(90.0), None, &none, 1)
                .unwrap_err()
                .contains("--find")
        );
        let e = plan_search(Some("max-concurrency"), None, None, &none, 1).unwrap_err();
        assert!(e.contains("needs --slo"), "{e}");
        let c = LoadSpec {
            concurrency: Some(4),
            ..LoadSpec::default()
        };
        let e = plan_search(Some("max-rate"), None, slo, &c, 1).unwrap_err();
        assert!(e.contains("drop --concurrency"), "{e}");
        let d = LoadSpec {
            duration: Some(5.0),
            ..LoadSpec::default()
        };
        assert!(
            plan_search(Some("max-rate"), None, slo, &d, 1)
                .unwrap_err()
                .contains("--duration")
        );
        let e = plan_search(Some("max-rate"), Some(100.0), slo, &none, 1).unwrap_err();
        assert!(e.contains("--slo-attainment"), "{e}");

        let with_requests = LoadSpec {
            requests: Some(50),
            load_warmup: Some(2),
            ..LoadSpec::default()
        };
        let p = plan_search(Some("max-concurrency"), Some(90.0), slo, &with_requests, 7)
            .expect("ok")
            .expect("a search");
        assert_eq!(p.cfg.target, 0.9);
        let step = p
            .step(
                Run {
                    load: 12.0,
                    requests: 80,
                },
                3,
            )
            .expect("step");
        assert_eq!(
            step.arrival,
            crate::results::Arrival::Closed { concurrency: 12 }
        );
        assert_eq!(
            (step.requests, step.warmup, step.index, step.seed),
            (Some(80), 2, 3, 10)
        );
        assert_eq!(p.cfg.first_batch(12.0), 50);
        let r = plan_search(Some("max-rate"), None, slo, &none, 7)
            .expect("ok")
            .expect("a search");
        let step = r
            .step(
                Run {
                    load: 2.5,
                    requests: 100,
                },
                0,
            )
            .expect("step");
        assert_eq!(step.label(), "rate=2.5/s");
        assert_eq!(r.cfg.first_batch(2.5), 100);
        assert_eq!(r.cfg.first_batch(20.0), 200);
    }

    #[test]
    fn find_parsing() {
        assert_eq!(parse_find("max-concurrency"), Ok(Find::MaxConcurrency));
        assert_eq!(parse_find("MAX-RATE"), Ok(Find::MaxRate));
        assert!(
            parse_find("max-tps")
                .unwrap_err()
                .contains("max-concurrency or max-rate")
        );
    }
}
