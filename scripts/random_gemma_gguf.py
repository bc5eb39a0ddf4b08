#!/usr/bin/env python3
"""A Gemma-3-shaped GGUF with random weights, made on the spot, for GPU runs.

No model hub is reachable from our machines and a device call carries at most 64 MiB of
files, so a real 1B GGUF cannot travel to the GPU. Decode speed does not depend on the
weights' values (the same bytes are read per token), so a file with Gemma 3 1B's shapes
and random F16 weights measures what the real one would. Its outputs are noise: every
report made with it says so.

The tokenizer is the real Gemma 3 one (262,144 SentencePiece pieces, bos 2, eos 1,
add_space_prefix false), copied from a real Gemma 3 GGUF, or from a compact export of one
(`export-tokenizer`), so llama-server tokenizes exactly as our tokenizer.json does and the
fairness gate passes for the right reason.

  random_gemma_gguf.py export-tokenizer gemma-3-270m-Q4_K_M.gguf gemma3-tokenizer.json.xz
  random_gemma_gguf.py make --tokenizer gemma3-tokenizer.json.xz --out gemma-3-1b-random-f16.gguf

Needs numpy and gguf (gguf-py, the llama.cpp source's GGUF library: PyPI `gguf`).
"""

import argparse
import json
import lzma
import sys
import time

import numpy as np

# Gemma 3 text-model shapes (the published configs' values).
SHAPES = {
    "1b": dict(hidden=1152, ffn=6912, blocks=26, heads=4, kv_heads=1, head_dim=256,
               context=32768, window=512, rope_base=1_000_000.0, label="1B"),
    "270m": dict(hidden=640, ffn=2048, blocks=18, heads=4, kv_heads=1, head_dim=256,
                 context=32768, window=512, rope_base=1_000_000.0, label="270M"),
    # For tests only: tiny and fast, same tokenizer.
    "tiny": dict(hidden=64, ffn=128, blocks=2, heads=2, kv_heads=1, head_dim=32,
                 context=4096, window=512, rope_base=1_000_000.0, label="tiny"),
}

TOKENIZER_KEYS = {
    "model": "tokenizer.ggml.model",
    "pre": "tokenizer.ggml.pre",
    "bos": "tokenizer.ggml.bos_token_id",
    "eos": "tokenizer.ggml.eos_token_id",
    "unk": "tokenizer.ggml.unknown_token_id",
    "pad": "tokenizer.ggml.padding_token_id",
    "add_bos": "tokenizer.ggml.add_bos_token",
    "add_eos": "tokenizer.ggml.add_eos_token",
    "add_space_prefix": "tokenizer.ggml.add_space_prefix",
}


def tokenizer_from_gguf(path):
    from gguf import GGUFReader

    r = GGUFReader(path)
    if r.fields["general.architecture"].contents() != "gemma3":
        sys.exit(f"{path}: not a Gemma 3 GGUF (architecture "
                 f"{r.fields['general.architecture'].contents()!r})")
    tok = {name: r.fields[key].contents() for name, key in TOKENIZER_KEYS.items()
           if key in r.fields}
    tok["tokens"] = r.fields["tokenizer.ggml.tokens"].contents()
    tok["scores"] = [float(s) for s in r.fields["tokenizer.ggml.scores"].contents()]
    tok["token_type"] = [int(t) for t in r.fields["tokenizer.ggml.token_type"].contents()]
    return tok


def load_tokenizer(path):
    if path.endswith(".gguf"):
        tok = tokenizer_from_gguf(path)
    else:
        with lzma.open(path, "rt", encoding="utf-8") as f:
            tok = json.load(f)
    # What Gemma 3 needs for llama.cpp to tokenize as the HF tokenizer does.
    want = {"bos": 2, "eos": 1, "add_space_prefix": False, "model": "llama"}
    bad = {k: tok.get(k) for k, v in want.items() if tok.get(k) != v}
    if bad:
        sys.exit(f"{path}: tokenizer metadata is not Gemma 3's: {bad} (want {want})")
    if len(tok["tokens"]) != 262144:
        sys.exit(f"{path}: {len(tok['tokens'])} tokens, Gemma 3 has 262144")
    return tok


def export_tokenizer(src, out):
    tok = tokenizer_from_gguf(src)
    with lzma.open(out, "wt", encoding="utf-8", preset=6) as f:
        json.dump(tok, f, ensure_ascii=False)
    print(f"{out}: {len(tok['tokens'])} tokens from {src}")


class Weights:
    """Random F16 values: one random pool, each tensor a different window of it."""

    def __init__(self, seed, pool=1 << 24):
        self.rng = np.random.default_rng(seed)
        self.pool = (self.rng.standard_normal(pool, dtype=np.float32) * 0.02).astype(np.float16)

    def matrix(self, rows, cols):
        n = rows * cols
        reps = -(-n // self.pool.size) + 1
        start = int(self.rng.integers(0, self.pool.size))
        flat = np.tile(self.pool, reps)[start:start + n]
        return flat.reshape(rows, cols)


def make(tokenizer, out, shape, seed):
    from gguf import GGUFWriter, GGMLQuantizationType

    s = SHAPES[shape]
    tok = load_tokenizer(tokenizer)
    t0 = time.time()
    w = GGUFWriter(out, "gemma3")
    w.add_name(f"Gemma 3 {s['label']} random weights (inferbench; outputs are noise)")
    w.add_type("model")
    w.add_context_length(s["context"])
    w.add_embedding_length(s["hidden"])
    w.add_block_count(s["blocks"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_key_length(s["head_dim"])
    w.add_value_length(s["head_dim"])
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(s["rope_base"])
    w.add_sliding_window(s["window"])
    w.add_file_type(1)  # mostly F16

    w.add_tokenizer_model(tok["model"])
    w.add_tokenizer_pre(tok.get("pre", "default"))
    w.add_token_list(tok["tokens"])
    w.add_token_scores(tok["scores"])
    w.add_token_types(tok["token_type"])
    w.add_bos_token_id(tok["bos"])
    w.add_eos_token_id(tok["eos"])
    if "unk" in tok:
        w.add_unk_token_id(tok["unk"])
    if "pad" in tok:
        w.add_pad_token_id(tok["pad"])
    w.add_add_bos_token(bool(tok.get("add_bos", True)))
    w.add_add_eos_token(bool(tok.get("add_eos", False)))
    w.add_add_space_prefix(False)

    rnd = Weights(seed)
    h, f, hd = s["hidden"], s["ffn"], s["head_dim"]
    q, kv = s["heads"] * hd, s["kv_heads"] * hd
    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731 (norm weights: unit scale)
    f16 = GGMLQuantizationType.F16
    w.add_tensor("token_embd.weight", rnd.matrix(len(tok["tokens"]), h), raw_dtype=f16)
    w.add_tensor("output_norm.weight", ones(h))
    for b in range(s["blocks"]):
        p = f"blk.{b}."
        w.add_tensor(p + "attn_norm.weight", ones(h))
        w.add_tensor(p + "attn_q.weight", rnd.matrix(q, h), raw_dtype=f16)
        w.add_tensor(p + "attn_k.weight", rnd.matrix(kv, h), raw_dtype=f16)
        w.add_tensor(p + "attn_v.weight", rnd.matrix(kv, h), raw_dtype=f16)
        w.add_tensor(p + "attn_q_norm.weight", ones(hd))
        w.add_tensor(p + "attn_k_norm.weight", ones(hd))
        w.add_tensor(p + "attn_output.weight", rnd.matrix(h, q), raw_dtype=f16)
        w.add_tensor(p + "post_attention_norm.weight", ones(h))
        w.add_tensor(p + "ffn_norm.weight", ones(h))
        w.add_tensor(p + "ffn_gate.weight", rnd.matrix(f, h), raw_dtype=f16)
        w.add_tensor(p + "ffn_up.weight", rnd.matrix(f, h), raw_dtype=f16)
        w.add_tensor(p + "ffn_down.weight", rnd.matrix(h, f), raw_dtype=f16)
        w.add_tensor(p + "post_ffw_norm.weight", ones(h))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"{out}: Gemma 3 {s['label']}-shaped, random F16 weights (seed {seed}), "
          f"{time.time() - t0:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export-tokenizer", help="copy a Gemma 3 GGUF's tokenizer to a .json.xz")
    e.add_argument("src")
    e.add_argument("out")
    m = sub.add_parser("make", help="write a random-weight Gemma-3-shaped GGUF")
    m.add_argument("--tokenizer", required=True, help="a Gemma 3 .gguf or an exported .json.xz")
    m.add_argument("--out", required=True)
    m.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    m.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "export-tokenizer":
        export_tokenizer(a.src, a.out)
    else:
        make(a.tokenizer, a.out, a.shape, a.seed)


if __name__ == "__main__":
    main()
