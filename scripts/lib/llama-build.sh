# Sourced by scripts/setup.sh, scripts/gpu-bench.sh and scripts/multigpu.sh: which llama.cpp build
# this machine gets, and how the GPU scripts build it.
#
#   llama_backend        prints "cuda" where an NVIDIA GPU and nvcc are both there, else "cpu"
#   llama_cuda_arch      the GPU's compute capability as CMake wants it ("90" on an H200)
#   llama_cmake_args B   the CMake flags of backend B (cpu|cuda), one per line
#
# The CUDA architecture comes from the GPU itself (nvidia-smi's compute_cap), never a
# hard-coded list: one architecture builds in a fraction of the time of CMake's default set.

llama_nvcc() {
    command -v nvcc 2>/dev/null && return 0
    for c in /usr/local/cuda/bin/nvcc /opt/cuda/bin/nvcc; do
        [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}

llama_cuda_arch() {
    command -v nvidia-smi >/dev/null 2>&1 || return 1
    local cap
    cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
    [ -n "$cap" ] && echo "$cap"
}

llama_backend() {
    if [ -n "${LLAMA_BACKEND:-}" ]; then echo "$LLAMA_BACKEND"; return; fi
    if llama_cuda_arch >/dev/null && llama_nvcc >/dev/null; then echo cuda; else echo cpu; fi
}

llama_cmake_args() {
    printf '%s\n' -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF
    case "$1" in
        cuda)
            printf '%s\n' -DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$(llama_cuda_arch)" \
                "-DCMAKE_CUDA_COMPILER=$(llama_nvcc)" -DGGML_NATIVE=OFF
            # LLAMA_CUDA_FA=OFF leaves out the FlashAttention kernels (the slowest part of
            # the build; llama-server then runs without flash attention).
            [ -n "${LLAMA_CUDA_FA:-}" ] && printf '%s\n' "-DGGML_CUDA_FA=$LLAMA_CUDA_FA"
            ;;
        *)
            printf '%s\n' -DGGML_NATIVE=OFF ;;
    esac
}

# llama_build_tar TAR DIR JOBS [CPUS]: unpacks TAR (a llama.cpp source tree, as
# scripts/gpu-kit.sh packs it) into DIR and builds the tools inferbench runs into
# DIR/build/bin for the backend llama_backend picks, with JOBS jobs (on the cores CPUS, a
# taskset list, where given).
llama_build_tar() {
    local tar="$1" dir="$2" jobs="$3" cpus="${4:-}" args pin=()
    [ -n "$cpus" ] && pin=(taskset -c "$cpus")
    mkdir -p "$dir" && tar -xJf "$tar" -C "$dir" || return 1
    mapfile -t args < <(llama_cmake_args "$(llama_backend)")
    cmake -S "$dir/llama.cpp" -B "$dir/build" -G Ninja "${args[@]}" || return 1
    "${pin[@]}" cmake --build "$dir/build" -j "$jobs" \
        --target llama-server llama-bench llama-completion llama-cli llama-tokenize
}

# llama_link_tools BIN_DIR DEST: links the tools found in BIN_DIR into DEST (nothing where
# both are the same folder: a link onto itself would replace the tool with a loop).
llama_link_tools() {
    local t
    [ "$(realpath -m "$1")" = "$(realpath -m "$2")" ] && return 0
    for t in llama-server llama-bench llama-completion llama-cli llama-tokenize; do
        [ -x "$1/$t" ] && ln -sfn "$1/$t" "$2/$t"
    done
    return 0
}

# llama_bench_json LOG JSON: llama-bench's JSON array (its stdout, `-o json`) cut out of LOG,
# where its stderr (device logs) is mixed in, into JSON.
llama_bench_json() {
    python3 -c 'import sys; t = open(sys.argv[1]).read().splitlines(); i = t.index("["); j = len(t) - t[::-1].index("]"); open(sys.argv[2], "w").write("\n".join(t[i:j]) + "\n")' "$1" "$2"
}
