# Sourced by scripts/gpu-bench.sh (after scripts/lib/llama-build.sh, whose llama_nvcc and
# llama_cuda_arch it uses): Ollama with its CUDA back end on a GPU host that has nvcc and
# cmake but no Go toolchain and no network.
#
#   ollama_install_kit KIT PREFIX   the kit's Go binary (KIT/ollama.xz, built by setup.sh
#                                   from the Go module) as PREFIX/bin/ollama
#   ollama_build_cuda KIT PREFIX JOBS [CPUS]
#                                   builds the ggml CUDA library from Ollama's own source
#                                   (KIT/ollama-ggml-src.tar.xz: its CMakeLists.txt and
#                                   ml/backend/ggml/ggml) with Ollama's CMake, for the GPU's
#                                   architecture (ollama_build_cuda_src SRC PREFIX JOBS
#                                   [CPUS]: from a source tree), and lays it out as an
#                                   Ollama release does:
#                                   PREFIX/lib/ollama/libggml-base.so* and
#                                   PREFIX/lib/ollama/cuda_vN/ (libggml-cuda.so, cuBLAS, the
#                                   CUDA runtime); N is nvcc's major version
#
# The binary finds the libraries itself: Ollama looks in ../lib/ollama beside its
# executable (symlinks resolved) and loads each subfolder's ggml back end it can use.

ollama_install_kit() {
    local kit="$1" prefix="$2"
    [ -s "$kit/ollama.xz" ] || { echo "no ollama.xz in $kit"; return 1; }
    mkdir -p "$prefix/bin"
    xz -dc "$kit/ollama.xz" >"$prefix/bin/ollama" && chmod +x "$prefix/bin/ollama"
}

ollama_cuda_major() {
    "$(llama_nvcc)" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\)\..*/\1/p' | head -1
}

ollama_build_cuda() {
    local kit="$1" dir=/tmp/ollama-cuda
    [ -s "$kit/ollama-ggml-src.tar.xz" ] || { echo "no ollama-ggml-src.tar.xz in $kit"; return 1; }
    mkdir -p "$dir" && tar -xJf "$kit/ollama-ggml-src.tar.xz" -C "$dir" || return 1
    shift
    ollama_build_cuda_src "$dir/ollama" "$@"
}

# ollama_build_cuda_src SRC PREFIX JOBS [CPUS]: the same from an Ollama source tree (the Go
# module's, as scripts/setup.sh has it), built in SRC/build.
ollama_build_cuda_src() {
    local src="$1" prefix="$2" jobs="$3" cpus="${4:-}" pin=() gen=() major arch
    [ -n "$cpus" ] && pin=(taskset -c "$cpus")
    command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
    major="$(ollama_cuda_major)"
    arch="$(llama_cuda_arch)"
    [ -n "$major" ] && [ -n "$arch" ] || { echo "no nvcc or no GPU: nothing to build for"; return 1; }
    echo "Ollama ggml CUDA back end: sm_$arch, CUDA $major, $jobs jobs"
    cmake -S "$src" -B "$src/build" "${gen[@]}" "-DCMAKE_CUDA_ARCHITECTURES=$arch" \
        "-DCMAKE_CUDA_COMPILER=$(llama_nvcc)" "-DOLLAMA_RUNNER_DIR=cuda_v$major" \
        "-DCMAKE_INSTALL_PREFIX=$prefix" \
        -DCMAKE_DISABLE_FIND_PACKAGE_Vulkan=ON || return 1
    # Ollama's CMake fixes its install folder from CMAKE_INSTALL_PREFIX when it configures.
    # Only what the Go binary does not hold: the CUDA library and the ggml-base it links.
    "${pin[@]}" cmake --build "$src/build" -j "$jobs" --target ggml-cuda || return 1
    cmake --install "$src/build" --component CUDA || return 1
    mkdir -p "$prefix/lib/ollama" && cp -a "$src"/build/lib/ollama/libggml-base.so* "$prefix/lib/ollama/" || return 1
    ls -la "$prefix/lib/ollama" "$prefix/lib/ollama/cuda_v$major"
}
