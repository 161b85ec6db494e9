//go:build e2e

// Package e2e runs the plugin and the real kubectl against a real kube-apiserver: the local
// cluster (internal/localcluster), started once for the package, or the cluster KUBECONFIG
// names when it is set.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
)

// What the plugin binary under test is stamped with, so the tests can see it come back.
const (
	stampVersion = "v9.9.9-e2e"
	stampCommit  = "e2e0commit"
	stampDate    = "2026-01-02T03:04:05Z"
)

var env struct {
	kubeconfig       string
	viewerKubeconfig string // "" when the cluster in use has no read-only user
	config           *rest.Config
	client           kubernetes.Interface
	binDir           string // holds kubectl-delegate, and nothing else
	plugin           string
	kubectl          string
	logDir           string // where tests write the files kwok serves as pod logs
	// startedHere is the cluster this package started, nil when KUBECONFIG named one.
	startedHere *localcluster.Cluster
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "kubectl-delegate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := setUp(ctx, tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e set-up:", err)
		if env.startedHere != nil {
			_ = env.startedHere.Stop()
		}
		return 1
	}
	code := m.Run()
	if env.startedHere != nil {
		if err := env.startedHere.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the e2e cluster:", err)
			return 1
		}
	}
	return code
}

func setUp(ctx context.Context, tmp string) error {
	env.binDir = filepath.Join(tmp, "bin")
	env.logDir = filepath.Join(tmp, "podlogs")
	env.plugin = filepath.Join(env.binDir, "kubectl-delegate")
	pkg := "github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	// The release build's tag (Makefile BUILD_TAGS): the tests run what ships.
	build := exec.Command("go", "build", "-tags", "kustomize_disable_go_plugin_support", "-o", env.plugin, "-ldflags",
		fmt.Sprintf("-X %s.Version=%s -X %s.Commit=%s -X %s.Date=%s", pkg, stampVersion, pkg, stampCommit, pkg, stampDate),
		"../../cmd/kubectl-delegate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the plugin: %w", err)
	}

	if kc := os.Getenv("KUBECONFIG"); kc != "" {
		env.kubeconfig = kc
		// A cluster from hack/cluster.sh keeps its read-only kubeconfig beside the admin one.
		if viewer := filepath.Join(filepath.Dir(kc), "viewer.kubeconfig"); fileExists(viewer) {
			env.viewerKubeconfig = viewer
		}
		fmt.Fprintf(os.Stderr, "e2e: using the cluster of KUBECONFIG=%s\n", kc)
	} else {
		start := time.Now()
		c, err := localcluster.Start(ctx, localcluster.Options{
			Dir:         filepath.Join(tmp, "cluster"),
			KubeVersion: os.Getenv("K8S_VERSION"),
			Log:         os.Stderr,
		})
		if err != nil {
			return err
		}
		env.startedHere = c
		env.kubeconfig = c.AdminKubeconfig
		env.viewerKubeconfig = c.ViewerKubeconfig
		fmt.Fprintf(os.Stderr, "e2e: started Kubernetes %s in %s\n", c.KubeVersion, time.Since(start).Round(100*time.Millisecond))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", env.kubeconfig)
	if err != nil {
		return err
	}
	// The tests' own client is not throttled either, as the plugin's is not (client.go):
	// client-go's default 5 requests/s would pace the parallel tests, not the server.
	cfg.QPS = -1
	env.config = cfg
	if env.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	env.kubectl, err = localcluster.Kubectl(ctx, os.Getenv("K8S_VERSION"), os.Stderr)
	return err
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
