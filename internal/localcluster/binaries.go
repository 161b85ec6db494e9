package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Binaries are the paths of the executables one local cluster runs.
type Binaries struct {
	KubeVersion           string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Etcd                  string
	Kwok                  string
	// KwokConfigDir holds the standard Stage files and the kwok CRDs copied out of the kwok
	// module, because kwok's binary carries neither.
	KwokConfigDir string
}

// CacheDir is where built binaries live, outside any clone so that a second clone, a second
// run and CI on the same machine build nothing: $KUBECTL_DELEGATE_CACHE, else the user's cache
// directory.
func CacheDir() (string, error) {
	if dir := os.Getenv("KUBECTL_DELEGATE_CACHE"); dir != "" {
		return filepath.Abs(dir)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache directory (set KUBECTL_DELEGATE_CACHE): %w", err)
	}
	return filepath.Join(base, "kubectl-delegate"), nil
}

// RepoRoot finds the checkout that holds the tools modules, walking up from the working
// directory, so the helper works from the repository root and from test/e2e alike.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "tools", "kube", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no hack/tools/kube/go.mod above the working directory: run from a kubectl-delegate checkout")
		}
		dir = parent
	}
}

// pinnedVersion reads the version a tools module requires of a module path, so the go.mod
// files stay the one place versions are written down.
func pinnedVersion(goModPath, modulePath string) (string, error) {
	data, err := os.ReadFile(goModPath)
	if err != nil {
		return "", err
	}
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(modulePath) + `\s+(v\S+)`)
	m := re.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s does not require %s", goModPath, modulePath)
	}
	return string(m[1]), nil
}

// DefaultKubeVersion is the Kubernetes version pinned in hack/tools/kube/go.mod.
func DefaultKubeVersion(root string) (string, error) {
	return pinnedVersion(filepath.Join(root, "hack", "tools", "kube", "go.mod"), "k8s.io/kubernetes")
}

// normalizeVersion accepts 1.27.8 and v1.27.8.
func normalizeVersion(v string) string {
	v = strings.TrimSpace(v)
	if v != "" && !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}

var kubeVersionRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)

// EnsureBinaries builds whatever of the cluster's binaries the cache lacks, for the given
// Kubernetes version ("" means the pinned default). Progress goes to log.
func EnsureBinaries(ctx context.Context, kubeVersion string, log io.Writer) (*Binaries, error) {
	kb, err := newKubeBuild(kubeVersion)
	if err != nil {
		return nil, err
	}
	root, cache, kubeVersion := kb.root, kb.cache, kb.version
	etcdVersion, err := pinnedVersion(filepath.Join(root, "hack", "tools", "etcd", "go.mod"), "go.etcd.io/etcd/server/v3")
	if err != nil {
		return nil, err
	}
	kwokVersion, err := pinnedVersion(filepath.Join(root, "hack", "tools", "kwok", "go.mod"), "sigs.k8s.io/kwok")
	if err != nil {
		return nil, err
	}

	binDir := filepath.Join(cache, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	kubeDir := filepath.Join(binDir, "kube-"+kubeVersion)
	etcdDir := filepath.Join(binDir, "etcd-"+etcdVersion)
	kwokDir := filepath.Join(binDir, "kwok-"+kwokVersion)

	err = kb.build(ctx, kubeDir, log, "k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kube-scheduler")
	if err != nil {
		return nil, err
	}
	err = ensureDir(etcdDir, log, "etcd "+etcdVersion, func(out string) error {
		if err := goBuild(ctx, filepath.Join(root, "hack", "tools", "etcd"), out, "-s -w", log, "go.etcd.io/etcd/server/v3"); err != nil {
			return err
		}
		// go build names the binary after the package path without its major version: server.
		return os.Rename(filepath.Join(out, "server"), filepath.Join(out, "etcd"))
	})
	if err != nil {
		return nil, err
	}
	err = ensureDir(kwokDir, log, "kwok "+kwokVersion, func(out string) error {
		modDir := filepath.Join(root, "hack", "tools", "kwok")
		if err := goBuild(ctx, modDir, out, "-s -w", log, "sigs.k8s.io/kwok/cmd/kwok"); err != nil {
			return err
		}
		return copyKwokConfig(ctx, modDir, filepath.Join(out, "config"))
	})
	if err != nil {
		return nil, err
	}
	return &Binaries{
		KubeVersion:           kubeVersion,
		KubeAPIServer:         filepath.Join(kubeDir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(kubeDir, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(kubeDir, "kube-scheduler"),
		Etcd:                  filepath.Join(etcdDir, "etcd"),
		Kwok:                  filepath.Join(kwokDir, "kwok"),
		KwokConfigDir:         filepath.Join(kwokDir, "config"),
	}, nil
}

// Kubectl returns the kubectl on PATH, or builds one of the given Kubernetes version ("" for
// the pinned default) from the tools module when the machine has none.
func Kubectl(ctx context.Context, kubeVersion string, log io.Writer) (string, error) {
	if path, err := exec.LookPath("kubectl"); err == nil {
		return path, nil
	}
	kb, err := newKubeBuild(kubeVersion)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(kb.cache, "bin", "kubectl-"+kb.version)
	if err := kb.build(ctx, dir, log, "k8s.io/kubernetes/cmd/kubectl"); err != nil {
		return "", err
	}
	return filepath.Join(dir, "kubectl"), nil
}

// kubeBuild builds binaries of one Kubernetes version from the pinned tools module, or from
// one generated with the same recipe for another version.
type kubeBuild struct {
	root, cache     string
	version, pinned string
}

func newKubeBuild(version string) (*kubeBuild, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	pinned, err := DefaultKubeVersion(root)
	if err != nil {
		return nil, err
	}
	version = normalizeVersion(version)
	if version == "" {
		version = pinned
	}
	if !kubeVersionRE.MatchString(version) {
		return nil, fmt.Errorf("K8S_VERSION %q is not a Kubernetes release like 1.36.3", version)
	}
	return &kubeBuild{root: root, cache: cache, version: version, pinned: pinned}, nil
}

func (kb *kubeBuild) build(ctx context.Context, dir string, log io.Writer, pkgs ...string) error {
	names := make([]string, len(pkgs))
	for i, p := range pkgs {
		names[i] = filepath.Base(p)
	}
	return ensureDir(dir, log, strings.Join(names, ", ")+" "+kb.version, func(out string) error {
		modDir := filepath.Join(kb.root, "hack", "tools", "kube")
		if kb.version != kb.pinned {
			var err error
			modDir, err = generateKubeToolsModule(ctx, filepath.Join(kb.cache, "src", "kube-"+kb.version), kb.version, log)
			if err != nil {
				return err
			}
		}
		return goBuild(ctx, modDir, out, kubeLDFlags(kb.version), log, pkgs...)
	})
}

// ensureDir builds into a temporary sibling and renames it into place, so an interrupted
// build never leaves a directory that looks complete.
func ensureDir(dir string, log io.Writer, what string, build func(out string) error) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	// Parallel test packages and a script run may all ask at once: one builds, the others
	// wait for it. The lock is per directory so that building another Kubernetes version
	// does not hold up a cluster whose binaries are there.
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	tmp := dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(log, "building %s (cached afterwards in %s) ...\n", what, dir)
	if err := build(tmp); err != nil {
		return fmt.Errorf("building %s: %w", what, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	fmt.Fprintf(log, "built %s in %s\n", what, time.Since(start).Round(time.Second))
	return nil
}

// kubeLDFlags stamps the real version: without it the API server reports
// v0.0.0-master+$Format:%H$ and every version check against it is meaningless.
func kubeLDFlags(version string) string {
	m := kubeVersionRE.FindStringSubmatch(version)
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+version,
			"-X", pkg+".gitMajor=1",
			"-X", pkg+".gitMinor="+m[1],
			"-X", pkg+".gitTreeState=clean",
			"-X", pkg+".buildDate=1970-01-01T00:00:00Z",
		)
	}
	return strings.Join(flags, " ")
}

func goBuild(ctx context.Context, modDir, out, ldflags string, log io.Writer, pkgs ...string) error {
	args := append([]string{"build", "-trimpath", "-ldflags", ldflags, "-o", out + string(filepath.Separator)}, pkgs...)
	return runGo(ctx, modDir, log, args...)
}

func runGo(ctx context.Context, dir string, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	// The tools modules must build with their own go.mod, whatever the caller's environment.
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stdout = log
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		return fmt.Errorf("go %s in %s: %w: %s", strings.Join(args, " "), dir, err, lastLines(withoutDownloads(stderr.String()), 20))
	}
	return nil
}

// withoutDownloads drops the module download chatter that floods a cold build's output.
func withoutDownloads(s string) string {
	var kept []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "go: downloading ") {
			kept = append(kept, sc.Text())
		}
	}
	return strings.Join(kept, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// generateKubeToolsModule writes a tools module for a Kubernetes version other than the
// pinned one, with the same recipe as hack/tools/kube: require k8s.io/kubernetes and replace
// every staging module (listed in that version's own go.mod) with its v0 release.
func generateKubeToolsModule(ctx context.Context, dir, version string, log io.Writer) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	cmd.Stdout = &out
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("downloading k8s.io/kubernetes@%s: %w", version, err)
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return "", err
	}
	upstream, err := os.ReadFile(info.GoMod)
	if err != nil {
		return "", err
	}
	goMod, err := kubeToolsGoMod(version, upstream)
	if err != nil {
		return "", err
	}
	// The module proxy refuses a few staging releases (k8s.io/kube-controller-manager
	// v0.27.5-v0.27.9, for one). A staging module's patch releases within one minor carry the
	// same API, so the nearest patch release the proxy has stands in, and the log says so.
	for attempt := 0; ; attempt++ {
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), goMod, 0o644); err != nil {
			return "", err
		}
		err := runGo(ctx, dir, log, "mod", "tidy")
		if err == nil {
			return dir, nil
		}
		m := unavailableModuleRE.FindStringSubmatch(err.Error())
		if m == nil || attempt >= 10 {
			return "", err
		}
		substitute, ok := nearestAvailablePatch(ctx, dir, m[1], m[2])
		if !ok {
			return "", fmt.Errorf("%s@%s is not available from the module proxy and no other patch release of it is: %w", m[1], m[2], err)
		}
		fmt.Fprintf(log, "%s %s is not available from the module proxy; using %s of the same minor release\n", m[1], m[2], substitute)
		goMod = []byte(strings.Replace(string(goMod), m[1]+" => "+m[1]+" "+m[2], m[1]+" => "+m[1]+" "+substitute, 1))
	}
}

var unavailableModuleRE = regexp.MustCompile(`(k8s\.io/[\w.-]+)@(v0\.\d+\.\d+): reading \S+: (?:403|404|410)`)

// nearestAvailablePatch tries the patch releases around version, closest first, newer before
// older.
func nearestAvailablePatch(ctx context.Context, dir, module, version string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(version, "v"), ".")
	patch, err := strconv.Atoi(parts[2])
	if err != nil {
		return "", false
	}
	for distance := 1; distance <= 20; distance++ {
		for _, p := range []int{patch + distance, patch - distance} {
			if p < 0 {
				continue
			}
			candidate := fmt.Sprintf("v%s.%s.%d", parts[0], parts[1], p)
			cmd := exec.CommandContext(ctx, "go", "mod", "download", module+"@"+candidate)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOWORK=off")
			if cmd.Run() == nil {
				return candidate, true
			}
		}
	}
	return "", false
}

var stagingReplaceRE = regexp.MustCompile(`(?m)^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/`)

// kubeToolsGoMod renders the tools module's go.mod from k8s.io/kubernetes's own go.mod.
func kubeToolsGoMod(version string, upstreamGoMod []byte) ([]byte, error) {
	staging := stagingReplaceRE.FindAllSubmatch(upstreamGoMod, -1)
	if len(staging) == 0 {
		return nil, fmt.Errorf("k8s.io/kubernetes %s: no staging replace directives in its go.mod", version)
	}
	stagingVersion := "v0." + strings.TrimPrefix(version, "v1.")
	var b bytes.Buffer
	fmt.Fprintf(&b, "module kubectl-delegate.local/tools/kube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", version)
	for _, m := range staging {
		fmt.Fprintf(&b, "\t%s => %s %s\n", m[1], m[1], stagingVersion)
	}
	b.WriteString(")\n\ntool (\n")
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		fmt.Fprintf(&b, "\tk8s.io/kubernetes/cmd/%s\n", c)
	}
	b.WriteString(")\n")
	return b.Bytes(), nil
}

// kwokStageFiles are the standard stages the cluster runs: nodes become Ready and keep
// their leases; pods become Ready, Jobs' pods complete, deleted pods go away at once.
var kwokStageFiles = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
}

// kwokCRDFiles let tests create Logs objects through the API server while kwok runs.
var kwokCRDFiles = []string{
	"kustomize/crd/bases/kwok.x-k8s.io_logs.yaml",
	"kustomize/crd/bases/kwok.x-k8s.io_clusterlogs.yaml",
}

func copyKwokConfig(ctx context.Context, modDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	src, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locating the kwok module: %w", err)
	}
	kwokDir := strings.TrimSpace(string(src))
	for sub, files := range map[string][]string{"stages": kwokStageFiles, "crds": kwokCRDFiles} {
		if err := os.MkdirAll(filepath.Join(out, sub), 0o755); err != nil {
			return err
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(kwokDir, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, sub, filepath.Base(f)), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
