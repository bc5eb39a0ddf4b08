#!/usr/bin/env bash
# The main job (README.md, "Quick start"): builds inferbench, installs engines and models
# through scripts/setup.sh (idempotent, cached), then benchmarks every engine that setup
# installed, in API mode and in CLI mode. inferbench is built first because setup's last
# steps run it (registering the Ollama model, `inferbench doctor`) and skip them when it
# is not built yet.
#
#   scripts/bench.sh                 quick: the first prompt, 1 run per engine and mode
#   scripts/bench.sh --runs 10       the seed's formal run: 10 prompts x 10 runs
#   OUT=results scripts/bench.sh     write under ./results instead of the current directory
#
# Extra arguments are passed to both `inferbench api` and `inferbench cli`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/inferbench"

# The build just made comes first on PATH, where setup looks for inferbench before it
# looks in target/.
PATH="$(cd "$(dirname "$bin")" && pwd):$PATH" scripts/setup.sh
# shellcheck disable=SC1091
source "${INFERBENCH_HOME:-$HOME/.cache/inferbench}/env.sh"
out="${OUT:-.}"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--quick)

"$bin" api --out-dir "$out" "${args[@]}"
"$bin" cli --out-dir "$out" "${args[@]}"
