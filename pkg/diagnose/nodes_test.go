package diagnose

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

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

// withNode changes a fresh node with room for the pending delegate (1 CPU, 2048Mi).
func withNode(name string, change func(*NodeCapacity)) NodeCapacity {
	n := node(name, "4", "8Gi", "0", "0")
	n.Labels = map[string]string{"kubernetes.io/hostname": name}
	change(&n)
	return n
}

func taint(key, value string, effect corev1.TaintEffect) func(*NodeCapacity) {
	return func(n *NodeCapacity) {
		n.Taints = append(n.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func label(key, value string) func(*NodeCapacity) {
	return func(n *NodeCapacity) { n.Labels[key] = value }
}

func cordon(n *NodeCapacity) { n.Schedulable = false }

func TestNodeFit(t *testing.T) {
	selector := func(w *delegate.WorkloadRef) { w.NodeSelector = map[string]string{"disk": "ssd"} }
	tolerate := func(tol corev1.Toleration) func(*delegate.WorkloadRef) {
		return func(w *delegate.WorkloadRef) { w.Tolerations = append(w.Tolerations, tol) }
	}
	affinity := func(expr, field []corev1.NodeSelectorRequirement) func(*delegate.WorkloadRef) {
		return func(w *delegate.WorkloadRef) {
			w.RequiredNodeAffinity = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: expr, MatchFields: field}}}
		}
	}
	zoneA := []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}
	nameIsA := []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}
	infra := taint("dedicated", "infra", corev1.TaintEffectNoSchedule)
	cases := []struct {
		name     string
		workload func(*delegate.WorkloadRef)
		nodes    []NodeCapacity
		want     Verdict
		says     []string
		hint     string
	}{
		{"room on one node", nil, []NodeCapacity{node("a", "4", "8Gi", "3500m", "1Gi"), node("b", "4", "8Gi", "1", "4Gi")}, Pass, []string{"b have room"}, ""},
		{"short on memory everywhere", nil, []NodeCapacity{node("a", "4", "8Gi", "1", "7Gi"), node("b", "4", "8Gi", "1", "7500Mi")},
			Fail, []string{"no node has room for a replica (cpu 1, memory 2Gi): closest node a has cpu 3 and memory 1Gi free, short of memory by 1Gi"}, "add a node or capacity"},
		{"short on cpu", nil, []NodeCapacity{node("a", "4", "8Gi", "3500m", "0")}, Fail, []string{"closest node a has cpu 500m and memory 8Gi free, short of cpu by 500m"}, "lower the delegate's requests"},
		{"short on cpu and memory", nil, []NodeCapacity{node("a", "2", "4Gi", "1500m", "3Gi")}, Fail, []string{"short of cpu by 500m and memory by 1Gi"}, ""},
		{"tainted NoSchedule", nil, []NodeCapacity{withNode("a", infra)},
			Fail, []string{"no node may take a replica (cpu 1, memory 2Gi): 1 node(s) excluded: 1 tainted dedicated=infra:NoSchedule"},
			"node a has the cpu and memory for a replica but is tainted dedicated=infra:NoSchedule: tolerate dedicated=infra:NoSchedule in the delegate's pod template (spec.template.spec.tolerations), or remove the taint: kubectl taint node a dedicated=infra:NoSchedule-"},
		{"tainted NoExecute", nil, []NodeCapacity{withNode("a", taint("maintenance", "", corev1.TaintEffectNoExecute))}, Fail, []string{"1 tainted maintenance:NoExecute"}, ""},
		{"PreferNoSchedule does not block", nil, []NodeCapacity{withNode("a", taint("spot", "true", corev1.TaintEffectPreferNoSchedule))}, Pass, []string{"a have room"}, ""},
		{"tolerated taint passes", tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "infra", Effect: corev1.TaintEffectNoSchedule}),
			[]NodeCapacity{withNode("a", infra)}, Pass, []string{"a have room"}, ""},
		{"toleration of another value", tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ci", Effect: corev1.TaintEffectNoSchedule}),
			[]NodeCapacity{withNode("a", infra)}, Fail, []string{"1 tainted dedicated=infra:NoSchedule"}, ""},
		// Every pod gets these from the DefaultTolerationSeconds admission plugin.
		{"not-ready NoExecute tolerated by default", nil, []NodeCapacity{withNode("a", taint(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoExecute))}, Pass, []string{"a have room"}, ""},
		{"selector mismatch", selector, []NodeCapacity{withNode("a", label("disk", "hdd"))},
			Fail, []string{"1 node(s) excluded: 1 not matching nodeSelector disk=ssd"},
			"label the node (kubectl label node a disk=ssd) or change the delegate's nodeSelector"},
		{"selector match passes", selector, []NodeCapacity{withNode("a", label("disk", "ssd"))}, Pass, []string{"a have room"}, ""},
		{"affinity mismatch", affinity(zoneA, nil), []NodeCapacity{withNode("b", label("zone", "b"))},
			Fail, []string{"1 not matching the required node affinity (zone In [a])"}, "requiredDuringSchedulingIgnoredDuringExecution"},
		{"affinity on metadata.name", affinity(nil, nameIsA), []NodeCapacity{withNode("a", func(*NodeCapacity) {}), withNode("b", func(*NodeCapacity) {})},
			Pass, []string{" a have room"}, ""},
		{"affinity on metadata.name, short", affinity(nil, nameIsA), []NodeCapacity{node("a", "4", "8Gi", "4", "0"), withNode("b", func(*NodeCapacity) {})},
			Fail, []string{"closest node a has cpu 0 and memory 8Gi free, short of cpu by 1; 1 of 2 nodes excluded: 1 not matching the required node affinity (metadata.name In [a])"}, ""},
		{"the candidates lack room, an excluded node has it", nil, []NodeCapacity{node("a", "4", "8Gi", "1", "7Gi"), withNode("b", infra)},
			Fail, []string{"closest node a has cpu 3 and memory 1Gi free, short of memory by 1Gi; 1 of 2 nodes excluded: 1 tainted dedicated=infra:NoSchedule"},
			"lower the delegate's requests (not below 0.5 CPU and 2Gi per replica); or node b has the cpu and memory for a replica but is tainted dedicated=infra:NoSchedule: tolerate"},
		{"cordoned", nil, []NodeCapacity{withNode("a", cordon)}, Fail, []string{"1 cordoned"}, "kubectl uncordon a"},
		{"cordoned but the unschedulable taint is tolerated", tolerate(corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists}),
			[]NodeCapacity{withNode("a", func(n *NodeCapacity) {
				cordon(n)
				taint(corev1.TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule)(n)
			})}, Pass, []string{"a have room"}, ""},
		{"full of pods", nil, []NodeCapacity{withNode("a", func(n *NodeCapacity) { n.PodsScheduled = 110 })}, Fail, []string{"1 full (pods)"}, "node a runs as many pods as it may"},
		{"reasons grouped, the nearest node named", selector, []NodeCapacity{
			withNode("a", infra), withNode("b", label("disk", "hdd")), withNode("c", func(*NodeCapacity) {}),
			withNode("d", func(n *NodeCapacity) { infra(n); label("disk", "ssd")(n) }),
		}, Fail, []string{"4 node(s) excluded: 2 not matching nodeSelector disk=ssd, 1 tainted dedicated=infra:NoSchedule and not matching nodeSelector disk=ssd, 1 tainted dedicated=infra:NoSchedule"},
			"node b has the cpu and memory for a replica but is not matching nodeSelector disk=ssd"},
		{"the nearest excluded node lacks room too", selector, []NodeCapacity{withNode("a", func(n *NodeCapacity) { n.RequestedMem = resource.MustParse("7Gi") })},
			Fail, []string{"1 not matching nodeSelector disk=ssd"}, "kubectl label node a disk=ssd) or change the delegate's nodeSelector (spec.template.spec.nodeSelector); it lacks room as well, so add capacity too: a has cpu 4 and memory 1Gi free, short of memory by 1Gi"},
		{"no nodes", nil, []NodeCapacity{}, Fail, []string{"no nodes"}, "add a node"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := pendingDelegate()
			if tc.workload != nil {
				tc.workload(&d.Workload)
			}
			s := snapshot(d)
			s.Nodes = tc.nodes
			f := only(t, checkNodeFit, s)
			if f.Verdict != tc.want {
				t.Errorf("verdict %s, want %s: %q", f.Verdict, tc.want, f.Finding)
			}
			for _, want := range tc.says {
				if !strings.Contains(f.Finding, want) {
					t.Errorf("finding %q lacks %q", f.Finding, want)
				}
			}
			if !strings.Contains(f.Hint, tc.hint) || (tc.want == Fail && f.Hint == "") {
				t.Errorf("hint %q lacks %q", f.Hint, tc.hint)
			}
		})
	}
}

// TestNodeFitPlacesEveryReplica: --replicas 100000 passed because one node had room for
// one replica. Every replica is placed now, as many on each node as its free cpu, memory
// and pod slots allow, and the finding says how many fit and which node is short by how much.
func TestNodeFitPlacesEveryReplica(t *testing.T) {
	roomy := node("a", "4", "8Gi", "0", "0")  // takes 4 (memory)
	half := node("b", "4", "8Gi", "1", "4Gi") // takes 2 (memory), then has cpu 1 left
	slots := node("c", "8", "16Gi", "0", "0") // takes 8, but only 2 pod slots are left
	slots.PodsScheduled = slots.PodsAllocatable - 2
	tainted := withNode("d", taint("dedicated", "infra", corev1.TaintEffectNoSchedule))
	cases := []struct {
		name     string
		replicas int32
		pods     []delegate.Pod
		nodes    []NodeCapacity
		want     Verdict
		says     string
		hint     string
	}{
		{"all fit on one node", 3, nil, []NodeCapacity{roomy}, Pass, "3 replica(s) not placed, but a have room for all of them (cpu 1, memory 2Gi)", ""},
		{"all fit across nodes", 6, nil, []NodeCapacity{roomy, half}, Pass, "6 replica(s) not placed, but a, b have room for all of them", ""},
		{"some fit", 100000, nil, []NodeCapacity{half, roomy}, Fail,
			"only 6 of 100000 replica(s) fit (cpu 1, memory 2Gi each): a takes 4, b takes 2; then the closest node b has cpu 1 and memory 0 free, short of memory by 2Gi",
			"add nodes or capacity for 99994 more replica(s), lower the replicas to 6, or lower the delegate's requests"},
		{"pod slots bound a node", 5, nil, []NodeCapacity{slots}, Fail,
			"only 2 of 5 replica(s) fit (cpu 1, memory 2Gi each): c takes 2; then every node runs as many pods as it may", "for 3 more replica(s), lower the replicas to 2"},
		{"an excluded node is counted and offered", 5, nil, []NodeCapacity{roomy, tainted}, Fail,
			"only 4 of 5 replica(s) fit (cpu 1, memory 2Gi each): a takes 4; then the closest node a has cpu 0 and memory 0 free, short of cpu by 1 and memory by 2Gi; 1 of 2 nodes excluded: 1 tainted dedicated=infra:NoSchedule",
			"; or node d has the cpu and memory for a replica but is tainted"},
		// A live delegate: two pods run, a third is Pending and two more have no pod yet.
		{"live: pending pods and pods not yet made", 5,
			[]delegate.Pod{{Name: "p1", Node: "x"}, {Name: "p2", Node: "x"}, {Name: "p3", Phase: "Pending"}}, []NodeCapacity{half}, Fail,
			"only 2 of 3 replica(s) fit", "for 1 more replica(s), lower the replicas to 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := healthy()
			d.Pods, d.Replicas.Desired = tc.pods, tc.replicas
			s := snapshot(d)
			s.Nodes = tc.nodes
			f := only(t, checkNodeFit, s)
			if f.Verdict != tc.want || !strings.Contains(f.Finding, tc.says) {
				t.Errorf("%s %q\nwant %s %q", f.Verdict, f.Finding, tc.want, tc.says)
			}
			if !strings.Contains(f.Hint, tc.hint) {
				t.Errorf("hint %q lacks %q", f.Hint, tc.hint)
			}
		})
	}
	if !needsNodeCapacity([]delegate.Delegate{func() delegate.Delegate { d := healthy(); d.Replicas.Desired = 3; return d }()}) {
		t.Error("replicas without a pod yet are to be placed: the nodes are read")
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

// A node's requested room is what the scheduler counts for each pod on it: the larger of
// the containers' sum and the largest init container, sidecars (init containers that keep
// running) on top, plus the pod overhead.
func TestGatherNodeCapacityCountsRequestsAsTheScheduler(t *testing.T) {
	requests := func(cpu, mem string) corev1.ResourceRequirements {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return corev1.ResourceRequirements{Requests: l}
	}
	always := corev1.ContainerRestartPolicyAlways
	cases := []struct {
		name     string
		spec     corev1.PodSpec
		cpu, mem string
	}{
		{"init container larger than the containers, overhead", corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "a", Resources: requests("250m", "1Gi")}, {Name: "b", Resources: requests("250m", "")}},
			InitContainers: []corev1.Container{{Name: "init", Resources: requests("", "3Gi")}},
			Overhead:       corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		}, "600m", "3Gi"},
		{"sidecar init container runs beside the containers", corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "app", Resources: requests("1", "1Gi")}},
			InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always, Resources: requests("500m", "512Mi")}},
		}, "1500m", "1536Mi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}}}
			spec := c.spec
			spec.NodeName = "a"
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}, Spec: spec}
			nodes, err := gatherNodeCapacity(context.Background(), fake.NewClientset(n, p), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := nodes[0]; got.RequestedCPU.String() != c.cpu || got.RequestedMem.String() != c.mem {
				t.Errorf("requested cpu %s memory %s, want %s %s", got.RequestedCPU.String(), got.RequestedMem.String(), c.cpu, c.mem)
			}
		})
	}
}

// What the node fit judges placement by comes from the nodes themselves: labels for
// selectors and affinity, taints, and the cordon.
func TestGatherNodeCapacityCarriesPlacement(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"disk": "ssd"}},
		Spec:       corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}},
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}, Spec: corev1.PodSpec{NodeName: "a", Containers: []corev1.Container{{
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}}}}}
	nodes, err := gatherNodeCapacity(context.Background(), fake.NewClientset(n, p), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 {
		t.Fatalf("%+v", nodes)
	}
	got := nodes[0]
	if got.Schedulable || got.Labels["disk"] != "ssd" || len(got.Taints) != 1 || got.RequestedCPU.String() != "1500m" || got.PodsScheduled != 1 || got.PodsAllocatable != 110 {
		t.Errorf("%+v", got)
	}
}

// A reinstall of a running delegate on full nodes: its own replicas hold the room the planned
// ones take (the same pods, or their replacements one by one), so doctor --pre and install's
// preflight find room; another workload's pods still count.
func TestGatherPreLeavesTheDelegatesOwnPodsOut(t *testing.T) {
	const ns = "harness-delegate-ng"
	req, lim := chartResources("1", "2Gi")
	nodeOf := func(name string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("110")}}}
	}
	podOf := func(name, namespace, delegateName, nodeName string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{delegate.LabelName: delegateName}},
			Spec:   corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "delegate", Resources: corev1.ResourceRequirements{Requests: req}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	client := fake.NewClientset(nodeOf("a"), nodeOf("b"),
		podOf("prod-1", ns, "prod", "a"), podOf("prod-2", ns, "prod", "a"),
		// Not prod's: the same name in another namespace, and another delegate beside it.
		podOf("prod-x", "elsewhere", "prod", "b"), podOf("staging-1", ns, "staging", "b"))
	for _, tc := range []struct {
		replicas int32
		verdict  Verdict
		says     string
	}{
		{2, Pass, "have room for all of them"},
		{3, Fail, "only 2 of 3 replica(s) fit"},
	} {
		s, err := GatherPre(context.Background(), client, PrePlan{Delegate: PlannedDelegate(ns, "prod", tc.replicas, req, lim), SupportMatrix: DefaultSupportMatrix()})
		if err != nil {
			t.Fatal(err)
		}
		if f := one(t, s, "DLG-203"); f.Verdict != tc.verdict || !strings.Contains(f.Finding, tc.says) {
			t.Errorf("%d replicas: %s %q, want %s %q", tc.replicas, f.Verdict, f.Finding, tc.verdict, tc.says)
		}
	}
}
