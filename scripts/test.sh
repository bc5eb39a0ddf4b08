#!/usr/bin/env bash
# The test command (README.md, "Quick start"): installs what the tests need through
# scripts/setup.sh (idempotent, cached in ${INFERBENCH_HOME:-~/.cache/inferbench}), then
# checks formatting and lints and runs every test, including the real-engine ones.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
source "${INFERBENCH_HOME:-$HOME/.cache/inferbench}/env.sh"

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
deploy/validate.sh
cargo test --all-targets --no-fail-fast
