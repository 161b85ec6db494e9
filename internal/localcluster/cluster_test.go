package localcluster

import (
	"os"
	"path/filepath"
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
