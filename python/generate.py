#!/usr/bin/env python3
"""One-shot generation with Hugging Face transformers, for inferbench's CLI mode.

Loads a model (an HF directory, or a GGUF file through `gguf_file=`), renders the chat
template (a template file given by inferbench, so every engine sees the same prompt),
generates once, and prints ONE JSON line on stdout:

  load_ms, ttft_ms, prefill_ms, decode_ms, generate_ms, prompt_tokens, output_tokens,
  stream_items, device, dtype, peak_memory_mib, peak_rss_mib, torch_version,
  transformers_version, rendered_matches, compile_ms, settings, text
  (or {"error": "..."} with exit code 1)

Before it, as soon as the model is loaded, a first JSON line {"settings": {...}} says what
is in effect (torch_knobs.report: device, dtype, attention implementation, compile mode,
KV cache, weights, versions; each with what was asked); the last line repeats it with
the KV cache generate really used. The knobs are torch_knobs.py's (next to this file).

With --compile other than off, one untimed generate of the same prompt and length runs
first (torch.compile compiles on first calls): its time is `compile_ms`, and it is
inside `load_ms` (everything before the timed generate), never in TTFT or decode.

Timing, all on time.perf_counter():
- A TextIteratorStreamer(skip_prompt=True) whose put() also stamps every generated token
  as generate() hands it over (without skip_prompt the first put is the prompt itself
  and TTFT would read ~0). Stamping put() rather than the text items matters: the
  streamer holds text back until a word ends, so items lag tokens.
- TTFT: from the call to generate() to the first generated token.
- prefill_ms = ttft_ms (the first token comes out of the prompt's forward pass).
- decode_ms: first to last generated token; decode tok/s = (output_tokens - 1) / decode_ms.
- output_tokens counts ids (output.shape[1] - prompt_len), never streamed text.
Everything else (logs, warnings) goes to stderr.
"""

import argparse
import json
import os
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_knobs  # noqa: E402  (next to this file)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="HF model directory or a .gguf file")
    p.add_argument("--tokenizer", help="directory with the tokenizer (default: the model)")
    p.add_argument("--chat-template-file", help="Jinja chat template to use")
    p.add_argument("--system", default="")
    p.add_argument("--user", required=True)
    p.add_argument("--rendered-file", help="inferbench's rendering, to compare with ours")
    p.add_argument("--max-new-tokens", type=int, default=500)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--ignore-eos", action="store_true")
    p.add_argument("--threads", type=int)
    torch_knobs.add_arguments(p)
    a = p.parse_args()

    t_start = time.perf_counter()
    import torch  # noqa: E402  (imported late so --help is fast)
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

    if a.threads:
        torch.set_num_threads(a.threads)
    if a.seed is not None:
        torch.manual_seed(a.seed)

    device = torch_knobs.pick_device(torch, a.device)
    dtype = torch_knobs.pick_dtype(torch, a.dtype, device)
    knob_kw = torch_knobs.model_kwargs(a)  # before loading: a knob we cannot honour fails fast
    model_kw = {}
    model_dir = a.model
    if a.model.endswith(".gguf"):
        model_dir = os.path.dirname(os.path.abspath(a.model))
        model_kw["gguf_file"] = os.path.basename(a.model)
    tok_dir = a.tokenizer or model_dir
    tok_kw = dict(model_kw) if not a.tokenizer else {}
    tokenizer = AutoTokenizer.from_pretrained(tok_dir, **tok_kw)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=dtype, **model_kw, **knob_kw
    )
    device = torch_knobs.place(model, a, device)
    model.eval()
    torch_knobs.apply_compile(torch, model, a.compile)
    print(json.dumps({"settings": torch_knobs.report(torch, transformers, a, model)}), flush=True)

    if a.chat_template_file:
        with open(a.chat_template_file, encoding="utf-8") as f:
            tokenizer.chat_template = f.read()
    messages = []
    if a.system:
        messages.append({"role": "system", "content": a.system})
    messages.append({"role": "user", "content": a.user})
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    rendered_matches = None
    if a.rendered_file:
        with open(a.rendered_file, encoding="utf-8") as f:
            rendered_matches = f.read() == rendered
    # Tokenize the rendered text without adding a second BOS (the template prints it).
    enc = tokenizer(rendered, return_tensors="pt", add_special_tokens=False)
    input_ids = enc["input_ids"].to(device)
    attention = enc["attention_mask"].to(device)
    prompt_len = input_ids.shape[1]

    gen_kw = dict(max_new_tokens=a.max_new_tokens, **torch_knobs.generate_kwargs(a, model.generation_config))
    if a.temperature and a.temperature > 0:
        gen_kw.update(do_sample=True, temperature=a.temperature)
        if a.top_p is not None:
            gen_kw["top_p"] = a.top_p
        gen_kw["top_k"] = a.top_k if a.top_k is not None else 0
    else:
        gen_kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if a.ignore_eos:
        gen_kw["min_new_tokens"] = a.max_new_tokens

    compile_ms = None
    if a.compile != "off":
        # torch.compile compiles on the first calls: one untimed generate of the same
        # prompt and length, so the timed one runs compiled graphs of the same shapes.
        t_c = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids=input_ids, attention_mask=attention, **gen_kw)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        compile_ms = (time.perf_counter() - t_c) * 1000.0
        if a.seed is not None:
            torch.manual_seed(a.seed)  # the timed run samples as it would uncompiled
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    load_ms = (time.perf_counter() - t_start) * 1000.0

    class TimedStreamer(TextIteratorStreamer):
        """Stamps each generated token when generate() hands it over."""

        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.token_times = []

        def put(self, value):
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                now = time.perf_counter()
                self.token_times.extend([now] * max(1, int(value.numel())))
            super().put(value)

    streamer = TimedStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    result = {}

    def run():
        try:
            with torch.inference_mode():
                result["out"] = model.generate(
                    input_ids=input_ids, attention_mask=attention, streamer=streamer, **gen_kw
                )
        except BaseException as e:  # reported below, never swallowed
            result["error"] = repr(e)
            streamer.on_finalized_text("", stream_end=True)

    t0 = time.perf_counter()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    items = 0
    for piece in streamer:
        if piece:
            items += 1
    worker.join()
    t_end = time.perf_counter()
    if "error" in result:
        print(json.dumps({"error": result["error"]}), flush=True)
        return 1
    cache = torch_knobs.cache_kind(result["out"])
    out = result["out"].sequences
    output_ids = out[0, prompt_len:]
    text = tokenizer.decode(output_ids, skip_special_tokens=True)
    peak_gpu = None
    if device.startswith("cuda"):
        peak_gpu = torch.cuda.max_memory_allocated() / (1024 * 1024)
    # ru_maxrss is KiB on Linux (bytes on macOS): this process only, not its children.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_rss_mib = rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
    times = streamer.token_times
    first = times[0] if times else None
    last = times[-1] if times else None
    ttft_ms = (first - t0) * 1000.0 if first is not None else None
    line = {
        "load_ms": load_ms,
        "ttft_ms": ttft_ms,
        "prefill_ms": ttft_ms,
        "decode_ms": (last - first) * 1000.0 if first is not None else None,
        "generate_ms": (t_end - t0) * 1000.0,
        "prompt_tokens": int(prompt_len),
        "output_tokens": int(output_ids.shape[0]),
        "stream_items": items,
        "device": device,
        "dtype": str(dtype).replace("torch.", ""),
        "peak_memory_mib": peak_gpu,
        "peak_rss_mib": peak_rss_mib,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "rendered_matches": rendered_matches,
        "compile_ms": compile_ms,
        "settings": torch_knobs.report(torch, transformers, a, model, cache=cache, compile_ms=compile_ms),
        "text": text,
    }
    print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as e:
        # A message (a knob the machine cannot honour) becomes the JSON error line.
        if isinstance(e.code, str):
            print(json.dumps({"error": e.code}), flush=True)
            sys.exit(1)
        raise
    except BaseException as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
