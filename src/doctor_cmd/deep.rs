//! `inferbench doctor --deep`: each selected server brought up by the pipeline's own
//! bring-up ([`crate::pipeline::bringup::bring_up`]: port check, spawn, readiness, the
//! fairness gate, the physical bound), one short streamed request (its TTFT reported),
//! then stopped through the same bring-down, and checked gone. Logs go to a temporary
//! directory, removed when every check passed.

use crate::checks::Check;
use crate::config::Settings;
use crate::doctor::Selected;
use crate::engine::EngineKind;
use crate::output::Session;
use crate::pipeline::Inputs;
use crate::pipeline::bringup::{bring_down, bring_up};
use crate::pipeline::plan::{EnginePlan, ExternalBound, Source};
use crate::results::Mode;
use std::time::{Duration, Instant};

/// Output tokens asked of the one request: enough for a TTFT and a few tokens after it.
const DEEP_MAX_TOKENS: u32 = 8;

/// The `--deep` checks of every selected engine that has a server section.
pub async fn checks(settings: &Settings, chosen: &[Selected<'_>]) -> Vec<Check> {
    let servers: Vec<&Selected<'_>> = chosen.iter().filter(|s| s.server.is_some()).collect();
    if servers.is_empty() {
        return vec![Check::skip(
            "deep",
            "servers",
            "no selected engine has a `servers` section to start",
        )];
    }
    let dir = std::env::temp_dir().join(format!("inferbench-doctor-{}", std::process::id()));
    let mut session = match Session::create(&dir, Mode::Api, 1, &crate::output::stamp_now()) {
        Ok(s) => s,
        Err(e) => {
            return vec![Check::fail(
                "deep",
                "log directory",
                format!("{e:#}"),
                "make the temporary directory writable (TMPDIR)",
            )];
        }
    };
    let inputs = match Inputs::new(settings) {
        Ok(i) => i,
        Err(e) => {
            return vec![Check::fail(
                "deep",
                "inputs",
                format!("{e:#}"),
                "fix the prompts, chat template or tokenizer the ✗ lines above name",
            )];
        }
    };
    let mut out = Vec::new();
    for s in servers {
        out.extend(one(settings, &inputs, s, &mut session).await);
    }
    if crate::checks::exit_code(&out) == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

async fn one(
    settings: &Settings,
    inputs: &Inputs,
    s: &Selected<'_>,
    session: &mut Session,
) -> Vec<Check> {
    let key = s.key.as_str();
    if s.kind == EngineKind::Uzu
        && crate::engines::launch::find_binary(
            key,
            s.section.binary.as_deref(),
            &["uzu", "uzu_cli"],
            settings,
        )
        .is_err()
    {
        return vec![Check::skip(
            key,
            "deep",
            "Uzu is not installed here: nothing to start",
        )];
    }
    let plan = EnginePlan {
        key: key.to_string(),
        source: Source::Managed,
        named: true,
    };
    let logs = session.paths.logging_dir.display().to_string();
    let engine = match bring_up(
        &plan,
        settings,
        inputs,
        &ExternalBound::default(),
        None,
        session,
    )
    .await
    {
        Ok(e) => e,
        Err(left) => {
            let name = if left.reason.contains("fairness check of") {
                "deep fairness"
            } else {
                "deep start"
            };
            return vec![Check::fail(
                key,
                name,
                left.reason,
                format!(
                    "what the message says, then `inferbench doctor --deep --engines {key}{}` (server log in {logs})",
                    crate::doctor::config_flag(settings)
                ),
            )];
        }
    };
    let mut out = vec![Check::ok(
        key,
        "deep start",
        format!(
            "{} ready after {}",
            engine.target.url(),
            engine
                .info
                .load_ms
                .map(|ms| format!("{ms:.0} ms"))
                .unwrap_or_else(|| "? ms".into())
        ),
    )];
    // An engine whose prompt cannot be seen (Ollama, Uzu) passes the gate unchecked: "–".
    out.push(match engine.info.fairness.clone() {
        Some(f) if f.starts_with("not checked") => Check::skip(key, "deep fairness", f),
        Some(f) => Check::ok(key, "deep fairness", f),
        None => Check::skip(key, "deep fairness", "not checked (no prompt)"),
    });
    out.push(request(settings, inputs, &engine.target, key, &logs).await);
    let pid = engine.pid();
    let _ = bring_down(engine, session).await;
    out.push(match pid {
        Some(pid) if crate::process::group_exists(pid as i32) => Check::fail(
            key,
            "deep stop",
            format!("process group {pid} is still there after the stop"),
            format!("kill -9 -{pid}"),
        ),
        Some(pid) => Check::ok(
            key,
            "deep stop",
            format!("stopped; process group {pid} is gone"),
        ),
        None => Check::ok(key, "deep stop", "nothing was started"),
    });
    out
}

/// One short streamed request with the first prompt; its TTFT on our clock.
async fn request(
    settings: &Settings,
    inputs: &Inputs,
    target: &crate::engine::ApiTarget,
    key: &str,
    logs: &str,
) -> Check {
    let Some((_, input)) = inputs.prompts.first() else {
        return Check::skip(key, "deep request", "no prompt");
    };
    let mut sampling = settings.sampling();
    sampling.max_tokens = DEEP_MAX_TOKENS;
    let spec = crate::client::stream::build_spec(
        target,
        input,
        &sampling,
        true,
        Duration::from_secs_f64(settings.timeout_seconds),
    );
    let http = match crate::client::stream::http_client(1) {
        Ok(h) => h,
        Err(e) => {
            return Check::fail(
                key,
                "deep request",
                format!("building the HTTP client: {e}"),
                "report this as a bug",
            );
        }
    };
    let origin = Instant::now();
    let mut trace = crate::client::stream::execute(&http, &spec, origin, origin).await;
    if target.error_text_is_failure {
        crate::client::stream::apply_error_text_rule(&mut trace);
    }
    let tl = &trace.timeline;
    if let Some(e) = &trace.error {
        return Check::fail(
            key,
            "deep request",
            format!("{} failed: {e}", spec.url),
            format!("see the server log in {logs}"),
        );
    }
    match tl.content_events.first() {
        Some(first) => {
            let ttft = first.saturating_sub(tl.sent).as_secs_f64() * 1000.0;
            let e2e = tl
                .end
                .map(|e| e.saturating_sub(tl.sent).as_secs_f64() * 1000.0);
            Check::ok(
                key,
                "deep request",
                format!(
                    "TTFT {ttft:.1} ms ({} content events{}, max_tokens {DEEP_MAX_TOKENS})",
                    tl.content_events.len(),
                    e2e.map(|e| format!(", E2E {e:.1} ms")).unwrap_or_default()
                ),
            )
        }
        None => Check::fail(
            key,
            "deep request",
            format!("{} answered without any generated text", spec.url),
            format!("see the server log in {logs}"),
        ),
    }
}
