// Package localcluster runs a real Kubernetes control plane on 127.0.0.1 for the plugin's
// tests and demo: etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from
// Go modules, and kwok for fake nodes whose pods run, crash-loop and serve logs.
package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	serviceCIDR    = "10.0.0.0/24"
	firstServiceIP = "10.0.0.1"
	// ViewerNamespace is the one namespace the viewer kubeconfig's user may read; it is where
	// delegates are installed by default, so permission tests can see them and nothing else.
	ViewerNamespace = "harness-delegate-ng"
	// FakeNodeAnnotation marks the nodes kwok manages.
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
)

// Node describes one fake node: its name and what the scheduler may place on it.
type Node struct {
	Name   string
	CPU    string
	Memory string
	Pods   string
	Labels map[string]string
}

// DefaultNodes are three small nodes, as in a small real cluster: each takes a few delegates
// at the chart's defaults (1 CPU, 2 GiB), so the e2e tests running side by side fit, and a
// test that wants a shortfall asks for more than one node has.
func DefaultNodes() []Node {
	return []Node{
		{Name: "kwok-node-0", CPU: "4", Memory: "8Gi", Pods: "250"},
		{Name: "kwok-node-1", CPU: "4", Memory: "8Gi", Pods: "250"},
		{Name: "kwok-node-2", CPU: "4", Memory: "8Gi", Pods: "250"},
	}
}

// Options say which cluster to start and where.
type Options struct {
	// Dir holds the cluster's certificates, kubeconfigs, data, logs and state. Required.
	Dir string
	// KubeVersion is a Kubernetes release such as 1.36.3; "" means the pinned default.
	KubeVersion string
	Nodes       []Node
	// Detach starts the processes in their own session so they outlive the caller (the
	// script's "up"); otherwise they are bound to the caller and die with it.
	Detach bool
	Log    io.Writer
}

// Cluster is a running local cluster. Its fields are saved in Dir/state.json so that another
// process ("down", "status") can find it.
type Cluster struct {
	Dir              string         `json:"dir"`
	KubeVersion      string         `json:"kubeVersion"`
	Server           string         `json:"server"`
	AdminKubeconfig  string         `json:"adminKubeconfig"`
	ViewerKubeconfig string         `json:"viewerKubeconfig"`
	Ports            map[string]int `json:"ports"`
	Processes        []Process      `json:"processes"`
}

// Process is one component of the cluster.
type Process struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Binary string `json:"binary"`
	Log    string `json:"log"`
}

const stateFile = "state.json"

// Start builds what is missing, starts every component, registers the fake nodes and waits
// until the nodes are Ready and pods can be created in the default namespace.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("localcluster: Options.Dir is required")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if len(opts.Nodes) == 0 {
		opts.Nodes = DefaultNodes()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if existing, err := Load(dir); err == nil && existing.Running() {
		return nil, fmt.Errorf("a cluster is already running from %s (server %s): stop it first", dir, existing.Server)
	}
	bins, err := EnsureBinaries(ctx, opts.KubeVersion, opts.Log)
	if err != nil {
		return nil, err
	}
	// A fresh start every time: old etcd data would carry objects from a previous run.
	for _, sub := range []string{"pki", "etcd", "logs", "kubeconfig", stateFile} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"logs", "kubeconfig"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts("etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
	if err != nil {
		return nil, err
	}
	c = &Cluster{
		Dir:              dir,
		KubeVersion:      bins.KubeVersion,
		Server:           fmt.Sprintf("https://127.0.0.1:%d", ports["apiserver"]),
		AdminKubeconfig:  filepath.Join(dir, "kubeconfig", "admin.kubeconfig"),
		ViewerKubeconfig: filepath.Join(dir, "kubeconfig", "viewer.kubeconfig"),
		Ports:            ports,
	}
	// Whatever fails from here on, nothing may be left running.
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()

	start := time.Now()
	p, err := generatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, fmt.Errorf("generating certificates: %w", err)
	}
	kubeconfigs := map[string]string{}
	for _, id := range clientIdentities {
		path := filepath.Join(dir, "kubeconfig", id.file+".kubeconfig")
		namespace := ""
		if id.file == "viewer" {
			namespace = ViewerNamespace
		}
		if err := writeKubeconfig(path, c.Server, p.CACert, p.Clients[id.file], id.user, namespace); err != nil {
			return nil, err
		}
		kubeconfigs[id.file] = path
	}

	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-client"])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports["etcd-peer"])
	if err := c.spawn(opts, "etcd", bins.Etcd,
		"--name=local",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL,
		// Durability is worthless for a throw-away test cluster and fsync dominates its latency.
		"--unsafe-no-fsync",
		"--log-level=warn",
	); err != nil {
		return nil, err
	}

	if err := c.spawn(opts, "kube-apiserver", bins.KubeAPIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports["apiserver"]),
		"--tls-cert-file="+p.ServingCert,
		"--tls-private-key-file="+p.ServingKey,
		"--client-ca-file="+p.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.ServiceAccountPub,
		"--service-account-signing-key-file="+p.ServiceAccountKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--kubelet-client-certificate="+p.KubeletClientCert,
		"--kubelet-client-key="+p.KubeletKey,
		// kwok serves the kubelet API with a self-signed certificate; with no
		// --kubelet-certificate-authority the API server does not verify it.
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--profiling=false",
	); err != nil {
		return nil, err
	}
	admin, err := c.AdminConfig()
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, client, 90*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "kube-apiserver %s ready at %s after %s\n", c.KubeVersion, c.Server, time.Since(start).Round(100*time.Millisecond))

	if err := c.spawn(opts, "kube-controller-manager", bins.KubeControllerManager,
		"--kubeconfig="+kubeconfigs["controller-manager"],
		"--authentication-kubeconfig="+kubeconfigs["controller-manager"],
		"--authorization-kubeconfig="+kubeconfigs["controller-manager"],
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports["controller-manager"]),
		"--use-service-account-credentials",
		"--root-ca-file="+p.CACert,
		"--service-account-private-key-file="+p.ServiceAccountKey,
		"--cluster-signing-cert-file="+p.CACert,
		"--cluster-signing-key-file="+p.CAKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--leader-elect=false",
		// Default client rate limits make the default ServiceAccount appear after ~9 s.
		"--kube-api-qps=200", "--kube-api-burst=400",
		// No CronJob runs on its own: the chart's upgrader runs at the top of every hour, and
		// a run in the middle of a test (a new Job, a CronJob status write) changed what it
		// saw depending on the minute it ran. Tests make the Jobs a run would. "cronjob" is the
		// controller's name before 1.30 and an alias of cronjob-controller since.
		"--controllers=*,-cronjob",
	); err != nil {
		return nil, err
	}
	if err := c.spawn(opts, "kube-scheduler", bins.KubeScheduler,
		"--kubeconfig="+kubeconfigs["scheduler"],
		"--authentication-kubeconfig="+kubeconfigs["scheduler"],
		"--authorization-kubeconfig="+kubeconfigs["scheduler"],
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports["scheduler"]),
		"--leader-elect=false",
	); err != nil {
		return nil, err
	}

	if err := applyManifests(ctx, admin, filepath.Join(bins.KwokConfigDir, "crds")); err != nil {
		return nil, fmt.Errorf("installing kwok's CRDs: %w", err)
	}
	if err := waitCRDsEstablished(ctx, admin, kwokLogCRDs, 30*time.Second); err != nil {
		return nil, err
	}
	kwokArgs := []string{
		"--kubeconfig=" + kubeconfigs["kwok"],
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=fake",
		"--node-ip=127.0.0.1",
		// kwok serves the kubelet API (logs) on its server address; the node port it puts in
		// each node's status must be that same port for the API server to reach it.
		"--node-port=" + strconv.Itoa(ports["kwok"]),
		"--server-address=127.0.0.1:" + strconv.Itoa(ports["kwok"]),
		// kwok's default (0) means no node leases; with the lease heartbeat stage the nodes
		// would then go NotReady.
		"--node-lease-duration-seconds=40",
		// Logs are objects in the cluster so that tests can add them while kwok runs.
		"--enable-crds=Logs,ClusterLogs",
	}
	stageFiles, err := writeStages(dir, bins.KwokConfigDir)
	if err != nil {
		return nil, err
	}
	for _, f := range stageFiles {
		kwokArgs = append(kwokArgs, "--config="+f)
	}
	if err := c.spawn(opts, "kwok", bins.Kwok, kwokArgs...); err != nil {
		return nil, err
	}

	if err := bootstrapObjects(ctx, client, opts.Nodes); err != nil {
		return nil, err
	}
	if err := waitNodesReady(ctx, client, len(opts.Nodes), 60*time.Second); err != nil {
		return nil, c.withLogs(err)
	}
	if err := WaitForServiceAccount(ctx, client, "default", 60*time.Second); err != nil {
		return nil, c.withLogs(err)
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "cluster %s ready with %d fake nodes after %s\n", c.KubeVersion, len(opts.Nodes), time.Since(start).Round(100*time.Millisecond))
	return c, nil
}

// spawn starts one component with its output in Dir/logs/<name>.log.
func (c *Cluster) spawn(opts Options, name, binary string, args ...string) error {
	// /proc/<pid>/exe shows the resolved path; keep that so Running can compare.
	if resolved, err := filepath.EvalSymlinks(binary); err == nil {
		binary = resolved
	}
	logPath := filepath.Join(c.Dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = c.Dir
	// HOME points into the cluster's directory so that kwok does not load a user's
	// ~/.kwok/kwok.yaml and change what the tests see.
	cmd.Env = append(os.Environ(), "HOME="+c.Dir)
	if opts.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// Bound to the caller: a test binary killed by a timeout takes its cluster with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c.Processes = append(c.Processes, Process{Name: name, PID: cmd.Process.Pid, Binary: binary, Log: logPath})
	// Reap the child when it exits so it does not linger as a zombie while we run; a
	// detached cluster's children are adopted by init when we exit.
	go func() { _ = cmd.Wait() }()
	// Save after every start, so that a "down" run while "up" is still starting finds them.
	return c.save()
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.Dir, stateFile))
}

// Load finds the cluster started from dir.
func Load(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	var c Cluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &c, nil
}

// Running says whether any of the cluster's processes is still alive.
func (c *Cluster) Running() bool {
	for _, p := range c.Processes {
		if p.Running() {
			return true
		}
	}
	return false
}

// Running says whether the process still runs the component's binary. A state file can
// outlive its processes (a reboot, a killed session) and their PIDs be reused by something
// else, which must never be signalled.
func (p Process) Running() bool {
	if !processAlive(p.PID) {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
	return err == nil && exe == p.Binary
}

// Stop ends every component, etcd last: stopping etcd together with the API server makes the
// API server hang for over ten seconds. It waits until the processes are gone and their ports
// are closed.
func (c *Cluster) Stop() error {
	var errs []error
	var etcd []Process
	var rest []Process
	for _, p := range c.Processes {
		if p.Name == "etcd" {
			etcd = append(etcd, p)
		} else {
			rest = append(rest, p)
		}
	}
	for _, group := range [][]Process{rest, etcd} {
		for _, p := range group {
			if p.Running() {
				_ = syscall.Kill(p.PID, syscall.SIGTERM)
			}
		}
		for _, p := range group {
			if !waitExit(p, 15*time.Second) {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
				if !waitExit(p, 5*time.Second) {
					errs = append(errs, fmt.Errorf("%s (pid %d) did not exit", p.Name, p.PID))
				}
			}
		}
	}
	for name, port := range c.Ports {
		if !waitPortClosed(port, 5*time.Second) {
			errs = append(errs, fmt.Errorf("port %d (%s) is still open", port, name))
		}
	}
	if len(errs) == 0 {
		c.Processes = nil
		if err := os.Remove(filepath.Join(c.Dir, stateFile)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// AdminConfig is a client configuration with full access.
func (c *Cluster) AdminConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.AdminKubeconfig)
}

// withLogs adds the tail of each component's log, since a failed start is otherwise opaque.
func (c *Cluster) withLogs(err error) error {
	var b strings.Builder
	for _, p := range c.Processes {
		data, _ := os.ReadFile(p.Log)
		fmt.Fprintf(&b, "\n--- %s (%s) ---\n%s", p.Name, p.Log, lastLines(string(data), 8))
	}
	return fmt.Errorf("%w%s", err, b.String())
}

func (c *Cluster) waitReady(ctx context.Context, client kubernetes.Interface, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		for _, p := range c.Processes {
			if !p.Running() {
				return c.withLogs(fmt.Errorf("%s exited during start-up", p.Name))
			}
		}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return c.withLogs(fmt.Errorf("kube-apiserver at %s not ready after %s: %v", c.Server, timeout, last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeKubeconfig(path, server, caFile string, client [2]string, user, namespace string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(client[0])
	if err != nil {
		return err
	}
	key, err := os.ReadFile(client[1])
	if err != nil {
		return err
	}
	// Certificates are embedded so the file works when copied elsewhere.
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user, Namespace: namespace}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// minPort is the lowest port freePorts gives: above the well-known and registered ports that
// services on a developer's machine tend to listen on.
const minPort = 10000

// freePorts finds distinct free loopback ports below the kernel's ephemeral range. A port the
// kernel picks for a listener on port 0 is in that range, where every outgoing connection
// takes its local port too: between this check and the component's own bind, one of the
// many client connections of a test run could take it, and the component exited with
// "address already in use". Below the range only another explicit bind competes.
func freePorts(names ...string) (map[string]int, error) {
	low := ephemeralLow()
	if low-minPort < 1000 {
		return kernelPorts(names...)
	}
	ports := map[string]int{}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < len(names); tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("finding a free port in [%d, %d): none of 1000 tried was free", minPort, low)
		}
		port := minPort + rand.IntN(low-minPort)
		// The listeners stay open until every port is found, so no port is given twice.
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		listeners = append(listeners, l)
		ports[names[len(ports)]] = port
	}
	return ports, nil
}

// kernelPorts asks the kernel for distinct free loopback ports, wherever it finds them.
func kernelPorts(names ...string) (map[string]int, error) {
	ports := map[string]int{}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, name := range names {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports[name] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's default 32768 when
// it cannot be read).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return low
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	// A zombie still answers signal 0; its state in /proc says it is gone.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func waitExit(p Process, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !p.Running() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return !p.Running()
}

func waitPortClosed(port int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err != nil {
			return true
		}
		conn.Close()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
