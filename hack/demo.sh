#!/usr/bin/env bash
# What a newcomer should see: the local cluster, and the plugin talking to it.
# Run through `make demo`, which builds the plugin and starts the cluster first.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(hack/cluster.sh env)"
export PATH="$PWD/bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "The local cluster: a real API server, fake nodes run by kwok" "kubectl get nodes"
if command -v kubectl >/dev/null; then
  kubectl get nodes
  step "kubectl finds the plugin on PATH" "kubectl plugin list"
  kubectl plugin list 2>/dev/null | grep kubectl-delegate
else
  echo "(kubectl is not installed; the plugin also runs on its own as bin/kubectl-delegate)"
fi

step "What the plugin does" "kubectl delegate --help"
kubectl-delegate --help | sed -n '1,12p'

step "The plugin's version and the cluster's" "kubectl delegate version"
kubectl-delegate version

printf '\nThe cluster keeps running: use it with\n  eval "$(hack/cluster.sh env)"\nand stop it with\n  make cluster-down\n'
