package diagnose

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

func node(name, allocCPU, allocMem, reqCPU, reqMem string) NodeCapacity {
	return NodeCapacity{Name: name, Schedulable: true, PodsAllocatable: 110,
		AllocatableCPU: resource.MustParse(allocCPU), AllocatableMem: resource.MustParse(allocMem),
		RequestedCPU: resource.MustParse(reqCPU), RequestedMem: resource.MustParse(reqMem)}
}

func pendingDelegate() delegate.Delegate {
	d := healthy() // requests 1 CPU, 2048Mi
	d.Pods = []delegate.Pod{{Name: "prod-1", Phase: "Pending"}}
	return d
}

func TestNodeFit(t *testing.T) {
	tainted := node("gpu", "16", "64Gi", "0", "0")
	tainted.Taints = []corev1.Taint{{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}}
	cordoned := node("old", "16", "64Gi", "0", "0")
	cordoned.Schedulable = false
	cases := []struct {
		name  string
		nodes []NodeCapacity
		want  Verdict
		says  string
	}{
		{"room on one node", []NodeCapacity{node("a", "4", "8Gi", "3500m", "1Gi"), node("b", "4", "8Gi", "1", "4Gi")}, Pass, "b have room"},
		{"memory short everywhere", []NodeCapacity{node("a", "4", "8Gi", "1", "7Gi"), node("b", "4", "8Gi", "1", "7500Mi")},
			Fail, "closest node a has cpu 3 and memory 1Gi free, short of memory by 1Gi"},
		{"cpu and memory short", []NodeCapacity{node("a", "2", "4Gi", "1500m", "3Gi")}, Fail, "short of cpu by 500m and memory by 1Gi"},
		{"only a tainted node has room", []NodeCapacity{tainted, node("a", "2", "4Gi", "2", "4Gi")}, Fail, "closest node a"},
		{"only a cordoned node", []NodeCapacity{cordoned}, Fail, "is cordoned"},
		{"no nodes", []NodeCapacity{}, Fail, "no nodes"},
	}
	for _, tc := range cases {
		s := snapshot(pendingDelegate())
		s.Nodes = tc.nodes
		f := only(t, checkNodeFit, s)
		if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%s: %s %q", tc.name, f.Verdict, f.Finding)
		}
	}
}

func TestNodeFitSkipsWithoutNodesAndPassesPlacedReplicas(t *testing.T) {
	s := snapshot(pendingDelegate())
	s.NodesError = "node capacity could not be read: nodes is forbidden"
	if f := only(t, checkNodeFit, s); f.Verdict != Skip || !strings.Contains(f.Finding, "forbidden") {
		t.Errorf("%+v", f)
	}
	if f := only(t, checkNodeFit, snapshot(healthy())); f.Verdict != Pass || !strings.Contains(f.Finding, "placed") {
		t.Errorf("%+v", f)
	}
	if needsNodeCapacity([]delegate.Delegate{healthy()}) || !needsNodeCapacity([]delegate.Delegate{pendingDelegate()}) {
		t.Error("node capacity is read only when a replica is not placed")
	}
}

func TestPodRequests(t *testing.T) {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("1Gi")}}},
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}},
		},
		InitContainers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("3Gi")}}},
		},
		Overhead: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}
	cpu, mem := podRequests(spec)
	if cpu.String() != "600m" || mem.String() != "3Gi" {
		t.Errorf("cpu %s mem %s", cpu.String(), mem.String())
	}
}
