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
"${plugin[@]}" --help | sed -n '1,12p'

if command -v kubectl >/dev/null; then
  # Four delegates installed the four ways users meet them (objects only: kwok runs the pods),
  # one of them crash-looping for want of memory.
  step "Delegates installed four ways: Helm chart, plain manifest, this plugin, legacy StatefulSet" \
    "kubectl apply -f test/e2e/testdata/{helm-chart,manifest,plugin,legacy}.yaml"
  for f in helm-chart manifest plugin legacy; do
    kubectl create namespace "demo-$f" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
    sed "s/NAMESPACE/demo-$f/g" "test/e2e/testdata/$f.yaml" | kubectl apply -f - | sed 's/^/  /'
  done
  kubectl -n demo-helm-chart rollout status deployment/helm-delegate --timeout=90s >/dev/null
  kubectl -n demo-plugin rollout status deployment/plugin-delegate --timeout=90s >/dev/null
  sleep 6 # the crash-looping delegate restarts every 5 seconds

  # kwok runs no container: give the delegates the lines a real one writes, so that doctor and
  # collect read real logs (the manifest delegate's previous instance died of memory).
  logs=$(mktemp -d)
  printf '%s\n' "INFO  Starting delegate" "INFO  Delegate registered with id dlg-demo-01 and name helm-delegate" \
    "INFO  Sending heartbeat to manager" > "$logs/registered.log"
  printf '%s\n' "INFO  Starting delegate" "ERROR java.lang.OutOfMemoryError: Java heap space" > "$logs/oom.log"
  for ns in demo-helm-chart demo-plugin demo-manifest; do
    for pod in $(kubectl -n "$ns" get pods -l harness.io/name -o jsonpath='{.items[*].metadata.name}'); do
      if [ "$ns" = demo-manifest ]; then
        hack/cluster.sh logs "$ns" "$pod" delegate "$logs/registered.log" "$logs/oom.log"
      else
        hack/cluster.sh logs "$ns" "$pod" delegate "$logs/registered.log"
      fi
    done
  done

  # The token is a stand-in: kwok runs no container and nothing calls Harness. What a real
  # delegate writes once it registered is planted in its log as soon as its pods exist, so
  # the install shows both phases: the rollout, then the registration.
  (
    for _ in $(seq 120); do
      pods=$(kubectl -n demo-install get pods -l harness.io/name=demo-delegate -o jsonpath='{.items[*].metadata.name}' 2>/dev/null || true)
      if [ -n "$pods" ]; then
        for pod in $pods; do hack/cluster.sh logs demo-install "$pod" delegate "$logs/registered.log" >/dev/null 2>&1 || true; done
        break
      fi
      sleep 1
    done
  ) &
  step "Install one with the plugin: the chart's objects, applied server-side, then wait until it registered" \
    "kubectl delegate install demo-delegate -n demo-install --account-id DemoAccount01 --token-file - --min-ready-seconds 5"
  echo "demo-token-not-a-real-one" | "${plugin[@]}" install demo-delegate -n demo-install --account-id DemoAccount01 \
    --token-file - --min-ready-seconds 5 --timeout 2m
  wait

  step "Installing again changes nothing" "kubectl delegate install demo-delegate ... (same flags)"
  echo "demo-token-not-a-real-one" | "${plugin[@]}" install demo-delegate -n demo-install --account-id DemoAccount01 \
    --token-file - --min-ready-seconds 5 --timeout 2m 2>/dev/null

  step "Every delegate in the cluster, however it was installed" "kubectl delegate list -A"
  "${plugin[@]}" list -A

  step "One delegate in detail: why is it not ready?" "kubectl delegate inspect manifest-delegate -n demo-manifest"
  "${plugin[@]}" inspect manifest-delegate -n demo-manifest

  # doctor exits 3 when a check fails: here that is the point, not an error of the demo.
  step "What is wrong with it, and the fix" "kubectl delegate doctor -n demo-manifest"
  "${plugin[@]}" doctor -n demo-manifest || echo "(doctor exited $?: a check failed)"

  # A cause no pod shows: the namespace's ResourceQuota refuses the delegate's pods, so
  # there is no pod to describe; doctor leads with the quota and the fix.
  step "A delegate whose pods are never created, and why" \
    "kubectl create quota delegate-quota -n demo-quota --hard=requests.cpu=500m; kubectl apply -f helm-chart.yaml; kubectl delegate doctor -n demo-quota"
  kubectl create namespace demo-quota --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl -n demo-quota create quota delegate-quota --hard=requests.cpu=500m,requests.memory=1Gi --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  sed "s/NAMESPACE/demo-quota/g; s/helm-delegate/quota-delegate/g" test/e2e/testdata/helm-chart.yaml | kubectl apply -f - >/dev/null
  sleep 3 # the ReplicaSet controller tries, and records why it may not
  "${plugin[@]}" doctor -n demo-quota || echo "(doctor exited $?: a check failed)"

  # The seed's next step: a connector that runs on a delegate chosen by its selectors.
  printf '%s\n' "connector:" "  name: spot-demo" "  identifier: spotdemo" "  type: Spot" "  spec:" \
    "    credential:" "      type: PermanentTokenConfig" "      spec:" "        spotAccountId: act-a12b12cd" \
    "        apiTokenRef: spotapitoken" "    executeOnDelegate: true" "    delegateSelectors:" "      - helm" > "$logs/spot.yaml"
  step "Which delegate serves a connector (the seed's Spot connector, selector helm), and is it healthy?" \
    "kubectl delegate doctor -A --connector spot.yaml"
  "${plugin[@]}" doctor -A --connector "$logs/spot.yaml" || echo "(doctor exited $?)"

  step "doctor on the delegate the plugin installed" "kubectl delegate doctor demo-delegate -n demo-install --support-matrix <(...)"
  server=$("${plugin[@]}" version -o json | sed -n 's/.*"gitVersion": "v\([0-9.]*\)".*/\1/p')
  "${plugin[@]}" doctor demo-delegate -n demo-install --support-matrix <(printf 'source: demo\nversions: [%s]\n' "$server") \
    || echo "(doctor exited $?: the pinned image is past its end of life by now; kubectl delegate upgrade --image moves it)"

  step "A healthy one, against a support list that includes this cluster's version" \
    "kubectl delegate doctor helm-delegate -n demo-helm-chart --support-matrix <(echo 'versions: [...]')"
  server=$("${plugin[@]}" version -o json | sed -n 's/.*"gitVersion": "v\([0-9.]*\)".*/\1/p')
  "${plugin[@]}" doctor helm-delegate -n demo-helm-chart --support-matrix <(printf 'source: demo\nversions: [%s]\n' "$server") \
    || echo "(doctor exited $?)"
fi

step "The plugin's version and the cluster's" "kubectl delegate version"
"${plugin[@]}" version

if command -v kubectl >/dev/null; then
  # The bundle support asks for, secrets redacted, and the same checks run on it offline.
  bundle=$(mktemp -d)/delegate-bundle.tar.gz
  step "A support bundle: descriptions, logs, events, objects, doctor's report; secrets redacted" \
    "kubectl delegate collect -n demo-manifest -O $bundle"
  "${plugin[@]}" collect -n demo-manifest -O "$bundle" || echo "(collect exited $?: the bundle is partial)"
  tar -tzf "$bundle" | sed 's/^/  /'

  step "doctor, offline, on that bundle: no cluster needed" "kubectl delegate doctor --bundle $bundle"
  "${plugin[@]}" doctor --bundle "$bundle" || echo "(doctor exited $?: a check failed)"
fi

if command -v kubectl >/dev/null; then
  # Delegates in many clusters: a second local cluster holding a delegate of the same name
  # as one in the first (Harness self-destructs one of the two), and one view of both.
  step "A second cluster, with a delegate of a name the first one uses" \
    "KUBECTL_DELEGATE_CLUSTER_DIR=.cluster-2 hack/cluster.sh up; kubectl apply -f helm-chart.yaml"
  KUBECTL_DELEGATE_CLUSTER_DIR=.cluster-2 hack/cluster.sh up >/dev/null
  trap 'KUBECTL_DELEGATE_CLUSTER_DIR=.cluster-2 hack/cluster.sh down >/dev/null' EXIT
  second=$(KUBECTL_DELEGATE_CLUSTER_DIR=.cluster-2 hack/cluster.sh env | sed 's/^export KUBECONFIG=//')
  KUBECONFIG=$second kubectl create namespace demo-helm-chart --dry-run=client -o yaml | KUBECONFIG=$second kubectl apply -f - >/dev/null
  sed "s/NAMESPACE/demo-helm-chart/g" test/e2e/testdata/helm-chart.yaml | KUBECONFIG=$second kubectl apply -f - >/dev/null
  both=$logs/both.kubeconfig
  hack/cluster.sh kubeconfig "$both" first=.cluster second=.cluster-2
  step "Every delegate of every cluster at once" "kubectl delegate list -A --all-contexts"
  "${plugin[@]}" list -A --all-contexts --kubeconfig "$both" || echo "(list exited $?)"
fi

printf '\nThe cluster keeps running: use it with  eval "$(hack/cluster.sh env)"  and stop it with  make cluster-down\n'
