#!/usr/bin/env bash
# Build the cargo-fuzz (libFuzzer) targets in fuzz/ and run each one for RUNS executions,
# one after another, then print a summary table (executions, wall time, exec/s).
#
#   scripts/fuzz.sh [RUNS] [TARGET...]      RUNS defaults to 10000000; all targets by default
#
# Environment:
#   FUZZ_NO_BUILD=1   reuse the binaries already built (e.g. copied to another host)
#   FUZZ_BIN_DIR=DIR  where the binaries are (default fuzz/target/<host>/release)
#   FUZZ_PARALLEL=1   run the targets at the same time, one process each (a many-core
#                     host); the default runs them one after another
#   FUZZ_MAX_LEN=N    largest input libFuzzer makes (default 1024; 4096 for config, whose
#                     seeds are whole config files)
#   FUZZ_NICE=N       niceness of the runs (default 10: the build machine is shared)
#   FUZZ_FORK="N" or "TARGET=N ..."   libFuzzer -fork=N: N worker processes for every
#                     target, or for the targets named (a many-core host; executions are
#                     then the workers' total)
#   FUZZ_ARGS="..."   extra libFuzzer flags, e.g. "-max_total_time=60"
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain; without one the
# stable compiler is used with RUSTC_BOOTSTRAP=1. No sanitizer is used (`-s none`): the
# parsers are safe Rust, so what is looked for is panics (including failed property
# assertions and arithmetic overflow: debug assertions are on), hangs and runaway memory.
#
# Seeds are read from fuzz/corpus/<target>/ (committed, never written); what the fuzzer
# adds goes to fuzz/target/corpus/<target>/ and crashes to fuzz/artifacts/<target>/
# (both ignored by git). Exit status: 0 when every target ran clean, 1 otherwise.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/fuzz"
runs="${1:-10000000}"
[[ $# -gt 0 ]] && shift
if ! [[ $runs =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [RUNS] [TARGET...]" >&2
  exit 2
fi
niceness="${FUZZ_NICE:-10}"

all_targets=(sse ndjson cli_helpers llamacpp_perf ollama_stats config)
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

if command -v rustc >/dev/null 2>&1; then
  host="$(rustc -vV | sed -n 's/^host: //p')"
else
  host="$(uname -m)-unknown-linux-gnu"
fi
bindir="${FUZZ_BIN_DIR:-$fuzz/target/$host/release}"

if [[ "${FUZZ_NO_BUILD:-0}" != 1 ]]; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
  fi
  toolchain=()
  if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
  else
    export RUSTC_BOOTSTRAP=1
  fi
  (cd "$fuzz" && nice -n "$niceness" cargo "${toolchain[@]}" fuzz build -s none -a)
fi

# Run one target; its summary line goes to fuzz/target/summary-<target>.txt.
run_one() {
  local t="$1" bin="$bindir/$1" work="$fuzz/target/corpus/$1" artifacts="$fuzz/artifacts/$1"
  local log="$fuzz/target/fuzz-$1.log" dict=() start end rc execs wall rate units result
  local max_len=1024
  [[ $t == config ]] && max_len=4096
  max_len="${FUZZ_MAX_LEN:-$max_len}"
  local fork=() f
  for f in ${FUZZ_FORK:-}; do
    if [[ $f =~ ^[0-9]+$ ]]; then fork=("-fork=$f"); fi
    if [[ $f == "$t="* ]]; then fork=("-fork=${f#*=}"); fi
  done
  mkdir -p "$work" "$artifacts"
  [[ -f $fuzz/dict/$t.dict ]] && dict=("-dict=$fuzz/dict/$t.dict")
  echo "== $t: $runs runs ${fork[*]} (log: $log)" >&2
  start=$(date +%s.%N)
  set +e
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  nice -n "$niceness" "$bin" -runs="$runs" -max_len="$max_len" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${fork[@]}" "${dict[@]}" ${FUZZ_ARGS:-} \
    "$work" "$fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  end=$(date +%s.%N)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # Fork mode prints no final stats: its progress lines start with the total, `#N:`.
  [[ -z $execs ]] && execs=$(sed -n 's/^#\([0-9]*\): .*/\1/p' "$log" | tail -1)
  execs="${execs:-0}"
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  rate=$(awk -v n="$execs" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? n / w : 0) }')
  units=$(find "$work" -type f | wc -l)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (rc $rc, see $log)"
    grep -E "^(==[0-9]+== ERROR|thread '.*' panicked|SUMMARY)" "$log" | head -5 >&2 || true
  fi
  printf '%-14s %14s %9s %10s %8s  %s\n' "$t" "$execs" "$wall" "$rate" "$units" "$result" \
    >"$fuzz/target/summary-$t.txt"
}

for t in "${targets[@]}"; do
  if [[ ! -x $bindir/$t ]]; then
    echo "no fuzz binary $bindir/$t (build first)" >&2
    exit 2
  fi
  rm -f "$fuzz/target/summary-$t.txt"
done
if [[ "${FUZZ_PARALLEL:-0}" == 1 ]]; then
  for t in "${targets[@]}"; do run_one "$t" & done
  wait
else
  for t in "${targets[@]}"; do run_one "$t"; done
fi

echo
printf '%-14s %14s %9s %10s %8s  %s\n' target executions wall_s exec/s corpus result
failed=0
for t in "${targets[@]}"; do
  if [[ -f $fuzz/target/summary-$t.txt ]]; then
    cat "$fuzz/target/summary-$t.txt"
    grep -q ' ok$' "$fuzz/target/summary-$t.txt" || failed=1
  else
    echo "$t: no result"
    failed=1
  fi
done
exit "$failed"
