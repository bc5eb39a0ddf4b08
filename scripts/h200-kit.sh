#!/usr/bin/env bash
# The former name of scripts/gpu-kit.sh (the kit is now made in .gpu-kit/).
exec "$(dirname "${BASH_SOURCE[0]}")/gpu-kit.sh" "$@"
