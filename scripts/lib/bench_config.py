#!/usr/bin/env python3
"""Config files for the GPU scripts (scripts/gpu-bench.sh, scripts/multigpu.sh).

  bench_config.py base SRC DST MODEL TOKDIR PYTHON MAX_TOKENS
      the shipped config SRC pointed at MODEL (every engine but uzu), the tokenizer in
      TOKDIR, PyTorch on PYTHON, MAX_TOKENS tokens and 3 runs
  bench_config.py llamacpp SRC DST [--gpus 0,1] [--split-mode layer] [--tensor-split 1,1]
                  [--main-gpu 0]
      SRC with llama.cpp's multi-GPU settings (engines.llamacpp and servers.llamacpp: gpus,
      split_mode, tensor_split, main_gpu); an option left out removes the key
"""

import argparse
import json
import sys


def base(src, dst, model, tokdir, python, max_tokens):
    c = json.load(open(src))
    c["benchmark"].update(max_tokens=int(max_tokens), num_runs=3)
    for section in ("engines", "servers"):
        for key, e in c[section].items():
            if "model_path" in e and key != "uzu":
                e["model_path"] = model
            if key == "pytorch":
                e["python"] = python
                e["tokenizer"] = tokdir + "/tokenizer.json"
            if key == "ollama":
                e["model_name"] = "gemma-3-random-bench"
    c["inferbench"]["tokenizer"] = tokdir + "/tokenizer.json"
    json.dump(c, open(dst, "w"), indent=2)


def numbers(text, kind):
    return [kind(x) for x in text.split(",") if x.strip()]


def llamacpp(src, dst, gpus, split_mode, tensor_split, main_gpu):
    c = json.load(open(src))
    wanted = {
        "gpus": numbers(gpus, int) if gpus else None,
        "split_mode": split_mode,
        "tensor_split": numbers(tensor_split, float) if tensor_split else None,
        "main_gpu": main_gpu,
    }
    for section in ("engines", "servers"):
        e = c[section]["llamacpp"]
        for k, v in wanted.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
    json.dump(c, open(dst, "w"), indent=2)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "base":
        if len(sys.argv) != 8:
            sys.exit(__doc__)
        base(*sys.argv[2:])
        return
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("cmd", choices=["llamacpp"])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--gpus")
    p.add_argument("--split-mode", choices=["none", "layer", "row"])
    p.add_argument("--tensor-split")
    p.add_argument("--main-gpu", type=int)
    a = p.parse_args()
    llamacpp(a.src, a.dst, a.gpus, a.split_mode, a.tensor_split, a.main_gpu)


if __name__ == "__main__":
    main()
