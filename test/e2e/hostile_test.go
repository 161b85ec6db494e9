//go:build e2e

package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// A delegate whose DELEGATE_NAME climbs directories and carries escape sequences and a
// newline, as a hostile or careless manifest may set it: no command prints a control
// character for people, and no bundle member leaves the bundle's folder.
func TestHostileDelegateName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "hostile")
	const hostile = "../../../../tmp/x\x1b]0;pwned\x07\x1b[2J\nfake-ns   fake-delegate"
	labels := map[string]string{delegate.LabelName: "hostile"}
	replicas := int32(1)
	pod := simplePod("", nil)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DELEGATE_NAME", Value: hostile}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hostile", Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec}},
	}
	if _, err := env.client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() (bool, string) {
		ds := listDelegates(t, "-n", ns)
		d := ds[ns+"/"+hostile]
		return len(d.Pods) == 1, "waiting for the pod"
	})
	// JSON keeps the name exact; everything for people escapes it.
	for _, args := range [][]string{{"list", "-n", ns}, {"list", "-n", ns, "-o", "wide"}, {"doctor", "-n", ns}, {"inspect", hostile, "-n", ns}} {
		res := plugin(t, args...)
		out := res.stdout + res.stderr
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%v printed a control character:\n%q", args, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "fake-ns") {
				t.Errorf("%v printed a line the name made up: %q", args, line)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	res := plugin(t, "collect", "-n", ns, "-O", path)
	if res.code != 0 && res.code != 5 {
		t.Fatalf("collect: exit %d: %s", res.code, res.stderr)
	}
	if strings.ContainsAny(res.stderr, "\x1b\x07") {
		t.Errorf("collect's progress printed a control character:\n%q", res.stderr)
	}
	_, files := untar(t, path)
	found := false
	for name := range files {
		for _, part := range strings.Split(name, "/") {
			if part == ".." || part == "." || strings.ContainsAny(part, "\x1b\x07\n\\") {
				t.Errorf("bundle member %q is not one clean path", name)
			}
		}
		if strings.HasPrefix(name, "delegates/"+ns+"/..%2F..%2F..%2F..%2Ftmp%2Fx") {
			found = true
		}
	}
	if !found {
		t.Errorf("the delegate's files are not under its escaped name: %v", files)
	}
}
