package cmd

import (
	"testing"
	"time"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// Harness documents that an expired delegate keeps working: a delegate installed by this
// plugin on its default image is at worst a version warning, never a failure (exit 3), the
// day after install or a year later.
func TestDefaultImageIsNeverAVersionFailure(t *testing.T) {
	image := delegate.ParseImage(install.DefaultImage)
	for _, at := range []time.Time{time.Now().Add(24 * time.Hour), time.Now().AddDate(1, 0, 0)} {
		v, _ := delegate.ParseVersion(image.Tag)
		d := delegate.Delegate{Name: "d", Namespace: "ns", InstallMethod: delegate.Plugin, Image: image, Version: v.String(),
			Support:  delegate.SupportAt(image.Tag, at),
			Upgrader: &delegate.Upgrader{CronJob: "d-upgrader-job", Schedule: "0 */1 * * *", CreatedAt: at.Add(-time.Minute)}}
		for _, f := range diagnose.Run(&diagnose.Snapshot{CollectedAt: at, Delegates: []delegate.Delegate{d}}) {
			if f.ID == "DLG-404" && f.Verdict == diagnose.Fail {
				t.Errorf("%s at %s: %s %q", install.DefaultImage, at.Format("2006-01-02"), f.Verdict, f.Finding)
			}
		}
	}
}
