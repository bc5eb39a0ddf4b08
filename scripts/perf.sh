#!/usr/bin/env bash
# How fast and how exact the client itself is, against the synthetic engine
# (`inferbench mock-engine`), each pinned to one core with taskset: mock on MOCK_CORE
# (default 1), inferbench on CLIENT_CORE (default 0). A benchmark, not a test: it prints
# the figures and whether each meets its target (docs/book/src/development.md,
# "Performance of the client").
#
#   scripts/perf.sh                  build (cargo build --release) and measure
#   BIN=path scripts/perf.sh         measure an existing binary
#   C1_REQUESTS=300 scripts/perf.sh  more requests at concurrency 1 (default 100)
#   REPEATS=5 scripts/perf.sh        runs of each timing figure, median reported (default 3)
#   BUSY_POLL= scripts/perf.sh       client and mock sleep between events (default: both
#                                    run with --busy-poll, spinning on their own cores)
#   KEEP=1 scripts/perf.sh           keep the results directory
#
# On a shared machine, read the "wait" shares printed beside each figure: the time the
# client or the mock was runnable but waiting for its core (other work on it). Large waits
# mean the figure measures the machine, not the client.
#
# Figures:
#   1. mean TTFT and TPOT error at concurrency 1 and 512 (TTFT 50 ms, ITL 5 ms, 256 tokens),
#      median of REPEATS runs, each against a fresh mock. The mock prints how late it was
#      itself (first token after the request's bytes were read from its socket); the
#      client's share of the error is the error less that lateness.
#   2. output tokens ingested per second, zero-delay responses, concurrency 64
#   3. peak RSS of inferbench with 512 streams (VmHWM)
#   4. 10,000 concurrent streams, no errors
set -euo pipefail
cd "$(dirname "$0")/.."

MOCK_CORE=${MOCK_CORE:-1}
CLIENT_CORE=${CLIENT_CORE:-0}
C1_REQUESTS=${C1_REQUESTS:-100}
REPEATS=${REPEATS:-3}
BUSY_POLL=${BUSY_POLL---busy-poll}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN="${CARGO_TARGET_DIR:-target}/release/inferbench"
fi
BIN=$(realpath "$BIN")
command -v taskset >/dev/null || { echo "perf.sh needs taskset (apt-get install util-linux)" >&2; exit 2; }
# 10,000 streams need that many sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
mock_pid=""
cleanup() {
    if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
    if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "results kept in $work"; fi
}
trap cleanup EXIT

# start_mock ARGS...: start the mock on MOCK_CORE, set $url.
start_mock() {
    # shellcheck disable=SC2086 # BUSY_POLL is one flag or empty
    taskset -c "$MOCK_CORE" "$BIN" mock-engine --port 0 $BUSY_POLL "$@" >"$work/mock.out" 2>&1 &
    mock_pid=$!
    for _ in $(seq 100); do
        url=$(sed -n 's/^listening on //p' "$work/mock.out")
        [ -n "$url" ] && return 0
        sleep 0.05
    done
    echo "mock engine did not start: $(cat "$work/mock.out")" >&2
    exit 1
}

stop_mock() {
    kill "$mock_pid"
    wait "$mock_pid" 2>/dev/null || true
    mock_pid=""
}

# mock_first_late: the stopped mock's mean first-token lateness, ms (its last line).
mock_first_late() {
    sed -n 's/^mock lateness: first tokens [0-9]* mean_ms \([0-9.]*\) .*/\1/p' "$work/mock.out"
}

# mock_cpu: CPU seconds the mock has used so far (utime + stime from /proc).
mock_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$mock_pid/stat"
}

# sched PID: "cpu_ns wait_ns" of a process, summed over its threads (/proc schedstat:
# time on a CPU, and time runnable but waiting for one — other processes on its core).
sched() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{c += $1; w += $2} END {print c + 0, w + 0}'
}

# run NAME ARGS...: inferbench api against $url on CLIENT_CORE; peak RSS into $work/NAME.rss_kb.
run() {
    local name=$1; shift
    rm -rf "${work:?}/$name"
    # shellcheck disable=SC2086
    taskset -c "$CLIENT_CORE" "$BIN" api --url "$url" --model mock --quick --quiet --csv \
        $BUSY_POLL --timeout 600 --out-dir "$work/$name" "$@" >"$work/$name.log" 2>&1 &
    local pid=$! peak=0 hwm s last="0 0" m0 m1 t0 t1
    m0=$(sched "$mock_pid")
    t0=$(date +%s.%N)
    while kill -0 "$pid" 2>/dev/null; do
        hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
        s=$(sched "$pid")
        [ "$s" != "0 0" ] && last=$s
        sleep 0.05
    done
    t1=$(date +%s.%N)
    m1=$(sched "$mock_pid")
    # Busy and waiting-for-CPU shares of the wall time, client and mock.
    awk -v c="$last" -v m0="$m0" -v m1="$m1" -v t0="$t0" -v t1="$t1" 'BEGIN {
        split(c, a, " "); split(m0, b, " "); split(m1, d, " "); w = (t1 - t0) * 1e9
        printf "client cpu %.0f%% wait %.0f%%, mock cpu %.0f%% wait %.0f%%",
            100 * a[1] / w, 100 * a[2] / w, 100 * (d[1] - b[1]) / w, 100 * (d[2] - b[2]) / w }' \
        >"$work/$name.sched"
    if ! wait "$pid"; then
        echo "inferbench api ($name) failed:" >&2
        cat "$work/$name.log" >&2
        exit 1
    fi
    echo "$peak" >"$work/$name.rss_kb"
}

# q NAME COLUMN: a figure of NAME's (only) load step, from its steps CSV.
q() {
    awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        NR == 2 { if (!c) { print "no column " name > "/dev/stderr"; exit 1 } print $c }' \
        "$work/$1"/output/*.steps.csv
}
abs_diff() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; printf "%.4f", d < 0 ? -d : d }'; }

verdict() { # verdict VALUE OP LIMIT → PASS/MISS
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
        ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "PASS" : "MISS" }'
}

rows=()
row() { rows+=("$(printf '| %-60s | %16s | %10s | %s |' "$1" "$2" "$3" "$4")"); }

echo "inferbench perf: $("$BIN" --version), mock on core $MOCK_CORE, client on core $CLIENT_CORE" >&2
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2

# all_mean NAME COLUMN: mean of a per-request column over every request of NAME's run,
# warm-up included (the mock's lateness covers all requests it served).
all_mean() {
    awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
        $c != "" { s += $c; n++ } END { printf "%.6f", n ? s / n : 0 }' \
        "$(ls "$work/$1"/output/*.csv | grep -v steps.csv)"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# 1. Exactness at concurrency 1 and 512 (the mock's clock is the truth: 50 ms, 5 ms).
for c in 1 512; do
    n=$([ "$c" = 1 ] && echo "$C1_REQUESTS" || echo 1024)
    limit=$([ "$c" = 1 ] && echo 0.2 || echo 2)
    : >"$work/c$c.figs"
    for k in $(seq "$REPEATS"); do
        echo "concurrency $c, $n requests, run $k of $REPEATS..." >&2
        start_mock --ttft-ms 50 --itl-ms 5 --tokens 256
        run "c$c" --max-tokens 256 --concurrency "$c" --requests "$n"
        stop_mock
        late=$(mock_first_late)
        ttft=$(q "c$c" ttft_mean_ms)
        # Client's share: over all requests (as the mock counts), TTFT − 50 − mock lateness.
        share=$(awk -v t="$(all_mean "c$c" ttft_ms)" -v l="$late" 'BEGIN { printf "%.4f", t - 50 - l }')
        echo "$(abs_diff "$ttft" 50) $(abs_diff "$(q "c$c" tpot_mean_ms)" 5) $late $share $(q "c$c" failed)" >>"$work/c$c.figs"
        echo "  $(cat "$work/c$c.sched")" >&2
        echo "  TTFT mean $ttft p99 $(q "c$c" ttft_p99_ms), TPOT mean $(q "c$c" tpot_mean_ms), mock first-token lateness $late ms, client share $share ms, send lag p99 $(q "c$c" send_lag_p99_ms) ms, client CPU $(q "c$c" client_cpu_cores) cores" >&2
        if [ "$c" = 512 ] && [ "$k" = 1 ]; then
            rss_mb=$(awk '{printf "%.1f", $1 / 1024}' "$work/c512.rss_kb")
        fi
    done
    col() { awk -v k="$1" '{ print $k }' "$work/c$c.figs" | median; }
    ttft_err=$(col 1) tpot_err=$(col 2) late=$(col 3) share=$(col 4)
    failed=$(awk '{ s += $5 } END { print s + 0 }' "$work/c$c.figs")
    runs=$(awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), $1 }' "$work/c$c.figs")
    row "mean TTFT error, c=$c (median of $REPEATS: $runs; $failed failed)" "$(printf '%.3f ms' "$ttft_err")" "≤ $limit ms" "$(verdict "$ttft_err" '<=' "$limit")"
    row "  of which the mock's own lateness / the client's share" "$(printf '%.3f / %.3f ms' "$late" "$share")" "≤ $limit ms" "$(verdict "$share" '<=' "$limit")"
    row "mean TPOT error, c=$c" "$(printf '%.4f ms' "$tpot_err")" "≤ 0.01 ms" "$(verdict "$tpot_err" '<=' 0.01)"
    if [ "$c" = 512 ]; then
        row "inferbench peak RSS, 512 streams" "$rss_mb MB" "≤ 64 MB" "$(verdict "$rss_mb" '<=' 64)"
    fi
done

# 2. Ingest: zero-delay responses, 64 streams; who was busy tells whose limit it was.
echo "ingest, concurrency 64, zero delay..." >&2
start_mock --ttft-ms 0 --itl-ms 0 --tokens 4096
run ingest --max-tokens 4096 --concurrency 64 --requests 512
stop_mock
echo "  $(cat "$work/ingest.sched")" >&2
tps=$(q ingest output_tps | awk '{printf "%d", $1}')
row "output tokens ingested per second, c=64" "$tps tok/s" "≥ 500000" "$(verdict "$tps" '>=' 500000)"

# 3. 10,000 concurrent streams.
echo "10,000 concurrent streams..." >&2
# Streams of 1024 tokens (5 s) so that all 10,000 are open at once.
start_mock --ttft-ms 50 --itl-ms 5 --tokens 1024
run c10k --max-tokens 1024 --concurrency 10000 --requests 10000 --load-warmup 0
stop_mock
failed=$(q c10k failed)
peak=$(q c10k max_in_flight)
ok=$(q c10k ok)
echo "  $(cat "$work/c10k.sched"), peak RSS $(awk '{printf "%.0f MB", $1 / 1024}' "$work/c10k.rss_kb")" >&2
row "10,000 concurrent streams (peak in flight $peak, $ok ok)" "$failed failed" "0 failed" "$([ "$failed" = 0 ] && [ "$peak" -ge 10000 ] && echo PASS || echo MISS)"

echo
echo "| figure | measured | target | |"
echo "|---|---:|---:|---|"
printf '%s\n' "${rows[@]}"
