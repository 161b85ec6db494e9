package localcluster

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

//go:embed stages/*.yaml
var customStages embed.FS

// Pod annotations that the cluster's custom kwok stages act on.
const (
	// CrashLoopAnnotation makes a pod crash-loop; its value is the termination reason
	// (Error, OOMKilled, ...).
	CrashLoopAnnotation = "kwok.kubectl-delegate.dev/crash-loop"
	// ExitCodeAnnotation is the exit code of each crash (default 1).
	ExitCodeAnnotation = "kwok.kubectl-delegate.dev/exit-code"
	// WaitingAnnotation keeps a pod Pending with its containers waiting for the given reason
	// (ImagePullBackOff, ErrImagePull, CreateContainerConfigError, ...).
	WaitingAnnotation        = "kwok.kubectl-delegate.dev/waiting"
	WaitingMessageAnnotation = "kwok.kubectl-delegate.dev/waiting-message"
)

// CrashLoopImage is a delegate image whose pods crash-loop (reason Error), as an upgrade to a
// broken release would: the crash-loop stages also select pods by this image.
const CrashLoopImage = "crash-loop.kwok.invalid/harness/delegate:26.02.88404"

// FailImage is an image whose pods fail at once with the exit code of ExitCodeAnnotation
// (default 1) and are not restarted, as a failing upgrader Job's pod does
// (stages/pod-fail.yaml selects pods by it).
const FailImage = "fail.kwok.invalid/harness/upgrader:1.0.0"

// crashLoopByImage turns the crash-loop stages, which select pods by annotation, into
// stages that select them by image.
func crashLoopByImage(stages string) string {
	bySelector := strings.ReplaceAll(stages,
		"- key: '.metadata.annotations[\"kwok.kubectl-delegate.dev/crash-loop\"]'\n      operator: 'Exists'",
		"- key: '.spec.containers.[].image'\n      operator: 'In'\n      values:\n      - '"+CrashLoopImage+"'")
	return strings.ReplaceAll(bySelector, "name: pod-crash-loop-", "name: pod-crash-loop-image-")
}

// CrashLoop returns the annotations that make a pod crash-loop with the given termination
// reason and exit code, e.g. CrashLoop("OOMKilled", 137).
func CrashLoop(reason string, exitCode int) map[string]string {
	return map[string]string{CrashLoopAnnotation: reason, ExitCodeAnnotation: strconv.Itoa(exitCode)}
}

// writeStages puts the standard stages and ours in the cluster's directory and returns the
// files for kwok's --config flags.
func writeStages(dir, kwokConfigDir string) ([]string, error) {
	out := filepath.Join(dir, "kwok")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	standard, err := filepath.Glob(filepath.Join(kwokConfigDir, "stages", "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(standard) == 0 {
		return nil, fmt.Errorf("no kwok stages in %s: remove that directory's parent to rebuild kwok", kwokConfigDir)
	}
	files := append([]string{}, standard...)
	entries, err := customStages.ReadDir("stages")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := customStages.ReadFile("stages/" + e.Name())
		if err != nil {
			return nil, err
		}
		path := filepath.Join(out, e.Name())
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
		files = append(files, path)
		if e.Name() == "pod-crash-loop.yaml" {
			byImage := crashLoopByImage(string(data))
			if byImage == string(data) {
				return nil, fmt.Errorf("stages/%s: its annotation selector changed; update crashLoopByImage", e.Name())
			}
			path := filepath.Join(out, "pod-crash-loop-image.yaml")
			if err := os.WriteFile(path, []byte(byImage), 0o644); err != nil {
				return nil, err
			}
			files = append(files, path)
		}
	}
	sort.Strings(files)
	return files, nil
}

// bootstrapObjects registers the fake nodes and gives the viewer user read access to its one
// namespace.
func bootstrapObjects(ctx context.Context, client kubernetes.Interface, nodes []Node) error {
	for _, n := range nodes {
		if _, err := client.CoreV1().Nodes().Create(ctx, fakeNode(n), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("registering node %s: %w", n.Name, err)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ViewerNamespace}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ViewerNamespace, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubectl-delegate-viewer", Namespace: ViewerNamespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: ViewerUser}},
	}
	if _, err := client.RbacV1().RoleBindings(ViewerNamespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("granting %s read access to %s: %w", ViewerUser, ViewerNamespace, err)
	}
	return nil
}

func fakeNode(n Node) *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(n.CPU),
		corev1.ResourceMemory: resource.MustParse(n.Memory),
		corev1.ResourcePods:   resource.MustParse(n.Pods),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Labels:      labels,
			Annotations: map[string]string{FakeNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources,
			NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: "fake", OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
}

func waitNodesReady(ctx context.Context, client kubernetes.Interface, want int, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= want, nil
	}, fmt.Sprintf("%d fake nodes Ready", want))
}

// WaitForServiceAccount waits for the controller-manager to create the default
// ServiceAccount of a namespace: until it exists, pods in the namespace are refused.
func WaitForServiceAccount(ctx context.Context, client kubernetes.Interface, namespace string, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}, "ServiceAccount "+namespace+"/default")
}

func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error), what string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: not there after %s", what, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// applyManifests creates every object in the YAML files of dir.
func applyManifests(ctx context.Context, cfg *rest.Config, dir string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); err != nil {
				if err == io.EOF {
					break
				}
				return fmt.Errorf("%s: %w", f, err)
			}
			if obj.GetKind() != "CustomResourceDefinition" {
				return fmt.Errorf("%s: only CustomResourceDefinitions are expected, found %s", f, obj.GetKind())
			}
			if _, err := dyn.Resource(crdGVR).Create(ctx, &obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
	}
	return nil
}

var kwokLogCRDs = []string{"logs.kwok.x-k8s.io", "clusterlogs.kwok.x-k8s.io"}

func waitCRDsEstablished(ctx context.Context, cfg *rest.Config, names []string, timeout time.Duration) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	return poll(ctx, timeout, func() (bool, error) {
		for _, name := range names {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			established := false
			for _, c := range conditions {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	}, "kwok CRDs established")
}

// LogsGVR is kwok's namespaced Logs resource: one object per pod, named after it.
var LogsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

// ContainerLogs are the lines one container has written, now and before its last restart.
type ContainerLogs struct {
	Current  []string
	Previous []string
}

// SetPodLogs makes `kubectl logs` (and `--previous`) return the given lines for a pod's
// containers. The lines are written in CRI log format under dir, which kwok reads on every
// request, and a kwok Logs object points the pod at them. Calling it again replaces them.
func SetPodLogs(ctx context.Context, cfg *rest.Config, dir, namespace, pod string, containers map[string]ContainerLogs) error {
	podDir := filepath.Join(dir, namespace, pod)
	if err := os.MkdirAll(podDir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(containers))
	for name := range containers {
		names = append(names, name)
	}
	sort.Strings(names)
	var logs []any
	for _, name := range names {
		current := filepath.Join(podDir, name+".log")
		previous := filepath.Join(podDir, name+".previous.log")
		if err := os.WriteFile(current, CRILog(time.Now(), containers[name].Current), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(previous, CRILog(time.Now().Add(-time.Minute), containers[name].Previous), 0o644); err != nil {
			return err
		}
		logs = append(logs, map[string]any{
			"containers":       []any{name},
			"logsFile":         current,
			"previousLogsFile": previous,
		})
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Logs",
		"metadata":   map[string]any{"name": pod, "namespace": namespace},
		"spec":       map[string]any{"logs": logs},
	}}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client := dyn.Resource(LogsGVR).Namespace(namespace)
	existing, err := client.Get(ctx, pod, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.Create(ctx, obj, metav1.CreateOptions{})
	case err == nil:
		obj.SetResourceVersion(existing.GetResourceVersion())
		_, err = client.Update(ctx, obj, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("pointing kwok at the logs of %s/%s: %w", namespace, pod, err)
	}
	return nil
}

// CRILog renders lines in the container runtime's log format, the only one kwok serves:
// "<RFC3339Nano> stdout F <message>", one second apart ending at end.
func CRILog(end time.Time, lines []string) []byte {
	var b strings.Builder
	for i, line := range lines {
		ts := end.Add(-time.Duration(len(lines)-1-i) * time.Second).UTC().Format(time.RFC3339Nano)
		fmt.Fprintf(&b, "%s stdout F %s\n", ts, line)
	}
	return []byte(b.String())
}
