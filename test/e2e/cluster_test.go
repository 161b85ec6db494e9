//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
)

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func TestPodOnFakeNodeRunsAndServesLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "logs")
	pod, err := env.client.CoreV1().Pods(ns).Create(ctx, simplePod("delegate-0", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() (bool, string) {
		pod, err = env.client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return pod.Status.Phase == corev1.PodRunning && podReady(pod), fmt.Sprintf("phase %s, node %q", pod.Status.Phase, pod.Spec.NodeName)
	})
	node, err := env.client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Annotations[localcluster.FakeNodeAnnotation] != "fake" {
		t.Errorf("pod scheduled on %s, which is not a kwok node (annotations %v)", node.Name, node.Annotations)
	}

	current := []string{"Delegate registered with id abc123", "Heartbeat sent"}
	previous := []string{"Connectivity test failed", "Error occurred while registering delegate with manager"}
	if err := localcluster.SetPodLogs(ctx, env.config, env.logDir, ns, pod.Name, map[string]localcluster.ContainerLogs{
		"delegate": {Current: current, Previous: previous},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		previous bool
		want     []string
	}{{false, current}, {true, previous}} {
		want := strings.Join(tc.want, "\n") + "\n"
		// kwok picks up a new Logs object through a watch, so the first request may race it.
		eventually(t, 30*time.Second, func() (bool, string) {
			got, err := env.client.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "delegate", Previous: tc.previous}).DoRaw(ctx)
			if err != nil {
				return false, err.Error()
			}
			return string(got) == want, fmt.Sprintf("previous=%v: got %q, want %q", tc.previous, got, want)
		})
	}
	// The real kubectl sees the same through the API server.
	res := runCommand(t, env.kubectl, "logs", "-n", ns, pod.Name, "--previous", "--tail=1")
	if res.code != 0 || res.stdout != previous[1]+"\n" {
		t.Errorf("kubectl logs --previous --tail=1: code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

func TestCrashLoopingPod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "crash")
	pod, err := env.client.CoreV1().Pods(ns).Create(ctx, simplePod("delegate-oom", localcluster.CrashLoop("OOMKilled", 137)), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// RESTARTS climbs as under a real kubelet: wait for the second restart.
	eventually(t, time.Minute, func() (bool, string) {
		pod, err = env.client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(pod.Status.ContainerStatuses) != 1 {
			return false, fmt.Sprintf("phase %s, no container status yet", pod.Status.Phase)
		}
		cs := pod.Status.ContainerStatuses[0]
		return cs.RestartCount >= 2, fmt.Sprintf("restartCount %d", cs.RestartCount)
	})
	cs := pod.Status.ContainerStatuses[0]
	if pod.Status.Phase != corev1.PodRunning || podReady(pod) {
		t.Errorf("phase %s, ready %v; want Running and not ready", pod.Status.Phase, podReady(pod))
	}
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" {
		t.Errorf("state %+v; want waiting CrashLoopBackOff", cs.State)
	}
	if term := cs.LastTerminationState.Terminated; term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("last termination %+v; want OOMKilled with exit code 137", cs.LastTerminationState.Terminated)
	}
}

func TestPodWaitingOnImagePull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "pull")
	pod, err := env.client.CoreV1().Pods(ns).Create(ctx, simplePod("delegate-pull", map[string]string{
		localcluster.WaitingAnnotation:        "ImagePullBackOff",
		localcluster.WaitingMessageAnnotation: `Back-off pulling image "harness/delegate:nope"`,
	}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() (bool, string) {
		pod, err = env.client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Waiting == nil {
			return false, fmt.Sprintf("phase %s, err %v", pod.Status.Phase, err)
		}
		return pod.Status.ContainerStatuses[0].State.Waiting.Reason == "ImagePullBackOff", fmt.Sprintf("%+v", pod.Status.ContainerStatuses[0].State)
	})
	// It must stay that way, not be taken over by the standard stage that makes pods Ready.
	time.Sleep(3 * time.Second)
	pod, err = env.client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != corev1.PodPending || pod.Status.ContainerStatuses[0].State.Waiting == nil {
		t.Errorf("phase %s, state %+v; want Pending and waiting", pod.Status.Phase, pod.Status.ContainerStatuses[0].State)
	}
}

func TestSchedulerReportsInsufficientMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "sched")
	pod := simplePod("too-big", nil)
	pod.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = mustQuantity("1Ti")
	if _, err := env.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() (bool, string) {
		events, err := env.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if strings.Contains(e.Message, "Insufficient memory") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d FailedScheduling events, none about memory", len(events.Items))
	})
}

// No CronJob runs by itself in the local cluster: the fixtures' upgrader CronJobs are due at
// the top of every hour, and a run in the middle of a test (a new Job, a status write)
// changed what the test saw depending on the minute. The controller-manager's health check
// lists each controller it runs.
func TestLocalClusterRunsNoCronJobs(t *testing.T) {
	if env.startedHere == nil {
		t.Skip("the cluster named by KUBECONFIG was not started by these tests")
	}
	t.Parallel()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		// The controller-manager serves /healthz with a self-signed certificate to anyone.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz?verbose", env.startedHere.Ports["controller-manager"]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the controller-manager's /healthz?verbose: %s\n%s", resp.Status, body)
	}
	if !strings.Contains(string(body), "deployment") {
		t.Skipf("this controller-manager's health check does not list its controllers:\n%s", body)
	}
	if strings.Contains(string(body), "cronjob") {
		t.Errorf("the controller-manager runs the CronJob controller:\n%s", body)
	}
}

func TestViewerKubeconfigReadsOneNamespaceOnly(t *testing.T) {
	if env.viewerKubeconfig == "" {
		t.Skip("the cluster named by KUBECONFIG has no viewer.kubeconfig beside it")
	}
	t.Parallel()
	ctx := context.Background()
	cfg, err := clientcmd.BuildConfigFromFlags("", env.viewerKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viewer.CoreV1().Pods(localcluster.ViewerNamespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("viewer listing pods in %s: %v", localcluster.ViewerNamespace, err)
	}
	if _, err := viewer.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("viewer listing pods in default: got %v, want Forbidden", err)
	}
	_, err = viewer.CoreV1().ConfigMaps(localcluster.ViewerNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("viewer creating a ConfigMap: got %v, want Forbidden", err)
	}
}

// TestClusterScriptUpDown runs a second cluster through hack/cluster.sh, as a user would,
// and checks that down leaves no process and no listening port behind.
func TestClusterScriptUpDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second cluster")
	}
	t.Parallel()
	dir := t.TempDir()
	script := func(verb string) result {
		cmd := exec.Command("bash", "../../hack/cluster.sh", verb)
		cmd.Env = append(os.Environ(), "KUBECTL_DELEGATE_CLUSTER_DIR="+dir)
		out, err := cmd.CombinedOutput()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{stdout: string(out), code: code}
	}
	if res := script("up"); res.code != 0 {
		t.Fatalf("hack/cluster.sh up: exit %d\n%s", res.code, res.stdout)
	}
	c, err := localcluster.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if res := script("status"); res.code != 0 || !strings.Contains(res.stdout, c.Server) {
		t.Errorf("status: exit %d\n%s", res.code, res.stdout)
	}
	if res := script("env"); strings.TrimSpace(res.stdout) != "export KUBECONFIG="+filepath.Join(dir, "kubeconfig", "admin.kubeconfig") {
		t.Errorf("env printed %q", res.stdout)
	}
	res := runCommand(t, env.kubectl, "--kubeconfig", c.AdminKubeconfig, "get", "nodes", "-o", "name")
	if res.code != 0 || strings.Count(res.stdout, "node/") != len(localcluster.DefaultNodes()) {
		t.Errorf("kubectl get nodes on the script's cluster: exit %d, %q %q", res.code, res.stdout, res.stderr)
	}
	if res := script("down"); res.code != 0 {
		t.Fatalf("hack/cluster.sh down: exit %d\n%s", res.code, res.stdout)
	}
	for _, p := range c.Processes {
		if p.Running() {
			t.Errorf("%s (pid %d) still running after down", p.Name, p.PID)
		}
	}
	for name, port := range c.Ports {
		if listening(port) {
			t.Errorf("port %d (%s) still listening after down", port, name)
		}
	}
	if res := script("status"); res.code == 0 {
		t.Errorf("status after down exited 0:\n%s", res.stdout)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func listening(port int) bool {
	conn, err := (&net.Dialer{Timeout: 500 * time.Millisecond}).Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
