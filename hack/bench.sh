#!/usr/bin/env bash
# Measures the plugin against kubectl baselines on a scaled local cluster and prints a table:
#   hack/bench.sh [-nodes 200] [-pods 2000] [-delegates 10] [-replicas 5] [-log-mb 10]
#                 [-previous-log-mb 1] [-runs 5] [-plugin bin/kubectl-delegate]
# Run through `make bench`, which builds bin/kubectl-delegate with the release flags first.
# The cluster it starts is its own (in a temporary directory) and is stopped on exit or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
# A built binary rather than `go run`, so that Ctrl-C reaches the benchmark itself and its
# deferred clean-up stops the cluster.
bench="$(mktemp -d)/bench"
trap 'rm -rf "$(dirname "$bench")"' EXIT
go build -o "$bench" ./hack/bench
"$bench" "$@"
