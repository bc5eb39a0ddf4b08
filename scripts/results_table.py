#!/usr/bin/env python3
"""One Markdown table from several inferbench results files (the seed's headline table).

  results_table.py DIR            # every DIR/*/output/*.json, plus DIR/llama-bench.json
                                  # and DIR/not-run.tsv (mode, engine, why: rows kept)

Reads only what inferbench wrote (and llama-bench's JSON for the cross-check); computes
nothing but means over the measured runs a results file already holds, so every cell can
be traced to a file. Cells with no figure are "–".
"""

import glob
import json
import os
import re
import sys


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def cell(v):
    """One table cell: line breaks (a multi-line reason) folded into one space, `|` escaped,
    so that a cell never breaks the table's row."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(v)).strip().replace("|", "\\|")


def row(*cells):
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def summary(doc, engine, metric, stat="mean"):
    for s in doc.get("summaries", []):
        if s.get("engine") == engine and s.get("tier") == "all":
            m = s.get("metrics", {}).get(metric)
            return m.get(stat) if m else None
    return None


def measured_runs(doc, engine):
    return [r for r in doc.get("runs", [])
            if r.get("engine") == engine and not r.get("warmup") and r.get("ok")]


def tele(runs, key):
    return mean([(r.get("telemetry") or {}).get(key) for r in runs])


def temps(runs):
    """The sampling temperature where it is 0 (greedy), which a row must say; else nothing."""
    ts = {(r.get("sampling") or {}).get("temperature") for r in runs}
    return [0] if ts == {0.0} else []


def engine_rows(path, doc):
    rows = []
    for e in doc.get("engines", []):
        name = e.get("engine")
        if e.get("left_out"):
            rows.append(dict(file=path, mode=doc.get("mode"), engine=name, left_out=e["left_out"]))
            continue
        runs = measured_runs(doc, name)
        if not runs:
            continue
        bw = e.get("bandwidth") or {}
        gm = e.get("gpu_memory") or {}
        roof = e.get("roofline_tps")
        dec = summary(doc, name, "decode_tps")
        settings = e.get("engine_settings") or {}
        shown = {k: (v or {}).get("effective") for k, v in settings.items()
                 if k in ("dtype", "attn_implementation", "compile", "cache_implementation")}
        backend = (settings.get("backend") or {}).get("effective")
        rows.append(dict(
            file=path, mode=doc.get("mode"), engine=name,
            device=backend or e.get("device"),
            runs=len(runs), decode=dec, engine_decode=summary(doc, name, "engine_decode_tps"),
            # Ollama's wall clock (its eval rate leaves its sampler's time out): the
            # like-for-like figure ours is compared with, where the engine gives one.
            engine_wall=mean([(r.get("engine_report") or {}).get("decode_wall_tps")
                              for r in runs]),
            # Where every run's decode figure is the engine's own (a CLI that prints its
            # rate), "ours" is theirs and there are not two clocks to compare.
            ours_is_engine=all(r.get("decode_tps_source") == "engine_clock" for r in runs),
            ttft=summary(doc, name, "ttft_ms", "p50"), roof=roof,
            pct=(100.0 * dec / roof) if dec and roof else None, bw_label=bw.get("label"),
            gpu_mib=gm.get("mib"), gpu_mem_source=gm.get("source") or gm.get("reason"),
            power=tele(runs, "gpu_power_mean_w"), jpt=tele(runs, "gpu_j_per_token"),
            settings=", ".join([f"{k} {v}" for k, v in shown.items() if v]
                               + [f"temperature {t}" for t in temps(runs)])))
    return rows


def load_rows(path, doc):
    caps = {e.get("engine"): (e.get("capacity") or {}) for e in doc.get("engines", [])}
    rows = []
    for s in doc.get("load", []):
        cap = caps.get(s.get("engine"), {})
        rows.append(dict(
            file=path, engine=s.get("engine"), step=s.get("step"), ok=s.get("ok"),
            failed=s.get("failed"), tps=s.get("output_tps"),
            ttft=(s.get("metrics", {}).get("ttft_ms") or {}).get("p50"),
            slots=cap.get("streams"), slots_source=cap.get("source"),
            power=(s.get("telemetry") or {}).get("gpu_power_mean_w"),
            jpt=(s.get("telemetry") or {}).get("gpu_j_per_token"),
            flags=", ".join(sorted({f.get("kind") for f in s.get("flags", [])}))))
    return rows


def llama_bench(path):
    try:
        data = json.load(open(path))
    except (OSError, ValueError):
        return []
    out = []
    for t in data:
        kind = f"pp{t.get('n_prompt')}" if t.get("n_prompt") else f"tg{t.get('n_gen')}"
        out.append(dict(test=kind, fa=t.get("flash_attn"), tps=t.get("avg_ts"), sd=t.get("stddev_ts")))
    return out


def not_run(path):
    """(mode, engine, why) for each engine the GPU script could not run (not-run.tsv)."""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return []
    return [tuple((line.split("\t") + ["", "", ""])[:3]) for line in lines if line.strip()]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    files = sorted(glob.glob(os.path.join(root, "*", "output", "*.json")))
    rows, loads = [], []
    for f in files:
        try:
            doc = json.load(open(f))
        except (OSError, ValueError) as e:
            print(f"skipped {f}: {e}", file=sys.stderr)
            continue
        if "engines" not in doc:
            continue
        rel = os.path.relpath(f, root)
        if doc.get("load"):
            loads += load_rows(rel, doc)  # per-request decode under load is not batch 1
        else:
            rows += engine_rows(rel, doc)

    print("| Mode | Engine | Device (back end) | Settings | Runs | Decode tok/s (ours) "
          "| Decode tok/s (engine) | Ours vs engine | TTFT p50 ms | Roofline tok/s | % of roofline "
          "| GPU memory MiB | GPU power W | GPU J/token | File |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "left_out" in r:
            print(row(r["mode"], r["engine"], "–", "–", 0, f"left out: {r['left_out']}",
                      "–", "–", "–", "–", "–", "–", "–", "–", r["file"]))
            continue
        pct = f"{r['pct']:.0f}% {r['bw_label'] or ''}".strip() if r["pct"] is not None else "–"
        mem = fmt(r["gpu_mib"], 0) + (f" ({r['gpu_mem_source']})" if r["gpu_mem_source"] else "")
        theirs = r["engine_wall"] or r["engine_decode"]
        gap = (f"{100.0 * (r['decode'] / theirs - 1):+.1f}%" if r["decode"] and theirs else "–")
        if r["ours_is_engine"]:
            gap = "– (ours is the engine's figure)"
        elif r["engine_wall"] and gap != "–":
            gap += " vs its wall clock"
        engine = fmt(r["engine_decode"])
        if r["engine_wall"] and r["engine_decode"]:
            engine = f"{engine} eval, {fmt(r['engine_wall'])} wall"
        print(row(r["mode"], r["engine"], fmt(r["device"]), r["settings"] or "–", r["runs"],
                  fmt(r["decode"]), engine, gap, fmt(r["ttft"]),
                  fmt(r["roof"], 0), pct, mem, fmt(r["power"]), fmt(r["jpt"], 3), r["file"]))
    for mode, engine, why in not_run(os.path.join(root, "not-run.tsv")):
        print(row(mode, engine, "–", "–", 0, f"not run: {why}", "–", "–", "–", "–", "–", "–",
                  "–", "–", "not-run.tsv"))

    if loads:
        print()
        print("| Load step | Engine | OK | Failed | Output tok/s | TTFT p50 ms | Engine slots | "
              "GPU power W | GPU J/token | Flags | File |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in loads:
            slots = fmt(r["slots"]) + (f" ({r['slots_source']})" if r["slots_source"] else "")
            print(row(r["step"], r["engine"], r["ok"], r["failed"], fmt(r["tps"]), fmt(r["ttft"]),
                      slots, fmt(r["power"]), fmt(r["jpt"], 3), r["flags"] or "–", r["file"]))

    lb = llama_bench(os.path.join(root, "llama-bench.json"))
    if lb:
        print()
        print("| llama-bench | flash attention | tok/s | ± |")
        print("|---|---|---|---|")
        for t in lb:
            print(row(t["test"], fmt(t["fa"]), fmt(t["tps"]), fmt(t["sd"])))


if __name__ == "__main__":
    main()
