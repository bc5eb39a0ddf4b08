//! A load step must not stall: requests outstanding while the engine does nothing for
//! them end as failed within seconds, with a reason that says where each one sat.
//!
//! Every request of a step is registered while in flight ([`Inflight`]), with its
//! [`Activity`] (the last response byte, and the connection it went out on). Twice a
//! second the watchdog looks at how long no outstanding request has progressed. After
//! [`QUIET`] of silence it asks the engine whether it is working: llama-server's `/slots`
//! (and the synthetic engine's) say whether any slot is processing. The verdict is pure
//! ([`stalled`]):
//! - the engine says it is idle, twice in a row → the silent requests fail now (the engine
//!   will never answer them: they are not in it);
//! - the engine says it is busy (a long prefill) → wait;
//! - the engine cannot say → fail once the silence exceeds both [`UNKNOWN_FLOOR`] and
//!   [`UNKNOWN_FACTOR`] × the longest silence a successful request of this step went
//!   through; before any request succeeded, only the request timeout applies.
//!
//! A first attempt that sat unwritten on the connection hyper gave it ([`unwritten`]) never
//! reached the engine: it ends as [`RequestError::NotSent`], and the executor sends it once
//! more on a new connection (a recorded retry; the wait is send lag, not TTFT).
//!
//! Each failure's reason says where the request sat, from the kernel's socket queues
//! ([`crate::client::sockq`]): unsent in our socket, unread in the server's, or read and
//! dropped.

use crate::client::RequestError;
use crate::client::sockq;
use crate::client::stream::Activity;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Silence of every outstanding request after which the engine is asked.
pub const QUIET: Duration = Duration::from_secs(3);
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(500);
/// How long the engine may take to say whether it is working.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// With an engine that cannot say whether it works: the least silence that is a stall…
pub const UNKNOWN_FLOOR: Duration = Duration::from_secs(8);
/// …and how many times the longest healthy silence of the step it must also exceed.
pub const UNKNOWN_FACTOR: u32 = 3;

/// What the engine says of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineActivity {
    /// Nothing processing, nothing queued.
    Idle { slots: usize },
    /// Some slot is processing.
    Busy,
    /// It cannot say (no such route, no answer in time).
    Unknown,
}

/// Whether the requests outstanding (all silent for `quiet`) have stalled: pure.
/// `idle_looks` counts the engine's consecutive "idle" answers; `healthy` is the longest
/// silence a successful request of the step went through, if any succeeded.
pub fn stalled(
    quiet: Duration,
    engine: EngineActivity,
    idle_looks: u32,
    healthy: Option<Duration>,
) -> bool {
    if quiet < QUIET {
        return false;
    }
    match engine {
        EngineActivity::Idle { .. } => idle_looks >= 2,
        EngineActivity::Busy => false,
        EngineActivity::Unknown => {
            healthy.is_some_and(|h| quiet >= UNKNOWN_FLOOR.max(h * UNKNOWN_FACTOR))
        }
    }
}

/// Read llama-server's `/slots` answer: idle when no slot is processing. Pure.
pub fn activity_of_slots(v: &serde_json::Value) -> EngineActivity {
    let Some(slots) = v.as_array() else {
        return EngineActivity::Unknown;
    };
    let busy = slots
        .iter()
        .any(|s| s.get("is_processing").and_then(|p| p.as_bool()) == Some(true));
    if busy {
        EngineActivity::Busy
    } else {
        EngineActivity::Idle { slots: slots.len() }
    }
}

/// Asks an engine whether it is working.
#[derive(Clone)]
pub struct Probe {
    client: reqwest::Client,
    slots_url: Option<String>,
}

impl Probe {
    /// A probe of `base_url`'s `/slots` (none for NDJSON servers: Ollama has no such
    /// route).
    pub fn new(base_url: &str, ndjson: bool) -> Probe {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(PROBE_TIMEOUT)
            .build()
            .unwrap_or_default();
        let base = base_url.trim_end_matches('/').trim_end_matches("/v1");
        Probe {
            client,
            slots_url: (!ndjson).then(|| format!("{base}/slots")),
        }
    }

    async fn look(&self) -> EngineActivity {
        let Some(url) = &self.slots_url else {
            return EngineActivity::Unknown;
        };
        let answer = async {
            let r = self.client.get(url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json::<serde_json::Value>().await.ok()
        };
        match answer.await {
            Some(v) => activity_of_slots(&v),
            None => EngineActivity::Unknown,
        }
    }
}

/// The requests of one step that are in flight.
#[derive(Default)]
pub struct Inflight {
    next: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
    /// Longest silence (ns) a successful request went through.
    healthy_ns: AtomicU64,
}

struct Entry {
    activity: Activity,
    stop: tokio::sync::oneshot::Sender<RequestError>,
    /// A first attempt: if it never left, it may go out again (a retry may not).
    may_resend: bool,
}

/// A request's place in [`Inflight`]; leaving it (drop) unregisters the request.
pub struct Ticket {
    id: u64,
    inflight: Arc<Inflight>,
    pub activity: Activity,
    /// Resolves with the watchdog's verdict, if it ends the request.
    stop: tokio::sync::oneshot::Receiver<RequestError>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.inflight.lock().remove(&self.id);
    }
}

impl Ticket {
    /// The watchdog's verdict, or never.
    pub async fn verdict(&mut self) -> RequestError {
        match (&mut self.stop).await {
            Ok(e) => e,
            Err(_) => std::future::pending().await,
        }
    }
}

impl Inflight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a request about to be sent.
    pub fn register(self: &Arc<Self>) -> Ticket {
        self.enter(true)
    }

    /// Register a request sent again: a stall of it is a failure.
    pub fn register_retry(self: &Arc<Self>) -> Ticket {
        self.enter(false)
    }

    fn enter(self: &Arc<Self>, may_resend: bool) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Activity::default();
        activity.touch();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.lock().insert(
            id,
            Entry {
                activity: activity.clone(),
                stop: tx,
                may_resend,
            },
        );
        Ticket {
            id,
            inflight: self.clone(),
            activity,
            stop: rx,
        }
    }

    /// A successful request went through a silence this long (its TTFT or its longest
    /// gap between events).
    pub fn note_healthy(&self, longest_silence: Duration) {
        let ns = u64::try_from(longest_silence.as_nanos()).unwrap_or(u64::MAX);
        self.healthy_ns.fetch_max(ns, Ordering::Relaxed);
    }

    fn healthy(&self) -> Option<Duration> {
        match self.healthy_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Time since any outstanding request last progressed; `None` when none is out.
    fn quiet(&self, now: Instant) -> Option<Duration> {
        let entries = self.lock();
        entries
            .values()
            .map(|e| now.saturating_duration_since(e.activity.last()))
            .min()
    }

    /// End every outstanding request silent for at least `quiet`, each with its reason.
    fn fail_silent(&self, now: Instant, quiet: Duration, engine: &str) -> usize {
        let mut entries = self.lock();
        let ids: Vec<u64> = entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.activity.last()) >= quiet)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(e) = entries.remove(id) {
                let silent = now.saturating_duration_since(e.activity.last());
                let reason = format!("{engine}; {}", where_it_sat(&e.activity, silent));
                let unsent = !e.activity.has_answer() && unwritten(&e.activity.conn().state());
                let verdict = if e.may_resend && unsent {
                    RequestError::NotSent(reason)
                } else {
                    RequestError::Stalled(reason)
                };
                let _ = e.stop.send(verdict);
            }
        }
        ids.len()
    }
}

/// The longest silence a request went through: its wait for the first token, or its
/// longest gap between events. Pure.
pub fn longest_silence(t: &crate::measure::metrics::Timeline) -> Duration {
    let mut last = t.sent;
    let mut longest = Duration::ZERO;
    for &e in t.content_events.iter().chain(t.end.iter()) {
        longest = longest.max(e.saturating_sub(last));
        last = last.max(e);
    }
    longest
}

/// Whether a request sits on a connection hyper gave it without having been written
/// there (also one already closed under it: seen in CI, 3.6 s with no error from hyper):
/// the engine cannot have it, so sending it again cannot run it twice. Pure.
pub fn unwritten(conn: &crate::client::http::ConnState) -> bool {
    conn.chosen && !conn.written_unanswered()
}

/// Where a silent request sat, in words (reads the kernel's socket tables).
fn where_it_sat(activity: &Activity, silent: Duration) -> String {
    let conn = activity.conn().state();
    let silent = silent.as_secs_f64();
    if activity.has_answer() {
        return format!("its response began, then nothing came for {silent:.1} s");
    }
    if !conn.chosen {
        return format!(
            "it never left this process: no connection was given to it in {silent:.1} s"
        );
    }
    let on = match conn.ends {
        Some((ours, server)) => format!(
            "on connection {ours} → {server} (request {} on it)",
            conn.requests.max(1)
        ),
        None => "on a connection of unknown address".to_string(),
    };
    if !conn.written_unanswered() {
        return format!("it was not yet written {on}, {silent:.1} s after it was handed over");
    }
    let placement = match conn.ends {
        Some((ours, server)) => {
            sockq::placement(sockq::lookup(ours, server), sockq::lookup(server, ours))
        }
        None => "where its bytes are is unknown".to_string(),
    };
    format!("it was written {on} and no byte came back in {silent:.1} s: {placement}")
}

/// The watchdog of one step; stops when dropped.
pub struct Watchdog(tokio::task::JoinHandle<()>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watch `inflight` for the engine `name`, asking `probe` when everything is silent.
pub fn spawn(inflight: Arc<Inflight>, probe: Probe, name: String) -> Watchdog {
    Watchdog(tokio::spawn(async move {
        let mut idle_looks = 0u32;
        loop {
            tokio::time::sleep(TICK).await;
            let now = Instant::now();
            let Some(quiet) = inflight.quiet(now).filter(|q| *q >= QUIET) else {
                idle_looks = 0;
                continue;
            };
            let engine = probe.look().await;
            idle_looks = match engine {
                EngineActivity::Idle { .. } => idle_looks + 1,
                _ => 0,
            };
            let healthy = inflight.healthy();
            if !stalled(quiet, engine, idle_looks, healthy) {
                continue;
            }
            let why = match engine {
                EngineActivity::Idle { slots } => format!(
                    "`{name}` said it was idle ({slots} slots, none processing) while no outstanding request progressed for {:.1} s",
                    quiet.as_secs_f64()
                ),
                _ => format!(
                    "`{name}` cannot say whether it works, and no outstanding request progressed for {:.1} s (over {}× the longest wait of a successful request, {:.1} s)",
                    quiet.as_secs_f64(),
                    UNKNOWN_FACTOR,
                    healthy.unwrap_or_default().as_secs_f64()
                ),
            };
            let n = inflight.fail_silent(Instant::now(), QUIET, &why);
            tracing::warn!("{n} request(s) ended: {why}");
            idle_looks = 0;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn an_idle_engine_stalls_its_silent_requests_after_two_looks() {
        let idle = EngineActivity::Idle { slots: 4 };
        assert!(!stalled(S(2), idle, 5, None), "not before QUIET");
        assert!(!stalled(S(3), idle, 1, None), "one look is not enough");
        assert!(stalled(S(3), idle, 2, None));
        assert!(
            stalled(S(3), idle, 2, Some(S(60))),
            "an idle engine needs no history"
        );
    }

    #[test]
    fn a_busy_engine_is_never_a_stall() {
        assert!(!stalled(S(600), EngineActivity::Busy, 0, Some(S(1))));
    }

    #[test]
    fn an_engine_that_cannot_say_is_judged_by_the_steps_own_waits() {
        let u = EngineActivity::Unknown;
        assert!(
            !stalled(S(100), u, 0, None),
            "nothing succeeded yet: only the timeout"
        );
        assert!(!stalled(S(7), u, 0, Some(S(1))), "below the floor");
        assert!(stalled(S(8), u, 0, Some(S(1))));
        assert!(
            !stalled(S(14), u, 0, Some(S(5))),
            "below 3× the longest healthy wait"
        );
        assert!(stalled(S(15), u, 0, Some(S(5))));
    }

    #[test]
    fn the_longest_silence_is_the_first_token_wait_or_a_gap() {
        let ms = Duration::from_millis;
        let t = crate::measure::metrics::Timeline {
            scheduled: ms(0),
            sent: ms(10),
            first_byte: Some(ms(20)),
            content_events: vec![ms(110), ms(130), ms(330), ms(340)],
            end: Some(ms(345)),
        };
        assert_eq!(longest_silence(&t), ms(200));
        let t = crate::measure::metrics::Timeline {
            content_events: vec![ms(900)],
            end: Some(ms(905)),
            ..t
        };
        assert_eq!(longest_silence(&t), ms(890));
    }

    #[test]
    fn slots_say_idle_or_busy() {
        let idle =
            serde_json::json!([{"id":0,"is_processing":false},{"id":1,"is_processing":false}]);
        assert_eq!(activity_of_slots(&idle), EngineActivity::Idle { slots: 2 });
        let busy =
            serde_json::json!([{"id":0,"is_processing":false},{"id":1,"is_processing":true}]);
        assert_eq!(activity_of_slots(&busy), EngineActivity::Busy);
        assert_eq!(
            activity_of_slots(&serde_json::json!({"error": "no slots"})),
            EngineActivity::Unknown
        );
    }

    #[test]
    fn only_a_request_unwritten_on_its_connection_may_go_out_again() {
        use crate::client::http::ConnState;
        let chosen = ConnState {
            chosen: true,
            ..ConnState::default()
        };
        assert!(unwritten(&chosen), "a new connection, nothing written");
        let reused = ConnState {
            requests: 3,
            answered: 3,
            ..chosen.clone()
        };
        assert!(
            unwritten(&reused),
            "a reused one, this request not yet written"
        );
        let written = ConnState {
            requests: 4,
            answered: 3,
            ..chosen.clone()
        };
        assert!(!unwritten(&written), "written: the engine may have it");
        assert!(!unwritten(&ConnState::default()), "no connection yet");
        let closed = ConnState {
            closed: true,
            ..chosen
        };
        assert!(unwritten(&closed), "closed under it, never written");
    }

    #[tokio::test]
    async fn only_silent_requests_are_ended_and_a_ticket_leaves_when_dropped() {
        let inflight = Arc::new(Inflight::default());
        let mut old = inflight.register();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let mut fresh = inflight.register();
        let n = inflight.fail_silent(Instant::now(), Duration::from_millis(50), "engine idle");
        assert_eq!(n, 1);
        match old.verdict().await {
            RequestError::Stalled(why) => {
                assert!(
                    why.starts_with("engine idle; it never left this process"),
                    "{why}"
                )
            }
            e => panic!("{e:?}"),
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(50), fresh.verdict())
                .await
                .is_err()
        );
        drop(fresh);
        assert!(inflight.quiet(Instant::now()).is_none());
    }
}
