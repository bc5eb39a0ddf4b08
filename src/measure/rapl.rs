//! CPU package energy from Linux RAPL (`/sys/class/powercap/intel-rapl:N/energy_uj`, also
//! on AMD Zen with a recent kernel). Only the top-level zones (`intel-rapl:0`,
//! `intel-rapl:1`: one per package) are summed; their subzones (`intel-rapl:0:0`, core,
//! uncore, dram) are parts of the package figure. The counter wraps at
//! `max_energy_range_uj`; [`delta_uj`] handles one wrap. Since Linux 5.10 `energy_uj`
//! is readable by root only, so an ordinary user gets "permission denied" as the reason.
//!
//! The sysfs root is a parameter ([`read_zones`]), so the reading is tested over a
//! temporary tree.

use std::path::{Path, PathBuf};

/// Where the kernel puts the power-capping zones.
pub const POWERCAP_ROOT: &str = "/sys/class/powercap";

/// One package zone's counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// `intel-rapl:0`.
    pub id: String,
    /// The zone's `name` (`package-0`), when readable.
    pub name: Option<String>,
    pub energy_uj: u64,
    /// The counter's range; it wraps to 0 after this.
    pub max_energy_range_uj: Option<u64>,
}

/// A counter file's integer (pure).
pub fn parse_uj(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Whether a directory name is a top-level RAPL zone (`intel-rapl:0`, not
/// `intel-rapl:0:1` nor the `intel-rapl` control type). Pure.
pub fn is_package_zone(name: &str) -> bool {
    name.strip_prefix("intel-rapl:")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Energy between two readings of one counter, µJ, allowing for one wrap at `range`
/// (pure). `None` when the counter went back and its range is unknown.
pub fn delta_uj(before: u64, after: u64, range: Option<u64>) -> Option<u64> {
    if after >= before {
        Some(after - before)
    } else {
        let r = range?;
        (before <= r).then(|| r - before + after)
    }
}

/// Read every package zone under `root` (normally [`POWERCAP_ROOT`]). The error says why
/// there is no CPU energy figure (no powercap tree, no zone, a counter that cannot be
/// read: permission, for one).
pub fn read_zones(root: &Path) -> Result<Vec<Zone>, String> {
    let entries = std::fs::read_dir(root).map_err(|e| {
        format!(
            "no RAPL: cannot read {} ({e}; a VM or a kernel without intel_rapl)",
            root.display()
        )
    })?;
    let mut dirs: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            is_package_zone(&name).then(|| (name, e.path()))
        })
        .collect();
    if dirs.is_empty() {
        return Err(format!(
            "no RAPL package zone (intel-rapl:N) under {}",
            root.display()
        ));
    }
    dirs.sort();
    let mut zones = Vec::with_capacity(dirs.len());
    for (id, dir) in dirs {
        let path = dir.join("energy_uj");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let energy_uj =
            parse_uj(&text).ok_or_else(|| format!("{}: not a number: {text:?}", path.display()))?;
        let max_energy_range_uj = std::fs::read_to_string(dir.join("max_energy_range_uj"))
            .ok()
            .and_then(|t| parse_uj(&t));
        let name = std::fs::read_to_string(dir.join("name"))
            .ok()
            .map(|s| s.trim().to_string());
        zones.push(Zone {
            id,
            name,
            energy_uj,
            max_energy_range_uj,
        });
    }
    Ok(zones)
}

/// Joules between two readings of the same zones, summed over packages (pure). `None`
/// when the zones differ or a counter went back without a known range.
pub fn energy_between_j(before: &[Zone], after: &[Zone]) -> Option<f64> {
    if before.len() != after.len() || before.is_empty() {
        return None;
    }
    let mut total = 0u64;
    for (a, b) in before.iter().zip(after) {
        if a.id != b.id {
            return None;
        }
        total += delta_uj(a.energy_uj, b.energy_uj, b.max_energy_range_uj)?;
    }
    Some(total as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(root: &Path, id: &str, energy: &str, range: Option<&str>) {
        let d = root.join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("energy_uj"), energy).unwrap();
        if let Some(r) = range {
            std::fs::write(d.join("max_energy_range_uj"), r).unwrap();
        }
        std::fs::write(d.join("name"), format!("package-{}\n", &id[11..])).unwrap();
    }

    #[test]
    fn package_zones_are_read_and_subzones_skipped() {
        let dir = tempfile::tempdir().unwrap();
        zone(
            dir.path(),
            "intel-rapl:0",
            "1000000\n",
            Some("262143328850\n"),
        );
        zone(dir.path(), "intel-rapl:1", "5\n", None);
        // A subzone (dram) and the control type are not packages.
        std::fs::create_dir_all(dir.path().join("intel-rapl:0:0")).unwrap();
        std::fs::write(dir.path().join("intel-rapl:0:0/energy_uj"), "77").unwrap();
        std::fs::create_dir_all(dir.path().join("intel-rapl")).unwrap();
        let z = read_zones(dir.path()).unwrap();
        assert_eq!(z.len(), 2);
        assert_eq!(z[0].id, "intel-rapl:0");
        assert_eq!(z[0].name.as_deref(), Some("package-0"));
        assert_eq!(
            (z[0].energy_uj, z[0].max_energy_range_uj),
            (1_000_000, Some(262_143_328_850))
        );
        assert_eq!((z[1].energy_uj, z[1].max_energy_range_uj), (5, None));
    }

    #[test]
    fn energy_between_readings_with_a_wrap() {
        let z = |id: &str, e: u64, r: Option<u64>| Zone {
            id: id.into(),
            name: None,
            energy_uj: e,
            max_energy_range_uj: r,
        };
        // Package 0 wrapped: 900 → range 1000 → 100 is 200 µJ; package 1 counted 3 J.
        let before = [
            z("intel-rapl:0", 900, Some(1000)),
            z("intel-rapl:1", 1_000_000, None),
        ];
        let after = [
            z("intel-rapl:0", 100, Some(1000)),
            z("intel-rapl:1", 4_000_000, None),
        ];
        let j = energy_between_j(&before, &after).unwrap();
        assert!((j - 3.0002).abs() < 1e-12, "{j}");
        // A counter that went back without a known range, or other zones: no figure.
        let back = [
            z("intel-rapl:0", 950, Some(1000)),
            z("intel-rapl:1", 10, None),
        ];
        assert_eq!(energy_between_j(&before, &back), None);
        assert_eq!(energy_between_j(&before, &after[..1]), None);
        assert_eq!(delta_uj(5, 7, None), Some(2));
        assert_eq!(
            delta_uj(2000, 1, Some(1000)),
            None,
            "before beyond the range"
        );
    }

    #[test]
    fn no_tree_no_zone_or_an_unreadable_counter_is_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_zones(&dir.path().join("absent")).unwrap_err();
        assert!(e.starts_with("no RAPL: cannot read"), "{e}");
        let e = read_zones(dir.path()).unwrap_err();
        assert!(e.starts_with("no RAPL package zone"), "{e}");
        zone(dir.path(), "intel-rapl:0", "garbage", None);
        let e = read_zones(dir.path()).unwrap_err();
        assert!(e.contains("not a number"), "{e}");
        assert!(is_package_zone("intel-rapl:12"));
        assert!(!is_package_zone("intel-rapl:"));
        assert!(!is_package_zone("intel-rapl:0:1"));
        assert!(!is_package_zone("intel-rapl-mmio:0"));
    }
}
