#!/usr/bin/env python3
"""The multi-GPU scaling table from scripts/multigpu.sh's results.

  scaling_table.py DIR      # every DIR/g<N>-<split>/ : setup.json, llama-bench.json,
                            # cli/output/*.json, api/output/*.json, load/output/*.json

One row per GPU count and split mode. Reads only what inferbench and llama-bench wrote
(and the setup.json the script wrote beside them); computes nothing but means over the
measured runs a report holds and the difference of two figures, so every cell can be traced
to a file. A cell with no figure is "–"; fields the reports may not have yet are read
defensively.
"""

import glob
import json
import os
import re
import sys

TOLERANCE_PCT = 5.0


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def report(dirpath):
    """The newest inferbench results file under DIR/output (None without one)."""
    files = sorted(glob.glob(os.path.join(dirpath, "output", "*.json")))
    for f in reversed(files):
        doc = load_json(f)
        if isinstance(doc, dict) and "engines" in doc:
            return doc
    return None


def engine(doc, name="llamacpp"):
    for e in (doc or {}).get("engines") or []:
        if e.get("engine") == name:
            return e
    return None


def summary(doc, metric, stat="mean", name="llamacpp"):
    for s in (doc or {}).get("summaries") or []:
        if s.get("engine") == name and s.get("tier") == "all":
            m = (s.get("metrics") or {}).get(metric)
            return m.get(stat) if isinstance(m, dict) else None
    return None


def measured_runs(doc, name="llamacpp"):
    return [r for r in (doc or {}).get("runs") or []
            if r.get("engine") == name and not r.get("warmup") and r.get("ok")]


def pct_diff(ours, ref):
    """Ours relative to the reference, percent (None without both)."""
    if ours is None or not ref:
        return None
    return 100.0 * (ours - ref) / ref


def number(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def per_gpu_list(value):
    """[(index, MiB)] from a per-GPU field: a list of {index, mib|used_max_mib|...} objects,
    a list of numbers (by position) or an {index: MiB} object."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if number(v) is not None:
                out.append((k, number(v)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, dict):
                mib = next((number(v[k]) for k in ("mib", "engine_max_mib", "used_max_mib", "used_mib")
                            if number(v.get(k)) is not None), None)
                if mib is not None:
                    out.append((v.get("index", i), mib))
            elif number(v) is not None:
                out.append((i, number(v)))
    return out


def engine_per_gpu(e):
    gm = (e or {}).get("gpu_memory") or {}
    for key in ("per_gpu", "per_gpu_mib", "gpus"):
        got = per_gpu_list(gm.get(key))
        if got:
            return got, gm.get("source") or "engine"
    return [], None


def telemetry_per_gpu(docs):
    """Highest memory per GPU over the measured runs' (and load steps') telemetry: the
    engine's own figure where there is one, else the device's memory in use."""
    best = {}
    source = None
    windows = []
    for doc in docs:
        windows += [r.get("telemetry") for r in measured_runs(doc)]
        windows += [s.get("telemetry") for s in (doc or {}).get("load") or []]
    for t in windows:
        for g in (t or {}).get("gpus") or []:
            if not isinstance(g, dict):
                continue
            mib, src = number(g.get("engine_max_mib")), "engine, telemetry"
            if mib is None:
                mib, src = number(g.get("used_max_mib")), "device in use, telemetry"
            if mib is None:
                continue
            i = g.get("index")
            if mib > best.get(i, -1.0):
                best[i] = mib
                source = src if source in (None, src) else "telemetry"
    return sorted(best.items(), key=lambda kv: str(kv[0])), source


def memory_cell(api, cli, load):
    for doc in (api, load, cli):
        got, src = engine_per_gpu(engine(doc))
        if got:
            break
    else:
        got, src = telemetry_per_gpu([api, load, cli])
    if got:
        return " / ".join(f"{fmt(m, 0)}" for _, m in got) + f" ({src})"
    for doc in (api, cli):
        gm = (engine(doc) or {}).get("gpu_memory") or {}
        if number(gm.get("mib")) is not None:
            return f"{fmt(gm['mib'], 0)} total ({gm.get('source') or '?'})"
    return "–"


def llama_bench_tg(path):
    """(tok/s, stddev, test name) of the first tg test in llama-bench's JSON output."""
    data = load_json(path)
    for t in data if isinstance(data, list) else []:
        if isinstance(t, dict) and not t.get("n_prompt") and t.get("n_gen"):
            return number(t.get("avg_ts")), number(t.get("stddev_ts")), f"tg{t['n_gen']}"
    return None, None, None


def load_step(doc):
    steps = [s for s in (doc or {}).get("load") or [] if s.get("engine") in (None, "llamacpp")]
    return steps[-1] if steps else None


def roofline_cell(cli_doc):
    e = engine(cli_doc) or {}
    roof = number(e.get("roofline_tps"))
    dec = summary(cli_doc, "decode_tps")
    if not roof or dec is None:
        return "–"
    bw = e.get("bandwidth") if isinstance(e.get("bandwidth"), dict) else {}
    label = bw.get("label") or ""
    return f"{100.0 * dec / roof:.0f}% of {fmt(roof, 0)} tok/s" + (f" ({label})" if label else "")


def setup_of(dirpath):
    s = load_json(os.path.join(dirpath, "setup.json")) or {}
    m = re.fullmatch(r"g(\d+)-(\w+)", os.path.basename(dirpath))
    if m:
        s.setdefault("gpus", int(m.group(1)))
        s.setdefault("split_mode", m.group(2))
    return s


def settings_notes(setup, docs):
    """Where a report's effective llama.cpp setting differs from the one asked for."""
    asked = {"split_mode": setup.get("split_mode"), "gpus": setup.get("cuda_visible_devices")}
    out = []
    for mode, doc in zip(("cli", "api", "load"), docs):
        settings = (engine(doc) or {}).get("engine_settings") or {}
        if doc is not None and (setup.get("gpus") or 1) > 1 and "split_mode" not in settings:
            out.append(f"{mode}: the report records no split_mode")
        for key, want in asked.items():
            got = (settings.get(key) or {}).get("effective") if isinstance(settings.get(key), dict) else None
            if got is not None and want is not None and str(got) != str(want):
                out.append(f"{mode}: {key} {got} (asked {want})")
    return out


def row(dirpath):
    s = setup_of(dirpath)
    cli, api, load = (report(os.path.join(dirpath, k)) for k in ("cli", "api", "load"))
    cli_dec = summary(cli, "decode_tps")
    tg, tg_sd, tg_name = llama_bench_tg(os.path.join(dirpath, "llama-bench.json"))
    diff = pct_diff(cli_dec, tg)
    if diff is None:
        check = "–"
    else:
        check = f"{diff:+.1f}% ({'within' if abs(diff) <= TOLERANCE_PCT else 'over'} {TOLERANCE_PCT:.0f}%)"
    st = load_step(load)
    if st is None:
        agg = "–"
    else:
        agg = fmt(number(st.get("output_tps")))
        if number(st.get("output_tps_steady")) is not None:
            agg += f" (steady {fmt(number(st['output_tps_steady']))})"
        if st.get("failed"):
            agg += f", {st['failed']} failed"
        agg = f"{st.get('step', '?')}: {agg}"
    tgc = "–" if tg is None else f"{fmt(tg)} ± {fmt(tg_sd)} ({tg_name})"
    via = s.get("settings_via") or ""
    notes = [] if via in ("", "config") else [via]
    notes += settings_notes(s, (cli, api, load))
    note = "; ".join(notes)
    return s.get("gpus"), s.get("split_mode"), [
        fmt(s.get("gpus")), fmt(s.get("split_mode")),
        fmt(cli_dec), fmt(summary(api, "decode_tps")), tgc, check, agg,
        memory_cell(api, cli, load), roofline_cell(cli), note or "–",
        os.path.basename(dirpath)]


SPLIT_ORDER = {"none": 0, "layer": 1, "row": 2}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    dirs = [d for d in glob.glob(os.path.join(root, "g*-*")) if os.path.isdir(d)]
    rows = [row(d) for d in dirs]
    rows.sort(key=lambda r: (r[0] if isinstance(r[0], int) else 99, SPLIT_ORDER.get(r[1], 9)))
    print("| GPUs | Split | Decode tok/s c=1 (CLI) | Decode tok/s c=1 (API) | llama-bench tg tok/s "
          f"| CLI vs llama-bench (check: within {TOLERANCE_PCT:.0f}%) | Aggregate tok/s (load) "
          "| Memory per GPU MiB | % of roofline (CLI) | Note | Directory |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for _, _, cells in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if not rows:
        print(f"\n(no g<N>-<split> directory under {root})")


if __name__ == "__main__":
    main()
