#!/usr/bin/env bash
# The main job (README.md, "Quick start"): installs engines and models through
# scripts/setup.sh (idempotent, cached), builds inferbench, then benchmarks every engine
# that setup installed, in API mode and in CLI mode.
#
#   scripts/bench.sh                 quick: the first prompt, 1 run per engine and mode
#   scripts/bench.sh --runs 10       the seed's formal run: 10 prompts x 10 runs
#   OUT=results scripts/bench.sh     write under ./results instead of the current directory
#
# Extra arguments are passed to both `inferbench api` and `inferbench cli`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
source "${INFERBENCH_HOME:-$HOME/.cache/inferbench}/env.sh"

cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/inferbench"
out="${OUT:-.}"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--quick)

"$bin" api --out-dir "$out" "${args[@]}"
"$bin" cli --out-dir "$out" "${args[@]}"
