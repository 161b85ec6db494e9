#!/usr/bin/env bash
# Starts and stops the local Kubernetes cluster the tests and the demo run against:
#   hack/cluster.sh up|down|status|env|build
# Everything is built from Go modules on first use and cached (see hack/localcluster).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./hack/localcluster "$@"
