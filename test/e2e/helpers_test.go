//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
)

type result struct {
	stdout, stderr string
	code           int
}

// run executes a command with the test's kubeconfig and PATH holding the plugin first, as a
// user who installed it would have.
func runCommand(t *testing.T, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+env.kubeconfig,
		"PATH="+env.binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
	}
	return res
}

func plugin(t *testing.T, args ...string) result {
	t.Helper()
	return runCommand(t, env.plugin, args...)
}

// testNamespace creates a namespace for one test, ready for pods, and removes it afterwards.
func testNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := env.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = env.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	if err := localcluster.WaitForServiceAccount(ctx, env.client, ns.Name, time.Minute); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// eventually polls cond until it holds or the timeout passes; the last reason it gave is
// the failure message.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not so after %s: %s", timeout, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func simplePod(name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "delegate",
				Image: "harness/delegate:25.10.87000",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    mustQuantity("500m"),
					corev1.ResourceMemory: mustQuantity("512Mi"),
				}},
			}},
		},
	}
}
