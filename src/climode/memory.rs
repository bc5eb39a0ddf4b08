//! Peak resident memory of ONE run's engine process tree, by sampling `/proc` of its
//! process group while it runs.
//!
//! Why not `getrusage(RUSAGE_CHILDREN)`: its `ru_maxrss` is the largest peak of any
//! child ever waited for, so every later run would inherit the biggest earlier one (and
//! after a fork, the parent's peak). Here each run has its own sampler over its own
//! process group: at every sample the RSS of all members is summed, and each member's
//! kernel-kept high-water mark (`VmHWM`) is read too. The peak reported is
//! `max(largest sampled sum, largest single VmHWM)`: exact for a single-process engine
//! (the kernel tracks its peak between our samples), and a lower bound for a tree whose
//! members peak at different instants between samples.

use serde::{Deserialize, Serialize};

/// RSS and high-water mark of one process, KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusMem {
    pub rss_kib: Option<u64>,
    pub hwm_kib: Option<u64>,
}

/// Parse `VmRSS:` and `VmHWM:` lines of `/proc/PID/status` (pure).
pub fn parse_status(text: &str) -> StatusMem {
    let mut m = StatusMem::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kib = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok());
        match key {
            "VmRSS" => m.rss_kib = kib,
            "VmHWM" => m.hwm_kib = kib,
            _ => {}
        }
    }
    m
}

/// Running peak of one process group's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TreePeak {
    /// Largest sum of members' VmRSS seen at one sample, KiB.
    pub peak_sum_kib: u64,
    /// Largest VmHWM of any single member, KiB.
    pub peak_hwm_kib: u64,
    pub samples: u64,
    /// Most members seen at once.
    pub max_members: usize,
}

impl TreePeak {
    /// Fold one sample (each member's status) into the peak (pure).
    pub fn add_sample(&mut self, members: &[StatusMem]) {
        let sum: u64 = members.iter().filter_map(|m| m.rss_kib).sum();
        self.peak_sum_kib = self.peak_sum_kib.max(sum);
        for m in members {
            if let Some(h) = m.hwm_kib {
                self.peak_hwm_kib = self.peak_hwm_kib.max(h);
            }
        }
        self.samples += 1;
        self.max_members = self.max_members.max(members.len());
    }

    /// The peak in MiB, `None` when nothing was ever sampled.
    pub fn peak_mib(&self) -> Option<f64> {
        let kib = self.peak_sum_kib.max(self.peak_hwm_kib);
        (self.samples > 0 && kib > 0).then(|| kib as f64 / 1024.0)
    }

    /// Read `/proc` for the members of process group `pgid` and fold them in.
    pub fn sample_group(&mut self, pgid: u32) {
        let members: Vec<StatusMem> = crate::process::group_members(pgid as i32)
            .into_iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .map(|t| parse_status(&t))
            .collect();
        if !members.is_empty() {
            self.add_sample(&members);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let m =
            parse_status("Name:\tllama\nVmHWM:\t  356012 kB\nVmRSS:\t  300000 kB\nThreads: 3\n");
        assert_eq!(m.rss_kib, Some(300_000));
        assert_eq!(m.hwm_kib, Some(356_012));
        assert_eq!(parse_status("garbage"), StatusMem::default());
    }

    #[test]
    fn peak_is_per_tree_not_cumulative() {
        let mut a = TreePeak::default();
        assert_eq!(a.peak_mib(), None);
        let s = |rss, hwm| StatusMem {
            rss_kib: Some(rss),
            hwm_kib: Some(hwm),
        };
        a.add_sample(&[s(1024, 1024), s(2048, 4096)]);
        a.add_sample(&[s(1024, 1024)]);
        // Sum 3072 at the first sample, but one member peaked at 4096 on its own.
        assert_eq!(a.peak_mib(), Some(4.0));
        assert_eq!(a.max_members, 2);
        // A new run starts from nothing: no inheritance from the run before.
        let mut b = TreePeak::default();
        b.add_sample(&[s(512, 512)]);
        assert_eq!(b.peak_mib(), Some(0.5));
    }

    #[test]
    fn samples_a_real_process_group() {
        let mut peak = TreePeak::default();
        // Our own process group: at least this test process is in it.
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        peak.sample_group(pgid);
        assert!(peak.peak_mib().unwrap() > 1.0);
    }
}
