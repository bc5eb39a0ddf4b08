//! Shards of a load step (pure): what worker I of N sends, so that N workers started at
//! one instant send, between them, the one schedule a single client would have sent.
//!
//! Requests of a step are numbered 0, 1, 2, … in the single client's order (warm-up
//! first). Worker `I` of `N` (0-based, as a Kubernetes Indexed Job numbers its pods) takes
//! the numbers `g ≡ I (mod N)`: its local request `k` is global request `k·N + I`. So:
//! - **Workload**: request `g` uses prompt `g mod P` in every shard, the same as the
//!   single client; shards are disjoint and together cover every request.
//! - **Closed loop**: worker I keeps its share of the concurrency in flight: ⌊c/N⌋, one
//!   more for the first `c mod N` workers.
//! - **Open loop**: every worker draws the whole seeded arrival sequence (same seed) and
//!   sends only its own numbers: the union of the shards' arrivals is the single
//!   client's schedule, instant for instant, once the workers share a start instant.
//! - **Counts**: worker I's warm-up and measured requests are exactly its numbers among
//!   the single client's warm-up `[0, W)` and measured `[W, W+R)` requests.

use serde::{Deserialize, Serialize};

/// Worker `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    pub index: u32,
    #[schemars(range(min = 1))]
    pub count: u32,
}

/// A `--shard` that is not `I/N` with 0 ≤ I < N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--shard {0:?} is not I/N with 0 ≤ I < N (worker I of N, 0-based as a Kubernetes Indexed Job numbers its pods), e.g. --shard 0/4"
)]
pub struct ShardError(pub String);

impl Shard {
    /// Parse `I/N`.
    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// How many of the global numbers `[0, end)` are this worker's.
    pub fn count_below(&self, end: u64) -> u64 {
        let (i, n) = (u64::from(self.index), u64::from(self.count));
        if end <= i { 0 } else { (end - i).div_ceil(n) }
    }

    /// The global request number of this worker's local request `local`.
    pub fn global(&self, local: u64) -> u64 {
        local * u64::from(self.count) + u64::from(self.index)
    }

    /// Whether global request `g` is this worker's.
    pub fn owns(&self, g: u64) -> bool {
        g % u64::from(self.count) == u64::from(self.index)
    }

    /// This worker's share of a closed loop's concurrency (0 when c < N and this worker
    /// is past the remainder).
    pub fn concurrency(&self, c: u32) -> u32 {
        self.count_below(u64::from(c)) as u32
    }

    /// "2/4".
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(Shard::parse("0/4"), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(Shard::parse(" 3 / 4 "), Ok(Shard { index: 3, count: 4 }));
        for bad in ["4/4", "1/0", "x/2", "1", "-1/2", "1/2/3", ""] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("--shard "), "{bad}: {e}");
        }
    }

    #[test]
    fn concurrency_shares_differ_by_at_most_one() {
        let shares: Vec<u32> = (0..4)
            .map(|i| Shard { index: i, count: 4 }.concurrency(10))
            .collect();
        assert_eq!(shares, vec![3, 3, 2, 2]);
    }
}
