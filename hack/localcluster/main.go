// Command localcluster starts, stops and describes the local test cluster; hack/cluster.sh
// is its front end. Tests use internal/localcluster directly.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-delegate/kubectl-delegate/internal/localcluster"
)

const usage = `usage: hack/cluster.sh up|down|status|env|build
       hack/cluster.sh logs NAMESPACE POD CONTAINER CURRENT_FILE [PREVIOUS_FILE]
       hack/cluster.sh kubeconfig OUT NAME=STATE_DIR [NAME=STATE_DIR ...]

  up      build what is missing, start the cluster, print how to use it
  down    stop every process of the cluster
  status  say whether the cluster runs, where, and which version
  env     print "export KUBECONFIG=..." for the admin kubeconfig (eval "$(hack/cluster.sh env)")
  build   only build the binaries into the cache
  logs    make the running cluster serve these files' lines as a pod container's log (kwok
          runs no container: this is how the demo gives its delegates something to read)
  kubeconfig  write one kubeconfig with a context per running cluster (each cluster's state
          directory, e.g. .cluster and .cluster-2), named NAME, for --contexts and --all-contexts

Environment:
  K8S_VERSION                  Kubernetes version to run (default: pinned in hack/tools/kube/go.mod)
  KUBECTL_DELEGATE_CLUSTER_DIR where the cluster keeps its state (default: .cluster in the checkout)
  KUBECTL_DELEGATE_CACHE       where built binaries are cached (default: the user cache directory)
`

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "logs" && os.Args[1] != "kubeconfig" && len(os.Args) != 2) {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	switch os.Args[1] {
	case "logs":
		run = func(ctx context.Context, _ string) error { return plantLogs(ctx, os.Args[2:]) }
	case "kubeconfig":
		run = func(context.Context, string) error { return mergeKubeconfigs(os.Args[2:]) }
	}
	if err := run(ctx, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func stateDir() (string, error) {
	if dir := os.Getenv("KUBECTL_DELEGATE_CLUSTER_DIR"); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := localcluster.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cluster"), nil
}

func run(ctx context.Context, verb string) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	switch verb {
	case "build":
		_, err := localcluster.EnsureBinaries(ctx, os.Getenv("K8S_VERSION"), os.Stderr)
		return err
	case "up":
		if c, err := localcluster.Load(dir); err == nil && c.Running() {
			fmt.Printf("cluster already running: Kubernetes %s at %s\n", c.KubeVersion, c.Server)
			printUse(c)
			return nil
		}
		c, err := localcluster.Start(ctx, localcluster.Options{
			Dir:         dir,
			KubeVersion: os.Getenv("K8S_VERSION"),
			Detach:      true,
			Log:         os.Stderr,
		})
		if err != nil {
			return err
		}
		fmt.Printf("cluster up: Kubernetes %s at %s\n", c.KubeVersion, c.Server)
		printUse(c)
		return nil
	case "down":
		c, err := localcluster.Load(dir)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Println("no cluster running from", dir)
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.Stop(); err != nil {
			return err
		}
		fmt.Println("cluster stopped; no process or port left")
		return nil
	case "status":
		c, err := localcluster.Load(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no cluster running from %s (start one with: hack/cluster.sh up)", dir)
		}
		if err != nil {
			return err
		}
		if !c.Running() {
			return fmt.Errorf("the cluster in %s is not running (its processes are gone); run hack/cluster.sh down, then up", dir)
		}
		fmt.Printf("running: Kubernetes %s at %s\n", c.KubeVersion, c.Server)
		for _, p := range c.Processes {
			fmt.Printf("  %-24s pid %-7d log %s\n", p.Name, p.PID, p.Log)
		}
		printUse(c)
		return nil
	case "env":
		c, err := localcluster.Load(dir)
		if err != nil {
			return fmt.Errorf("no cluster state in %s (start one with: hack/cluster.sh up): %w", dir, err)
		}
		fmt.Printf("export KUBECONFIG=%s\n", c.AdminKubeconfig)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown verb %q", verb)
	}
}

func printUse(c *localcluster.Cluster) {
	fmt.Printf("  admin:     export KUBECONFIG=%s\n", c.AdminKubeconfig)
	fmt.Printf("  read-only: %s (user %s, namespace %s only)\n", c.ViewerKubeconfig, localcluster.ViewerUser, localcluster.ViewerNamespace)
}

// plantLogs serves the lines of the files given as a container's current (and previous) log.
func plantLogs(ctx context.Context, args []string) error {
	if len(args) < 4 || len(args) > 5 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("logs takes NAMESPACE POD CONTAINER CURRENT_FILE [PREVIOUS_FILE]")
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	c, err := localcluster.Load(dir)
	if err != nil {
		return fmt.Errorf("no cluster state in %s (start one with: hack/cluster.sh up): %w", dir, err)
	}
	cfg, err := c.AdminConfig()
	if err != nil {
		return err
	}
	lines := func(path string) ([]string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the log lines: %w", err)
		}
		return strings.Split(strings.TrimRight(string(data), "\n"), "\n"), nil
	}
	var logs localcluster.ContainerLogs
	if logs.Current, err = lines(args[3]); err != nil {
		return err
	}
	if len(args) == 5 {
		if logs.Previous, err = lines(args[4]); err != nil {
			return err
		}
	}
	return localcluster.SetPodLogs(ctx, cfg, filepath.Join(dir, "podlogs"), args[0], args[1], map[string]localcluster.ContainerLogs{args[2]: logs})
}

// mergeKubeconfigs writes one kubeconfig holding each named cluster's admin context, its
// cluster and user renamed to NAME (every local cluster calls its own "local").
func mergeKubeconfigs(args []string) error {
	if len(args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("kubeconfig takes OUT NAME=STATE_DIR, one or more")
	}
	merged := clientcmdapi.NewConfig()
	for _, arg := range args[1:] {
		name, dir, ok := strings.Cut(arg, "=")
		if !ok || name == "" || dir == "" {
			return fmt.Errorf("%q: want NAME=STATE_DIR", arg)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		c, err := localcluster.Load(abs)
		if err != nil {
			return fmt.Errorf("%s: no cluster state in %s: %w", name, abs, err)
		}
		cfg, err := clientcmd.LoadFromFile(c.AdminKubeconfig)
		if err != nil {
			return err
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		if ctx == nil {
			return fmt.Errorf("%s: %s has no current context", name, c.AdminKubeconfig)
		}
		merged.Clusters[name] = cfg.Clusters[ctx.Cluster]
		merged.AuthInfos[name] = cfg.AuthInfos[ctx.AuthInfo]
		merged.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: ctx.Namespace}
		if merged.CurrentContext == "" {
			merged.CurrentContext = name
		}
	}
	return clientcmd.WriteToFile(*merged, args[0])
}
