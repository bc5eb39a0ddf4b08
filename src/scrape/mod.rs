//! The engine's own metrics while a load step runs.
//!
//! - [`prometheus`]: a pure parser of the Prometheus text format.
//! - [`known`]: the metric names we understand per engine (llama-server, vLLM, SGLang,
//!   TGI) and the role each one plays (queue depth, running, KV-cache use, token rates,
//!   latency histograms).
//! - [`series`]: scrapes → series, pure (gauges as read, counters as rates, histograms
//!   over the step).
//! - [`Sampler`]: the one impure part: a task on the engine's tokio runtime that scrapes
//!   `/metrics` (and llama-server's `/slots`, which holds what its `/metrics` does not:
//!   the tokens in the KV cache) every interval while a step runs.
//!
//! Not disturbing the measurement: the sampler has its own HTTP client and connection (not
//! the measuring pool), reads one small page per interval (1 s by default, about 3 KB for
//! llama-server), parses it in microseconds and keeps only the known values. llama-server
//! answers `/metrics` and `/slots` through its task queue, between two decode steps: one
//! such task per second is what it costs there.
//!
//! [`probe`] decides once, before the first step, whether there is anything to scrape:
//! inferbench turns `--metrics` on for the llama-server it starts; a server given with
//! `--url` is scraped only if its `/metrics` answers, and every step says when it did not
//! ("no /metrics: …").

pub mod known;
pub mod prometheus;
pub mod series;

use crate::error::UserError;
use crate::results::ServerMetrics;
use series::Collector;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The default time between two scrapes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest interval allowed (a scrape more often would be load of its own).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// `--metrics-interval SECONDS` → the interval; 0 turns scraping off (`None`). Pure.
pub fn interval_from_flag(seconds: f64) -> Result<Option<Duration>, UserError> {
    if seconds == 0.0 {
        return Ok(None);
    }
    if !seconds.is_finite() || seconds < MIN_INTERVAL.as_secs_f64() || seconds > 3600.0 {
        return Err(UserError::new(format!(
            "--metrics-interval {seconds}: give seconds between {} and 3600, or 0 to scrape no server metrics",
            MIN_INTERVAL.as_secs_f64()
        )));
    }
    Ok(Some(Duration::from_secs_f64(seconds)))
}

/// What to scrape at one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub metrics: String,
    /// llama-server's `/slots` (KV-cache tokens), when it answered.
    pub slots: Option<String>,
}

/// Whether a server has metrics to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Available(Endpoints),
    /// Why not, in words ("no /metrics: HTTP 501 …").
    Unavailable(String),
}

/// The HTTP client of the sampler: its own, one connection, a timeout below the interval.
pub fn client(interval: Duration) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context;
    reqwest::Client::builder()
        .no_proxy()
        .timeout(interval.clamp(MIN_INTERVAL, Duration::from_secs(2)))
        .pool_max_idle_per_host(1)
        .build()
        .context("building the metrics HTTP client")
}

/// One GET; the body as text when the status is 200, else why not.
async fn get(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = client.get(url).send().await.map_err(|e| {
        if e.is_timeout() {
            "timed out".to_string()
        } else {
            format!("could not connect ({e})")
        }
    })?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    resp.text().await.map_err(|e| format!("body: {e}"))
}

/// Look at `base_url`'s `/metrics` (and, with `slots`, `/slots`) once.
pub async fn probe(client: &reqwest::Client, base_url: &str, slots: bool) -> Probe {
    let metrics = format!("{}/metrics", base_url.trim_end_matches('/'));
    match get(client, &metrics).await {
        Err(why) => return Probe::Unavailable(format!("no /metrics: {why} at {metrics}")),
        Ok(text) => {
            let e = prometheus::parse(&text);
            if e.samples.is_empty() {
                return Probe::Unavailable(format!(
                    "no /metrics: {metrics} answered with no Prometheus samples"
                ));
            }
        }
    }
    let slots = if slots {
        let url = format!("{}/slots", base_url.trim_end_matches('/'));
        match get(client, &url).await {
            Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| series::slots_kv_tokens(&v))
                .map(|_| url),
            Err(_) => None,
        }
    } else {
        None
    };
    Probe::Available(Endpoints { metrics, slots })
}

/// A running sampler of one step.
pub struct Sampler {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Collector>,
}

impl Sampler {
    /// Start scraping `at` every `interval`, with times in seconds from `origin` (the
    /// step's clock). The first scrape is at once; [`Sampler::finish`] takes one more.
    pub fn start(
        client: reqwest::Client,
        at: Endpoints,
        interval: Duration,
        origin: Instant,
    ) -> Sampler {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut c = Collector::new(&at.metrics, interval.as_secs_f64());
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => scrape_once(&client, &at, origin, &mut c).await,
                }
            }
            scrape_once(&client, &at, origin, &mut c).await;
            c
        });
        Sampler { stop, task }
    }

    /// Stop, take a last scrape, and return the step's series.
    pub async fn finish(self) -> ServerMetrics {
        self.stop.cancel();
        match self.task.await {
            Ok(c) => c.finish(),
            Err(e) => ServerMetrics {
                note: Some(format!("the metrics sampler failed: {e}")),
                ..ServerMetrics::default()
            },
        }
    }
}

async fn scrape_once(client: &reqwest::Client, at: &Endpoints, origin: Instant, c: &mut Collector) {
    let t0 = Instant::now();
    let (metrics, slots) = match &at.slots {
        Some(url) => {
            let (m, s) = tokio::join!(get(client, &at.metrics), get(client, url));
            (m, Some((url, s)))
        }
        None => (get(client, &at.metrics).await, None),
    };
    // The scrape's instant: halfway through the request.
    let t_s = (t0.saturating_duration_since(origin) + t0.elapsed() / 2).as_secs_f64();
    match metrics {
        Ok(text) => c.observe(t_s, &prometheus::parse(&text)),
        Err(why) => c.failed(&why),
    }
    if let Some((url, Ok(text))) = slots
        && let Some(tokens) = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| series::slots_kv_tokens(&v))
    {
        c.extra_gauge(
            "kv_cache_tokens",
            url,
            "Σ n_prompt_tokens + n_decoded over busy slots",
            t_s,
            tokens,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_flag() {
        assert_eq!(interval_from_flag(0.0).unwrap(), None);
        assert_eq!(
            interval_from_flag(1.0).unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            interval_from_flag(0.25).unwrap(),
            Some(Duration::from_millis(250))
        );
        for bad in [-1.0, 0.01, f64::NAN, f64::INFINITY, 7200.0] {
            assert!(interval_from_flag(bad).is_err(), "{bad}");
        }
    }
}
