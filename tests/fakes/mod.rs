//! In-process fakes of engines that cannot run here, reproducing their documented wire
//! quirks (ENGINES.md) byte for byte, so the adapters and the client are tested against
//! them:
//!
//! - [`uzu`]: SSE with `data:` and no space, a lone `:` line opening the stream, `:`
//!   heartbeat comments, usage (with `spec_verify_ct`) always in the final chunk even
//!   without `stream_options`, `data:[DONE]`, and failures as HTTP 200 with content
//!   "Error: ..." and zero usage. `GET /v1/models` is its readiness probe.
//! - [`ollama`]: NDJSON (one object per line), nanosecond durations, fields left out
//!   when empty (omitempty), `GET /` answering "Ollama is running", `POST /api/show`
//!   answering 404 for an unknown model.
//!
//! Every request body is kept so a test can check what the adapter sent.

#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A running fake: its base URL and the bodies it received.
pub struct Fake {
    pub base_url: String,
    pub bodies: Arc<Mutex<Vec<Value>>>,
    handle: tokio::task::JoinHandle<()>,
}

impl Fake {
    pub fn last_body(&self) -> Value {
        self.bodies
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn serve(router: Router, bodies: Arc<Mutex<Vec<Value>>>) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Fake {
        base_url: format!("http://{addr}"),
        bodies,
        handle,
    }
}

/// Text pieces the fakes generate (Korean, as the seed's answers are).
pub const PIECES: &[&str] = &["리스트는 ", "변경 ", "가능하고, ", "튜플은 ", "불변입니다."];

fn stream_body(parts: Vec<String>) -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        parts.into_iter().map(|p| Ok(Bytes::from(p))).collect();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap()
}

pub mod uzu {
    use super::*;

    async fn models() -> impl IntoResponse {
        axum::Json(json!({"object": "list", "data": [{"id": "gemma-3-1b-it", "object": "model"}]}))
    }

    async fn chat(State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> Response {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        bodies.lock().unwrap().push(req.clone());
        let user = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string();
        let failing = user.contains("FAIL");
        let stream = req["stream"].as_bool().unwrap_or(false);
        let id = "chatcmpl-uzu";
        let (pieces, usage): (Vec<&str>, Value) = if failing {
            (
                vec!["Error: generation failed: context length exceeded"],
                json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "spec_verify_ct": 0}),
            )
        } else {
            (
                PIECES.to_vec(),
                json!({"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30, "spec_verify_ct": 3}),
            )
        };
        if !stream {
            return axum::Json(json!({
                "id": id, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": pieces.concat()},
                             "finish_reason": "stop"}],
                "usage": usage
            }))
            .into_response();
        }
        // A lone ':' opens the stream; `data:` has no space; a heartbeat comment sits
        // between content chunks; usage comes in the final chunk, unasked.
        let mut parts = vec![":\n\n".to_string()];
        for (i, p) in pieces.iter().enumerate() {
            let chunk = json!({"id": id, "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
            parts.push(format!("data:{chunk}\n\n"));
            if i == 1 {
                parts.push(": heartbeat\n\n".to_string());
            }
        }
        let last = json!({"id": id, "object": "chat.completion.chunk",
                          "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                          "usage": usage});
        parts.push(format!("data:{last}\n\n"));
        parts.push("data:[DONE]\n\n".to_string());
        stream_body(parts)
    }

    /// Start a fake Uzu server.
    pub async fn start() -> Fake {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/v1/models", get(models))
            .route("/models", get(models))
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .with_state(bodies.clone());
        serve(router, bodies).await
    }
}

pub mod ollama {
    use super::*;

    pub const MODEL: &str = "gemma-3-270m-bench";

    async fn root() -> &'static str {
        "Ollama is running"
    }

    async fn show(body: Bytes) -> Response {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if req["model"] == MODEL {
            axum::Json(json!({"template": "...", "details": {"format": "gguf"}})).into_response()
        } else {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": format!("model '{}' not found", req["model"])})),
            )
                .into_response()
        }
    }

    fn ndjson(req: &Value, chat: bool) -> Response {
        let mut parts = Vec::new();
        for p in PIECES {
            let line = if chat {
                json!({"model": MODEL, "created_at": "2026-01-01T00:00:00Z",
                       "message": {"role": "assistant", "content": p}, "done": false})
            } else {
                json!({"model": MODEL, "created_at": "2026-01-01T00:00:00Z", "response": p, "done": false})
            };
            parts.push(format!("{line}\n"));
        }
        // Durations in nanoseconds; prompt_eval_count left out (omitempty) when the
        // request asks for it by the word CACHED in the prompt, as a cached prompt does.
        let prompt_text =
            req["prompt"].as_str().unwrap_or_default().to_string() + &req["messages"].to_string();
        let mut last = json!({
            "model": MODEL, "created_at": "2026-01-01T00:00:01Z", "done": true,
            "done_reason": "stop",
            "total_duration": 1_500_000_000u64, "load_duration": 200_000_000u64,
            "prompt_eval_duration": 100_000_000u64,
            "eval_count": 9, "eval_duration": 250_000_000u64
        });
        if chat {
            last["message"] = json!({"role": "assistant", "content": ""});
        } else {
            last["response"] = json!("");
        }
        if !prompt_text.contains("CACHED") {
            last["prompt_eval_count"] = json!(20);
        }
        parts.push(format!("{last}\n"));
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            parts.into_iter().map(|p| Ok(Bytes::from(p))).collect();
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/x-ndjson")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap()
    }

    async fn generate(State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> Response {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        bodies.lock().unwrap().push(req.clone());
        ndjson(&req, false)
    }

    async fn chat(State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> Response {
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        bodies.lock().unwrap().push(req.clone());
        ndjson(&req, true)
    }

    /// Start a fake Ollama server.
    pub async fn start() -> Fake {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route("/", get(root))
            .route("/api/show", post(show))
            .route("/api/generate", post(generate))
            .route("/api/chat", post(chat))
            .with_state(bodies.clone());
        serve(router, bodies).await
    }
}
