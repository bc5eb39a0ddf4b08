# Sourced by scripts/gpu-bench.sh and scripts/multigpu.sh after scripts/lib/steps.sh: the
# kit (scripts/gpu-kit.sh makes it) turned into Python packages and a model.
#
#   kit_wheels KIT             installs KIT/whl/*.whl into /tmp/site for $PY (PYTHONPATH)
#   kit_model KIT SHAPE [WRAP...]
#                              writes a Gemma-3-shaped GGUF with random weights under
#                              $INFERBENCH_HOME/models (step make-model, run under WRAP,
#                              e.g. taskset -c 0-1) and sets MODEL and TOKDIR
#
# Without a kit (a dry run on a machine where scripts/setup.sh ran) the tokenizer comes from
# the setup cache's Gemma 3 270M GGUF and tokenizer.json, and the model is written by the
# setup venv's Python where $PY has no gguf module.

KIT_SETUP_HOME="${KIT_SETUP_HOME:-$HOME/.cache/inferbench}"

kit_wheels() {
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
    if ls "$1"/whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site "$1"/whl/*.whl >"$R/pip.log" 2>&1 || log "pip install of the kit's wheels failed (see pip.log)"
    fi
}

kit_model() {
    local kit="$1" shape="$2" tok="$1/gemma3-tokenizer.json.xz" py="$PY" mdir
    local cache="$KIT_SETUP_HOME/models/gemma-3-270m"
    shift 2
    mdir="$INFERBENCH_HOME/models/gemma-3-$shape-random"
    MODEL="$mdir/gemma-3-$shape-random-f16.gguf"
    TOKDIR="$mdir/tokenizer"
    mkdir -p "$TOKDIR"
    if [ -s "$kit/tokenizer/tokenizer.json.xz" ]; then
        xz -dc "$kit/tokenizer/tokenizer.json.xz" >"$TOKDIR/tokenizer.json"
        cp "$kit/tokenizer/tokenizer_config.json" "$TOKDIR/"
    else
        log "no kit tokenizer in $kit: using $cache/tokenizer"
        cp "$cache/tokenizer/tokenizer.json" "$cache/tokenizer/tokenizer_config.json" "$TOKDIR/"
    fi
    if [ ! -s "$tok" ]; then
        tok="$cache/gemma-3-270m-Q4_K_M.gguf"
        log "no kit GGUF tokenizer: reading it from $tok"
    fi
    if ! "$py" -c 'import gguf' 2>/dev/null && [ -x "$KIT_SETUP_HOME/venv/bin/python" ]; then
        py="$KIT_SETUP_HOME/venv/bin/python"
        log "$PY has no gguf module: the model is written by $py"
    fi
    step make-model 30 120 "$@" "$py" "$REPO/scripts/random_gemma_gguf.py" make \
        --tokenizer "$tok" --out "$MODEL" --shape "$shape"
}
