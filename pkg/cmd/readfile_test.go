package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDoctorFileLimits: doctor's --ecs-task-spec and --support-matrix have their size limits
// too, checked before the file is read, with an error naming the flag and the limit.
func TestDoctorFileLimits(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(45 << 20); err != nil { // sparse: the size without the bytes
		t.Fatal(err)
	}
	f.Close()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	for _, flag := range []string{"--ecs-task-spec", "--support-matrix"} {
		code, _, errOut := execute("doctor", flag, big)
		if code != 1 || !strings.Contains(errOut, flag+" "+big+": the file is larger than the limit of 1 MiB") {
			t.Errorf("doctor %s of 45 MB: exit %d, %q", flag, code, errOut)
		}
	}
}
