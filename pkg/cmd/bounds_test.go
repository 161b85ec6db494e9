package cmd

import (
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// install --replicas 100000 made 17,058 pods: a count beyond the documented sizing is refused
// before any request, naming the flag, the bound and --force, which lets it through.
func TestInstallReplicasBeyondSizingAskForForce(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // nil: valid
	}{
		{[]string{"--replicas", "8"}, nil},
		{[]string{"--replicas", "9"}, []string{"--replicas", "9 is more than the 8 replicas", "--force"}},
		{[]string{"--replicas", "100000"}, []string{"--replicas", "100000 is more than the 8 replicas", "pass --force"}},
		{[]string{"--replicas", "100000", "--force"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			flags := genericclioptions.NewConfigFlags(false)
			o := &InstallOptions{configFlags: flags, IOStreams: genericiooptions.NewTestIOStreamsDiscard()}
			cmd := newInstallCommand(o)
			cmd.Flags().StringVarP(flags.Namespace, "namespace", "n", "", "")
			if err := cmd.ParseFlags(append([]string{"--account-id", "acc01", "--token", "tok3n", "--dry-run=client"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			o.Name = "d"
			if err := o.Complete(); err != nil {
				t.Fatal(err)
			}
			err := flagErrors(o.Validate())
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != nil && err == nil:
				t.Errorf("accepted, want %q", tc.want)
			}
			for _, want := range tc.want {
				if err != nil && !strings.Contains(err.Error(), want) {
					t.Errorf("%q lacks %q", err, want)
				}
			}
		})
	}
}

// collect --workers is capped: every worker holds requests open against the API server.
func TestCollectWorkersAreCapped(t *testing.T) {
	valid := CollectOptions{Tail: 10, LimitBytes: 1, TimeoutPerPod: time.Minute}
	for workers, want := range map[int]string{1: "", 64: "", 0: "--workers 0: at least 1", 65: "--workers 65: at most 64", 100000: "--workers 100000: at most 64"} {
		o := valid
		o.Workers = workers
		err := o.Validate()
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("--workers %d: %v, want %q", workers, err, want)
		}
	}
}
