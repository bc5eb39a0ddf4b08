#!/usr/bin/env bash
# llama.cpp across several NVIDIA GPUs of one host that reaches no network (copy the
# repository and the kit to it, as for scripts/gpu-bench.sh): the same model and prompts on
# 1, 2 and 4 GPUs (as many as the host has), each with split mode layer and row (1 GPU:
# none), and a scaling table.
#
#   1. build llama.cpp with CUDA from the kit's source (all cores), or use LLAMA_BIN_DIR,
#   2. make a Gemma-3-1B-shaped GGUF with random weights (scripts/random_gemma_gguf.py),
#   3. for each GPU count and split mode, a config with llama.cpp's multi-GPU settings
#      (engines.llamacpp / servers.llamacpp: gpus, split_mode, tensor_split, main_gpu;
#      inferbench sets CUDA_VISIBLE_DEVICES for the engine) and, with it:
#        llama-bench (same -sm/-ts/-mg, same CUDA_VISIBLE_DEVICES) for the cross-check,
#        inferbench CLI mode and API mode at c=1, and a c=64 load step against a
#        llama-server inferbench starts (one slot per stream),
#   4. write every report under $RESULTS_DIR (default /tmp/multigpu), the table
#      (TABLE.md, scripts/scaling_table.py) and pack them into multigpu.tar.xz in $PACK_DIR
#      (default: beside $RESULTS_DIR).
#
# The tensor split is even (1/1, 1/1/1/1) and the main GPU the first. Steps that do not fit
# before DEADLINE are skipped and say so in steps.tsv; the layer splits run before the row
# splits so that a short time budget still has every GPU count.
#
# Kit: the same .gpu-kit/ as scripts/gpu-bench.sh (scripts/gpu-kit.sh makes it); its
# inferbench must be built at a commit that knows the multi-GPU keys.
#
#   scripts/multigpu.sh                    # on the GPU host, from the repo root
#   LLAMA_BIN_DIR=~/.cache/inferbench/bin SHAPE=tiny GPU_COUNTS=1 MAX_TOKENS=16 RUNS=2 \
#     LOAD_C=4 LOAD_REQUESTS=8 DEADLINE=300 scripts/multigpu.sh   # dry run on a CPU
#   mkdir -p docs/results/multigpu && tar -xJf multigpu.tar.xz -C docs/results/multigpu --strip-components=1
#
# Settings (environment): GPU_COUNTS (e.g. "1,2,4"; default those of 1, 2, 4 the machine
# has, 1 without a GPU), SPLITS (default "layer,row"), SHAPE (1b), MAX_TOKENS (128), RUNS
# (5), LOAD_C (64), LOAD_REQUESTS (128), LOAD_TOKENS (64), DEADLINE (3600 s), IB_BIN (the
# inferbench binary), MULTIGPU_HOME (its INFERBENCH_HOME, default /tmp/ib-mg).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${IB_KIT:-$REPO/.gpu-kit}"
R="${RESULTS_DIR:-/tmp/multigpu}"
PACK="${PACK_DIR:-$(dirname "$R")}"
SHAPE="${SHAPE:-1b}"
DEADLINE="${DEADLINE:-3600}"
MAX_TOKENS="${MAX_TOKENS:-128}"
RUNS="${RUNS:-5}"
LOAD_C="${LOAD_C:-64}"
LOAD_REQUESTS="${LOAD_REQUESTS:-128}"
LOAD_TOKENS="${LOAD_TOKENS:-64}"
SPLITS="${SPLITS:-layer,row}"
# Its own home, whatever the shell has (env.sh points INFERBENCH_HOME at the setup cache).
export INFERBENCH_HOME="${MULTIGPU_HOME:-/tmp/ib-mg}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$R" "$INFERBENCH_HOME/bin" "$PACK"
pack() {
    tar -cJf "$PACK/multigpu.tar.xz" -C "$(dirname "$R")" "$(basename "$R")" 2>/dev/null
    [ "$PACK" = "$(dirname "$R")" ] && return 0
    cp "$R/multigpu.log" "$R/steps.tsv" "$PACK/" 2>/dev/null
    [ -s "$R/TABLE.md" ] && cp "$R/TABLE.md" "$PACK/"
}
trap pack EXIT
cd "$REPO" || exit 1
T0=$SECONDS
NCPU="$(nproc)"
LOG="$R/multigpu.log"
. "$REPO/scripts/lib/steps.sh"        # log, left, step
. "$REPO/scripts/lib/llama-build.sh"  # llama_backend, llama_build_tar, llama_link_tools, llama_bench_json
. "$REPO/scripts/lib/kit.sh"          # kit_wheels, kit_model

IB="${IB_BIN:-$KIT/inferbench}"
[ -x "$IB" ] || IB="$REPO/target/release/inferbench"
[ -x "$IB" ] || IB="$REPO/target/debug/inferbench"
[ -x "$IB" ] || { log "no inferbench binary (IB_BIN, $KIT, target/release, target/debug)"; exit 1; }
PY="${PY:-$(command -v python3)}"

# --- the machine ------------------------------------------------------------------------------
NGPU="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | grep -c .)"
{
    echo "commit: $(cat "$KIT/COMMIT" 2>/dev/null || git -C "$REPO" rev-parse HEAD 2>/dev/null)"
    echo "inferbench: $IB"
    echo "date: $(date -u +%FT%TZ)"
    echo "cpus: $NCPU"
    echo "gpus: $NGPU"
    nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version,clocks.max.memory --format=csv 2>&1
    nvidia-smi topo -m 2>&1
    env | grep -E '^(NCCL|CUDA)_' | sort
} >"$R/machine.txt"
log "machine: $(tr '\n' ' ' <"$R/machine.txt" | cut -c1-300)"

if [ -z "${GPU_COUNTS:-}" ]; then
    GPU_COUNTS=""
    for n in 1 2 4; do [ "$n" -le "$NGPU" ] && GPU_COUNTS="$GPU_COUNTS $n"; done
    [ -n "$GPU_COUNTS" ] || GPU_COUNTS=1
fi
read -ra COUNTS <<<"${GPU_COUNTS//,/ }"
read -ra SPLIT_LIST <<<"${SPLITS//,/ }"
# Layer splits first: a run that runs out of time still covers every GPU count.
PLAN=()
for n in "${COUNTS[@]}"; do [ "$n" -eq 1 ] && PLAN+=("1:none"); done
for s in "${SPLIT_LIST[@]}"; do
    for n in "${COUNTS[@]}"; do [ "$n" -gt 1 ] && PLAN+=("$n:$s"); done
done
log "plan: ${PLAN[*]} (GPUs:split; the machine has $NGPU GPU(s))"

# --- 1. llama.cpp --------------------------------------------------------------------------------
if [ -n "${LLAMA_BIN_DIR:-}" ]; then
    LLB="$LLAMA_BIN_DIR"
    log "llama.cpp: using the build in $LLB"
else
    LLB=/tmp/llb/build/bin
    log "llama.cpp: $(llama_backend) build started (sm_$(llama_cuda_arch 2>/dev/null || echo -))"
    llama_build_tar "$KIT/llama-src.tar.xz" /tmp/llb "$NCPU" >"$R/llama-build.log" 2>&1 &
    BUILD_PID=$!
fi

# --- 2. the model, while it builds -----------------------------------------------------------------
kit_wheels "$KIT"
kit_model "$KIT" "$SHAPE" || { log "no model: nothing to measure"; exit 1; }
CONFIG="$R/benchmark_config.json"
"$PY" "$REPO/scripts/lib/bench_config.py" base "$REPO/benchmark_config.json" "$CONFIG" "$MODEL" "$TOKDIR" "$PY" "$MAX_TOKENS"

if [ -z "${LLAMA_BIN_DIR:-}" ]; then
    log "llama.cpp: waiting for the build"
    if wait "$BUILD_PID"; then log "llama.cpp: built"; else log "llama.cpp: build FAILED (llama-build.log)"; fi
    tail -30 "$R/llama-build.log" >"$R/llama-build.tail.log"
    rm -f "$R/llama-build.log"
fi
llama_link_tools "$LLB" "$INFERBENCH_HOME/bin"
export PATH="$INFERBENCH_HOME/bin:$PATH"
"$INFERBENCH_HOME/bin/llama-server" --version >"$R/llama-version.txt" 2>&1

# --- 3. each GPU count and split mode ------------------------------------------------------------
join_by() { local IFS="$1"; shift; echo "$*"; }
for item in "${PLAN[@]}"; do
    n="${item%%:*}" split="${item#*:}"
    tag="g$n-$split"
    dir="$R/$tag"
    mkdir -p "$dir"
    devs=() shares=()
    for ((i = 0; i < n; i++)); do devs+=("$i"); shares+=(1); done
    visible="$(join_by , "${devs[@]}")"
    cfg="$dir/benchmark_config.json"
    bench=(-m "$MODEL" -ngl 99 -p 512 -n "$MAX_TOKENS" -r 3 -sm "$split" -mg 0 -o json)
    if [ "$n" -gt 1 ]; then
        "$PY" "$REPO/scripts/lib/bench_config.py" llamacpp "$CONFIG" "$cfg" --gpus "$visible" \
            --split-mode "$split" --tensor-split "$(join_by , "${shares[@]}")" --main-gpu 0
        bench+=(-ts "$(join_by / "${shares[@]}")")
    else
        "$PY" "$REPO/scripts/lib/bench_config.py" llamacpp "$CONFIG" "$cfg" --gpus 0 --split-mode none --main-gpu 0
    fi
    # The settings go through inferbench's config; a binary that does not know the keys gets,
    # on one GPU, the engine pinned by the environment instead, and no multi-GPU row.
    via=config
    wrap=()
    if ! "$IB" config --config "$cfg" >"$dir/config-check.log" 2>&1; then
        if [ "$n" -eq 1 ]; then
            "$PY" "$REPO/scripts/lib/bench_config.py" llamacpp "$CONFIG" "$cfg"
            via="environment (this inferbench rejects the multi-GPU keys: config-check.log)"
            wrap=(env CUDA_VISIBLE_DEVICES=0)
        else
            via="skipped: this inferbench rejects the multi-GPU keys (config-check.log)"
        fi
        log "$tag: $via"
    fi
    printf '{"gpus": %s, "devices": [%s], "split_mode": "%s", "tensor_split": [%s], "main_gpu": 0, "cuda_visible_devices": "%s", "settings_via": "%s", "llama_bench_args": "%s"}\n' \
        "$n" "$visible" "$split" "$(join_by , "${shares[@]}")" "$visible" "$via" "${bench[*]}" >"$dir/setup.json"
    case "$via" in skipped*) continue ;; esac

    step "$tag-llama-bench" 20 90 env CUDA_VISIBLE_DEVICES="$visible" "$INFERBENCH_HOME/bin/llama-bench" "${bench[@]}" \
        && { llama_bench_json "$R/$tag-llama-bench.log" "$dir/llama-bench.json" 2>>"$LOG" || log "$tag: no JSON in llama-bench's output"; }
    common=(--config "$cfg" --html -q)
    step "$tag-cli" 30 120 "${wrap[@]}" "$IB" cli --engines llamacpp --quick --runs "$RUNS" --warmup 1 \
        --out-dir "$dir/cli" "${common[@]}"
    step "$tag-api" 30 120 "${wrap[@]}" "$IB" api --engines llamacpp --quick --runs "$RUNS" --warmup 1 \
        --out-dir "$dir/api" "${common[@]}"
    step "$tag-load" 40 150 "${wrap[@]}" "$IB" api --engines llamacpp --concurrency "$LOAD_C" \
        --requests "$LOAD_REQUESTS" --max-tokens "$LOAD_TOKENS" --out-dir "$dir/load" "${common[@]}"
done

# --- 4. what came out ----------------------------------------------------------------------------
nvidia-smi -q -d MEMORY,CLOCK,POWER >"$R/nvidia-smi.txt" 2>&1
cp "$INFERBENCH_HOME"/*.json "$R/" 2>/dev/null
"$PY" "$REPO/scripts/scaling_table.py" "$R" >"$R/TABLE.md" 2>"$R/table.log" || log "table: failed (table.log)"
log "done: $(left) s left"
