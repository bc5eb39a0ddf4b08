//! Load schedules (pure): what to send and when, decided before any request is sent.
//!
//! - **Closed loop** (`--concurrency N`): N workers, each sends its next request when its
//!   previous one ends. A request's scheduled instant is the moment its worker became free.
//! - **Open loop** (`--rate R`): arrivals at R requests/s on average, independent of
//!   responses. Inter-arrival times are gamma distributed with shape k = `--burstiness`
//!   and scale 1/(R·k), so the mean is 1/R for every k; k = 1 is a Poisson process, k < 1
//!   burstier, k > 1 more regular. The first arrival is at offset 0. The generator is
//!   seeded, so a schedule is the same on every run.
//! - **Sweep** (`--sweep`): "1,4,16" (or "concurrency:1,4,16") runs one closed-loop step
//!   per value; "rate:1,2,4" one open-loop step per rate; "input:128,512,1024" measures
//!   prefill and decode apart at those exact input lengths (see [`super::input_sweep`]).
//! - **Bounds**: a step ends after `--requests` measured requests or `--duration` seconds
//!   of measured load (from the first measured request), whichever comes first. Without
//!   either: closed loop 4·N requests (at least 32), open loop ⌈30·R⌉ (at least 32).
//! - **Warm-up**: the first `--load-warmup` requests of each step are sent but excluded
//!   from results. Default: one per worker for closed loop (N, at most 64), one second of
//!   arrivals for open loop (⌈R⌉, at most 64).
//! - **SLOs** (`--slo ttft_ms=…,tpot_ms=…,e2e_ms=…`) decide which requests count toward
//!   goodput.

// The data types of a step live with the results that carry them.
pub use crate::results::{Arrival, Slo};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Most warm-up requests a step gets by default.
pub const DEFAULT_WARMUP_CAP: u64 = 64;

/// Bad load flags; each message says what is wrong and what to give instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("--concurrency must be at least 1 (got {0})")]
    Concurrency(u32),
    #[error("--rate must be a positive number of requests per second (got {0})")]
    Rate(f64),
    #[error("--burstiness must be a positive gamma shape, e.g. 1 for Poisson (got {0})")]
    Burstiness(f64),
    #[error("--requests must be at least 1 (got {0})")]
    Requests(u64),
    #[error("--duration must be a positive number of seconds (got {0})")]
    Duration(f64),
    #[error(
        "--sweep {0:?} is not a list of steps; give concurrency steps like \"1,4,16\", rate steps like \"rate:1,2,4\" or input lengths like \"input:128,512,1024\""
    )]
    Sweep(String),
    #[error("--sweep input: {0}")]
    InputSweep(String),
    #[error("--sweep replaces --concurrency and --rate; give only one of them")]
    SweepConflict,
    #[error("--slo {0}")]
    Slo(String),
}

/// One load step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// 0-based position in the sweep.
    pub index: usize,
    pub arrival: Arrival,
    /// Measured requests (warm-up excluded); `None`: bounded by duration only.
    pub requests: Option<u64>,
    /// Measured duration; `None`: bounded by requests only.
    pub duration: Option<Duration>,
    pub warmup: u64,
    /// Seed of this step's arrival generator.
    pub seed: u64,
    /// Worker I of N of a sharded step (`--shard`): the executor sends only its numbers
    /// of the whole schedule (see [`crate::results::Shard`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::results::Shard>,
    /// Wall-clock instant (unix ns) before which the step's clock does not start
    /// (`--start-at`), so that every worker's schedule is one schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_unix_ns: Option<i64>,
}

impl Step {
    /// Worker `shard`'s part of this step (see [`crate::results::Shard`]): its share of
    /// concurrency, warm-up and requests, the shard recorded so the executor maps local
    /// to global request numbers. An open-loop step
    /// keeps the whole rate: the worker draws the whole arrival sequence and sends its
    /// numbers (1/N of the arrivals).
    pub fn for_shard(&self, shard: crate::results::Shard) -> Step {
        let warmup = shard.count_below(self.warmup);
        let requests = self
            .requests
            .map(|r| shard.count_below(self.warmup + r) - warmup);
        let arrival = match self.arrival {
            Arrival::Closed { concurrency } => Arrival::Closed {
                concurrency: shard.concurrency(concurrency),
            },
            open @ Arrival::Open { .. } => open,
        };
        Step {
            arrival,
            warmup,
            requests,
            shard: Some(shard),
            ..self.clone()
        }
    }

    /// A shard's step with nothing to do: fewer workers' worth of concurrency than
    /// workers, or no requests of its own. Pure check for the plan.
    pub fn has_nothing_to_send(&self) -> bool {
        matches!(self.arrival, Arrival::Closed { concurrency: 0 }) || self.requests == Some(0)
    }

    /// A short label, e.g. "c=16" or "rate=2/s".
    pub fn label(&self) -> String {
        match self.arrival {
            Arrival::Closed { concurrency } => format!("c={concurrency}"),
            Arrival::Open {
                rate,
                burstiness: 1.0,
            } => format!("rate={rate}/s"),
            Arrival::Open { rate, burstiness } => format!("rate={rate}/s k={burstiness}"),
        }
    }

    /// Whether request number `index` of this step (warm-up included, 0-based) may still
    /// be sent, `since_measure_start` after the first measured request was scheduled
    /// (`None` while still in warm-up).
    pub fn may_send(&self, index: u64, since_measure_start: Option<Duration>) -> bool {
        if let Some(n) = self.requests
            && index >= self.warmup + n
        {
            return false;
        }
        match (self.duration, since_measure_start) {
            (Some(d), Some(t)) => t < d,
            _ => true,
        }
    }

    /// The arrival offsets of an open-loop step (an endless iterator); `None` for a
    /// closed-loop step.
    pub fn open_arrivals(&self) -> Option<OpenArrivals> {
        match self.arrival {
            Arrival::Open { rate, burstiness } => {
                OpenArrivals::new(rate, burstiness, self.seed).ok()
            }
            Arrival::Closed { .. } => None,
        }
    }
}

/// Arrival offsets from a step's start: 0, then cumulative gamma-distributed gaps.
#[derive(Debug, Clone)]
pub struct OpenArrivals {
    rng: StdRng,
    gamma: Gamma<f64>,
    next_s: f64,
}

impl OpenArrivals {
    pub fn new(rate: f64, burstiness: f64, seed: u64) -> Result<Self, LoadError> {
        check_rate(rate)?;
        check_burstiness(burstiness)?;
        let gamma =
            Gamma::new(burstiness, 1.0 / (rate * burstiness)).map_err(|_| LoadError::Rate(rate))?;
        Ok(OpenArrivals {
            rng: StdRng::seed_from_u64(seed),
            gamma,
            next_s: 0.0,
        })
    }
}

impl Iterator for OpenArrivals {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let now = self.next_s;
        self.next_s += self.gamma.sample(&mut self.rng);
        Some(Duration::from_secs_f64(now))
    }
}

fn check_rate(rate: f64) -> Result<(), LoadError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(())
    } else {
        Err(LoadError::Rate(rate))
    }
}

fn check_burstiness(k: f64) -> Result<(), LoadError> {
    if k.is_finite() && k > 0.0 {
        Ok(())
    } else {
        Err(LoadError::Burstiness(k))
    }
}

/// The steps of a `--sweep`.
#[derive(Debug, Clone, PartialEq)]
pub enum Sweep {
    Concurrency(Vec<u32>),
    Rate(Vec<f64>),
    /// Prefill and decode apart at exact input lengths ([`super::input_sweep`]).
    Input(InputSpec),
}

/// What `--sweep input:…` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub lengths: Vec<u64>,
    /// `out=N`; `None`: [`super::input_sweep::DEFAULT_DECODE_TOKENS`].
    pub decode_tokens: Option<u32>,
}

/// Parse the list after `input:`: lengths ≥ 1 and an optional `out=N`, e.g.
/// "128,512,1024" or "128,512,out=64". `whole` is the flag's value, for the error.
pub fn parse_input_spec(list: &str, whole: &str) -> Result<InputSpec, LoadError> {
    let bad = |why: &str| LoadError::InputSweep(format!("{whole:?}: {why}"));
    let mut lengths = Vec::new();
    let mut decode_tokens = None;
    for item in list.split(',').map(str::trim) {
        if let Some(v) = item.strip_prefix("out=") {
            let n: u32 =
                v.trim().parse().ok().filter(|n| *n >= 2).ok_or_else(|| {
                    bad("out=N needs N ≥ 2 output tokens (a decode rate needs two)")
                })?;
            decode_tokens = Some(n);
            continue;
        }
        let l: u64 = item
            .parse()
            .map_err(|_| bad(&format!("{item:?} is not an input length in tokens")))?;
        if l == 0 {
            return Err(bad("an input length must be at least 1 token"));
        }
        if lengths.contains(&l) {
            return Err(bad(&format!("length {l} is given twice")));
        }
        lengths.push(l);
    }
    if lengths.len() < 2 {
        return Err(bad(
            "give at least two input lengths (a line needs two), e.g. input:128,512,1024",
        ));
    }
    Ok(InputSpec {
        lengths,
        decode_tokens,
    })
}

/// Parse `--sweep`: "1,4,16", "concurrency:1,4,16", "rate:0.5,1,2" or
/// "input:128,512,1024[,out=N]".
pub fn parse_sweep(s: &str) -> Result<Sweep, LoadError> {
    let bad = || LoadError::Sweep(s.to_string());
    let t = s.trim();
    let (kind, list) = match t.split_once(':') {
        Some((k, rest)) => (k.trim().to_ascii_lowercase(), rest),
        None => ("concurrency".to_string(), t),
    };
    if matches!(kind.as_str(), "input" | "in") {
        return parse_input_spec(list, s).map(Sweep::Input);
    }
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    if items.iter().any(|x| x.is_empty()) {
        return Err(bad());
    }
    match kind.as_str() {
        "concurrency" | "c" => {
            let v = items
                .iter()
                .map(|x| x.parse::<u32>().map_err(|_| bad()))
                .collect::<Result<Vec<u32>, _>>()?;
            if let Some(&z) = v.iter().find(|&&c| c == 0) {
                return Err(LoadError::Concurrency(z));
            }
            Ok(Sweep::Concurrency(v))
        }
        "rate" | "r" => {
            let v = items
                .iter()
                .map(|x| x.parse::<f64>().map_err(|_| bad()))
                .collect::<Result<Vec<f64>, _>>()?;
            for &r in &v {
                check_rate(r)?;
            }
            Ok(Sweep::Rate(v))
        }
        _ => Err(bad()),
    }
}

/// The load flags, as data (the CLI's `LoadArgs` without the flags that are not about the
/// schedule). `burstiness` is `None` when not given (Poisson).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadSpec {
    pub concurrency: Option<u32>,
    pub rate: Option<f64>,
    pub burstiness: Option<f64>,
    pub sweep: Option<String>,
    pub requests: Option<u64>,
    pub duration: Option<f64>,
    pub load_warmup: Option<u64>,
}

/// The load steps of a run with what applies to all of them.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSteps {
    pub steps: Vec<Step>,
    pub slo: Option<Slo>,
    /// Open every connection a step needs before its clock starts.
    pub preconnect: bool,
    /// `--target-ci`: stop each step once its metric is precise enough.
    pub precision: Option<super::precision::PrecisionRule>,
}

/// Whether any load flag asks for load mode (otherwise the run is sequential).
pub fn is_load_mode(load: &LoadSpec) -> bool {
    load.concurrency.is_some() || load.rate.is_some() || load.sweep.is_some()
}

/// The steps of a run from the load flags; empty when no load mode was asked for.
/// `seed` makes the arrival times reproducible (step i uses seed + i).
pub fn plan_steps(load: &LoadSpec, seed: u64) -> Result<Vec<Step>, LoadError> {
    let burstiness = load.burstiness.unwrap_or(1.0);
    check_burstiness(burstiness)?;
    if let Some(n) = load.requests
        && n == 0
    {
        return Err(LoadError::Requests(n));
    }
    if let Some(d) = load.duration
        && !(d.is_finite() && d > 0.0)
    {
        return Err(LoadError::Duration(d));
    }
    let arrivals: Vec<Arrival> = match (&load.sweep, load.concurrency, load.rate) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(LoadError::SweepConflict),
        (Some(s), None, None) => match parse_sweep(s)? {
            Sweep::Concurrency(v) => v
                .into_iter()
                .map(|concurrency| Arrival::Closed { concurrency })
                .collect(),
            Sweep::Rate(v) => v
                .into_iter()
                .map(|rate| Arrival::Open { rate, burstiness })
                .collect(),
            // Its steps come from its own plan (`input_sweep::from_load`), which knows
            // the prefill and decode phases.
            Sweep::Input(_) => return Ok(Vec::new()),
        },
        (None, Some(c), _) => {
            if c == 0 {
                return Err(LoadError::Concurrency(c));
            }
            vec![Arrival::Closed { concurrency: c }]
        }
        (None, None, Some(r)) => {
            check_rate(r)?;
            vec![Arrival::Open {
                rate: r,
                burstiness,
            }]
        }
        // Load-only flags without a mode are refused by the plan (pipeline::plan).
        (None, None, None) => return Ok(Vec::new()),
    };
    let duration = load.duration.map(Duration::from_secs_f64);
    Ok(arrivals
        .into_iter()
        .enumerate()
        .map(|(index, arrival)| {
            let requests = match (load.requests, duration) {
                (Some(n), _) => Some(n),
                (None, Some(_)) => None,
                (None, None) => Some(default_requests(arrival)),
            };
            Step {
                index,
                arrival,
                requests,
                duration,
                warmup: load.load_warmup.unwrap_or_else(|| default_warmup(arrival)),
                seed: seed.wrapping_add(index as u64),
                shard: None,
                not_before_unix_ns: None,
            }
        })
        .collect())
}

/// Measured requests of a step when neither --requests nor --duration is given.
pub fn default_requests(a: Arrival) -> u64 {
    match a {
        Arrival::Closed { concurrency } => (4 * u64::from(concurrency)).max(32),
        Arrival::Open { rate, .. } => ((30.0 * rate).ceil() as u64).max(32),
    }
}

/// Warm-up requests of a step when --load-warmup is not given.
pub fn default_warmup(a: Arrival) -> u64 {
    match a {
        Arrival::Closed { concurrency } => u64::from(concurrency).min(DEFAULT_WARMUP_CAP),
        Arrival::Open { rate, .. } => (rate.ceil() as u64).clamp(1, DEFAULT_WARMUP_CAP),
    }
}

/// Parse `--slo ttft_ms=500,tpot_ms=50,e2e_ms=10000` (any subset, at least one).
pub fn parse_slo(s: &str) -> Result<Slo, LoadError> {
    let mut slo = Slo::default();
    if s.trim().is_empty() {
        return Err(LoadError::Slo(
            "is empty; give e.g. ttft_ms=500,tpot_ms=50,e2e_ms=10000".into(),
        ));
    }
    for item in s.split(',') {
        let item = item.trim();
        let (k, v) = item.split_once('=').ok_or_else(|| {
            LoadError::Slo(format!(
                "item {item:?} is not NAME=MILLISECONDS; give e.g. ttft_ms=500"
            ))
        })?;
        let (k, v) = (k.trim(), v.trim());
        let value: f64 = v
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x > 0.0)
            .ok_or_else(|| {
                LoadError::Slo(format!(
                    "{k}={v}: the limit must be a positive number of milliseconds"
                ))
            })?;
        let names: Vec<&str> = Slo::default()
            .objectives_mut()
            .iter()
            .map(|(m, _)| m.name)
            .collect();
        let Some((_, slot)) = slo.objectives_mut().into_iter().find(|(m, _)| m.name == k) else {
            return Err(LoadError::Slo(format!(
                "unknown objective {k:?}; use one of {}",
                names.join(", ")
            )));
        };
        if slot.is_some() {
            return Err(LoadError::Slo(format!("{k} is given twice")));
        }
        *slot = Some(value);
    }
    Ok(slo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Mode, RunRecord, Sampling};

    fn shard_step(arrival: Arrival, requests: Option<u64>, warmup: u64) -> Step {
        Step {
            index: 0,
            arrival,
            requests,
            duration: None,
            warmup,
            seed: 3,
            shard: None,
            not_before_unix_ns: None,
        }
    }

    #[test]
    fn shards_partition_every_request_exactly() {
        use crate::results::Shard;
        use std::collections::BTreeSet;
        for n in 1..=7u32 {
            for (w, r, c) in [(64u64, 1024u64, 256u32), (5, 13, 3), (0, 1, 1), (7, 100, 9)] {
                let whole = shard_step(Arrival::Closed { concurrency: c }, Some(r), w);
                let mut warm = BTreeSet::new();
                let mut measured = BTreeSet::new();
                let mut conc = 0;
                for i in 0..n {
                    let s = Shard { index: i, count: n };
                    let part = whole.for_shard(s);
                    if let Arrival::Closed { concurrency } = part.arrival {
                        conc += concurrency;
                    }
                    let req = part.requests.expect("bounded");
                    for k in 0..part.warmup + req {
                        let g = s.global(k);
                        assert!(s.owns(g));
                        // Local warm-up is exactly global warm-up.
                        assert_eq!(k < part.warmup, g < w, "n={n} i={i} k={k}");
                        let fresh = if g < w {
                            warm.insert(g)
                        } else {
                            measured.insert(g)
                        };
                        assert!(fresh, "request {g} sent twice");
                    }
                }
                assert_eq!(conc, c);
                assert_eq!(warm, (0..w).collect::<BTreeSet<_>>());
                assert_eq!(measured, (w..w + r).collect::<BTreeSet<_>>());
            }
        }
    }

    #[test]
    fn a_shard_past_the_concurrency_has_nothing_to_send() {
        let s = shard_step(Arrival::Closed { concurrency: 2 }, Some(8), 0)
            .for_shard(crate::results::Shard { index: 3, count: 4 });
        assert!(s.has_nothing_to_send());
        let s = shard_step(Arrival::Closed { concurrency: 4 }, Some(8), 0)
            .for_shard(crate::results::Shard { index: 3, count: 4 });
        assert!(!s.has_nothing_to_send());
    }

    #[test]
    fn open_loop_shard_keeps_the_rate_and_the_seed() {
        let whole = shard_step(
            Arrival::Open {
                rate: 8.0,
                burstiness: 1.0,
            },
            Some(40),
            8,
        );
        let part = whole.for_shard(crate::results::Shard { index: 1, count: 4 });
        assert_eq!(part.arrival, whole.arrival);
        assert_eq!(part.seed, whole.seed);
        assert_eq!((part.warmup, part.requests), (2, Some(10)));
    }

    fn args() -> LoadSpec {
        LoadSpec::default()
    }

    #[test]
    fn sweep_parsing() {
        assert_eq!(
            parse_sweep("1,4,16"),
            Ok(Sweep::Concurrency(vec![1, 4, 16]))
        );
        assert_eq!(
            parse_sweep(" concurrency: 2 , 8 "),
            Ok(Sweep::Concurrency(vec![2, 8]))
        );
        assert_eq!(
            parse_sweep("rate:1,2.5,4"),
            Ok(Sweep::Rate(vec![1.0, 2.5, 4.0]))
        );
        assert_eq!(parse_sweep("RATE:0.5"), Ok(Sweep::Rate(vec![0.5])));
        assert_eq!(parse_sweep("1,0"), Err(LoadError::Concurrency(0)));
        assert_eq!(parse_sweep("rate:1,-2"), Err(LoadError::Rate(-2.0)));
        for bad in ["", "1,,2", "a,b", "qps:1", "1.5,2", "rate:"] {
            assert_eq!(parse_sweep(bad), Err(LoadError::Sweep(bad.into())), "{bad}");
        }
        assert!(
            LoadError::Sweep("x".into())
                .to_string()
                .contains("\"rate:1,2,4\"")
        );
    }

    #[test]
    fn no_load_flags_means_sequential() {
        assert_eq!(plan_steps(&args(), 1), Ok(vec![]));
        assert!(!is_load_mode(&args()));
    }

    #[test]
    fn closed_loop_plan_with_defaults() {
        let a = LoadSpec {
            concurrency: Some(16),
            ..args()
        };
        let steps = plan_steps(&a, 7).unwrap();
        assert_eq!(steps.len(), 1);
        let s = &steps[0];
        assert_eq!(s.arrival, Arrival::Closed { concurrency: 16 });
        assert_eq!(
            (s.requests, s.duration, s.warmup, s.seed),
            (Some(64), None, 16, 7)
        );
        assert_eq!(s.label(), "c=16");
        assert!(s.open_arrivals().is_none());
        assert_eq!(default_requests(Arrival::Closed { concurrency: 1 }), 32);
        assert_eq!(default_warmup(Arrival::Closed { concurrency: 1000 }), 64);
    }

    #[test]
    fn sweep_plan_with_bounds() {
        let a = LoadSpec {
            sweep: Some("rate:1,2,4".into()),
            burstiness: Some(0.5),
            duration: Some(10.0),
            load_warmup: Some(3),
            ..args()
        };
        let steps = plan_steps(&a, 100).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(
            steps[2].arrival,
            Arrival::Open {
                rate: 4.0,
                burstiness: 0.5
            }
        );
        assert_eq!(steps[2].label(), "rate=4/s k=0.5");
        assert_eq!(steps[1].seed, 101);
        assert!(steps.iter().all(|s| s.requests.is_none()
            && s.duration == Some(Duration::from_secs(10))
            && s.warmup == 3));
    }

    #[test]
    fn invalid_flags_are_rejected() {
        let with = |f: &dyn Fn(&mut LoadSpec)| {
            let mut a = args();
            f(&mut a);
            plan_steps(&a, 1)
        };
        assert_eq!(
            with(&|a| a.concurrency = Some(0)),
            Err(LoadError::Concurrency(0))
        );
        assert_eq!(with(&|a| a.rate = Some(0.0)), Err(LoadError::Rate(0.0)));
        assert_eq!(
            with(&|a| {
                a.rate = Some(1.0);
                a.burstiness = Some(0.0)
            }),
            Err(LoadError::Burstiness(0.0))
        );
        assert_eq!(
            with(&|a| {
                a.concurrency = Some(2);
                a.requests = Some(0)
            }),
            Err(LoadError::Requests(0))
        );
        assert_eq!(
            with(&|a| {
                a.concurrency = Some(2);
                a.duration = Some(-1.0)
            }),
            Err(LoadError::Duration(-1.0))
        );
        assert_eq!(
            with(&|a| {
                a.concurrency = Some(2);
                a.sweep = Some("1,2".into())
            }),
            Err(LoadError::SweepConflict)
        );
    }

    #[test]
    fn bounds_by_requests_and_duration() {
        let step = |requests, duration| Step {
            index: 0,
            arrival: Arrival::Closed { concurrency: 2 },
            requests,
            duration,
            warmup: 2,
            seed: 0,
            shard: None,
            not_before_unix_ns: None,
        };
        let s = step(Some(3), None);
        // indices 0,1 are warm-up, 2,3,4 measured, 5 is one too many.
        assert!(s.may_send(4, Some(Duration::from_secs(100))));
        assert!(!s.may_send(5, None));
        let d = step(None, Some(Duration::from_secs(2)));
        assert!(d.may_send(1000, None));
        assert!(d.may_send(1000, Some(Duration::from_millis(1999))));
        assert!(!d.may_send(3, Some(Duration::from_secs(2))));
        let both = step(Some(3), Some(Duration::from_secs(2)));
        assert!(!both.may_send(5, Some(Duration::ZERO)));
        assert!(!both.may_send(3, Some(Duration::from_secs(3))));
    }

    #[test]
    fn open_arrivals_are_seeded_and_have_the_right_mean() {
        let a: Vec<Duration> = OpenArrivals::new(10.0, 1.0, 5).unwrap().take(5).collect();
        let b: Vec<Duration> = OpenArrivals::new(10.0, 1.0, 5).unwrap().take(5).collect();
        let c: Vec<Duration> = OpenArrivals::new(10.0, 1.0, 6).unwrap().take(5).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0], Duration::ZERO);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));

        // 20,000 arrivals at 50/s: mean gap 20 ms for every shape; the coefficient of
        // variation of the gaps is 1/√k (1 for Poisson, 2 for k = 0.25, 0.5 for k = 4).
        for (k, cv) in [(1.0, 1.0), (0.25, 2.0), (4.0, 0.5)] {
            let t: Vec<f64> = OpenArrivals::new(50.0, k, 9)
                .unwrap()
                .take(20_001)
                .map(|d| d.as_secs_f64())
                .collect();
            let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let sd = (gaps.iter().map(|g| (g - m).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
            assert!((m - 0.02).abs() < 0.02 * 0.05, "k={k} mean {m}");
            assert!((sd / m - cv).abs() < cv * 0.08, "k={k} cv {}", sd / m);
        }
        assert!(OpenArrivals::new(f64::NAN, 1.0, 1).is_err());
    }

    fn record(ok: bool, ttft: Option<f64>, tpot: Option<f64>, e2e: Option<f64>) -> RunRecord {
        let sampling = Sampling {
            max_tokens: 8,
            temperature: 0.0,
            seed: None,
            top_p: None,
            top_k: None,
            ignore_eos: false,
        };
        let mut r = RunRecord::new("e", Mode::Api, "/x", "p", "t", 0, sampling, "t");
        r.ok = ok;
        r.ttft_ms = ttft;
        r.tpot_ms = tpot;
        r.e2e_ms = e2e;
        r
    }

    #[test]
    fn slo_parsing_and_goodness() {
        let slo = parse_slo("ttft_ms=500, tpot_ms=50,e2e_ms=1e4").unwrap();
        assert_eq!(
            slo,
            Slo {
                ttft_ms: Some(500.0),
                tpot_ms: Some(50.0),
                e2e_ms: Some(10000.0)
            }
        );
        assert_eq!(slo.describe(), "ttft_ms≤500, tpot_ms≤50, e2e_ms≤10000");
        assert!(slo.is_good(&record(true, Some(500.0), Some(10.0), Some(900.0))));
        assert!(!slo.is_good(&record(true, Some(500.1), Some(10.0), Some(900.0))));
        assert!(!slo.is_good(&record(true, Some(1.0), Some(50.5), Some(900.0))));
        assert!(!slo.is_good(&record(false, Some(1.0), Some(1.0), Some(2.0))));
        // One output token: no TPOT, still good; no first token at all: not good.
        assert!(slo.is_good(&record(true, Some(10.0), None, Some(10.0))));
        assert!(!slo.is_good(&record(true, None, None, None)));

        let only = parse_slo("tpot_ms=20").unwrap();
        assert!(only.is_good(&record(true, Some(1e9), Some(19.0), None)));

        for (bad, needle) in [
            ("", "is empty"),
            ("ttft=5", "unknown objective \"ttft\""),
            ("ttft_ms", "not NAME=MILLISECONDS"),
            ("ttft_ms=-1", "positive number"),
            ("ttft_ms=abc", "positive number"),
            ("ttft_ms=1,ttft_ms=2", "given twice"),
        ] {
            let e = parse_slo(bad).unwrap_err().to_string();
            assert!(e.starts_with("--slo ") && e.contains(needle), "{bad}: {e}");
        }
    }
}
