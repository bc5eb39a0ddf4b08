//! An engine spread over several GPUs: which GPUs it may use (`gpus`, the
//! `CUDA_VISIBLE_DEVICES` of its process), how llama.cpp splits the model (`split_mode`,
//! `tensor_split`, `main_gpu`), what is recorded of it, and how the split shapes the
//! physical bound ([`GpuSplit::ceiling_gbps`]). PyTorch's counterpart is its `device_map`
//! knob (`crate::config::TORCH_KNOBS`). Pure: the config section in, arguments,
//! environment, settings and figures out.

use crate::results::EngineSetting;
use std::collections::BTreeMap;

/// llama.cpp's `--split-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMode {
    /// One GPU (`main_gpu`) holds the whole model.
    None,
    /// Whole layers per GPU: the GPUs take turns within each token.
    Layer,
    /// Every layer's matrices split by rows: the GPUs read their shares at once.
    Row,
}

impl SplitMode {
    pub const NAMES: [&'static str; 3] = ["none", "layer", "row"];

    pub fn parse(s: &str) -> Option<SplitMode> {
        match s {
            "none" => Some(SplitMode::None),
            "layer" => Some(SplitMode::Layer),
            "row" => Some(SplitMode::Row),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SplitMode::None => "none",
            SplitMode::Layer => "layer",
            SplitMode::Row => "row",
        }
    }
}

/// A config section's multi-GPU keys, as written (before [`check`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    pub gpus: Option<&'a [u32]>,
    pub split_mode: Option<&'a str>,
    pub tensor_split: Option<&'a [f64]>,
    pub main_gpu: Option<u32>,
}

/// Check a section's multi-GPU keys: known values, consistent with each other, and the
/// llama.cpp-only ones set only on a llama.cpp engine. `Err((key, message))`.
pub fn check(s: Keys<'_>, is_llamacpp: bool) -> Result<(), (&'static str, String)> {
    if let Some(g) = s.gpus {
        if g.is_empty() {
            return Err((
                "gpus",
                "give at least one GPU index, or leave it out for all".into(),
            ));
        }
        let mut seen = g.to_vec();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != g.len() {
            return Err(("gpus", format!("{g:?} names a GPU twice")));
        }
    }
    let llama_only = [
        ("split_mode", s.split_mode.is_some()),
        ("tensor_split", s.tensor_split.is_some()),
        ("main_gpu", s.main_gpu.is_some()),
    ];
    if let Some((key, _)) = llama_only.iter().find(|(_, set)| *set)
        && !is_llamacpp
    {
        return Err((
            key,
            "only the llama.cpp engine takes this setting (PyTorch: `device_map`)".into(),
        ));
    }
    if let Some(m) = s.split_mode
        && SplitMode::parse(m).is_none()
    {
        return Err((
            "split_mode",
            format!("`{m}` is not one of {}", SplitMode::NAMES.join(", ")),
        ));
    }
    if let Some(ts) = s.tensor_split {
        if ts.is_empty() || ts.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err((
                "tensor_split",
                "give one non-negative share per GPU, e.g. [3, 1]".into(),
            ));
        }
        if ts.iter().sum::<f64>() <= 0.0 {
            return Err(("tensor_split", "the shares add up to 0".into()));
        }
        if let Some(g) = s.gpus
            && ts.len() > g.len()
        {
            return Err((
                "tensor_split",
                format!("{} shares for {} GPUs (`gpus`)", ts.len(), g.len()),
            ));
        }
    }
    if let (Some(m), Some(g)) = (s.main_gpu, s.gpus)
        && m as usize >= g.len()
    {
        return Err((
            "main_gpu",
            format!(
                "{m} is not an index into `gpus` (0..{}); llama.cpp counts the visible GPUs",
                g.len()
            ),
        ));
    }
    Ok(())
}

/// The multi-GPU settings of one engine section (validated with the config).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultiGpu {
    pub gpus: Option<Vec<u32>>,
    pub split_mode: Option<SplitMode>,
    pub tensor_split: Option<Vec<f64>>,
    pub main_gpu: Option<u32>,
}

impl MultiGpu {
    /// The settings from checked keys (an unknown split mode is left out: [`check`]
    /// refuses it with the config).
    pub fn of(k: Keys<'_>) -> MultiGpu {
        MultiGpu {
            gpus: k.gpus.map(<[u32]>::to_vec),
            split_mode: k.split_mode.and_then(SplitMode::parse),
            tensor_split: k.tensor_split.map(<[f64]>::to_vec),
            main_gpu: k.main_gpu,
        }
    }

    /// llama.cpp flags for the settings (none for what is not set).
    pub fn llama_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(m) = self.split_mode {
            a.extend(["--split-mode".to_string(), m.name().to_string()]);
        }
        if let Some(ts) = &self.tensor_split {
            let list: Vec<String> = ts.iter().map(|x| format!("{x}")).collect();
            a.extend(["--tensor-split".to_string(), list.join(",")]);
        }
        if let Some(m) = self.main_gpu {
            a.extend(["--main-gpu".to_string(), m.to_string()]);
        }
        a
    }

    /// `CUDA_VISIBLE_DEVICES` for the engine's process, when `gpus` is set.
    pub fn visible_devices(&self) -> Option<String> {
        self.gpus.as_ref().map(|g| {
            g.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// What is recorded in the results' `engine_settings` (only what was set).
    pub fn settings(&self) -> BTreeMap<String, EngineSetting> {
        let mut out = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            out.insert(
                k.to_string(),
                EngineSetting {
                    effective: Some(v.clone()),
                    asked: Some(v),
                },
            );
        };
        if let Some(v) = self.visible_devices() {
            put("gpus", v);
        }
        if let Some(m) = self.split_mode {
            put("split_mode", m.name().to_string());
        }
        if let Some(ts) = &self.tensor_split {
            put(
                "tensor_split",
                ts.iter()
                    .map(|x| format!("{x}"))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        if let Some(m) = self.main_gpu {
            put("main_gpu", m.to_string());
        }
        out
    }

    /// How the model's GPU bytes are spread over the GPUs in use, given how many GPUs the
    /// engine sees (`visible`: the machine's count when `gpus` is not set). `None` when
    /// one GPU holds it all (one visible, or split mode `none`).
    pub fn split(&self, visible: u32) -> Option<GpuSplit> {
        let n = self.gpus.as_ref().map_or(visible as usize, Vec::len);
        if n < 2 || self.split_mode == Some(SplitMode::None) {
            return None;
        }
        // llama.cpp's default split follows free memory: even on identical GPUs.
        let raw: Vec<f64> = match &self.tensor_split {
            Some(ts) => (0..n).map(|i| ts.get(i).copied().unwrap_or(0.0)).collect(),
            None => vec![1.0; n],
        };
        let total: f64 = raw.iter().sum();
        let shares: Vec<f64> = raw.iter().map(|x| x / total).collect();
        if shares.iter().filter(|s| **s > 0.0).count() < 2 {
            return None;
        }
        Some(GpuSplit {
            shares,
            mode: self.split_mode.unwrap_or(SplitMode::Layer),
        })
    }
}

/// A model split over several GPUs: each GPU's share of the bytes read per token.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSplit {
    /// Shares in GPU order, summing to 1.
    pub shares: Vec<f64>,
    pub mode: SplitMode,
}

impl GpuSplit {
    /// The bandwidth the split reads at, GB/s, each GPU at `gbps_each` (pure): with a row
    /// split every GPU reads its share at once, so a token takes as long as the largest
    /// share (the sum of the GPUs' bandwidths when the shares are even); with a layer
    /// split the GPUs take turns, so a token takes the sum of the shares' times (one GPU's
    /// bandwidth, however many GPUs; a single stream gains nothing, several streams do by
    /// pipelining, which this bound does not count). Traffic between the GPUs (activations,
    /// a few KB per token and layer) is not counted.
    pub fn ceiling_gbps(&self, gbps_each: f64) -> Option<f64> {
        if gbps_each.is_nan() || gbps_each <= 0.0 || self.shares.is_empty() {
            return None;
        }
        let seconds_per_byte = match self.mode {
            SplitMode::Row => self.shares.iter().cloned().fold(0.0, f64::max) / gbps_each,
            SplitMode::Layer | SplitMode::None => self.shares.iter().sum::<f64>() / gbps_each,
        };
        (seconds_per_byte > 0.0).then(|| 1.0 / seconds_per_byte)
    }

    /// "row split over 2 GPUs (50%, 50%)".
    pub fn describe(&self) -> String {
        let pct: Vec<String> = self
            .shares
            .iter()
            .map(|s| format!("{:.0}%", s * 100.0))
            .collect();
        format!(
            "{} split over {} GPUs ({})",
            self.mode.name(),
            self.shares.len(),
            pct.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys as a config section writes them (JSON), owned for the test.
    #[derive(serde::Deserialize, Default)]
    struct Section {
        gpus: Option<Vec<u32>>,
        split_mode: Option<String>,
        tensor_split: Option<Vec<f64>>,
        main_gpu: Option<u32>,
    }

    impl Section {
        fn keys(&self) -> Keys<'_> {
            Keys {
                gpus: self.gpus.as_deref(),
                split_mode: self.split_mode.as_deref(),
                tensor_split: self.tensor_split.as_deref(),
                main_gpu: self.main_gpu,
            }
        }
    }

    fn section(json: &str) -> Section {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn flags_environment_and_settings() {
        let s = section(
            r#"{"gpus": [2, 3], "split_mode": "row", "tensor_split": [3, 1], "main_gpu": 1}"#,
        );
        let m = MultiGpu::of(s.keys());
        assert_eq!(
            m.llama_args(),
            [
                "--split-mode",
                "row",
                "--tensor-split",
                "3,1",
                "--main-gpu",
                "1"
            ]
        );
        assert_eq!(m.visible_devices().as_deref(), Some("2,3"));
        let s = m.settings();
        assert_eq!(s["gpus"].effective.as_deref(), Some("2,3"));
        assert_eq!(s["tensor_split"].asked.as_deref(), Some("3,1"));
        assert_eq!(s.len(), 4);
        let d = MultiGpu::of(Keys::default());
        assert!(d.llama_args().is_empty() && d.settings().is_empty());
        assert_eq!(d.visible_devices(), None);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad = [
            (r#"{"gpus": []}"#, true, "gpus"),
            (r#"{"gpus": [0, 0]}"#, true, "gpus"),
            (r#"{"split_mode": "rows"}"#, true, "split_mode"),
            (r#"{"split_mode": "row"}"#, false, "split_mode"),
            (r#"{"tensor_split": [1, -1]}"#, true, "tensor_split"),
            (r#"{"tensor_split": [0, 0]}"#, true, "tensor_split"),
            (
                r#"{"gpus": [0], "tensor_split": [1, 1]}"#,
                true,
                "tensor_split",
            ),
            (r#"{"gpus": [4, 5], "main_gpu": 4}"#, true, "main_gpu"),
        ];
        for (json, llama, key) in bad {
            assert_eq!(
                check(section(json).keys(), llama).map_err(|e| e.0),
                Err(key),
                "{json}"
            );
        }
        let good =
            r#"{"gpus": [4, 5], "split_mode": "layer", "tensor_split": [1, 1], "main_gpu": 1}"#;
        assert_eq!(check(section(good).keys(), true), Ok(()));
        assert_eq!(check(section(r#"{"gpus": [0, 1]}"#).keys(), false), Ok(()));
    }

    #[test]
    fn split_shares_follow_gpus_and_tensor_split() {
        let of = |json: &str, visible| MultiGpu::of(section(json).keys()).split(visible);
        assert_eq!(of("{}", 1), None);
        assert_eq!(
            of("{}", 4),
            Some(GpuSplit {
                shares: vec![0.25; 4],
                mode: SplitMode::Layer
            })
        );
        assert_eq!(of(r#"{"gpus": [1], "split_mode": "row"}"#, 8), None);
        assert_eq!(of(r#"{"split_mode": "none"}"#, 8), None);
        let s = of(
            r#"{"gpus": [0, 1], "split_mode": "row", "tensor_split": [3, 1]}"#,
            8,
        )
        .unwrap();
        assert_eq!(s.shares, [0.75, 0.25]);
        assert_eq!(s.describe(), "row split over 2 GPUs (75%, 25%)");
        // A share of 0 leaves one GPU: no split.
        assert_eq!(of(r#"{"gpus": [0, 1], "tensor_split": [1, 0]}"#, 8), None);
    }

    #[test]
    fn ceiling_counts_gpus_that_read_at_once() {
        let even = |n: usize, mode| GpuSplit {
            shares: vec![1.0 / n as f64; n],
            mode,
        };
        // Row: the GPUs' bandwidths add up; layer: they take turns, one GPU's figure.
        assert_eq!(even(2, SplitMode::Row).ceiling_gbps(4000.0), Some(8000.0));
        assert_eq!(even(4, SplitMode::Row).ceiling_gbps(4000.0), Some(16000.0));
        let layer = even(4, SplitMode::Layer).ceiling_gbps(4000.0).unwrap();
        assert!((layer - 4000.0).abs() < 1e-9, "{layer}");
        // An uneven row split is as slow as its largest share: 0.75 of the bytes at 4000.
        let uneven = GpuSplit {
            shares: vec![0.75, 0.25],
            mode: SplitMode::Row,
        };
        let c = uneven.ceiling_gbps(4000.0).unwrap();
        assert!((c - 4000.0 / 0.75).abs() < 1e-9, "{c}");
        assert_eq!(even(2, SplitMode::Row).ceiling_gbps(0.0), None);
    }
}
