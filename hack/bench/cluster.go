package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
)

// benchEnv is the filled cluster the commands run against.
type benchEnv struct {
	kubeconfig string
	namespaces []string // the delegates' namespaces
	pods       []podRef // the delegates' pods
}

type podRef struct{ namespace, name string }

// setUp starts the cluster and fills it; the returned stop ends the cluster and must be
// called whatever happens next.
func setUp(ctx context.Context, cfg config, kubectl, work string) (*benchEnv, func() error, error) {
	logf("starting a local cluster with %d fake nodes", cfg.nodes)
	c, err := localcluster.Start(ctx, localcluster.Options{
		Dir:         filepath.Join(work, "cluster"),
		KubeVersion: cfg.kubeVersion,
		Nodes:       benchNodes(cfg.nodes),
		Log:         os.Stderr,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the local cluster: %w", err)
	}
	env, err := fill(ctx, cfg, c, kubectl, work)
	if err != nil {
		return nil, nil, errors.Join(err, c.Stop())
	}
	return env, c.Stop, nil
}

// benchNodes are roomy nodes: the benchmark measures reading a cluster, not scheduling
// shortfalls, so every pod must fit.
func benchNodes(n int) []localcluster.Node {
	nodes := make([]localcluster.Node, n)
	for i := range nodes {
		nodes[i] = localcluster.Node{Name: fmt.Sprintf("kwok-node-%03d", i), CPU: "64", Memory: "256Gi", Pods: "250"}
	}
	return nodes
}

func fill(ctx context.Context, cfg config, c *localcluster.Cluster, kubectl, work string) (*benchEnv, error) {
	restCfg, err := c.AdminConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	// The set-up's own client must not throttle itself: thousands of creates at client-go's
	// default 5 requests a second would take minutes.
	restCfg.QPS, restCfg.Burst = 500, 1000
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("building a client: %w", err)
	}
	if err := createOtherPods(ctx, client, cfg); err != nil {
		return nil, err
	}
	env := &benchEnv{kubeconfig: c.AdminKubeconfig}
	if env.namespaces, err = installDelegates(ctx, client, cfg, kubectl, c.AdminKubeconfig, work); err != nil {
		return nil, err
	}
	if env.pods, err = waitDelegatePods(ctx, client, env.namespaces, cfg.replicas); err != nil {
		return nil, err
	}
	if err := plantLogs(ctx, restCfg, client, cfg, filepath.Join(work, "podlogs"), env.pods); err != nil {
		return nil, err
	}
	return env, nil
}

// createNamespace makes a namespace and waits for its default ServiceAccount, without which
// pods are refused.
func createNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return localcluster.WaitForServiceAccount(ctx, client, name, 2*time.Minute)
}

// otherNamespaces is how many namespaces the non-delegate pods are spread over, as apps are.
const otherNamespaces = 10

// createOtherPods creates the pods that are not delegates, bound straight to the fake nodes:
// the scheduler is not what is measured, and kwok runs a pod once it has a node.
func createOtherPods(ctx context.Context, client kubernetes.Interface, cfg config) error {
	if cfg.pods == 0 {
		return nil
	}
	logf("creating %d other pods", cfg.pods)
	for i := range otherNamespaces {
		if err := createNamespace(ctx, client, fmt.Sprintf("apps-%02d", i)); err != nil {
			return err
		}
	}
	err := parallel(ctx, cfg.pods, 32, func(i int) error {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%05d", i), Labels: map[string]string{"app": "bench"}},
			Spec: corev1.PodSpec{
				NodeName:   fmt.Sprintf("kwok-node-%03d", i%cfg.nodes),
				Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}},
			},
		}
		_, err := client.CoreV1().Pods(fmt.Sprintf("apps-%02d", i%otherNamespaces)).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating the other pods: %w", err)
	}
	return waitRunning(ctx, client, "", "app=bench", cfg.pods)
}

// parallel runs f(0..n-1) with at most limit at once and returns the first error.
func parallel(ctx context.Context, n, limit int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, limit)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return cmpOr(first, ctx.Err())
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// waitRunning waits until want pods matching the selector run.
func waitRunning(ctx context.Context, client kubernetes.Interface, namespace, selector string, want int) error {
	deadline := time.Now().Add(15 * time.Minute)
	for {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector, FieldSelector: "status.phase=Running"})
		if err == nil && len(pods.Items) >= want {
			return nil
		}
		if time.Now().After(deadline) {
			got := 0
			if pods != nil {
				got = len(pods.Items)
			}
			return fmt.Errorf("%d of %d pods (%s) running after 15 minutes (last error: %v)", got, want, selector, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// installDelegates applies the e2e tests' Helm-chart fixture once per delegate, renamed and
// scaled, with the real kubectl as a user would.
func installDelegates(ctx context.Context, client kubernetes.Interface, cfg config, kubectl, kubeconfig, work string) ([]string, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	fixture, err := os.ReadFile(filepath.Join(root, "test", "e2e", "testdata", "helm-chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("reading the delegate fixture: %w", err)
	}
	logf("installing %d delegates with %d replicas each", cfg.delegates, cfg.replicas)
	namespaces := make([]string, cfg.delegates)
	for i := range namespaces {
		namespaces[i] = fmt.Sprintf("delegate-%02d", i)
		if err := createNamespace(ctx, client, namespaces[i]); err != nil {
			return nil, err
		}
		manifest := delegateManifest(string(fixture), namespaces[i], fmt.Sprintf("bench-delegate-%02d", i), cfg.replicas)
		if err := kubectlApply(ctx, kubectl, kubeconfig, filepath.Join(work, namespaces[i]+".yaml"), manifest); err != nil {
			return nil, err
		}
	}
	return namespaces, nil
}

// delegateManifest turns the fixture into one distinct delegate: its own name (ten delegates
// of one name would make list warn about duplicates, which real clusters rarely have), its
// replica count, and an upgrader schedule that cannot fire during a run (its Job's pod would
// change what the commands see from one run to the next).
func delegateManifest(fixture, namespace, name string, replicas int) string {
	return strings.NewReplacer(
		"NAMESPACE", namespace,
		"helm-delegate", name,
		"replicas: 2", "replicas: "+strconv.Itoa(replicas),
		`schedule: "0 */1 * * *"`, `schedule: "0 0 1 1 *"`,
	).Replace(fixture)
}

func kubectlApply(ctx context.Context, kubectl, kubeconfig, path, manifest string) error {
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "apply", "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply -f %s: %w: %s", path, err, out)
	}
	return nil
}

// waitDelegatePods waits for every replica to run and returns the pods.
func waitDelegatePods(ctx context.Context, client kubernetes.Interface, namespaces []string, replicas int) ([]podRef, error) {
	const selector = "harness.io/name"
	if err := waitRunning(ctx, client, "", selector, len(namespaces)*replicas); err != nil {
		return nil, err
	}
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: selector, FieldSelector: "status.phase=Running"})
	if err != nil {
		return nil, fmt.Errorf("listing the delegates' pods: %w", err)
	}
	refs := make([]podRef, 0, len(pods.Items))
	for _, p := range pods.Items {
		refs = append(refs, podRef{namespace: p.Namespace, name: p.Name})
	}
	return refs, nil
}

// plantLogs gives every delegate pod its current and previous log and waits until kwok
// serves them, so that doctor and collect read real lines.
func plantLogs(ctx context.Context, restCfg *rest.Config, client kubernetes.Interface, cfg config, dir string, pods []podRef) error {
	logf("planting %d MB + %d MB of logs in each of %d delegate pods", cfg.logMB, cfg.previousLogMB, len(pods))
	current := delegateLog(cfg.logMB<<20, "current")
	previous := delegateLog(cfg.previousLogMB<<20, "previous")
	err := parallel(ctx, len(pods), 4, func(i int) error {
		p := pods[i]
		return localcluster.SetPodLogs(ctx, restCfg, dir, p.namespace, p.name, map[string]localcluster.ContainerLogs{
			"delegate": {Current: current, Previous: previous},
		})
	})
	if err != nil {
		return fmt.Errorf("planting logs: %w", err)
	}
	return waitLogsServed(ctx, client, pods, current[len(current)-1])
}

// waitLogsServed polls each pod's last log line: kwok picks up a Logs object through a watch,
// so the first reads may race it.
func waitLogsServed(ctx context.Context, client kubernetes.Interface, pods []podRef, last string) error {
	tail := int64(1)
	return parallel(ctx, len(pods), 8, func(i int) error {
		p := pods[i]
		deadline := time.Now().Add(2 * time.Minute)
		for {
			got, err := client.CoreV1().Pods(p.namespace).GetLogs(p.name, &corev1.PodLogOptions{Container: "delegate", TailLines: &tail}).DoRaw(ctx)
			if err == nil && strings.Contains(string(got), last) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("kwok does not serve the planted log of %s/%s after 2 minutes (got %q, %v)", p.namespace, p.name, got, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}

// logTemplates are lines as a delegate writes them: mostly routine, with the lines doctor's
// log analysis looks for and the secrets collect's redactor must hide.
var logTemplates = []string{
	"INFO  [delegate-heartbeat] io.harness.delegate.service.DelegateAgentServiceImpl - Heartbeat sent, delegate %s seq %d",
	"INFO  [task-executor-%d] io.harness.delegate.task.k8s.K8sTaskNG - Executing task %d: kubectl rollout status deployment/app-%d",
	"DEBUG [grpc-default-executor-3] io.harness.grpc.DelegateServiceGrpcAgentClient - Polled for tasks, none assigned (%s %d)",
	"INFO  [delegate-main] io.harness.delegate.app.DelegateApplication - Delegate registered with id dlg-%s-%d",
	"WARN  [delegate-heartbeat] io.harness.managerclient.ManagerClient - Connectivity test failed, retrying (%s, attempt %d)",
	"INFO  [http-client] io.harness.network.Http - GET https://app.harness.io/api/account/%s Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl %d",
}

// delegateLog returns lines adding up to about size bytes; the last one is unique, so that
// reading it back proves kwok serves this log.
func delegateLog(size int, kind string) []string {
	var lines []string
	total := 0
	for i := 0; total < size; i++ {
		// Routine lines mostly; one in a hundred is a line the analyser or redactor acts on.
		t := logTemplates[i%3]
		if i%100 < len(logTemplates)-3 {
			t = logTemplates[3+i%100]
		}
		var line string
		if strings.Count(t, "%") == 3 {
			line = fmt.Sprintf(t, i%16, i, i%50)
		} else {
			line = fmt.Sprintf(t, kind, i)
		}
		lines = append(lines, line)
		total += len(line) + 46 // the CRI prefix: timestamp, stream, tag
	}
	return append(lines, "bench-end-of-"+kind+"-log")
}
