//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// collect asks the API server only for what it does not already hold: kubectl's
// describers get the object and its events from what collect read (gather's LISTs, the
// namespace's events), the Secrets come from one LIST of the namespace, and each log is read
// once; the descriptions are still, byte for byte, kubectl describe's.
func TestCollectRequestsAndDescriptions(t *testing.T) {
	t.Parallel()
	ns := applyFixture(t, "helm-chart")
	var d delegate.Delegate
	eventually(t, 90*time.Second, func() (bool, string) {
		d = listDelegates(t, "-n", ns)[ns+"/helm-delegate"]
		return len(d.Pods) == 2 && d.Replicas.Ready == 2, fmt.Sprintf("%+v", d.Replicas)
	})
	for _, p := range d.Pods {
		if err := localcluster.SetPodLogs(context.Background(), env.config, env.logDir, ns, p.Name, map[string]localcluster.ContainerLogs{
			"delegate": {Current: []string{"Delegate registered with id dlg-" + p.Name}}}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	var requests []string
	eventually(t, 60*time.Second, func() (bool, string) {
		_, stderr, seen, err := runInProcess(t, "", "collect", "-n", ns, "-O", path, "--force")
		requests = seen
		return err == nil, fmt.Sprintf("collect: %v (the planted logs not served yet?)\n%s", err, stderr)
	})
	count := map[string]int{}
	for _, r := range requests {
		count[requestKind(r, ns)]++
	}
	t.Logf("%d requests: %v", len(requests), count)
	// Before: a GET of each pod, the Deployment and the CronJob, an events LIST for each of
	// them, and four Secret GETs per delegate; and more requests in all.
	for kind, want := range map[string]int{
		"GET pods/NAME":         0,
		"GET deployments/NAME":  0,
		"GET cronjobs/NAME":     0,
		"GET secrets/NAME":      0,
		"GET pods/NAME/log":     len(d.Pods),
		"GET namespaced events": 2, // doctor's Warning events, and collect's of the namespace
	} {
		if count[kind] != want {
			t.Errorf("%d × %s, want %d", count[kind], kind, want)
		}
	}
	if limit := 30; len(requests) > limit {
		t.Errorf("%d requests for one delegate of %d pods, want at most %d", len(requests), len(d.Pods), limit)
	}

	// The descriptions are kubectl describe's (the same describe package, asked the API
	// server directly), but for the events' ages, which change by the second.
	_, files := untar(t, path)
	dir := "delegates/" + ns + "/helm-delegate/"
	for file, what := range map[string]struct {
		kind schema.GroupKind
		name string
	}{
		dir + "pods/" + d.Pods[0].Name + "/describe.txt": {schema.GroupKind{Kind: "Pod"}, d.Pods[0].Name},
		dir + "deployment.txt":                           {schema.GroupKind{Group: "apps", Kind: "Deployment"}, "helm-delegate"},
		dir + "upgrader/cronjob.txt":                     {schema.GroupKind{Group: "batch", Kind: "CronJob"}, d.Upgrader.CronJob},
	} {
		describer, ok := describe.DescriberFor(what.kind, env.config)
		if !ok {
			t.Fatalf("no describer for %s", what.kind)
		}
		want, err := describer.Describe(ns, what.name, describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(files[file]); withoutEventAges(got) != withoutEventAges(want) {
			t.Errorf("%s differs from kubectl describe %s %s:\n%s", file, what.kind.Kind, what.name, lineDiff(got, want))
		}
	}
}

var (
	podName    = regexp.MustCompile(`^GET /api/v1/namespaces/[^/]+/pods/[^/]+$`)
	podLog     = regexp.MustCompile(`^GET /api/v1/namespaces/[^/]+/pods/[^/]+/log$`)
	namedOther = regexp.MustCompile(`^GET /apis?/(?:[^/]+/)?v1/namespaces/[^/]+/(deployments|cronjobs|secrets)/[^/]+$`)
)

// requestKind sorts a request ("GET /api/v1/...") for the counts above.
func requestKind(r, ns string) string {
	switch {
	case podName.MatchString(r):
		return "GET pods/NAME"
	case podLog.MatchString(r):
		return "GET pods/NAME/log"
	case r == "GET /api/v1/namespaces/"+ns+"/events":
		return "GET namespaced events"
	}
	if m := namedOther.FindStringSubmatch(r); m != nil {
		return "GET " + m[1] + "/NAME"
	}
	return r
}

// withoutEventAges is a description with the Age column of its events dropped and the
// columns' spacing, which follows the widest age, made single.
func withoutEventAges(s string) string {
	head, events, found := strings.Cut(s, "\nEvents:")
	if !found {
		return s
	}
	var out []string
	for _, line := range strings.Split(events, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 {
			f = append(f[:2], f[3:]...)
		}
		out = append(out, strings.Join(f, " "))
	}
	return head + "\nEvents:" + strings.Join(out, "\n")
}
