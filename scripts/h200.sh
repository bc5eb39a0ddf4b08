#!/usr/bin/env bash
# The former name of scripts/gpu-bench.sh, kept so that commands written for it still work:
# OUT (a directory the archive, the table and the log are copied to) is PACK_DIR there, the
# kit may still be in .h200/, and the time budget defaults to 575 s as it did.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -z "${IB_KIT:-}" ] && [ ! -d "$REPO/.gpu-kit" ] && [ -d "$REPO/.h200" ] && export IB_KIT="$REPO/.h200"
[ -n "${OUT:-}" ] && export PACK_DIR="${PACK_DIR:-$OUT}"
export DEADLINE="${DEADLINE:-575}"
exec "$REPO/scripts/gpu-bench.sh" "$@"
