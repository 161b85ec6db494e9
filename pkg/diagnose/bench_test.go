package diagnose

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// A cluster-sized snapshot: 200 delegates of 10 pods each (2,000 pods), a quarter of them
// Pending with a FailedScheduling event among 2,000 events.
func bigSnapshot() *Snapshot {
	s := snapshot()
	for i := 0; i < 200; i++ {
		d := healthy()
		d.Name, d.Namespace = fmt.Sprintf("delegate-%03d", i), fmt.Sprintf("ns-%03d", i%20)
		d.Pods = nil
		for j := 0; j < 10; j++ {
			p := delegate.Pod{Name: fmt.Sprintf("%s-%d", d.Name, j), Phase: "Running", Node: "n1", Ready: true}
			if j%4 == 0 {
				p.Phase, p.Node = "Pending", ""
			}
			d.Pods = append(d.Pods, p)
		}
		s.Delegates = append(s.Delegates, d)
	}
	for i := 0; i < 2000; i++ {
		d := s.Delegates[i%200]
		s.Events = append(s.Events, corev1.Event{
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: d.Namespace, Name: d.Pods[(i/200)%10].Name},
			Reason:         "FailedScheduling", Message: "0/200 nodes are available: 200 Insufficient memory.",
		})
	}
	return s
}

func BenchmarkRunChecks(b *testing.B) {
	s := bigSnapshot()
	b.ResetTimer()
	for range b.N {
		if len(Run(s)) == 0 {
			b.Fatal("no findings")
		}
	}
}
