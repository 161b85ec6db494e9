package diagnose

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// A cluster-sized snapshot: 200 delegates of 10 pods each (2,000 pods), a quarter of them
// Pending with a FailedScheduling event among 2,000 events, and 200 nodes. Every delegate has
// a Pending replica, so the node fit weighs all 200 nodes for each: by pool label
// (nodeSelector), zone (required affinity, on half the delegates), a dedicated taint (on
// every fifth node, tolerated by every third delegate) and cordons, then by free room.
func bigSnapshot() *Snapshot {
	s := snapshot()
	for i := 0; i < 200; i++ {
		n := node(fmt.Sprintf("node-%03d", i), "16", "64Gi", fmt.Sprintf("%dm", 8000+i*40), fmt.Sprintf("%dMi", 40000+i*100))
		n.Labels = map[string]string{"kubernetes.io/hostname": n.Name, "pool": fmt.Sprintf("pool-%d", i%4), "topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", i%3)}
		if i%5 == 0 {
			n.Taints = []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}}
		}
		if i%20 == 7 {
			n.Schedulable = false
		}
		s.Nodes = append(s.Nodes, n)
	}
	for i := 0; i < 200; i++ {
		d := healthy()
		d.Name, d.Namespace = fmt.Sprintf("delegate-%03d", i), fmt.Sprintf("ns-%03d", i%20)
		d.Workload.NodeSelector = map[string]string{"pool": fmt.Sprintf("pool-%d", i%5)} // pool-4 matches no node
		if i%2 == 0 {
			d.Workload.RequiredNodeAffinity = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-0", "zone-1"}}}}}}
		}
		if i%3 == 0 {
			d.Workload.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}
		if i%2 == 1 {
			// More than any node has free: the fit fails and ranks the candidates.
			d.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("32Gi")
		}
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
	// The figure means something only if the fit takes each of its paths.
	forms := map[string]int{}
	for _, f := range checkNodeFit(s) {
		switch {
		case f.Verdict == Pass:
			forms["a node has room"]++
		case strings.Contains(f.Finding, "closest node"):
			forms["candidates short of room"]++
		case strings.Contains(f.Finding, "no node may take"):
			forms["every node excluded"]++
		}
	}
	if len(forms) != 3 {
		b.Fatalf("the node fit does not take every path: %v", forms)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(Run(s)) == 0 {
			b.Fatal("no findings")
		}
	}
}

// BenchmarkCheckLogs: the log check over 50 running pods whose 256 KiB tails hold routine
// lines only, the shape of most delegates (collect and doctor -A at the benchmark's scale).
func BenchmarkCheckLogs(b *testing.B) {
	s := snapshot()
	line := "2026-11-30 12:00:00,000 [pool-1-thread-3] INFO  io.harness.delegate.service.DelegateAgentServiceImpl - Sending heartbeat to manager\n"
	tail := strings.Repeat(line, 256<<10/len(line))
	s.Logs = map[string]PodLogs{}
	d := healthy()
	d.Pods = nil
	for i := range 50 {
		p := delegate.Pod{Name: fmt.Sprintf("%s-%d", d.Name, i), Phase: "Running", Node: "n1", Ready: true}
		d.Pods = append(d.Pods, p)
		s.Logs[d.Namespace+"/"+p.Name] = PodLogs{Current: tail, Previous: tail}
	}
	s.Delegates = []delegate.Delegate{d}
	b.SetBytes(int64(50 * 2 * len(tail)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(checkLogs(s)) != 50 {
			b.Fatal("want a finding per pod")
		}
	}
}
