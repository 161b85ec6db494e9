//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// TestConnect: install --wait waits past the rollout until the new pod's log says the
// delegate registered, and stops with doctor's finding when the log says it never will
// (issue 14, point 1). The logs are planted once the pod exists, as a delegate writes them.
func TestConnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		log  []string
		code int
		// want are in stdout (success) or stderr (failure).
		want []string
	}{
		{"registers", []string{"Starting delegate", "Delegate registered with id e2eDelegateId01"}, 0,
			[]string{"Waiting for delegate connect-ok to register with the manager: 0 of 1 pods registered",
				"delegate connect-ok: 1 of 1 pods registered with the manager"}},
		{"invalid token", []string{"Starting delegate", "Delegate used invalid token. Self destruct procedure will be initiated."}, 1,
			[]string{"will not register with the manager: the delegate's token is wrong or was deleted",
				"Delegate used invalid token", "fix: create a token in Harness", "DLG-501"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := testNamespace(t, "connect")
			name := "connect-ok"
			if tc.code != 0 {
				name = "connect-bad"
				tc.want = append(tc.want, "pod "+name+"-")
			}
			// A timeout far beyond the test's: a failure that returns is one the log stopped.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			install := exec.CommandContext(ctx, env.plugin, "install", name, "-n", ns, "--account-id", "e2eAccount01",
				"--token-file", tokenFile(t), "--min-ready-seconds", "1", "--timeout", "30m", "--support-matrix", matrixWithServer(t))
			install.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig)
			var stdout, stderr lockedBuffer
			install.Stdout, install.Stderr = &stdout, &stderr
			if err := install.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- install.Wait() }()

			var pod string
			eventually(t, 2*time.Minute, func() (bool, string) {
				pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: delegate.LabelName + "=" + name})
				if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.NodeName == "" {
					return false, fmt.Sprintf("pods %v", err)
				}
				pod = pods.Items[0].Name
				// Planted once the install waits for the registration: it must wait past the rollout.
				return strings.Contains(stdout.String(), "to register with the manager"), "install's output:\n" + stdout.String()
			})
			select {
			case err := <-done:
				t.Fatalf("install returned before the log said anything: %v\n%s\n%s", err, stdout.String(), stderr.String())
			default:
			}
			if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, pod, map[string]localcluster.ContainerLogs{
				"delegate": {Current: tc.log}}); err != nil {
				t.Fatal(err)
			}
			err := <-done
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("install: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			out := stdout.String()
			if tc.code != 0 {
				out = stderr.String()
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("install's output lacks %q:\n%s", want, out)
				}
			}
			if tc.code != 0 {
				return
			}
			// inspect reads the same line: when, and as which delegate id.
			res := plugin(t, "inspect", name, "-n", ns, "-o", "json")
			var in struct {
				Pods []struct {
					Name       string
					Registered *delegate.Registered
				}
			}
			if err := json.Unmarshal([]byte(res.stdout), &in); err != nil || len(in.Pods) != 1 {
				t.Fatalf("inspect -o json: %v\n%s%s", err, res.stdout, res.stderr)
			}
			if r := in.Pods[0].Registered; r == nil || r.DelegateID != "e2eDelegateId01" || r.At == nil {
				t.Errorf("inspect -o json: pods[0].registered = %+v, want the id e2eDelegateId01 and a time", r)
			}
			if res = plugin(t, "inspect", name, "-n", ns); !strings.Contains(res.stdout, "(id e2eDelegateId01)") {
				t.Errorf("inspect does not say the pod registered:\n%s%s", res.stdout, res.stderr)
			}
		})
	}
}

// lockedBuffer is a buffer a running command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUpgradeRegistrationFailureRollsBack: an upgrade whose new pod's log says it will not
// register (here the account the upgrade changed to is unknown) rolls back as a failed
// rollout does, restoring the account, and exits 1 with doctor's finding (issue 14, point 1).
func TestUpgradeRegistrationFailureRollsBack(t *testing.T) {
	t.Parallel()
	ns := testNamespace(t, "upgrade-register")
	const name = "register-rollback"
	res := plugin(t, "install", name, "-n", ns, "--account-id", "e2eAccount01", "--token-file", tokenFile(t),
		"--min-ready-seconds", "1", "--timeout", "2m", "--support-matrix", matrixWithServer(t), "--wait-for=rollout")
	if res.code != 0 {
		t.Fatalf("install: exit %d\n%s", res.code, res.stderr)
	}
	// A timeout far beyond the test's: a failure that returns is one the log stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	upgrade := exec.CommandContext(ctx, env.plugin, "upgrade", name, "-n", ns, "--account-id", "wrongAccount01", "--timeout", "30m")
	upgrade.Env = append(os.Environ(), "KUBECONFIG="+env.kubeconfig)
	var stdout, stderr lockedBuffer
	upgrade.Stdout, upgrade.Stderr = &stdout, &stderr
	if err := upgrade.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- upgrade.Wait() }()

	var pod string
	eventually(t, 2*time.Minute, func() (bool, string) {
		pods, err := env.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: delegate.LabelName + "=" + name})
		if err != nil {
			return false, err.Error()
		}
		var live []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Spec.NodeName != "" {
				live = append(live, p.Name)
			}
		}
		// Once the upgrade waits for the registration, the new revision's pod is the only one.
		if len(live) != 1 || !strings.Contains(stdout.String(), "to register with the manager") {
			return false, fmt.Sprintf("pods %v; upgrade's output:\n%s", live, stdout.String())
		}
		pod = live[0]
		return true, ""
	})
	if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, pod, map[string]localcluster.ContainerLogs{
		"delegate": {Current: []string{"Starting delegate", "Account ID: wrongAccount01 not found. Stop launching delegate."}}}); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("upgrade: %v, want exit 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"Rolling back to the previous revision", "failed and was rolled back", "previous revision is serving again",
		"will not register with the manager: the account id is wrong", "Account ID: wrongAccount01 not found", "DLG-501"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the upgrade's message lacks %q:\n%s", want, stderr.String())
		}
	}
	cm, err := env.client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || cm.Data["ACCOUNT_ID"] != "e2eAccount01" {
		t.Errorf("after the rollback the ConfigMap says ACCOUNT_ID=%q (%v), want e2eAccount01", cm.Data["ACCOUNT_ID"], err)
	}
}
