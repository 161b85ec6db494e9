//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// applyTagged applies the helm-chart fixture into ns as the delegate name with DELEGATE_TAGS
// set to tags.
func applyTagged(t *testing.T, ns, name, tags string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "helm-chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const fixtureTags = `DELEGATE_TAGS: "e2e,helm"`
	if !strings.Contains(string(data), fixtureTags) {
		t.Fatalf("testdata/helm-chart.yaml has no %s", fixtureTags)
	}
	text := strings.ReplaceAll(string(data), "NAMESPACE", ns)
	text = strings.ReplaceAll(text, "helm-delegate", name)
	text = strings.ReplaceAll(text, fixtureTags, fmt.Sprintf("DELEGATE_TAGS: %q", tags))
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runCommand(t, env.kubectl, "apply", "-f", path); res.code != 0 {
		t.Fatalf("kubectl apply %s: %s", name, res.stderr)
	}
	t.Cleanup(func() { runCommand(t, env.kubectl, "delete", "--ignore-not-found", "--wait=false", "-f", path) })
}

// spotConnectorFile writes the seed's Spot connector with the given delegateSelectors.
func spotConnectorFile(t *testing.T, selectors ...string) string {
	t.Helper()
	text := `connector:
  name: spotinst-conn
  identifier: spotinstconn
  orgIdentifier: Ng_Pipelines_K8s_Organisations
  projectIdentifier: DoNotDelete_IvanBalan
  type: Spot
  spec:
    credential:
      type: PermanentTokenConfig
      spec:
        spotAccountId: act-a12b12cd
        apiTokenRef: spotapitoken
    executeOnDelegate: true
    delegateSelectors: [` + strings.Join(selectors, ", ") + "]\n"
	path := filepath.Join(t.TempDir(), "spot-"+strings.Join(selectors, "-")+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// connectorDoctor runs doctor --connector -o json and returns the one connector's result.
func connectorDoctor(t *testing.T, args ...string) (diagnose.ConnectorResult, result) {
	t.Helper()
	res := plugin(t, append([]string{"doctor", "-o", "json"}, args...)...)
	var r diagnose.ConnectorReport
	if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
		t.Fatalf("doctor %v: exit %d, not JSON: %v\n%s%s", args, res.code, err, res.stdout, res.stderr)
	}
	if r.Kind != "ConnectorReport" || r.APIVersion != "kubectl-delegate.dev/v1" || len(r.Connectors) != 1 {
		t.Fatalf("doctor %v: %+v", args, r)
	}
	if strings.Contains(res.stdout+res.stderr, fixtureToken) {
		t.Fatal("doctor printed the token")
	}
	return r.Connectors[0], res
}

func servedBy(c diagnose.ConnectorResult) []string {
	var out []string
	for _, d := range c.Delegates {
		out = append(out, d.Delegate+"="+string(d.Verdict))
	}
	return out
}

// Two delegates whose tags differ: the Spot connector's selector picks one, its name picks
// the other, a tag neither has fails with the upgrade that adds it; when the one that
// serves it fails its log check, the connector fails with that delegate's cause, live and
// from a bundle.
func TestConnectorPicksTheDelegateByTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "connector")
	applyTagged(t, ns, "conn-east-delegate", "e2e,east")
	applyTagged(t, ns, "conn-west-delegate", "e2e,west")
	var east, west delegate.Delegate
	eventually(t, 90*time.Second, func() (bool, string) {
		ds := listDelegates(t, "-n", ns)
		east, west = ds[ns+"/conn-east-delegate"], ds[ns+"/conn-west-delegate"]
		return east.Replicas.Ready == 2 && len(east.Pods) == 2 && west.Replicas.Ready == 2 && len(west.Pods) == 2,
			fmt.Sprintf("east %+v, west %+v", east.Replicas, west.Replicas)
	})
	matrix := matrixWithServer(t)
	eastFile := spotConnectorFile(t, "east")

	c, res := connectorDoctor(t, "-n", ns, "--support-matrix", matrix, "--connector", eastFile)
	if res.code != 0 || c.Verdict != diagnose.Pass || !slices.Equal(servedBy(c), []string{ns + "/conn-east-delegate=pass"}) {
		t.Errorf("selector east: exit %d, %+v", res.code, c)
	}
	c, res = connectorDoctor(t, "-n", ns, "--support-matrix", matrix, "--connector", spotConnectorFile(t, "e2e", "conn-west-delegate"))
	if res.code != 0 || !slices.Equal(servedBy(c), []string{ns + "/conn-west-delegate=pass"}) {
		t.Errorf("the delegate's name as a selector: exit %d, %+v", res.code, c)
	}
	c, res = connectorDoctor(t, "-n", ns, "--support-matrix", matrix, "--connector", spotConnectorFile(t, "east", "gpu"))
	if res.code != 3 || c.Verdict != diagnose.Fail || len(c.Delegates) != 0 ||
		!strings.Contains(c.Hint, "kubectl delegate upgrade conn-east-delegate -n "+ns+" --tags e2e,east,gpu") {
		t.Errorf("a tag no delegate has: exit %d, %+v", res.code, c)
	}
	res = plugin(t, "doctor", "-n", ns, "--support-matrix", matrix, "--connector", eastFile)
	for _, want := range []string{"√ connector spotinstconn (Spot): served by 1 of the 2 delegates in scope, 1 of them healthy\n", "    selectors: east\n", "DELEGATE", ns + "/conn-east-delegate   pass"} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("text: exit %d, lacks %q:\n%s", res.code, want, res.stdout)
		}
	}

	// The east delegate's token is refused: the connector has no healthy delegate. The
	// other pods registered (and have a log for collect to read).
	plant := func(pod string, lines ...string) {
		if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, pod, map[string]localcluster.ContainerLogs{"delegate": {Current: lines}}); err != nil {
			t.Fatal(err)
		}
	}
	plant(east.Pods[0].Name, "Starting delegate", "Delegate used invalid token "+fixtureToken+". Self destruct procedure will be initiated.")
	for _, p := range []delegate.Pod{east.Pods[1], west.Pods[0], west.Pods[1]} {
		plant(p.Name, "Starting delegate", "Delegate registered with id dlg-"+p.Name)
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		c, res = connectorDoctor(t, "-n", ns, "--support-matrix", matrix, "--connector", eastFile)
		return res.code == 3 && c.Verdict == diagnose.Fail && len(c.Delegates) == 1 && c.Delegates[0].Cause == "DLG-501" &&
				strings.HasPrefix(c.Hint, "fix "+ns+"/conn-east-delegate first: "),
			fmt.Sprintf("exit %d, %+v", res.code, c)
	})

	// The same answers offline, from a bundle.
	bundlePath := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if res = plugin(t, "collect", "-n", ns, "-O", bundlePath, "--support-matrix", matrix); res.code != 0 {
		t.Fatalf("collect: exit %d: %s", res.code, res.stderr)
	}
	c, res = connectorDoctor(t, "--bundle", bundlePath, "--connector", eastFile)
	if res.code != 3 || len(c.Delegates) != 1 || c.Delegates[0].Cause != "DLG-501" {
		t.Errorf("--bundle, selector east: exit %d, %+v", res.code, c)
	}
	c, res = connectorDoctor(t, "--bundle", bundlePath, "--connector", spotConnectorFile(t, "e2e"))
	if res.code != 0 || c.Verdict != diagnose.Pass || !slices.Equal(servedBy(c), []string{ns + "/conn-east-delegate=fail", ns + "/conn-west-delegate=pass"}) {
		t.Errorf("--bundle, selector e2e: exit %d, %+v", res.code, c)
	}
}

// A connector file with a bad document fails before doctor asks the cluster anything, naming
// the document and the field.
func TestConnectorBadFileNamesTheField(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "connectors.yaml")
	text := "connector: {identifier: a, type: Aws, spec: {delegateSelectors: [aws]}}\n---\nconnector: {identifier: b, type: K8sCluster, spec: {delegateSelectors: [ok, {tag: x}]}}\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res := plugin(t, "doctor", "--connector", path, "-A")
	if res.code != 1 || !strings.Contains(res.stderr, "document 2: connector.spec.delegateSelectors[1]: expected a delegate tag (a string), found a mapping") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}
