package localcluster

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestProcessAliveOnlyWhenItRunsTheComponentsBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, _ = filepath.EvalSymlinks(self)
	if !(Process{PID: os.Getpid(), Binary: self}).Running() {
		t.Error("this test process runs its own binary, so it is alive")
	}
	// A PID reused by another program after a reboot must not count, or down would kill it.
	if (Process{PID: os.Getpid(), Binary: "/cache/bin/kube-v1.36.3/kube-apiserver"}).Running() {
		t.Error("a process running another binary was taken for the component")
	}
	if (Process{PID: 0, Binary: self}).Running() {
		t.Error("PID 0 is never a component")
	}
}

func TestStopWithNothingRunningClearsState(t *testing.T) {
	dir := t.TempDir()
	c := &Cluster{Dir: dir, Processes: []Process{{Name: "etcd", PID: os.Getpid(), Binary: "/not/this/binary"}}}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !os.IsNotExist(err) {
		t.Errorf("state file left behind: %v", err)
	}
}

// The components' ports are below the kernel's ephemeral range: ports in that range are
// where every outgoing connection takes its local port, so one taken there could be used by a
// client connection before the component bound it, and the component failed to start.
func TestFreePortsAreBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	ports, err := freePorts("a", "b", "c", "d", "e", "f")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for name, port := range ports {
		if port < minPort || port >= low {
			t.Errorf("%s: port %d, want one in [%d, %d)", name, port, minPort, low)
		}
		if seen[port] {
			t.Errorf("port %d given twice: %v", port, ports)
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("%s: port %d is not free: %v", name, port, err)
			continue
		}
		l.Close()
	}
}
