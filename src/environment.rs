//! Facts about the host the benchmark ran on, recorded in every results file.

use crate::results::Environment;

/// Collect OS, kernel, CPU, cores, memory and GPUs. Never fails: unknown facts stay empty.
pub fn collect() -> Environment {
    let (cpu_model, cpu_count, total_memory) = match sysinfo::System::new() {
        Ok(mut sys) => {
            sys.refresh_memory();
            sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            let model = sys
                .cpus()
                .first()
                .map(|c| c.brand().trim().to_string())
                .unwrap_or_default();
            (model, sys.cpus().len(), sys.total_memory())
        }
        Err(_) => (String::new(), 0, 0),
    };
    Environment {
        os: sysinfo::System::long_os_version().unwrap_or_else(|_| std::env::consts::OS.into()),
        kernel: sysinfo::System::kernel_version().ok(),
        arch: std::env::consts::ARCH.to_string(),
        cpu_model,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(cpu_count),
        memory_gib: total_memory as f64 / (1024.0 * 1024.0 * 1024.0),
        gpus: gpus(),
        tool_version: format!("inferbench {}", env!("CARGO_PKG_VERSION")),
        hostname: sysinfo::System::host_name().ok(),
        // The pipeline adds doctor's checks (taken before its engines start).
        doctor: None,
    }
}

/// NVIDIA GPUs as listed by the driver's procfs entries (no driver, no GPUs).
fn gpus() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        if let Ok(info) = std::fs::read_to_string(entry.path().join("information"))
            && let Some(model) = info
                .lines()
                .find_map(|l| l.strip_prefix("Model:").map(|m| m.trim().to_string()))
        {
            out.push(model);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn collects_basic_facts() {
        let env = super::collect();
        assert!(env.cores >= 1);
        assert!(env.memory_gib > 0.0);
        assert!(!env.arch.is_empty());
        assert!(env.tool_version.starts_with("inferbench "));
    }
}
