#!/usr/bin/env bash
# What a newcomer should see: the local cluster, and the plugin talking to it.
# Run through `make demo`, which builds the plugin and starts the cluster first.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(hack/cluster.sh env)"
export PATH="$PWD/bin:$PATH"

bold="" plain=""
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() { printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "$2"; }

# Through kubectl when the machine has it, as a user would type it; else the binary itself.
plugin=(kubectl-delegate)
if command -v kubectl >/dev/null; then
  plugin=(kubectl delegate)
  step "The local cluster: a real API server, fake nodes run by kwok" "kubectl get nodes"
  kubectl get nodes
  step "kubectl finds the plugin on PATH" "kubectl plugin list"
  kubectl plugin list 2>/dev/null | grep kubectl-delegate
fi

step "What the plugin does" "kubectl delegate --help"
"${plugin[@]}" --help | sed -n '1,10p'

printf '\nThe cluster keeps running: use it with  eval "$(hack/cluster.sh env)"  and stop it with  make cluster-down\n'

step "The plugin's version and the cluster's" "kubectl delegate version"
"${plugin[@]}" version
