//! Greedy parity (pure): do two engines give the same reply, token by token?
//!
//! At temperature 0 every engine decodes greedily, so two engines running the same model
//! on the same prompt should give the same tokens; a different quantization, chat
//! template or tokenizer bug makes them part ways. Replies are token id sequences (our
//! tokenizer, applied by the caller); two replies agree up to their **common prefix**, the
//! number of leading ids they share, and the first position where they differ is that
//! prefix's length (a reply that ends while the other goes on differs there too).
//!
//! One side's replies (its runs of a prompt) are compared with every reply of the other
//! side. A pair that differs within the first [`EARLY_TOKENS`] tokens *departs*; which
//! engine departs is decided by majority ([`departing`]).

/// A reply that differs from another within this many tokens departs from it.
pub const EARLY_TOKENS: u32 = 16;

/// Tokens of context shown before the first difference in an excerpt.
pub const EXCERPT_BEFORE: usize = 4;
/// Tokens shown from the first difference on in an excerpt.
pub const EXCERPT_AFTER: usize = 8;

/// The number of leading ids `a` and `b` share.
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Where two replies first differ, and which two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    /// Token position of the first difference (= their common prefix).
    pub position: u32,
    /// Index of the reply on side `a`, and on side `b`.
    pub a: usize,
    pub b: usize,
}

/// Every reply of one side compared with every reply of the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Reply pairs compared (replies of `a` × replies of `b`).
    pub comparisons: u32,
    /// Pairs whose id sequences are equal.
    pub identical: u32,
    /// Mean common prefix over the pairs, tokens.
    pub mean_common_prefix: f64,
    /// Smallest common prefix of any pair, tokens.
    pub min_common_prefix: u32,
    /// The earliest first difference of the pairs that differ (the first pair in order
    /// among equals); `None` when every pair is identical.
    pub first_difference: Option<Difference>,
    /// Mean reply length of each side over its replies, tokens.
    pub mean_tokens_a: f64,
    pub mean_tokens_b: f64,
}

/// Compare every reply of `a` with every reply of `b`; `None` when a side has none.
pub fn compare(a: &[&[u32]], b: &[&[u32]]) -> Option<Comparison> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut comparisons = 0u32;
    let mut identical = 0u32;
    let mut sum = 0u64;
    let mut min = u32::MAX;
    let mut first: Option<Difference> = None;
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            let p = common_prefix(x, y) as u32;
            comparisons += 1;
            sum += u64::from(p);
            min = min.min(p);
            if x == y {
                identical += 1;
            } else if first.is_none_or(|d| p < d.position) {
                first = Some(Difference {
                    position: p,
                    a: i,
                    b: j,
                });
            }
        }
    }
    let mean_len = |s: &[&[u32]]| s.iter().map(|r| r.len() as f64).sum::<f64>() / s.len() as f64;
    Some(Comparison {
        comparisons,
        identical,
        mean_common_prefix: sum as f64 / f64::from(comparisons),
        min_common_prefix: min,
        first_difference: first,
        mean_tokens_a: mean_len(a),
        mean_tokens_b: mean_len(b),
    })
}

/// Whether a comparison departs: some pair of replies differs within [`EARLY_TOKENS`].
pub fn departs_early(c: &Comparison) -> bool {
    c.first_difference
        .is_some_and(|d| d.position < EARLY_TOKENS)
}

/// Which of `n` engines depart from the others on one prompt, given `early(i, j)`: the
/// replies of engines i and j depart within [`EARLY_TOKENS`] (symmetric).
///
/// With three or more engines, an engine departs when it departs from more than half of
/// the others (the majority agrees without it; when no two agree, every one departs).
/// With two, a departing pair returns both: with two engines one cannot say which one
/// departs. With fewer, nothing.
pub fn departing(n: usize, early: impl Fn(usize, usize) -> bool) -> Vec<usize> {
    if n == 2 {
        return if early(0, 1) { vec![0, 1] } else { Vec::new() };
    }
    if n < 2 {
        return Vec::new();
    }
    (0..n)
        .filter(|&i| {
            let from = (0..n).filter(|&j| j != i && early(i, j)).count();
            from * 2 > n - 1
        })
        .collect()
}

/// The token range of an excerpt of a reply of `len` tokens around the first difference
/// at `position`: up to [`EXCERPT_BEFORE`] tokens before it, [`EXCERPT_AFTER`] from it.
/// Returns `(start, position, end)`, clamped to the reply.
pub fn excerpt_range(len: usize, position: usize) -> (usize, usize, usize) {
    let at = position.min(len);
    (
        at.saturating_sub(EXCERPT_BEFORE),
        at,
        (at + EXCERPT_AFTER).min(len),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_leading_equal_ids() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 3]), 3);
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3, 4]), 2);
        assert_eq!(common_prefix(&[9], &[1]), 0);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[], &[]), 0);
    }

    #[test]
    fn compare_every_reply_with_every_other() {
        let a1: &[u32] = &[1, 2, 3, 4];
        let a2: &[u32] = &[1, 2, 3, 4];
        let b1: &[u32] = &[1, 2, 3, 4];
        let b2: &[u32] = &[1, 2, 9, 9, 9, 9];
        let c = compare(&[a1, a2], &[b1, b2]).unwrap();
        // Pairs: (a1,b1)=4 identical, (a1,b2)=2, (a2,b1)=4 identical, (a2,b2)=2.
        assert_eq!(c.comparisons, 4);
        assert_eq!(c.identical, 2);
        assert_eq!(c.mean_common_prefix, 3.0);
        assert_eq!(c.min_common_prefix, 2);
        assert_eq!(
            c.first_difference,
            Some(Difference {
                position: 2,
                a: 0,
                b: 1
            })
        );
        assert_eq!(c.mean_tokens_a, 4.0);
        assert_eq!(c.mean_tokens_b, 5.0);
        assert!(departs_early(&c));
    }

    #[test]
    fn identical_replies_have_no_difference_and_never_depart() {
        // Short identical replies: prefix < 16 but nothing differs.
        let a: &[u32] = &[5, 6, 7];
        let c = compare(&[a], &[a]).unwrap();
        assert_eq!(c.comparisons, 1);
        assert_eq!(c.identical, 1);
        assert_eq!(c.mean_common_prefix, 3.0);
        assert_eq!(c.min_common_prefix, 3);
        assert_eq!(c.first_difference, None);
        assert!(!departs_early(&c));
        assert_eq!(compare(&[], &[a]), None);
        assert_eq!(compare(&[a], &[]), None);
    }

    #[test]
    fn a_reply_that_ends_early_differs_where_it_ends() {
        let long: Vec<u32> = (0..20).collect();
        let short: Vec<u32> = (0..10).collect();
        let c = compare(&[&long], &[&short]).unwrap();
        assert_eq!(c.identical, 0);
        assert_eq!(c.first_difference.map(|d| d.position), Some(10));
        assert!(departs_early(&c));
    }

    #[test]
    fn a_difference_at_16_or_later_does_not_depart() {
        let a: Vec<u32> = (0..32).collect();
        let mut b = a.clone();
        b[16] = 999;
        let c = compare(&[&a], &[&b]).unwrap();
        assert_eq!(c.first_difference.map(|d| d.position), Some(16));
        assert!(!departs_early(&c));
        b[15] = 999;
        let c = compare(&[&a], &[&b]).unwrap();
        assert_eq!(c.first_difference.map(|d| d.position), Some(15));
        assert!(departs_early(&c));
    }

    #[test]
    fn the_earliest_difference_wins_and_the_first_pair_among_equals() {
        let a1: &[u32] = &[1, 2, 3];
        let a2: &[u32] = &[1, 7, 7];
        let b1: &[u32] = &[1, 2, 8];
        let b2: &[u32] = &[1, 9, 9];
        let c = compare(&[a1, a2], &[b1, b2]).unwrap();
        // (a1,b1)=2, (a1,b2)=1, (a2,b1)=1, (a2,b2)=1: the first at 1 is (a1,b2).
        assert_eq!(
            c.first_difference,
            Some(Difference {
                position: 1,
                a: 0,
                b: 1
            })
        );
        assert_eq!(c.mean_common_prefix, 5.0 / 4.0);
        assert_eq!(c.min_common_prefix, 1);
    }

    #[test]
    fn the_majority_decides_who_departs() {
        // 3 engines: 0 and 1 agree, 2 departs from both.
        let early = |i: usize, j: usize| i == 2 || j == 2;
        assert_eq!(departing(3, early), vec![2]);
        // 4 engines, 3 departs from all; 0 departs from 3 only (1 of 3: not a majority).
        let early = |i: usize, j: usize| i == 3 || j == 3;
        assert_eq!(departing(4, early), vec![3]);
        // 4 engines split 2/2: each departs from 2 of 3 others → all depart.
        let early = |i: usize, j: usize| (i < 2) != (j < 2);
        assert_eq!(departing(4, early), vec![0, 1, 2, 3]);
        // No two agree: every one departs.
        assert_eq!(departing(3, |i, j| i != j), vec![0, 1, 2]);
        // All agree: none.
        assert_eq!(departing(3, |_, _| false), Vec::<usize>::new());
    }

    #[test]
    fn two_engines_depart_as_a_pair_and_one_as_none() {
        assert_eq!(departing(2, |_, _| true), vec![0, 1]);
        assert_eq!(departing(2, |_, _| false), Vec::<usize>::new());
        assert_eq!(departing(1, |_, _| true), Vec::<usize>::new());
        assert_eq!(departing(0, |_, _| true), Vec::<usize>::new());
    }

    #[test]
    fn excerpt_range_is_clamped() {
        assert_eq!(excerpt_range(100, 10), (6, 10, 18));
        assert_eq!(excerpt_range(100, 2), (0, 2, 10));
        assert_eq!(excerpt_range(12, 10), (6, 10, 12));
        // A reply that ended at the difference: nothing after it.
        assert_eq!(excerpt_range(10, 10), (6, 10, 10));
        assert_eq!(excerpt_range(0, 0), (0, 0, 0));
        assert_eq!(excerpt_range(5, 9), (1, 5, 5));
    }
}
