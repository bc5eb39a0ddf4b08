#!/usr/bin/env python3
"""OpenAI-compatible inference server on PyTorch + Hugging Face transformers.

The PyTorch engine of inferbench (the seed's ``pytorch_server.py``). It loads a Hugging
Face model directory or a single GGUF file (dequantized by transformers), applies the chat
template it is given, samples with each request's own settings, and reports its own
prefill and decode times with llama.cpp's field names, so the benchmark can put the
engine's clock next to its own.

    python pytorch_server.py --port 8001 --model-path MODEL_DIR_OR.gguf \
        [--device auto|cpu|cuda|mps] [--dtype auto|float32|float16|bfloat16] \
        [--attn-implementation auto|eager|sdpa|flash_attention_2] \
        [--compile off|default|max-autotune-no-cudagraphs|reduce-overhead|max-autotune] \
        [--cache-implementation dynamic|static] [--max-cache-len N] \
        [--chat-template gemma3.jinja] [--threads N]

The speed knobs are torch_knobs.py's (next to this file; its doc says what `auto` means).
Before the port is bound the server runs one short generate: it learns the KV cache
generate really uses and, with --compile, does the first compilation, so that load time
(spawn to ready) holds it. GET /health reports what is in effect, each knob with what was
asked (`settings`), and that start-up generate's time (`startup_generate_ms`). A prompt of
a new length or a larger static cache may still recompile on a later request: the
benchmark's untimed warm-up runs are where that belongs. With a static cache,
--max-cache-len (default 4096) sizes it once for every request, so that a longer request
does not reallocate it (and recompile).

Routes:
  POST /v1/chat/completions, /chat/completions   messages in; SSE or JSON out
  POST /v1/completions, /completions            a rendered prompt in (no special tokens added)
  POST /apply-template                          messages -> {"prompt", "tokens"} as generation sees them
  POST /tokenize                                {"content", "add_special"} -> {"tokens"}
  GET  /health (status, device, dtype, settings), /v1/models

Streaming follows OpenAI: content deltas, a chunk with ``finish_reason``, then with
``stream_options.include_usage`` one chunk with ``"choices": []`` and ``usage``, then
``data: [DONE]``. The last chunk before ``[DONE]`` carries ``timings``:
``prompt_n``/``prompt_ms`` (prefill, up to and including the first token) and
``predicted_n``/``predicted_ms`` (every generated token; the time from the first token to
the last, i.e. ``predicted_n - 1`` decode steps, as llama.cpp counts it).

Requests are served one at a time (a lock around generation): one model, one stream.
"""

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_knobs  # noqa: E402  (next to this file)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument("--model-path", required=True, help="HF model directory or a .gguf file")
    torch_knobs.add_arguments(p)
    p.add_argument("--max-cache-len", type=int, default=4096,
                   help="tokens a static KV cache holds (with --cache-implementation static)")
    p.add_argument("--chat-template", help="Jinja file used as tokenizer.chat_template")
    p.add_argument("--tokenizer", help="directory with tokenizer.json (default: the model's own)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--model-name", help="id reported by /v1/models (default: file or directory name)")
    return p.parse_args(argv)


def log(msg):
    # UTC wall clock to the millisecond, as Ollama stamps its lines: inferbench reads the
    # start-up lines (`--starts`: loading, weights read, start-up generate) against its
    # own clock at the spawn.
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    print(f"[pytorch_server {stamp}] {msg}", file=sys.stderr, flush=True)


class Engine:
    """The loaded model and tokenizer, and generation with timings."""

    def __init__(self, args):
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.transformers = transformers
        self.args = args
        if args.threads:
            torch.set_num_threads(args.threads)
        self.device = torch_knobs.pick_device(torch, args.device)
        self.dtype = torch_knobs.pick_dtype(torch, args.dtype, self.device)
        knob_kw = torch_knobs.model_kwargs(args)  # before loading: fail fast
        path = Path(args.model_path)
        if not path.exists():
            sys.exit(f"--model-path {path}: no such file or directory")
        kw = {}
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                sys.exit(f"--model-path {path}: a file must be a .gguf; otherwise give an HF model directory")
            kw["gguf_file"] = path.name
            src = str(path.parent)
        else:
            src = str(path)
        self.name = args.model_name or path.name
        log(f"loading {path}")
        t0 = time.perf_counter()
        self.tok = (AutoTokenizer.from_pretrained(args.tokenizer) if args.tokenizer
                    else AutoTokenizer.from_pretrained(src, **kw))
        t1 = time.perf_counter()
        self.model = AutoModelForCausalLM.from_pretrained(
            src, dtype=self.dtype, **kw, **knob_kw
        )
        log(f"weights read ({time.perf_counter() - t1:.1f} s)")
        self.device = torch_knobs.place(self.model, args, self.device)
        self.model.eval()
        torch_knobs.apply_compile(torch, self.model, args.compile)
        self.gen_kw = torch_knobs.generate_kwargs(args, self.model.generation_config)
        if args.cache_implementation == "static" and hasattr(self.model.generation_config, "max_cache_len"):
            self.gen_kw["max_cache_len"] = args.max_cache_len
        self.cache = None
        t2 = time.perf_counter()
        log(f"loaded {path} on {self.device} as {self.dtype}: tokenizer {t1 - t0:.1f} s, model {t2 - t1:.1f} s")
        if args.chat_template:
            self.tok.chat_template = Path(args.chat_template).read_text(encoding="utf-8")
            log(f"chat template from {args.chat_template}")
        elif not getattr(self.tok, "chat_template", None):
            log("warning: the model has no chat template and none was given (--chat-template)")
        self.stop_ids = self._stop_ids()
        log(f"stop token ids {sorted(self.stop_ids)}")
        self.lock = threading.Lock()
        self.startup_generate_ms = self._startup_generate()
        log(f"settings {json.dumps(self.settings())}")

    def _startup_generate(self):
        """One short greedy generate before serving: the first compilation (--compile) and
        the cache generate really uses. Its time, ms."""
        ids, mask = self.text_ids("The quick brown fox")
        n = 8 if self.args.compile != "off" else 2
        t0 = time.perf_counter()
        self.generate(ids, mask, {"max_tokens": n, "temperature": 0.0, "min_tokens": n}, lambda _: None)
        ms = (time.perf_counter() - t0) * 1000.0
        log(f"start-up generate ({n} tokens{', compiling' if self.args.compile != 'off' else ''}): {ms:.0f} ms")
        return ms

    def settings(self):
        """What is in effect, each knob with what was asked (torch_knobs.report)."""
        out = torch_knobs.report(self.torch, self.transformers, self.args, self.model, cache=self.cache)
        if "max_cache_len" in self.gen_kw:
            out["max_cache_len"] = {"effective": str(self.gen_kw["max_cache_len"])}
        out["startup_generate_ms"] = {"effective": f"{self.startup_generate_ms:.0f}"}
        return out

    def _stop_ids(self):
        ids = set()
        for src in (self.tok.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            if isinstance(src, int):
                ids.add(src)
            elif isinstance(src, (list, tuple)):
                ids.update(i for i in src if isinstance(i, int))
        unk = self.tok.unk_token_id
        for t in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>"):
            i = self.tok.convert_tokens_to_ids(t)
            if isinstance(i, int) and i != unk and i >= 0:
                ids.add(i)
        return ids

    def chat_ids(self, messages):
        """Token ids of the rendered chat prompt, exactly as generation gets them (the
        template prints BOS itself; nothing is added twice)."""
        enc = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt")
        return enc["input_ids"], enc.get("attention_mask")

    def render(self, messages):
        return self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def text_ids(self, text):
        enc = self.tok(text, add_special_tokens=False, return_tensors="pt")
        return enc["input_ids"], enc.get("attention_mask")

    def generate(self, input_ids, attention_mask, params, on_text):
        """Generate under the lock; call on_text(piece) for each non-empty text piece.
        Returns (completion_tokens, finish_reason, timings)."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        torch = self.torch
        max_tokens = params["max_tokens"]
        stamps = []

        class Stamp(StoppingCriteria):
            # Called once after each generated token: the first call ends the prefill.
            def __call__(self, input_ids, scores, **kwargs):
                stamps.append(time.perf_counter())
                return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

        streamer = TextIteratorStreamer(self.tok, skip_prompt=True, skip_special_tokens=True)
        temperature = params["temperature"]
        kwargs = dict(
            input_ids=input_ids.to(self.device),
            max_new_tokens=max_tokens,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([Stamp()]),
            eos_token_id=sorted(self.stop_ids) or None,
            pad_token_id=self.tok.pad_token_id if self.tok.pad_token_id is not None else 0,
            **self.gen_kw,
        )
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(self.device)
        if temperature and temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature,
                          top_p=params.get("top_p") or 1.0, top_k=params.get("top_k") or 0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.get("min_tokens"):
            kwargs["min_new_tokens"] = min(params["min_tokens"], max_tokens)
        result = {}

        def run():
            try:
                with torch.inference_mode():
                    result["out"] = self.model.generate(**kwargs)
            except Exception as e:  # reported to the client below
                result["error"] = e
                streamer.end()

        with self.lock:
            if params.get("seed") is not None:
                torch.manual_seed(int(params["seed"]))
            t0 = time.perf_counter()
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            for piece in streamer:
                if piece:
                    on_text(piece)
            worker.join()
            t_end = time.perf_counter()
        if "error" in result:
            raise result["error"]
        self.cache = torch_knobs.cache_kind(result["out"]) or self.cache
        result["out"] = result["out"].sequences
        n_prompt = int(input_ids.shape[1])
        n_new = int(result["out"].shape[1]) - n_prompt
        last = int(result["out"][0, -1]) if n_new > 0 else None
        finish = "stop" if (last in self.stop_ids) else "length" if n_new >= max_tokens else "stop"
        t_first = stamps[0] if stamps else t_end
        t_last = stamps[-1] if stamps else t_end
        prompt_ms = (t_first - t0) * 1000.0
        predicted_ms = (t_last - t_first) * 1000.0
        timings = {
            "source": "pytorch server timings",
            "cache_n": 0,
            "prompt_n": n_prompt,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": prompt_ms / n_prompt if n_prompt else None,
            "prompt_per_second": n_prompt / prompt_ms * 1000.0 if prompt_ms > 0 else None,
            "predicted_n": n_new,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / (n_new - 1) if n_new > 1 else None,
            "predicted_per_second": (n_new - 1) / predicted_ms * 1000.0 if n_new > 1 and predicted_ms > 0 else None,
            "total_ms": (t_end - t0) * 1000.0,
        }
        return n_prompt, n_new, finish, timings


def build_app(engine):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI(title="inferbench pytorch server")

    def params_of(body):
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 256
        min_tokens = body.get("min_tokens") or (max_tokens if body.get("ignore_eos") else None)
        return {
            "max_tokens": int(max_tokens),
            "temperature": float(body.get("temperature", 1.0)),
            "top_p": body.get("top_p"),
            "top_k": body.get("top_k"),
            "seed": body.get("seed"),
            "min_tokens": min_tokens,
        }

    def error(status, message):
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)

    def sse(obj):
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

    def respond(body, input_ids, attention_mask, chat):
        params = params_of(body)
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        obj = "chat.completion.chunk" if chat else "text_completion"

        def choice(text=None, finish=None, first=False):
            if chat:
                delta = {}
                if first:
                    delta["role"] = "assistant"
                if text is not None:
                    delta["content"] = text
                return {"index": 0, "delta": delta, "finish_reason": finish}
            return {"index": 0, "text": text or "", "finish_reason": finish}

        def usage(n_prompt, n_new):
            return {"prompt_tokens": n_prompt, "completion_tokens": n_new, "total_tokens": n_prompt + n_new}

        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

            def events():
                import queue

                q = queue.Queue()
                outcome = {}

                def work():
                    try:
                        outcome["r"] = engine.generate(input_ids, attention_mask, params, q.put)
                    except Exception as e:
                        outcome["e"] = e
                    finally:
                        q.put(None)

                threading.Thread(target=work, daemon=True).start()
                base = {"id": rid, "object": obj, "created": created, "model": engine.name}
                if chat:
                    yield sse({**base, "choices": [choice(first=True)]})
                while True:
                    piece = q.get()
                    if piece is None:
                        break
                    yield sse({**base, "choices": [choice(piece)]})
                if "e" in outcome:
                    yield sse({"error": {"message": f"generation failed: {outcome['e']}"}})
                    yield "data: [DONE]\n\n"
                    return
                n_prompt, n_new, finish, timings = outcome["r"]
                last = {**base, "choices": [choice(finish=finish)]}
                if include_usage:
                    yield sse(last)
                    last = {**base, "choices": [], "usage": usage(n_prompt, n_new)}
                last["timings"] = timings
                yield sse(last)
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

        pieces = []
        try:
            n_prompt, n_new, finish, timings = engine.generate(input_ids, attention_mask, params, pieces.append)
        except Exception as e:
            return error(500, f"generation failed: {e}")
        text = "".join(pieces)
        if chat:
            choices = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}]
        else:
            choices = [{"index": 0, "text": text, "finish_reason": finish}]
        return {"id": rid, "object": "chat.completion" if chat else "text_completion", "created": created,
                "model": engine.name, "choices": choices, "usage": usage(n_prompt, n_new), "timings": timings}

    async def chat_completions(request: Request):
        body = await request.json()
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "`messages` must be a non-empty list")
        try:
            ids, mask = engine.chat_ids(messages)
        except Exception as e:
            return error(400, f"chat template failed: {e}")
        return respond(body, ids, mask, chat=True)

    async def completions(request: Request):
        body = await request.json()
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return error(400, "`prompt` must be a string")
        ids, mask = engine.text_ids(prompt)
        return respond(body, ids, mask, chat=False)

    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/v1/completions", completions, methods=["POST"])
    app.add_api_route("/completions", completions, methods=["POST"])

    @app.post("/apply-template")
    async def apply_template(request: Request):
        body = await request.json()
        messages = body.get("messages") or []
        try:
            ids, _ = engine.chat_ids(messages)
            text = engine.render(messages)
        except Exception as e:
            return error(400, f"chat template failed: {e}")
        return {"prompt": text, "tokens": [int(i) for i in ids[0].tolist()]}

    @app.post("/tokenize")
    async def tokenize(request: Request):
        body = await request.json()
        content = body.get("content", "")
        ids = engine.tok(content, add_special_tokens=bool(body.get("add_special", False)))["input_ids"]
        return {"tokens": [int(i) for i in ids]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "device": engine.device, "dtype": str(engine.dtype).replace("torch.", ""),
                "settings": engine.settings()}

    @app.get("/v1/models")
    @app.get("/models")
    async def models():
        return {"object": "list", "data": [{"id": engine.name, "object": "model", "owned_by": "pytorch"}]}

    return app


def main(argv=None):
    args = parse_args(argv)
    # Load before binding the port: /health answers only once the model is ready.
    engine = Engine(args)
    import uvicorn

    uvicorn.run(build_app(engine), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
