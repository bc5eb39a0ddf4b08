#!/usr/bin/env bash
# Validates every manifest in deploy/ against the Kubernetes JSON schemas, offline:
# kubernetes-validate (PyPI) ships the schemas in its package. Strict: an unknown field
# is an error. Installed by scripts/setup.sh into ${INFERBENCH_HOME:-~/.cache/inferbench}.
set -euo pipefail
cd "$(dirname "$0")"
HOME_DIR="${INFERBENCH_HOME:-$HOME/.cache/inferbench}"
KV="$HOME_DIR/kubevalidate/bin/kubernetes-validate"
K8S_VERSION="${K8S_VERSION:-1.33.0}"
if [ ! -x "$KV" ]; then
    echo "kubernetes-validate is not installed at $KV: run scripts/setup.sh" >&2
    exit 1
fi
manifests=(*.yaml)
"$KV" --strict -k "$K8S_VERSION" "${manifests[@]}"
echo "deploy/: ${#manifests[@]} manifests valid against Kubernetes $K8S_VERSION (strict)"
