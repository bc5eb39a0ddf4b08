//! Scrapes → series (pure): the values of known metrics at each scrape, counters turned
//! into rates, histograms summarized over the step.
//!
//! - **Gauge**: the value at each scrape (summed over label sets).
//! - **Rate**: between consecutive scrapes i−1 and i, (vᵢ − vᵢ₋₁) ÷ (tᵢ − tᵢ₋₁), placed at
//!   tᵢ. A counter that went down was restarted: its increase is vᵢ (Prometheus' rule).
//! - **Histogram**: cumulative buckets (`le`), sum and count at the step's first and last
//!   scrape; their difference is the step's histogram. Mean = Δsum ÷ Δcount; quantiles by
//!   linear interpolation inside the bucket where the rank falls (the lowest bucket's
//!   lower bound is 0; a rank in the `+Inf` bucket gives the highest finite bound).
//!
//! Non-finite values (NaN, ±Inf gauges) are dropped: JSON has no place for them.

use super::known::{KNOWN, Known, Read};
use super::prometheus::{Exposition, parse_value};
use crate::results::{MetricSeries, SeriesPoint, ServerHistogram, ServerMetrics};

/// A histogram at one scrape: (upper bound, cumulative count) sorted by bound, sum, count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// The sum over label sets of the samples named `name`; `None` when there are none.
pub fn total(expo: &Exposition, name: &str) -> Option<f64> {
    let mut any = false;
    let mut sum = 0.0;
    for s in expo.named(name) {
        any = true;
        sum += s.value;
    }
    (any && sum.is_finite()).then_some(sum)
}

/// The histogram family `base` (samples `base_bucket`, `base_sum`, `base_count`), summed
/// over label sets other than `le`.
pub fn histogram(expo: &Exposition, base: &str) -> Option<Hist> {
    let bucket = format!("{base}_bucket");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for s in expo.named(&bucket) {
        let Some(le) = s.label("le").and_then(parse_value) else {
            continue;
        };
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some(b) => b.1 += s.value,
            None => buckets.push((le, s.value)),
        }
    }
    if buckets.is_empty() {
        return None;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(Hist {
        buckets,
        sum: total(expo, &format!("{base}_sum")).unwrap_or(0.0),
        count: total(expo, &format!("{base}_count")).unwrap_or(0.0),
    })
}

/// Rates of a counter's points (see the module docs).
pub fn rates(points: &[SeriesPoint]) -> Vec<SeriesPoint> {
    points
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].t_s - w[0].t_s;
            if dt <= 0.0 {
                return None;
            }
            let inc = if w[1].value >= w[0].value {
                w[1].value - w[0].value
            } else {
                w[1].value
            };
            Some(SeriesPoint {
                t_s: w[1].t_s,
                value: inc / dt,
            })
        })
        .collect()
}

/// `last − first`, bucket by bucket (a bucket missing at `first` counts 0 there). `None`
/// when nothing was observed in between or the counter was reset.
pub fn delta(first: &Hist, last: &Hist) -> Option<Hist> {
    let count = last.count - first.count;
    if count <= 0.0 {
        return None;
    }
    let mut buckets = Vec::with_capacity(last.buckets.len());
    for &(le, c) in &last.buckets {
        let before = first
            .buckets
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0.0, |b| b.1);
        if c < before {
            return None;
        }
        buckets.push((le, c - before));
    }
    Some(Hist {
        buckets,
        sum: last.sum - first.sum,
        count,
    })
}

/// The `q` quantile (0–1) of a histogram (see the module docs).
pub fn quantile(h: &Hist, q: f64) -> Option<f64> {
    let total = h.buckets.last()?.1;
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let mut prev_le = 0.0;
    let mut prev_c = 0.0;
    for &(le, c) in &h.buckets {
        if c >= rank {
            if le.is_infinite() {
                return Some(prev_le);
            }
            if c == prev_c {
                return Some(le);
            }
            let lower = if prev_le > le { 0.0 } else { prev_le };
            return Some(lower + (le - lower) * (rank - prev_c) / (c - prev_c));
        }
        prev_le = le;
        prev_c = c;
    }
    Some(prev_le)
}

/// What one scrape contributes, kept per known metric.
#[derive(Debug, Clone, Default)]
struct Track {
    points: Vec<SeriesPoint>,
    first_hist: Option<(f64, Hist)>,
    last_hist: Option<(f64, Hist)>,
}

/// Collects the scrapes of one step.
#[derive(Debug, Clone)]
pub struct Collector {
    metrics_url: String,
    interval_s: f64,
    tracks: Vec<Track>,
    /// Gauges read from other endpoints (llama-server `/slots`).
    extra: Vec<MetricSeries>,
    scrapes: u64,
    failed: u64,
    notes: Vec<String>,
}

impl Collector {
    pub fn new(metrics_url: &str, interval_s: f64) -> Self {
        Collector {
            metrics_url: metrics_url.to_string(),
            interval_s,
            tracks: vec![Track::default(); KNOWN.len()],
            extra: Vec::new(),
            scrapes: 0,
            failed: 0,
            notes: Vec::new(),
        }
    }

    /// One scrape of `/metrics` at `t_s` seconds from the step's start.
    pub fn observe(&mut self, t_s: f64, expo: &Exposition) {
        self.scrapes += 1;
        for (k, track) in KNOWN.iter().zip(self.tracks.iter_mut()) {
            match k.read {
                Read::Gauge | Read::Rate => {
                    if let Some(v) = total(expo, k.metric) {
                        track.points.push(SeriesPoint { t_s, value: v });
                    }
                }
                Read::Histogram => {
                    if let Some(h) = histogram(expo, k.metric) {
                        if track.first_hist.is_none() {
                            track.first_hist = Some((t_s, h.clone()));
                        }
                        track.last_hist = Some((t_s, h));
                    }
                }
            }
        }
    }

    /// A scrape that failed (it is counted; the first reason of each kind is kept).
    pub fn failed(&mut self, reason: &str) {
        self.failed += 1;
        if self.notes.len() < 3 && !self.notes.iter().any(|n| n == reason) {
            self.notes.push(reason.to_string());
        }
    }

    /// A gauge read from an endpoint other than `/metrics` at `t_s`.
    pub fn extra_gauge(&mut self, name: &str, endpoint: &str, metric: &str, t_s: f64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let point = SeriesPoint { t_s, value };
        match self.extra.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push(point),
            None => {
                let (label, unit) = super::known::describe(name).unwrap_or((name, ""));
                self.extra.push(MetricSeries {
                    name: name.to_string(),
                    label: label.to_string(),
                    unit: unit.to_string(),
                    endpoint: endpoint.to_string(),
                    metric: metric.to_string(),
                    read: "gauge".into(),
                    points: vec![point],
                })
            }
        }
    }

    /// The step's server metrics.
    pub fn finish(self) -> ServerMetrics {
        let mut series = Vec::new();
        let mut histograms = Vec::new();
        for (k, track) in KNOWN.iter().zip(self.tracks) {
            match k.read {
                Read::Gauge | Read::Rate => {
                    let points: Vec<SeriesPoint> = if k.read == Read::Rate {
                        rates(&track.points)
                    } else {
                        track.points
                    };
                    let points: Vec<SeriesPoint> =
                        points.into_iter().filter(|p| p.value.is_finite()).collect();
                    if !points.is_empty() {
                        series.push(self::series(k, &self.metrics_url, points));
                    }
                }
                Read::Histogram => {
                    if let (Some((_, a)), Some((_, b))) = (&track.first_hist, &track.last_hist)
                        && let Some(h) = delta(a, b)
                    {
                        histograms.push(summary(k, &self.metrics_url, &h));
                    }
                }
            }
        }
        series.extend(self.extra);
        let mut note = (!self.notes.is_empty()).then(|| {
            format!(
                "{} of {} scrapes failed: {}",
                self.failed,
                self.scrapes + self.failed,
                self.notes.join("; ")
            )
        });
        if note.is_none() && self.scrapes > 0 && series.is_empty() && histograms.is_empty() {
            note = Some(format!(
                "{} answered, but with no metric we know",
                self.metrics_url
            ));
        }
        ServerMetrics {
            interval_s: self.interval_s,
            scrapes: self.scrapes,
            failed_scrapes: self.failed,
            note,
            series,
            histograms,
        }
    }
}

fn series(k: &Known, endpoint: &str, points: Vec<SeriesPoint>) -> MetricSeries {
    MetricSeries {
        name: k.series.to_string(),
        label: k.label.to_string(),
        unit: k.unit.to_string(),
        endpoint: endpoint.to_string(),
        metric: k.metric.to_string(),
        read: match k.read {
            Read::Rate => "rate",
            _ => "gauge",
        }
        .to_string(),
        points,
    }
}

fn summary(k: &Known, endpoint: &str, h: &Hist) -> ServerHistogram {
    let ms = |x: Option<f64>| x.filter(|v| v.is_finite()).map(|v| v * 1000.0);
    ServerHistogram {
        name: k.series.to_string(),
        label: k.label.to_string(),
        endpoint: endpoint.to_string(),
        metric: k.metric.to_string(),
        count: h.count,
        mean_ms: ms((h.count > 0.0).then(|| h.sum / h.count)),
        p50_ms: ms(quantile(h, 0.5)),
        p90_ms: ms(quantile(h, 0.9)),
        p99_ms: ms(quantile(h, 0.99)),
    }
}

/// Tokens in llama-server's KV cache by its `/slots` answer: Σ over busy slots of the
/// prompt tokens and the tokens decoded so far. `None` when the answer is not the array of
/// slots it should be. Pure.
pub fn slots_kv_tokens(slots: &serde_json::Value) -> Option<f64> {
    let arr = slots.as_array()?;
    let mut tokens = 0.0;
    for s in arr {
        if s.get("is_processing").and_then(|v| v.as_bool()) != Some(true) {
            continue;
        }
        let prompt = s
            .get("n_prompt_tokens")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let decoded: f64 = s
            .get("next_token")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("n_decoded").and_then(|v| v.as_f64()))
                    .sum()
            })
            .unwrap_or(0.0);
        tokens += prompt.max(0.0) + decoded.max(0.0);
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::prometheus::parse;

    fn p(t_s: f64, value: f64) -> SeriesPoint {
        SeriesPoint { t_s, value }
    }

    #[test]
    fn counters_become_rates_and_a_reset_counts_from_zero() {
        let r = rates(&[
            p(0.0, 10.0),
            p(1.0, 30.0),
            p(3.0, 50.0),
            p(4.0, 5.0),
            p(4.0, 9.0),
        ]);
        assert_eq!(r, vec![p(1.0, 20.0), p(3.0, 10.0), p(4.0, 5.0)]);
        assert_eq!(rates(&[p(0.0, 1.0)]), vec![]);
    }

    #[test]
    fn gauges_sum_over_label_sets() {
        let e = parse(
            "vllm:num_requests_running{engine=\"0\"} 3\nvllm:num_requests_running{engine=\"1\"} 4\nother 1\n",
        );
        assert_eq!(total(&e, "vllm:num_requests_running"), Some(7.0));
        assert_eq!(total(&e, "missing"), None);
    }

    fn ttft(buckets: &[(&str, f64)], sum: f64, count: f64) -> String {
        let mut s = String::from("# TYPE vllm:time_to_first_token_seconds histogram\n");
        for (le, c) in buckets {
            s.push_str(&format!(
                "vllm:time_to_first_token_seconds_bucket{{le=\"{le}\",model_name=\"m\"}} {c}\n"
            ));
        }
        s.push_str(&format!(
            "vllm:time_to_first_token_seconds_sum{{model_name=\"m\"}} {sum}\n"
        ));
        s.push_str(&format!(
            "vllm:time_to_first_token_seconds_count{{model_name=\"m\"}} {count}\n"
        ));
        s
    }

    #[test]
    fn histogram_quantiles_interpolate_inside_buckets() {
        let h = Hist {
            buckets: vec![(0.1, 10.0), (0.2, 30.0), (0.4, 40.0), (f64::INFINITY, 40.0)],
            sum: 7.0,
            count: 40.0,
        };
        // rank 20 falls in (0.1, 0.2] holding 20: halfway.
        assert!((quantile(&h, 0.5).unwrap() - 0.15).abs() < 1e-12);
        // rank 5 in the first bucket, from 0.
        assert!((quantile(&h, 0.125).unwrap() - 0.05).abs() < 1e-12);
        assert!((quantile(&h, 1.0).unwrap() - 0.4).abs() < 1e-12);
        let tail = Hist {
            buckets: vec![(0.1, 1.0), (f64::INFINITY, 10.0)],
            sum: 0.0,
            count: 10.0,
        };
        assert_eq!(quantile(&tail, 0.99), Some(0.1));
        assert_eq!(quantile(&Hist::default(), 0.5), None);
    }

    #[test]
    fn a_steps_histogram_is_last_minus_first() {
        let mut c = Collector::new("http://h/metrics", 1.0);
        c.observe(
            0.0,
            &parse(&ttft(
                &[("0.1", 5.0), ("0.5", 5.0), ("+Inf", 5.0)],
                0.25,
                5.0,
            )),
        );
        c.observe(
            2.0,
            &parse(&ttft(
                &[("0.1", 5.0), ("0.5", 15.0), ("+Inf", 15.0)],
                3.25,
                15.0,
            )),
        );
        let m = c.finish();
        let [h] = m.histograms.as_slice() else {
            panic!("{m:?}")
        };
        assert_eq!(h.name, "server_ttft");
        assert_eq!(h.metric, "vllm:time_to_first_token_seconds");
        assert_eq!(h.count, 10.0);
        assert!((h.mean_ms.unwrap() - 300.0).abs() < 1e-9);
        // All 10 new observations in (0.1, 0.5]: the median is at 0.3 s.
        assert!((h.p50_ms.unwrap() - 300.0).abs() < 1e-9, "{h:?}");
        assert_eq!(m.scrapes, 2);
        assert_eq!(m.note, None);
    }

    #[test]
    fn llama_server_scrapes_become_gauge_and_rate_series() {
        let scrape = |running: u32, deferred: u32, predicted: u32| {
            format!(
                "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing {running}\n\
                 # TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred {deferred}\n\
                 # TYPE llamacpp:tokens_predicted_total counter\nllamacpp:tokens_predicted_total {predicted}\n"
            )
        };
        let mut c = Collector::new("http://127.0.0.1:1/metrics", 0.5);
        c.observe(0.0, &parse(&scrape(0, 0, 100)));
        c.observe(0.5, &parse(&scrape(4, 2, 150)));
        c.failed("HTTP 503");
        c.observe(1.5, &parse(&scrape(4, 0, 250)));
        c.extra_gauge(
            "kv_cache_tokens",
            "http://127.0.0.1:1/slots",
            "n_prompt_tokens + n_decoded",
            0.5,
            80.0,
        );
        let m = c.finish();
        let by = |n: &str| m.series.iter().find(|s| s.name == n).expect(n);
        let running = by("running");
        assert_eq!(running.metric, "llamacpp:requests_processing");
        assert_eq!(running.read, "gauge");
        assert_eq!(running.points, vec![p(0.0, 0.0), p(0.5, 4.0), p(1.5, 4.0)]);
        assert_eq!(by("queue_depth").points[1], p(0.5, 2.0));
        let gen_tps = by("generation_tps");
        assert_eq!(gen_tps.read, "rate");
        assert_eq!(gen_tps.points, vec![p(0.5, 100.0), p(1.5, 100.0)]);
        assert_eq!(by("kv_cache_tokens").endpoint, "http://127.0.0.1:1/slots");
        assert_eq!((m.scrapes, m.failed_scrapes), (3, 1));
        assert_eq!(m.note.as_deref(), Some("1 of 4 scrapes failed: HTTP 503"));
    }

    #[test]
    fn the_real_llama_server_exposition_reads_in_full() {
        // Captured from the llama-server that scripts/setup.sh builds, started with
        // --metrics, after a few requests.
        let e = parse(include_str!(
            "../../tests/fixtures/llama-server-metrics.txt"
        ));
        assert_eq!(e.errors, vec![]);
        assert_eq!(e.samples.len(), 15);
        assert!(
            e.samples
                .iter()
                .all(|s| e.kind_of(&s.name) != super::super::prometheus::Kind::Untyped)
        );
        let mut c = Collector::new("http://h/metrics", 1.0);
        c.observe(0.0, &e);
        let m = c.finish();
        let names: Vec<&str> = m.series.iter().map(|s| s.name.as_str()).collect();
        // Gauges at once; rates need a second scrape.
        assert_eq!(names, vec!["queue_depth", "running"]);
    }

    #[test]
    fn an_endpoint_with_no_known_metric_says_so() {
        let mut c = Collector::new("http://h/metrics", 1.0);
        c.observe(0.0, &parse("go_goroutines 12\n"));
        let m = c.finish();
        assert!(m.series.is_empty());
        assert_eq!(
            m.note.as_deref(),
            Some("http://h/metrics answered, but with no metric we know")
        );
    }

    #[test]
    fn kv_tokens_from_llama_server_slots() {
        let slots = serde_json::json!([
            {"id":0,"n_ctx":32768,"is_processing":false},
            {"id":1,"n_ctx":32768,"is_processing":true,"n_prompt_tokens":19,
             "next_token":[{"has_next_token":true,"n_decoded":10}]},
            {"id":2,"is_processing":true,"n_prompt_tokens":5}
        ]);
        assert_eq!(slots_kv_tokens(&slots), Some(34.0));
        assert_eq!(slots_kv_tokens(&serde_json::json!({"error":"x"})), None);
    }
}
