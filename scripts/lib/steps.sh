# Sourced by scripts/gpu-bench.sh and scripts/multigpu.sh: timed steps within a time budget.
#
# Needs, set before sourcing: R (results directory), LOG (log file), T0 (start, in $SECONDS),
# DEADLINE (seconds from T0).
#
#   log MSG...                  a timestamped line on stderr and in $LOG
#   left                        seconds left before the deadline
#   step NAME MIN LIMIT CMD...  runs CMD unless fewer than MIN seconds are left, at most
#                               LIMIT seconds (or what is left); its output goes to
#                               $R/NAME.log and its status to $R/steps.tsv
#                               (name, exit status or "skipped", seconds, command)

log() { printf '[%4ds] %s\n' "$((SECONDS - T0))" "$*" | tee -a "$LOG" >&2; }
left() { echo $((DEADLINE - (SECONDS - T0))); }
step() {
    local name="$1" need="$2" limit="$3" t rc
    shift 3
    if [ "$(left)" -lt "$need" ]; then
        log "$name: skipped ($(left) s left, needs $need)"
        printf '%s\tskipped\t0\tno time left\n' "$name" >>"$R/steps.tsv"
        return 1
    fi
    [ "$limit" -gt "$(left)" ] && limit="$(left)"
    log "$name: start (limit ${limit}s)"
    t=$SECONDS
    timeout -k 5 "$limit" "$@" >"$R/$name.log" 2>&1
    rc=$?
    log "$name: exit $rc after $((SECONDS - t)) s"
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t))" "$*" >>"$R/steps.tsv"
    return "$rc"
}
