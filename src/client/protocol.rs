//! Request bodies per wire protocol, and decoding of one event's payload (pure).
//!
//! [`build_body`] phrases one request for a protocol, with every sampling setting sent
//! explicitly (engines' defaults differ: llama.cpp samples at 0.8, Ollama forces 1.0 on its
//! OpenAI route when temperature is omitted).
//!
//! [`decode_into`] reads one SSE data payload or NDJSON line and reports what it meant to an
//! [`EventSink`]. It deserializes into small borrowed structs (text stays a slice of the
//! read unless it holds JSON escapes), so the hot path does not build a `serde_json::Value`
//! or allocate per token; [`decode`] collects [`StreamEvent`]s for callers that want them.
//!
//! What counts as content: a non-empty `delta.content`, `message.content`, `text`
//! (OpenAI), `content` (llama.cpp native), `response` / `message.content` (Ollama). A
//! role-only or empty delta is not content. Only the first choice is read: benchmarks
//! always ask for one (`n = 1`).

use super::{MaxTokensField, Message, PromptInput, Protocol, StreamEvent, Usage};
use crate::engine::ApiTarget;
use crate::results::{EngineReport, Sampling};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// The JSON name of a max-tokens field.
pub fn max_tokens_key(field: MaxTokensField) -> &'static str {
    match field {
        MaxTokensField::MaxTokens => "max_tokens",
        MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        MaxTokensField::NPredict => "n_predict",
        MaxTokensField::NumPredict => "num_predict",
    }
}

fn messages_json(messages: &[Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect(),
    )
}

/// The request body for one request. `target.extra_body` is merged last (objects merge
/// key by key, so `{"options": {"num_ctx": 4096}}` adds to Ollama's options).
pub fn build_body(
    target: &ApiTarget,
    prompt: &PromptInput,
    sampling: &Sampling,
    stream: bool,
) -> Value {
    let mut b = Map::new();
    if let Some(model) = &target.model {
        b.insert("model".into(), json!(model));
    }
    let fixed_length = sampling.ignore_eos && target.supports_ignore_eos;
    match target.protocol {
        Protocol::OpenAiChat | Protocol::OpenAiCompletions => {
            if target.protocol == Protocol::OpenAiChat {
                b.insert("messages".into(), messages_json(&prompt.messages));
            } else {
                b.insert("prompt".into(), json!(target.raw_prompt(&prompt.rendered)));
            }
            b.insert("stream".into(), json!(stream));
            if stream && target.include_usage {
                b.insert("stream_options".into(), json!({"include_usage": true}));
            }
            b.insert("temperature".into(), json!(sampling.temperature));
            b.insert(
                max_tokens_key(target.max_tokens_field).into(),
                json!(sampling.max_tokens),
            );
            insert_common(&mut b, sampling);
            if fixed_length {
                b.insert("ignore_eos".into(), json!(true));
                b.insert("min_tokens".into(), json!(sampling.max_tokens));
            }
        }
        Protocol::LlamaCompletion => {
            b.insert("prompt".into(), json!(target.raw_prompt(&prompt.rendered)));
            b.insert("stream".into(), json!(stream));
            b.insert("n_predict".into(), json!(sampling.max_tokens));
            b.insert("temperature".into(), json!(sampling.temperature));
            insert_common(&mut b, sampling);
            if fixed_length {
                b.insert("ignore_eos".into(), json!(true));
            }
        }
        Protocol::OllamaGenerate | Protocol::OllamaChat => {
            if target.protocol == Protocol::OllamaChat {
                b.insert("messages".into(), messages_json(&prompt.messages));
            } else {
                b.insert("prompt".into(), json!(target.raw_prompt(&prompt.rendered)));
                // The prompt is already rendered through our template: no second one.
                b.insert("raw".into(), json!(true));
            }
            b.insert("stream".into(), json!(stream));
            let mut o = Map::new();
            o.insert("temperature".into(), json!(sampling.temperature));
            o.insert("num_predict".into(), json!(sampling.max_tokens));
            insert_common(&mut o, sampling);
            b.insert("options".into(), Value::Object(o));
        }
    }
    merge(&mut b, &target.extra_body);
    Value::Object(b)
}

fn insert_common(m: &mut Map<String, Value>, s: &Sampling) {
    if let Some(seed) = s.seed {
        m.insert("seed".into(), json!(seed));
    }
    if let Some(p) = s.top_p {
        m.insert("top_p".into(), json!(p));
    }
    if let Some(k) = s.top_k {
        m.insert("top_k".into(), json!(k));
    }
}

/// Merge `extra` into `base`: objects recursively, anything else replaces.
fn merge(base: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(e)) => merge(b, e),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Receives what decoded payloads mean. Content is passed as a borrowed `&str` so a
/// caller can append it to one buffer without allocating per event.
pub trait EventSink {
    /// Non-empty generated text.
    fn content(&mut self, text: &str);
    fn usage(&mut self, usage: Usage);
    fn timings(&mut self, report: EngineReport);
    fn finish_reason(&mut self, reason: &str);
    /// The server reported an error inside the stream.
    fn error(&mut self, message: String);
    /// End-of-stream marker (`done: true`, `stop: true`; `[DONE]` is seen by the SSE layer).
    fn done(&mut self);
    /// Non-empty reasoning text from a field of its own (`delta.reasoning_content`,
    /// `delta.reasoning`, Ollama's `message.thinking`). A sink that does not track
    /// reasoning ignores it.
    fn reasoning(&mut self, _text: &str) {}
    /// The server's count of reasoning tokens
    /// (`usage.completion_tokens_details.reasoning_tokens`).
    fn reasoning_tokens(&mut self, _n: u64) {}
}

impl EventSink for Vec<StreamEvent> {
    fn content(&mut self, text: &str) {
        self.push(StreamEvent::Content(text.to_string()));
    }
    fn usage(&mut self, usage: Usage) {
        self.push(StreamEvent::Usage(usage));
    }
    fn timings(&mut self, report: EngineReport) {
        self.push(StreamEvent::Timings(report));
    }
    fn finish_reason(&mut self, reason: &str) {
        self.push(StreamEvent::FinishReason(reason.to_string()));
    }
    fn error(&mut self, message: String) {
        self.push(StreamEvent::Error(message));
    }
    fn done(&mut self) {
        self.push(StreamEvent::Done);
    }
    fn reasoning(&mut self, text: &str) {
        self.push(StreamEvent::Reasoning(text.to_string()));
    }
    fn reasoning_tokens(&mut self, n: u64) {
        self.push(StreamEvent::ReasoningTokens(n));
    }
}

/// A JSON string borrowed from the input when it has no escapes, owned otherwise.
#[derive(Debug)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// The first element of `choices` (the rest are skipped without being built).
#[derive(Debug)]
struct FirstChoice<'a>(Option<OaChoice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstChoice<'a>, A::Error> {
                let first = seq.next_element::<OaChoice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct OaChunk<'a> {
    #[serde(default, borrow)]
    choices: Option<FirstChoice<'a>>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default, borrow)]
    timings: Option<Timings<'a>>,
    #[serde(default)]
    error: Option<ErrorField>,
}

#[derive(Debug, Deserialize)]
struct OaChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<ContentHolder<'a>>,
    #[serde(default, borrow)]
    message: Option<ContentHolder<'a>>,
    #[serde(default, borrow)]
    text: Option<Text<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Text<'a>>,
}

/// `delta` / `message`: only the text and the reasoning matter (role, tool calls are
/// skipped). Reasoning comes as `reasoning_content` (vLLM, SGLang, llama-server, DeepSeek),
/// `reasoning` (vLLM ≥ 0.10, OpenRouter) or `thinking` (Ollama).
#[derive(Debug, Deserialize)]
struct ContentHolder<'a> {
    #[serde(default, borrow)]
    content: Option<Text<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Text<'a>>,
    #[serde(default, borrow)]
    reasoning: Option<Text<'a>>,
    #[serde(default, borrow)]
    thinking: Option<Text<'a>>,
}

impl ContentHolder<'_> {
    /// Report reasoning (first) and content of one delta.
    fn report(&self, sink: &mut impl EventSink) {
        // One field carries it; should a server send two, the first non-empty one counts.
        if let Some(r) = [&self.reasoning_content, &self.reasoning, &self.thinking]
            .into_iter()
            .flatten()
            .find(|t| !t.0.is_empty())
        {
            sink.reasoning(&r.0);
        }
        content(sink, self.content.as_ref());
    }
}

#[derive(Debug, Deserialize)]
struct UsageJson {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionTokensDetails>,
}

/// OpenAI `usage.completion_tokens_details` (reasoning models).
#[derive(Debug, Deserialize)]
struct CompletionTokensDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

/// OpenAI `usage.prompt_tokens_details` (vLLM, SGLang, recent llama-server).
#[derive(Debug, Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// llama.cpp's `timings` object (also sent by our PyTorch server, which may name itself
/// in `source`).
#[derive(Debug, Deserialize)]
struct Timings<'a> {
    #[serde(default, borrow)]
    source: Option<Text<'a>>,
    #[serde(default)]
    prompt_n: Option<f64>,
    #[serde(default)]
    prompt_ms: Option<f64>,
    #[serde(default)]
    prompt_per_second: Option<f64>,
    #[serde(default)]
    predicted_n: Option<f64>,
    #[serde(default)]
    predicted_ms: Option<f64>,
    #[serde(default)]
    predicted_per_second: Option<f64>,
    #[serde(default)]
    cache_n: Option<f64>,
}

impl Timings<'_> {
    fn report(&self) -> EngineReport {
        let count = |x: Option<f64>| x.filter(|v| *v >= 0.0).map(|v| v as u64);
        EngineReport {
            source: self
                .source
                .as_ref()
                .map(|s| s.0.to_string())
                .unwrap_or_else(|| "llama.cpp timings".to_string()),
            prompt_tokens: count(self.prompt_n),
            prompt_ms: self.prompt_ms,
            prefill_tps: self.prompt_per_second,
            decode_tokens: count(self.predicted_n),
            decode_ms: self.predicted_ms,
            decode_tps: self.predicted_per_second,
            cached_tokens: count(self.cache_n),
            ..EngineReport::default()
        }
    }
}

/// An `error` member: a string (Ollama) or an object with a message (OpenAI, llama.cpp).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Text(String),
    Object {
        #[serde(default)]
        message: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        code: Option<Value>,
    },
    Other(Value),
}

impl ErrorField {
    fn message(self) -> String {
        match self {
            ErrorField::Text(s) => s,
            ErrorField::Object {
                message,
                kind,
                code,
            } => {
                let mut s = message.unwrap_or_else(|| "error without a message".into());
                if let Some(k) = kind {
                    s.push_str(&format!(" (type {k})"));
                }
                if let Some(c) = code.filter(|c| !c.is_null()) {
                    s.push_str(&format!(" (code {c})"));
                }
                s
            }
            ErrorField::Other(v) => v.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct LlamaChunk<'a> {
    #[serde(default, borrow)]
    content: Option<Text<'a>>,
    #[serde(default)]
    stop: Option<bool>,
    #[serde(default, borrow)]
    stop_type: Option<Text<'a>>,
    #[serde(default)]
    stopped_limit: Option<bool>,
    #[serde(default)]
    stopped_eos: Option<bool>,
    #[serde(default)]
    stopped_word: Option<bool>,
    #[serde(default, borrow)]
    timings: Option<Timings<'a>>,
    #[serde(default)]
    tokens_predicted: Option<u64>,
    #[serde(default)]
    tokens_evaluated: Option<u64>,
    #[serde(default)]
    error: Option<ErrorField>,
}

#[derive(Debug, Deserialize)]
struct OllamaChunk<'a> {
    #[serde(default, borrow)]
    response: Option<Text<'a>>,
    #[serde(default, borrow)]
    message: Option<ContentHolder<'a>>,
    #[serde(default)]
    done: Option<bool>,
    #[serde(default, borrow)]
    done_reason: Option<Text<'a>>,
    #[serde(default)]
    total_duration: Option<u64>,
    #[serde(default)]
    load_duration: Option<u64>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    prompt_eval_duration: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    eval_duration: Option<u64>,
    #[serde(default)]
    error: Option<ErrorField>,
}

fn content(sink: &mut impl EventSink, t: Option<&Text<'_>>) {
    if let Some(t) = t
        && !t.0.is_empty()
    {
        sink.content(&t.0);
    }
}

fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|e| {
        let excerpt = String::from_utf8_lossy(&payload[..payload.len().min(120)]).into_owned();
        format!("{e} in {excerpt:?}")
    })
}

/// Decode one event payload (an SSE `data` or an NDJSON line) of `protocol` into `sink`.
/// An empty payload means nothing. `Err` when the payload is not the JSON expected.
pub fn decode_into(
    protocol: Protocol,
    payload: &[u8],
    sink: &mut impl EventSink,
) -> Result<(), String> {
    if payload.trim_ascii().is_empty() {
        return Ok(());
    }
    match protocol {
        Protocol::OpenAiChat | Protocol::OpenAiCompletions => {
            let c: OaChunk = parse(payload)?;
            decode_openai(c, sink);
        }
        Protocol::LlamaCompletion => {
            let c: LlamaChunk = parse(payload)?;
            decode_llama(c, sink);
        }
        Protocol::OllamaGenerate | Protocol::OllamaChat => {
            let c: OllamaChunk = parse(payload)?;
            decode_ollama(c, sink);
        }
    }
    Ok(())
}

fn decode_openai(c: OaChunk<'_>, sink: &mut impl EventSink) {
    if let Some(e) = c.error {
        sink.error(e.message());
        return;
    }
    if let Some(FirstChoice(Some(ch))) = &c.choices {
        if let Some(d) = &ch.delta {
            d.report(sink);
        }
        if let Some(m) = &ch.message {
            m.report(sink);
        }
        content(sink, ch.text.as_ref());
        if let Some(r) = &ch.finish_reason {
            sink.finish_reason(&r.0);
        }
    }
    if let Some(n) = c
        .usage
        .as_ref()
        .and_then(|u| u.completion_tokens_details.as_ref())
        .and_then(|d| d.reasoning_tokens)
    {
        sink.reasoning_tokens(n);
    }
    if let Some(u) = c.usage {
        sink.usage(Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
        });
    }
    if let Some(t) = &c.timings {
        sink.timings(t.report());
    }
}

fn decode_llama(c: LlamaChunk<'_>, sink: &mut impl EventSink) {
    if let Some(e) = c.error {
        sink.error(e.message());
        return;
    }
    content(sink, c.content.as_ref());
    if c.tokens_predicted.is_some() || c.tokens_evaluated.is_some() {
        sink.usage(Usage {
            prompt_tokens: c.tokens_evaluated,
            completion_tokens: c.tokens_predicted,
            cached_tokens: None,
        });
    }
    if let Some(t) = &c.timings {
        sink.timings(t.report());
    }
    if c.stop == Some(true) {
        let reason = match c.stop_type.as_ref().map(|s| &*s.0) {
            Some("limit") => Some("length"),
            Some("eos") | Some("word") => Some("stop"),
            _ if c.stopped_limit == Some(true) => Some("length"),
            _ if c.stopped_eos == Some(true) || c.stopped_word == Some(true) => Some("stop"),
            _ => None,
        };
        if let Some(r) = reason {
            sink.finish_reason(r);
        }
        sink.done();
    }
}

fn decode_ollama(c: OllamaChunk<'_>, sink: &mut impl EventSink) {
    if let Some(e) = c.error {
        sink.error(e.message());
        return;
    }
    content(sink, c.response.as_ref());
    if let Some(m) = &c.message {
        m.report(sink);
    }
    if c.done != Some(true) {
        return;
    }
    if let Some(r) = &c.done_reason {
        sink.finish_reason(&r.0);
    }
    if c.prompt_eval_count.is_some() || c.eval_count.is_some() {
        sink.usage(Usage {
            prompt_tokens: c.prompt_eval_count,
            completion_tokens: c.eval_count,
            cached_tokens: None,
        });
    }
    let ms = |ns: Option<u64>| ns.map(|n| n as f64 / 1e6);
    let rate = |n: Option<u64>, ns: Option<u64>| match (n, ns) {
        (Some(n), Some(ns)) if ns > 0 => Some(n as f64 / ns as f64 * 1e9),
        _ => None,
    };
    let any = [
        c.total_duration,
        c.load_duration,
        c.prompt_eval_count,
        c.prompt_eval_duration,
        c.eval_count,
        c.eval_duration,
    ]
    .iter()
    .any(Option::is_some);
    if any {
        sink.timings(EngineReport {
            source: "ollama durations".into(),
            prompt_tokens: c.prompt_eval_count,
            prompt_ms: ms(c.prompt_eval_duration),
            prefill_tps: rate(c.prompt_eval_count, c.prompt_eval_duration),
            decode_tokens: c.eval_count,
            decode_ms: ms(c.eval_duration),
            decode_tps: rate(c.eval_count, c.eval_duration),
            load_ms: ms(c.load_duration),
            total_ms: ms(c.total_duration),
            cached_tokens: None,
            decode_wall_tps: EngineReport::wall_rate(
                c.eval_count,
                ms(c.total_duration),
                ms(c.load_duration),
                ms(c.prompt_eval_duration),
            ),
        });
    }
    sink.done();
}

/// [`decode_into`], collected into events.
pub fn decode(protocol: Protocol, payload: &[u8]) -> Result<Vec<StreamEvent>, String> {
    let mut v = Vec::new();
    decode_into(protocol, payload, &mut v)?;
    Ok(v)
}

/// Decode a whole non-streaming response body into `sink`. The response is complete by
/// construction, so [`EventSink::done`] is always reported on success.
pub fn decode_full_into(
    protocol: Protocol,
    body: &[u8],
    sink: &mut impl EventSink,
) -> Result<(), String> {
    if body.trim_ascii().is_empty() {
        return Err("empty response body".into());
    }
    match protocol {
        Protocol::OpenAiChat | Protocol::OpenAiCompletions => {
            decode_openai(parse(body)?, sink);
            sink.done();
        }
        Protocol::LlamaCompletion => {
            let c: LlamaChunk = parse(body)?;
            let stopped = c.stop == Some(true);
            decode_llama(c, sink);
            if !stopped {
                sink.done();
            }
        }
        Protocol::OllamaGenerate | Protocol::OllamaChat => {
            let c: OllamaChunk = parse(body)?;
            let finished = c.done == Some(true);
            decode_ollama(c, sink);
            if !finished {
                sink.done();
            }
        }
    }
    Ok(())
}

/// [`decode_full_into`], collected into events.
pub fn decode_full(protocol: Protocol, body: &[u8]) -> Result<Vec<StreamEvent>, String> {
    let mut v = Vec::new();
    decode_full_into(protocol, body, &mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use StreamEvent::*;

    fn sampling() -> Sampling {
        Sampling {
            max_tokens: 500,
            temperature: 0.3,
            seed: Some(42),
            top_p: None,
            top_k: Some(40),
            ignore_eos: false,
        }
    }

    fn prompt() -> PromptInput {
        PromptInput {
            messages: vec![
                Message {
                    role: "system".into(),
                    content: "sys".into(),
                },
                Message {
                    role: "user".into(),
                    content: "안녕".into(),
                },
            ],
            rendered: "<start_of_turn>user\nsys\n\n안녕<end_of_turn>\n<start_of_turn>model\n"
                .into(),
        }
    }

    fn target(protocol: Protocol) -> ApiTarget {
        let mut t = ApiTarget::openai("x", "http://h", Some("m".into()), true);
        t.protocol = protocol;
        t
    }

    #[test]
    fn openai_chat_body_sends_sampling_explicitly() {
        let b = build_body(&target(Protocol::OpenAiChat), &prompt(), &sampling(), true);
        assert_eq!(b["model"], "m");
        assert_eq!(b["messages"][1]["content"], "안녕");
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["temperature"], 0.3);
        assert_eq!(b["max_tokens"], 500);
        assert_eq!(b["seed"], 42);
        assert_eq!(b["top_k"], 40);
        assert!(b.get("top_p").is_none());
        assert!(b.get("ignore_eos").is_none());
        assert!(b.get("prompt").is_none());
    }

    #[test]
    fn ignore_eos_only_when_asked_and_supported() {
        let mut s = sampling();
        s.ignore_eos = true;
        let mut t = target(Protocol::OpenAiChat);
        let b = build_body(&t, &prompt(), &s, true);
        assert!(b.get("ignore_eos").is_none(), "target does not support it");
        t.supports_ignore_eos = true;
        t.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        let b = build_body(&t, &prompt(), &s, false);
        assert_eq!(b["ignore_eos"], true);
        assert_eq!(b["min_tokens"], 500);
        assert_eq!(b["max_completion_tokens"], 500);
        assert!(b.get("max_tokens").is_none());
        assert!(b.get("stream_options").is_none(), "not streaming");
    }

    #[test]
    fn completions_and_llama_native_bodies_use_rendered_prompt() {
        let b = build_body(
            &target(Protocol::OpenAiCompletions),
            &prompt(),
            &sampling(),
            true,
        );
        assert_eq!(b["prompt"], prompt().rendered);
        assert!(b.get("messages").is_none());
        let mut t = target(Protocol::LlamaCompletion);
        t.extra_body.insert("cache_prompt".into(), json!(false));
        let b = build_body(&t, &prompt(), &sampling(), true);
        assert_eq!(b["prompt"], prompt().rendered);
        assert_eq!(b["n_predict"], 500);
        assert_eq!(b["cache_prompt"], false);
        assert_eq!(b["seed"], 42);
        assert!(b.get("max_tokens").is_none());
    }

    #[test]
    fn ollama_bodies_put_sampling_in_options_and_merge_extra() {
        let mut t = target(Protocol::OllamaGenerate);
        t.extra_body.insert(
            "options".into(),
            json!({"num_ctx": 4096, "temperature": 0.0}),
        );
        t.extra_body.insert("keep_alive".into(), json!("5m"));
        let b = build_body(&t, &prompt(), &sampling(), true);
        assert_eq!(b["raw"], true);
        assert_eq!(b["prompt"], prompt().rendered);
        assert_eq!(b["options"]["num_predict"], 500);
        assert_eq!(b["options"]["seed"], 42);
        assert_eq!(b["options"]["num_ctx"], 4096);
        assert_eq!(b["options"]["temperature"], 0.0, "extra_body wins");
        assert_eq!(b["keep_alive"], "5m");
        let b = build_body(&target(Protocol::OllamaChat), &prompt(), &sampling(), false);
        assert_eq!(b["messages"][0]["role"], "system");
        assert!(b.get("raw").is_none());
        assert_eq!(b["stream"], false);
    }

    #[test]
    fn role_only_and_empty_deltas_are_not_content() {
        let p = Protocol::OpenAiChat;
        let role = br#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}"#;
        assert_eq!(decode(p, role).unwrap(), vec![]);
        let empty = br#"{"choices":[{"delta":{"content":""},"finish_reason":null}]}"#;
        assert_eq!(decode(p, empty).unwrap(), vec![]);
        let tok = br#"{"choices":[{"delta":{"content":"\uc548\ub155"},"finish_reason":null}]}"#;
        assert_eq!(decode(p, tok).unwrap(), vec![Content("안녕".into())]);
    }

    #[test]
    fn reasoning_deltas_and_reasoning_token_counts() {
        let p = Protocol::OpenAiChat;
        let r = br#"{"choices":[{"delta":{"role":"assistant","content":null,"reasoning_content":"Let me"}}]}"#;
        assert_eq!(decode(p, r).unwrap(), vec![Reasoning("Let me".into())]);
        let r = br#"{"choices":[{"delta":{"reasoning":"\ud558\ub098"}}]}"#;
        assert_eq!(decode(p, r).unwrap(), vec![Reasoning("하나".into())]);
        let empty = br#"{"choices":[{"delta":{"reasoning_content":"","content":"Hi"}}]}"#;
        assert_eq!(decode(p, empty).unwrap(), vec![Content("Hi".into())]);
        let both = br#"{"choices":[{"delta":{"reasoning_content":"so","content":"A"}}]}"#;
        assert_eq!(
            decode(p, both).unwrap(),
            vec![Reasoning("so".into()), Content("A".into())]
        );
        let usage = br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":30,"completion_tokens_details":{"reasoning_tokens":22}}}"#;
        let ev = decode(p, usage).unwrap();
        assert_eq!(ev[0], ReasoningTokens(22));
        assert!(matches!(ev[1], Usage(u) if u.completion_tokens == Some(30)));
        let ollama =
            r#"{"message":{"role":"assistant","content":"","thinking":"음"},"done":false}"#;
        assert_eq!(
            decode(Protocol::OllamaChat, ollama.as_bytes()).unwrap(),
            vec![Reasoning("음".into())]
        );
    }

    #[test]
    fn openai_finish_usage_timings_and_text() {
        let p = Protocol::OpenAiChat;
        let fin = br#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":null}"#;
        assert_eq!(decode(p, fin).unwrap(), vec![FinishReason("length".into())]);
        let usage = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":128,"total_tokens":140}}"#;
        assert_eq!(
            decode(p, usage).unwrap(),
            vec![Usage(super::Usage {
                prompt_tokens: Some(12),
                completion_tokens: Some(128),
                cached_tokens: None,
            })]
        );
        let timings = br#"{"choices":[{"delta":{},"finish_reason":"stop"}],"timings":{"cache_n":0,"prompt_n":20,"prompt_ms":10.5,"prompt_per_token_ms":0.5,"prompt_per_second":1904.7,"predicted_n":64,"predicted_ms":320.0,"predicted_per_token_ms":5.0,"predicted_per_second":200.0}}"#;
        let ev = decode(p, timings).unwrap();
        assert_eq!(ev[0], FinishReason("stop".into()));
        let Timings(r) = &ev[1] else { panic!("{ev:?}") };
        assert_eq!(r.source, "llama.cpp timings");
        assert_eq!(r.prompt_tokens, Some(20));
        assert_eq!(r.prompt_ms, Some(10.5));
        assert_eq!(r.prefill_tps, Some(1904.7));
        assert_eq!(r.decode_tokens, Some(64));
        assert_eq!(r.decode_ms, Some(320.0));
        assert_eq!(r.decode_tps, Some(200.0));
        assert_eq!(r.cached_tokens, Some(0));
        let text = br#"{"choices":[{"text":"hi","index":0},{"text":"ignored"}]}"#;
        assert_eq!(
            decode(Protocol::OpenAiCompletions, text).unwrap(),
            vec![Content("hi".into())]
        );
    }

    #[test]
    fn pytorch_final_chunk_may_name_its_timings_source() {
        let c = br#"{"choices":[],"timings":{"source":"pytorch server","predicted_n":10,"predicted_ms":50}}"#;
        let ev = decode(Protocol::OpenAiChat, c).unwrap();
        let [Timings(r)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert_eq!(r.source, "pytorch server");
        assert_eq!(r.decode_tokens, Some(10));
    }

    #[test]
    fn errors_in_stream_and_garbage() {
        let p = Protocol::OpenAiChat;
        let e = br#"{"error":{"code":500,"message":"boom","type":"server_error"}}"#;
        let ev = decode(p, e).unwrap();
        let [Error(m)] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert!(m.contains("boom") && m.contains("server_error"), "{m}");
        assert_eq!(
            decode(Protocol::OllamaChat, br#"{"error":"model not found"}"#).unwrap(),
            vec![Error("model not found".into())]
        );
        assert!(decode(p, b"\x00\xffnot json").is_err());
        assert!(decode(p, b"{\"choices\":[{\"delta\":").is_err());
        assert_eq!(decode(p, b"").unwrap(), vec![]);
    }

    #[test]
    fn llama_native_stream() {
        let p = Protocol::LlamaCompletion;
        assert_eq!(
            decode(p, br#"{"content":"Hi","stop":false,"id_slot":0}"#).unwrap(),
            vec![Content("Hi".into())]
        );
        let last = br#"{"content":"","stop":true,"stop_type":"limit","tokens_predicted":64,"tokens_evaluated":20,"timings":{"prompt_n":20,"predicted_n":64,"predicted_per_second":150.0}}"#;
        let ev = decode(p, last).unwrap();
        assert_eq!(
            ev[0],
            Usage(super::Usage {
                prompt_tokens: Some(20),
                completion_tokens: Some(64),
                cached_tokens: None,
            })
        );
        assert!(matches!(&ev[1], Timings(r) if r.decode_tps == Some(150.0)));
        assert_eq!(ev[2], FinishReason("length".into()));
        assert_eq!(ev[3], Done);
    }

    #[test]
    fn ollama_stream_and_durations() {
        let p = Protocol::OllamaGenerate;
        assert_eq!(
            decode(
                p,
                r#"{"model":"g","response":"가","done":false}"#.as_bytes()
            )
            .unwrap(),
            vec![Content("가".into())]
        );
        assert_eq!(
            decode(
                Protocol::OllamaChat,
                r#"{"message":{"role":"assistant","content":"나"},"done":false}"#.as_bytes()
            )
            .unwrap(),
            vec![Content("나".into())]
        );
        let last = br#"{"response":"","done":true,"done_reason":"length","total_duration":2000000000,"load_duration":500000000,"prompt_eval_count":20,"prompt_eval_duration":100000000,"eval_count":100,"eval_duration":1000000000}"#;
        let ev = decode(p, last).unwrap();
        assert_eq!(ev[0], FinishReason("length".into()));
        assert_eq!(
            ev[1],
            Usage(super::Usage {
                prompt_tokens: Some(20),
                completion_tokens: Some(100),
                cached_tokens: None,
            })
        );
        let Timings(r) = &ev[2] else { panic!("{ev:?}") };
        assert_eq!(r.source, "ollama durations");
        assert_eq!(r.decode_tps, Some(100.0));
        assert_eq!(r.prefill_tps, Some(200.0));
        assert_eq!(r.load_ms, Some(500.0));
        assert_eq!(r.total_ms, Some(2000.0));
        assert_eq!(r.prompt_ms, Some(100.0));
        // 100 tokens over 2000 − 500 − 100 ms: the wall its sampler's time is in.
        assert_eq!(r.decode_wall_tps, Some(100.0 * 1000.0 / 1400.0));
        assert_eq!(ev[3], Done);
        // All duration fields are optional.
        assert_eq!(decode(p, br#"{"done":true}"#).unwrap(), vec![Done]);
    }

    #[test]
    fn non_streaming_bodies() {
        let chat = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"full text"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let ev = decode_full(Protocol::OpenAiChat, chat).unwrap();
        assert_eq!(ev[0], Content("full text".into()));
        assert_eq!(ev[1], FinishReason("stop".into()));
        assert!(matches!(ev[2], Usage(_)));
        assert_eq!(ev[3], Done);
        let ollama = br#"{"response":"x","done":true,"eval_count":1}"#;
        assert_eq!(
            decode_full(Protocol::OllamaGenerate, ollama)
                .unwrap()
                .last(),
            Some(&Done)
        );
        assert!(decode_full(Protocol::OpenAiChat, b"").is_err());
        assert!(decode_full(Protocol::OpenAiChat, b"<html>").is_err());
    }
}
