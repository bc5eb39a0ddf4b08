//! Sub-millisecond sleeps, and busy polling for measurements that cannot afford wake-up
//! latency.
//!
//! tokio's timer wheel has 1 ms resolution and rounds deadlines up, so a 50 ms TTFT would
//! come out anywhere in 50–51 ms. [`sleep_until`] instead registers (deadline, waker) in one
//! min-heap, served in one of two ways:
//!
//! - **Timer thread** (default): one thread parks until the earliest deadline with the
//!   kernel's timer slack at its minimum and wakes what is due. It costs nothing while
//!   idle, but every wake-up crosses threads, and an idle core first has to come out of
//!   its sleep state (on a VM, ~0.1–0.2 ms).
//! - **Busy polling** ([`busy_poll`], `--busy-poll` on the command line): a task of the
//!   runtime spins, firing due deadlines itself and, between spins, letting the runtime
//!   poll its sockets without blocking (`yield_now` hands the worker to the I/O driver
//!   with a zero timeout). Nothing ever waits for a wake-up: a byte that arrives is seen
//!   within one spin (~1 µs), a deadline is met within one spin. The price is one core
//!   kept busy, so it is for benchmarks on pinned cores, and the runtime must have a
//!   single worker (a second worker could block in the I/O driver and take the events).
//!
//! While busy polling, the time the spinner spends spinning with nothing to do is counted
//! ([`idle_spin`]) so that CPU figures can leave it out.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Sleep until `at` with sub-millisecond precision.
pub async fn sleep_until(at: Instant) {
    Sleep::new(at).await
}

/// Spin forever on the current runtime: fire due deadlines, let the I/O driver poll, repeat.
/// Spawn it once (`tokio::spawn(timer::busy_poll())`) on a runtime with one worker.
pub async fn busy_poll() {
    let _spinning = Spinning::start();
    let mut last = Instant::now();
    loop {
        fire_due();
        tokio::task::yield_now().await;
        let now = Instant::now();
        let gap = now.saturating_duration_since(last);
        // A spin that came straight back did nothing else: count it as idle. Longer gaps
        // ran other tasks in between; they count as work.
        if gap < IDLE_SPIN_MAX {
            IDLE_NS.fetch_add(gap.as_nanos() as u64, Ordering::Relaxed);
        }
        last = now;
    }
}

/// Whether a [`busy_poll`] task is running in this process.
pub fn busy_polling() -> bool {
    SPINNERS.load(Ordering::Acquire) > 0
}

/// Counts running busy pollers; when the last one ends (its runtime shut down), the timer
/// thread takes the deadlines back.
struct Spinning;

impl Spinning {
    fn start() -> Self {
        SPINNERS.fetch_add(1, Ordering::AcqRel);
        Spinning
    }
}

impl Drop for Spinning {
    fn drop(&mut self) {
        if SPINNERS.fetch_sub(1, Ordering::AcqRel) == 1 {
            timer_thread().unpark();
        }
    }
}

/// Time the busy poller has spent spinning idle so far (zero without busy polling).
pub fn idle_spin() -> Duration {
    Duration::from_nanos(IDLE_NS.load(Ordering::Relaxed))
}

/// A spin of the busy poller up to this long is idle time (one spin is ~1–2 µs: a zero
/// timeout `epoll_wait` and a look at the heap).
const IDLE_SPIN_MAX: Duration = Duration::from_micros(20);

static SPINNERS: AtomicUsize = AtomicUsize::new(0);
static IDLE_NS: AtomicU64 = AtomicU64::new(0);

struct Entry {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, o: &Self) -> CmpOrdering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

fn queue() -> &'static Mutex<Queue> {
    static QUEUE: OnceLock<Mutex<Queue>> = OnceLock::new();
    QUEUE.get_or_init(|| Mutex::new(Queue::default()))
}

fn lock() -> std::sync::MutexGuard<'static, Queue> {
    queue().lock().unwrap_or_else(|p| p.into_inner())
}

/// Pop every due entry and wake it (outside the lock). Returns the next deadline.
fn fire_due() -> Option<Instant> {
    let mut due: Vec<Waker> = Vec::new();
    let next = {
        let mut q = lock();
        let now = Instant::now();
        while q.heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = q.heap.pop() {
                due.push(e.waker);
            }
        }
        q.heap.peek().map(|e| e.at)
    };
    for w in due {
        w.wake();
    }
    next
}

/// The timer thread, started the first time a deadline is registered without busy
/// polling.
fn timer_thread() -> &'static Thread {
    static THREAD: OnceLock<Thread> = OnceLock::new();
    THREAD.get_or_init(|| {
        let handle = std::thread::Builder::new()
            .name("inferbench-timer".into())
            .spawn(run_thread)
            .unwrap_or_else(|e| panic!("cannot start the timer thread: {e}"));
        handle.thread().clone()
    })
}

fn run_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    loop {
        match fire_due() {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        }
    }
}

fn register(at: Instant, waker: Waker) {
    let earliest = {
        let mut q = lock();
        q.seq += 1;
        let seq = q.seq;
        q.heap.push(Entry { at, seq, waker });
        q.heap.peek().is_some_and(|e| e.seq == seq)
    };
    if earliest && !busy_polling() {
        timer_thread().unpark();
    }
}

/// A future that completes at `at`.
pub struct Sleep {
    at: Instant,
    registered: Option<Waker>,
}

impl Sleep {
    pub fn new(at: Instant) -> Self {
        Sleep {
            at,
            registered: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            register(self.at, cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A runtime for one command: multi-threaded, or with a single worker when the command
/// busy-polls (see the module docs).
pub fn runtime(busy_poll: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if busy_poll {
        b.worker_threads(1);
    }
    b.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn precise_sleep_is_never_early() {
        // Sub-millisecond precision is a matter for a quiet machine and a benchmark; a
        // test on a shared machine can only check that a sleep never ends early and that
        // it ends at all, in reasonable time, for many interleaved deadlines.
        let start = Instant::now();
        let deadlines: Vec<Instant> = (0..50u64)
            .map(|i| start + Duration::from_micros(1_000 + (i * 7_919) % 20_000))
            .collect();
        let woke = futures_util::future::join_all(deadlines.iter().map(|&at| async move {
            sleep_until(at).await;
            Instant::now()
        }))
        .await;
        let mut late: Vec<Duration> = Vec::new();
        for (at, w) in deadlines.iter().zip(&woke) {
            assert!(w >= at, "woke early");
            late.push(*w - *at);
        }
        late.sort();
        assert!(late[late.len() / 2] < Duration::from_millis(50), "{late:?}");
        // A deadline already past completes at once.
        sleep_until(start).await;
    }

    #[test]
    fn busy_polling_meets_deadlines_and_hands_back_to_the_thread() {
        let rt = runtime(true).expect("runtime");
        let idle0 = idle_spin();
        rt.block_on(async {
            let spinner = tokio::spawn(busy_poll());
            tokio::task::yield_now().await;
            let start = Instant::now();
            for i in 1..=20u64 {
                let at = start + Duration::from_micros(300 * i);
                sleep_until(at).await;
                assert!(Instant::now() >= at, "woke early");
            }
            assert!(busy_polling());
            spinner.abort();
            let _ = spinner.await;
        });
        drop(rt);
        assert!(idle_spin() > idle0, "the spinner counted no idle time");
        // Another test's runtime may still be spinning; when none is, the thread serves.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let at = Instant::now() + Duration::from_millis(2);
            tokio::time::timeout(Duration::from_secs(10), sleep_until(at))
                .await
                .expect("a sleep after busy polling ended never woke");
        });
    }
}
