//! Config parser (`config::parse_config`) and the `BENCHMARK_*` environment overrides
//! (`config::resolve`). The input is the config file's text, optionally followed by NUL
//! and `NAME=VALUE` environment entries separated by NUL (invalid UTF-8 replaced).
//!
//! Checks, besides "no panic":
//! - a config that parses re-serialises (compact and pretty) and re-parses to the same
//!   value;
//! - `resolve` fails exactly when one of the numeric `BENCHMARK_*` variables is set to
//!   something that is not a valid value, and the failure is the `Env` error;
//! - otherwise each setting is the variable's value when set, else the file's, with the
//!   matching origin; and the effective-settings JSON renders.
#![no_main]

use inferbench::config::{
    ConfigError, ConfigFile, Origin, Overrides, Settings, parse_config, resolve,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::path::Path;

/// A numeric override as the documented rule reads it: `None` unset, `Some(None)` invalid.
fn expected<T: std::str::FromStr>(
    env: &BTreeMap<String, String>,
    var: &str,
    valid: fn(&T) -> bool,
) -> Option<Option<T>> {
    let raw = env.get(var)?;
    Some(raw.trim().parse::<T>().ok().filter(valid))
}

fn check_setting<T: PartialEq + std::fmt::Debug>(
    s: &Settings,
    key: &str,
    var: &str,
    env_value: Option<Option<T>>,
    actual: T,
    from_file: T,
) {
    match env_value {
        Some(v) => {
            assert_eq!(Some(actual), v, "{key} from {var}");
            assert_eq!(s.origins.get(key), Some(&Origin::Env(var.into())), "{key}");
        }
        None => {
            assert_eq!(actual, from_file, "{key} from the file");
            assert!(!matches!(s.origins.get(key), Some(Origin::Env(_))), "{key}");
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let input = String::from_utf8_lossy(bytes);
    let (text, env_text) = input.split_once('\0').unwrap_or((&input, ""));
    let path = Path::new("fuzz/benchmark_config.json");

    let parsed = parse_config(text, path);
    if let Ok(file) = &parsed {
        for again in [
            serde_json::to_string(file).expect("a ConfigFile serialises"),
            serde_json::to_string_pretty(file).expect("a ConfigFile serialises"),
        ] {
            match parse_config(&again, path) {
                Ok(back) => assert_eq!(&back, file, "round trip through {again}"),
                Err(e) => panic!("re-serialised config fails: {e}\n{again}"),
            }
        }
    }

    let env: BTreeMap<String, String> = env_text
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let max_tokens = expected::<u32>(&env, "BENCHMARK_MAX_TOKENS", |v| *v >= 1);
    let temperature = expected::<f64>(&env, "BENCHMARK_TEMPERATURE", |v| {
        v.is_finite() && *v >= 0.0
    });
    let num_runs = expected::<u32>(&env, "BENCHMARK_NUM_RUNS", |v| *v >= 1);
    let timeout = expected::<f64>(&env, "BENCHMARK_TIMEOUT", |v| v.is_finite() && *v > 0.0);
    let any_invalid = [
        matches!(max_tokens, Some(None)),
        matches!(temperature, Some(None)),
        matches!(num_runs, Some(None)),
        matches!(timeout, Some(None)),
    ]
    .contains(&true);

    let file = parsed.unwrap_or_else(|_| ConfigFile::default());
    let b = file.benchmark.clone();
    match resolve(
        Some(path.to_path_buf()),
        file.clone(),
        &env,
        &Overrides::default(),
    ) {
        Err(ConfigError::Env { .. }) if any_invalid => {}
        Err(e) => panic!("resolve failed (expected failure: {any_invalid}): {e}"),
        Ok(_) if any_invalid => panic!("resolve accepted an invalid override: {env:?}"),
        Ok(s) => {
            assert_eq!(s.file, file);
            check_setting(
                &s,
                "max_tokens",
                "BENCHMARK_MAX_TOKENS",
                max_tokens,
                s.max_tokens,
                b.max_tokens,
            );
            check_setting(
                &s,
                "temperature",
                "BENCHMARK_TEMPERATURE",
                temperature,
                s.temperature,
                b.temperature,
            );
            check_setting(
                &s,
                "num_runs",
                "BENCHMARK_NUM_RUNS",
                num_runs,
                s.num_runs,
                b.num_runs,
            );
            check_setting(
                &s,
                "timeout_seconds",
                "BENCHMARK_TIMEOUT",
                timeout,
                s.timeout_seconds,
                b.timeout_seconds,
            );
            let prompt = env.get("BENCHMARK_SYSTEM_PROMPT").cloned();
            match prompt {
                Some(p) => assert_eq!(s.system_prompt_override, Some(p)),
                None => assert_eq!(s.system_prompt_override, b.system_prompt_override),
            }
            let _ = (s.effective_json(), s.sampling());
        }
    }
});
