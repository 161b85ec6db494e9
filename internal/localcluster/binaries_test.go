package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKubeToolsGoModReplacesEveryStagingModule(t *testing.T) {
	upstream := []byte(`module k8s.io/kubernetes

go 1.20

require (
	k8s.io/api v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/kube-controller-manager => ./staging/src/k8s.io/kube-controller-manager
	github.com/foo/bar => github.com/foo/bar v1.0.0
)
`)
	got, err := kubeToolsGoMod("v1.27.8", upstream)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"require k8s.io/kubernetes v1.27.8",
		"\tk8s.io/api => k8s.io/api v0.27.8\n",
		"\tk8s.io/kube-controller-manager => k8s.io/kube-controller-manager v0.27.8\n",
		"\tk8s.io/kubernetes/cmd/kube-apiserver\n",
		"\tk8s.io/kubernetes/cmd/kubectl\n",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("generated go.mod lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "github.com/foo/bar") {
		t.Errorf("only staging replaces are carried over:\n%s", got)
	}
	if _, err := kubeToolsGoMod("v1.27.8", []byte("module k8s.io/kubernetes\n")); err == nil {
		t.Error("a go.mod with no staging modules must be an error")
	}
}

// The pinned tools module and the generator must agree, so that K8S_VERSION=<pinned> and
// the default build the same thing.
func TestPinnedKubeToolsModuleMatchesGenerator(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "hack", "tools", "kube", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	version, err := pinnedVersion(filepath.Join("..", "..", "hack", "tools", "kube", "go.mod"), "k8s.io/kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	staging := "v0." + strings.TrimPrefix(version, "v1.")
	for _, want := range []string{"k8s.io/api => k8s.io/api " + staging, "k8s.io/client-go => k8s.io/client-go " + staging, "k8s.io/kubernetes/cmd/kubectl"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("hack/tools/kube/go.mod lacks %q", want)
		}
	}
}

func TestPinnedVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "go.mod")
	_ = os.WriteFile(path, []byte("module x\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 v3.6.16 // indirect\n\tsigs.k8s.io/kwok v0.8.0\n)\nrequire k8s.io/kubernetes v1.36.3\n"), 0o644)
	for module, want := range map[string]string{"go.etcd.io/etcd/server/v3": "v3.6.16", "sigs.k8s.io/kwok": "v0.8.0", "k8s.io/kubernetes": "v1.36.3"} {
		got, err := pinnedVersion(path, module)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %s", module, got, err, want)
		}
	}
	if _, err := pinnedVersion(path, "k8s.io/missing"); err == nil {
		t.Error("a module the file does not require must be an error")
	}
}

func TestKubeLDFlagsStampTheRealVersion(t *testing.T) {
	flags := kubeLDFlags("v1.27.8")
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.27.8",
		"k8s.io/component-base/version.gitMinor=27",
		"k8s.io/client-go/pkg/version.gitVersion=v1.27.8",
	} {
		if !strings.Contains(flags, want) {
			t.Errorf("ldflags lack %s: %s", want, flags)
		}
	}
}

func TestUnavailableModuleIsRecognised(t *testing.T) {
	msg := `go: k8s.io/kubernetes/cmd/kube-controller-manager imports
	k8s.io/kube-controller-manager/config/v1alpha1: k8s.io/kube-controller-manager@v0.27.8: reading https://proxy.example/k8s.io/kube-controller-manager/@v/v0.27.8.zip: 403 Forbidden`
	m := unavailableModuleRE.FindStringSubmatch(msg)
	if m == nil || m[1] != "k8s.io/kube-controller-manager" || m[2] != "v0.27.8" {
		t.Errorf("got %q", m)
	}
}

func TestNormalizeVersion(t *testing.T) {
	for in, want := range map[string]string{"1.27.8": "v1.27.8", "v1.36.3": "v1.36.3", " 1.30.0 ": "v1.30.0", "": ""} {
		if got := normalizeVersion(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"v1.27", "latest", "v2.0.0", "v1.27.8-rc.1"} {
		if kubeVersionRE.MatchString(normalizeVersion(bad)) {
			t.Errorf("%q accepted as a release", bad)
		}
	}
}

func TestCRILog(t *testing.T) {
	end := time.Date(2026, 11, 20, 12, 0, 2, 0, time.UTC)
	got := string(CRILog(end, []string{"a", "b", "c"}))
	want := "2026-11-20T12:00:00Z stdout F a\n2026-11-20T12:00:01Z stdout F b\n2026-11-20T12:00:02Z stdout F c\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(CRILog(end, nil)) != 0 {
		t.Error("no lines must give an empty file")
	}
}

func TestWriteStagesIncludesStandardAndCustom(t *testing.T) {
	config := t.TempDir()
	_ = os.MkdirAll(filepath.Join(config, "stages"), 0o755)
	_ = os.WriteFile(filepath.Join(config, "stages", "pod-ready.yaml"), []byte("kind: Stage\n"), 0o644)
	files, err := writeStages(t.TempDir(), config)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	joined := strings.Join(names, ",")
	for _, want := range []string{"pod-ready.yaml", "pod-crash-loop.yaml", "pod-waiting.yaml", "pod-fail.yaml"} {
		if !strings.Contains(joined, want) {
			t.Errorf("stages %v lack %s", names, want)
		}
	}
	if _, err := writeStages(t.TempDir(), t.TempDir()); err == nil {
		t.Error("a kwok directory with no stages must be an error, not a cluster whose pods never start")
	}
}

func TestFakeNodeIsManagedByKwok(t *testing.T) {
	n := fakeNode(Node{Name: "n1", CPU: "4", Memory: "8Gi", Pods: "110", Labels: map[string]string{"zone": "a"}})
	if n.Annotations[FakeNodeAnnotation] != "fake" {
		t.Errorf("annotations %v", n.Annotations)
	}
	if n.Labels["zone"] != "a" || n.Labels["kubernetes.io/hostname"] != "n1" {
		t.Errorf("labels %v", n.Labels)
	}
	if got := n.Status.Allocatable.Memory().String(); got != "8Gi" {
		t.Errorf("allocatable memory %s", got)
	}
}

// The fail stage selects pods by FailImage: the constant and the stage move together.
func TestFailStageSelectsFailImage(t *testing.T) {
	data, err := customStages.ReadFile("stages/pod-fail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "'"+FailImage+"'") {
		t.Errorf("stages/pod-fail.yaml does not select %s", FailImage)
	}
}
