package diagnose

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// NodeCapacity is one node's room for pods: what it offers and what pods already request.
type NodeCapacity struct {
	Name            string            `json:"name"`
	Schedulable     bool              `json:"schedulable"`
	Labels          map[string]string `json:"labels,omitempty"`
	Taints          []corev1.Taint    `json:"taints,omitempty"`
	AllocatableCPU  resource.Quantity `json:"allocatableCPU"`
	AllocatableMem  resource.Quantity `json:"allocatableMemory"`
	RequestedCPU    resource.Quantity `json:"requestedCPU"`
	RequestedMem    resource.Quantity `json:"requestedMemory"`
	PodsAllocatable int64             `json:"podsAllocatable"`
	PodsScheduled   int64             `json:"podsScheduled"`
}

// needsNodeCapacity: a cluster-wide LIST of pods is only worth its cost when a delegate
// replica could not be placed; a healthy cluster is checked without it.
func needsNodeCapacity(ds []delegate.Delegate) bool {
	for _, d := range ds {
		if unplacedReplicas(d) > 0 {
			return true
		}
	}
	return false
}

// unplacedReplicas counts the replicas the scheduler still has to place: pods without a
// node, and desired replicas that have no pod yet (a planned install has none at all). It
// counts rather than lists, so a million planned replicas cost nothing.
func unplacedReplicas(d delegate.Delegate) int64 {
	return unplacedPods(d) + max(0, int64(d.Replicas.Desired)-int64(len(d.Pods)))
}

// gatherNodeCapacity lists the nodes and every non-terminated pod (paginated, 500 a page)
// and sums the pods' requests per node, but those of the pods leaveOut (when not nil) says
// to leave out.
func gatherNodeCapacity(ctx context.Context, client kubernetes.Interface, leaveOut func(*corev1.Pod) bool) ([]NodeCapacity, error) {
	nodes, err := delegate.ListAll[corev1.Node](ctx, metav1.ListOptions{Limit: 500}, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Nodes().List(ctx, o)
	})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	requested := map[string]*NodeCapacity{}
	out := make([]NodeCapacity, len(nodes))
	for i, n := range nodes {
		out[i] = NodeCapacity{
			Name:            n.Name,
			Schedulable:     !n.Spec.Unschedulable,
			Labels:          n.Labels,
			Taints:          n.Spec.Taints,
			AllocatableCPU:  n.Status.Allocatable[corev1.ResourceCPU],
			AllocatableMem:  n.Status.Allocatable[corev1.ResourceMemory],
			PodsAllocatable: n.Status.Allocatable.Pods().Value(),
		}
		requested[n.Name] = &out[i]
	}
	// Every pod in the cluster: one page at a time through the pager, never all held at once.
	list := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Pods("").List(ctx, o)
	})
	list.PageSize = 500
	err = list.EachListItem(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"}, func(obj runtime.Object) error {
		p := obj.(*corev1.Pod)
		n, ok := requested[p.Spec.NodeName]
		if !ok || (leaveOut != nil && leaveOut(p)) {
			return nil
		}
		// What the scheduler counts: init containers, sidecars, overhead and pod-level
		// requests included.
		reqs := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		n.RequestedCPU.Add(*reqs.Cpu())
		n.RequestedMem.Add(*reqs.Memory())
		n.PodsScheduled++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing pods in all namespaces: %w", err)
	}
	return out, nil
}

func checkNodeFit(s *Snapshot) []Finding {
	var objects []corev1.Node // built once, for the first delegate with a replica to place
	return perDelegate(s, func(d delegate.Delegate) Finding {
		unplaced := unplacedReplicas(d)
		// Replicas the API server refuses to create have no pod to place: DLG-300 says why.
		if missing := unplaced - unplacedPods(d); missing > 0 {
			if msg, _ := refusal(s, d); msg != "" {
				if unplaced -= missing; unplaced == 0 {
					return Finding{Verdict: Skip, Finding: fmt.Sprintf("%d replica(s) have no pod to place: the API server refuses to create them (DLG-300)", missing)}
				}
			}
		}
		if unplaced == 0 {
			return Finding{Verdict: Pass, Finding: fmt.Sprintf("all %d replica(s) placed on nodes", len(d.Pods))}
		}
		if s.Nodes == nil {
			return Finding{Verdict: Skip, Finding: cmp.Or(s.NodesError, "node capacity was not read")}
		}
		if objects == nil {
			objects = nodeObjects(s.Nodes)
		}
		return nodeFit(d, unplaced, s.Nodes, objects)
	})
}

// placement is what the scheduler checks before it weighs resources: whether a node may take
// a delegate's pod at all. The matching is the scheduler's own (k8s.io/component-helpers), so
// that doctor and kube-scheduler agree on what a selector, an affinity term or a toleration
// means.
type placement struct {
	w delegate.WorkloadRef
	// selector and affinity are kept apart, where the scheduler ANDs them, so that the
	// finding can say which of the two rules a node out.
	selector, affinity nodeaffinity.RequiredNodeAffinity
	// affinityReason is written once: most nodes a required affinity rules out share it.
	affinityReason string
	tolerations    []corev1.Toleration
}

// admissionTolerations are what the DefaultTolerationSeconds admission plugin adds to every
// pod that lacks them: a template without tolerations still tolerates these NoExecute taints
// for 300 s, long enough to be scheduled.
var admissionTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
}

// unschedulableTaint is what a cordon puts on a node; the scheduler lets a pod that tolerates
// it onto a cordoned node.
var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func newPlacement(w delegate.WorkloadRef) placement {
	p := placement{
		w:           w,
		selector:    nodeaffinity.NewRequiredNodeAffinity(w.NodeSelector, nil),
		tolerations: append(slices.Clip(w.Tolerations), admissionTolerations...),
	}
	if w.RequiredNodeAffinity != nil {
		p.affinity = nodeaffinity.NewRequiredNodeAffinity(nil, &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: w.RequiredNodeAffinity}})
		p.affinityReason = "not matching the required node affinity " + describeNodeSelector(w.RequiredNodeAffinity)
	}
	return p
}

// exclusion is one reason a node may not take a replica. The fix is written only for the
// node the hint names: the reasons of every node are needed, the fixes of one.
type exclusion struct {
	reason string
	kind   exclusionKind
	// arg is what the fix names: the taint, or the labels the node lacks.
	arg string
}

type exclusionKind int

const (
	cordoned exclusionKind = iota
	tainted
	offSelector
	offAffinity
	fullOfPods
)

func (x exclusion) fix(node string) string {
	switch x.kind {
	case cordoned:
		return "kubectl uncordon " + node
	case tainted:
		return fmt.Sprintf("tolerate %s in the delegate's pod template (spec.template.spec.tolerations), or remove the taint: kubectl taint node %s %s-", x.arg, node, x.arg)
	case offSelector:
		return fmt.Sprintf("label the node (kubectl label node %s %s) or change the delegate's nodeSelector (spec.template.spec.nodeSelector)", node, x.arg)
	case offAffinity:
		return "change the delegate's required node affinity (spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution), or give the node the labels it asks for"
	}
	return "node " + node + " runs as many pods as it may: move or delete some"
}

// blocksScheduling keeps the taints the scheduler filters on: PreferNoSchedule only lowers a
// node's score. A cordon's own taint is left to the cordoned check.
func blocksScheduling(t *corev1.Taint) bool {
	return (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && t.Key != corev1.TaintNodeUnschedulable
}

// nodeObjects are the nodes as the scheduler's matchers take them, built once for all
// delegates.
func nodeObjects(nodes []NodeCapacity) []corev1.Node {
	out := make([]corev1.Node, len(nodes))
	for i, n := range nodes {
		out[i].Name, out[i].Labels = n.Name, n.Labels
	}
	return out
}

// exclusions are every reason the scheduler would not put a replica on n, whatever its room;
// none means n is a candidate. obj is n as nodeObjects builds it.
func (p placement) exclusions(n NodeCapacity, obj *corev1.Node) []exclusion {
	var out []exclusion
	// Tolerating Lt/Gt operators is an alpha feature gate; the scheduler's default is off.
	const comparisonOperators = false
	if !n.Schedulable && !corev1helpers.TolerationsTolerateTaint(logr.Discard(), p.tolerations, &unschedulableTaint, comparisonOperators) {
		out = append(out, exclusion{reason: "cordoned", kind: cordoned})
	}
	if t, ok := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), n.Taints, p.tolerations, blocksScheduling, comparisonOperators); ok {
		taint := t.ToString()
		out = append(out, exclusion{reason: "tainted " + taint, kind: tainted, arg: taint})
	}
	if ok, _ := p.selector.Match(obj); !ok {
		missing := missingLabels(p.w.NodeSelector, n.Labels)
		out = append(out, exclusion{reason: "not matching nodeSelector " + missing, kind: offSelector, arg: missing})
	}
	// A term that does not parse matches nothing, for the scheduler too.
	if ok, err := p.affinity.Match(obj); !ok {
		reason := p.affinityReason
		if err != nil {
			reason = fmt.Sprintf("not matching the required node affinity, which is invalid: %v", err)
		}
		out = append(out, exclusion{reason: reason, kind: offAffinity})
	}
	if n.PodsAllocatable > 0 && n.PodsScheduled >= n.PodsAllocatable {
		out = append(out, exclusion{reason: "full (pods)", kind: fullOfPods})
	}
	return out
}

// missingLabels are the nodeSelector's pairs the node lacks, sorted, as kubectl label takes
// them.
func missingLabels(selector, labels map[string]string) string {
	var out []string
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// describeNodeSelector writes a required node affinity as the scheduler reads it: terms
// ORed, the requirements of a term ANDed.
func describeNodeSelector(ns *corev1.NodeSelector) string {
	var terms []string
	for _, t := range ns.NodeSelectorTerms {
		var reqs []string
		for _, r := range slices.Concat(t.MatchExpressions, t.MatchFields) {
			req := r.Key + " " + string(r.Operator)
			if len(r.Values) > 0 {
				req += " [" + strings.Join(r.Values, " ") + "]"
			}
			reqs = append(reqs, req)
		}
		terms = append(terms, strings.Join(reqs, " and "))
	}
	return "(" + strings.Join(terms, ") or (") + ")"
}

// room is a node's free room measured against one replica's requests.
type room struct {
	node               string
	freeCPU, freeMem   resource.Quantity
	shortCPU, shortMem resource.Quantity
	// shortfall is the fraction of the request missing, summed over cpu and memory, to rank
	// nodes by how close they come.
	shortfall float64
}

func roomOn(n NodeCapacity, needCPU, needMem *resource.Quantity) room {
	r := room{node: n.Name, freeCPU: n.AllocatableCPU.DeepCopy(), freeMem: n.AllocatableMem.DeepCopy()}
	r.freeCPU.Sub(n.RequestedCPU)
	r.freeMem.Sub(n.RequestedMem)
	r.shortCPU, r.shortMem = needCPU.DeepCopy(), needMem.DeepCopy()
	r.shortCPU.Sub(r.freeCPU)
	r.shortMem.Sub(r.freeMem)
	if r.shortCPU.Sign() > 0 && !needCPU.IsZero() {
		r.shortfall += float64(r.shortCPU.MilliValue()) / float64(needCPU.MilliValue())
	}
	if r.shortMem.Sign() > 0 && !needMem.IsZero() {
		r.shortfall += float64(r.shortMem.Value()) / float64(needMem.Value())
	}
	return r
}

// String says what is free and, when a replica does not fit, by how much it falls short.
func (r room) String() string {
	s := fmt.Sprintf("%s has cpu %s and memory %s free", r.node, r.freeCPU.String(), r.freeMem.String())
	var short []string
	if r.shortCPU.Sign() > 0 {
		short = append(short, "cpu by "+r.shortCPU.String())
	}
	if r.shortMem.Sign() > 0 {
		short = append(short, "memory by "+r.shortMem.String())
	}
	if len(short) > 0 {
		s += ", short of " + strings.Join(short, " and ")
	}
	return s
}

// excludedNode keeps what ranking needs; the room of the one node the hint names is
// measured again, rather than kept for every node and delegate.
type excludedNode struct {
	index     int
	shortfall float64
	why       []exclusion
}

// excludedSummary groups the excluded nodes by their reasons, most common first, e.g.
// "3 node(s) excluded: 2 not matching nodeSelector disk=ssd, 1 tainted dedicated=infra:NoSchedule".
func excludedSummary(excluded []excludedNode, total int) string {
	type group struct {
		reason string
		count  int
	}
	var groups []group
	for _, e := range excluded {
		reason := joinReasons(e.why)
		if i := slices.IndexFunc(groups, func(g group) bool { return g.reason == reason }); i >= 0 {
			groups[i].count++
		} else {
			groups = append(groups, group{reason, 1})
		}
	}
	slices.SortStableFunc(groups, func(a, b group) int { return b.count - a.count })
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%d %s", g.count, g.reason)
	}
	of := fmt.Sprintf("%d node(s)", total)
	if len(excluded) < total {
		of = fmt.Sprintf("%d of %d nodes", len(excluded), total)
	}
	return of + " excluded: " + strings.Join(parts, ", ")
}

// nearestExcluded is the excluded node that needs the least change to take a replica: one
// with room first, then the fewest reasons to lift, then the smallest shortfall.
func nearestExcluded(excluded []excludedNode) excludedNode {
	return slices.MinFunc(excluded, func(a, b excludedNode) int {
		if (a.shortfall == 0) != (b.shortfall == 0) {
			if a.shortfall == 0 {
				return -1
			}
			return 1
		}
		if len(a.why) != len(b.why) {
			return len(a.why) - len(b.why)
		}
		return cmp.Compare(a.shortfall, b.shortfall)
	})
}

// replicasOn is how many more replicas requesting needCPU and needMem node n takes: its
// free cpu, memory and pod slots, each divided by one replica's share. limit caps it, and
// stands for "no bound" where a replica requests nothing of a resource. Only integers: the
// count of a million replicas costs no more than the count of one.
func replicasOn(n NodeCapacity, needCPU, needMem *resource.Quantity, limit int64) int64 {
	fits := limit
	if n.PodsAllocatable > 0 {
		fits = min(fits, max(0, n.PodsAllocatable-n.PodsScheduled))
	}
	if need := needCPU.MilliValue(); need > 0 {
		fits = min(fits, max(0, (n.AllocatableCPU.MilliValue()-n.RequestedCPU.MilliValue())/need))
	}
	if need := needMem.Value(); need > 0 {
		fits = min(fits, max(0, (n.AllocatableMem.Value()-n.RequestedMem.Value())/need))
	}
	return fits
}

// withReplicas is n with k more replicas requesting needCPU and needMem on it. k never
// exceeds what replicasOn allows, so the products stay within the node's own sizes.
func withReplicas(n NodeCapacity, k int64, needCPU, needMem *resource.Quantity) NodeCapacity {
	n.RequestedCPU = n.RequestedCPU.DeepCopy()
	n.RequestedMem = n.RequestedMem.DeepCopy()
	n.RequestedCPU.Add(*resource.NewMilliQuantity(k*needCPU.MilliValue(), resource.DecimalSI))
	n.RequestedMem.Add(*resource.NewQuantity(k*needMem.Value(), resource.BinarySI))
	n.PodsScheduled += k
	return n
}

// placed is one candidate node's share of the replicas to place.
type placed struct {
	index int
	count int64
}

// packReplicas places unplaced identical replicas on the candidate nodes, most room first,
// as many on each as it takes. For identical replicas the total placed is the same in any
// order the scheduler may choose; most-room-first only decides which nodes the finding
// names first.
func packReplicas(candidates []int, nodes []NodeCapacity, needCPU, needMem *resource.Quantity, unplaced int64) (shares []placed, total int64) {
	for _, i := range candidates {
		if k := replicasOn(nodes[i], needCPU, needMem, unplaced); k > 0 {
			shares = append(shares, placed{i, k})
		}
	}
	slices.SortStableFunc(shares, func(a, b placed) int { return cmp.Compare(b.count, a.count) })
	left := unplaced
	for j := range shares {
		shares[j].count = min(shares[j].count, left)
		left -= shares[j].count
	}
	shares = slices.DeleteFunc(shares, func(p placed) bool { return p.count == 0 })
	return shares, unplaced - left
}

// sharesSummary says which nodes take how many replicas, e.g. "a takes 3, b takes 1";
// past five nodes the rest are counted.
func sharesSummary(shares []placed, nodes []NodeCapacity) string {
	const named = 5
	parts := make([]string, 0, min(len(shares), named)+1)
	for _, p := range shares[:min(len(shares), named)] {
		parts = append(parts, fmt.Sprintf("%s takes %d", nodes[p.index].Name, p.count))
	}
	if rest := len(shares) - named; rest > 0 {
		parts = append(parts, fmt.Sprintf("%d more node(s) take the rest", rest))
	}
	return strings.Join(parts, ", ")
}

// nextShort is, once every candidate is full, the candidate that comes closest to taking
// one more replica, and its room then; ok is false when every candidate is out of pod
// slots rather than short of cpu or memory.
func nextShort(candidates []int, shares []placed, nodes []NodeCapacity, needCPU, needMem *resource.Quantity) (closest room, ok bool) {
	took := map[int]int64{}
	for _, p := range shares {
		took[p.index] = p.count
	}
	for _, i := range candidates {
		r := roomOn(withReplicas(nodes[i], took[i], needCPU, needMem), needCPU, needMem)
		if r.shortfall > 0 && (!ok || r.shortfall < closest.shortfall) {
			closest, ok = r, true
		}
	}
	return closest, ok
}

// nodeFit places every unplaced replica of d on the nodes the scheduler may use; objects
// are the nodes as nodeObjects builds them.
func nodeFit(d delegate.Delegate, unplaced int64, nodes []NodeCapacity, objects []corev1.Node) Finding {
	needCPU, needMem := d.Resources.Requests.Cpu(), d.Resources.Requests.Memory()
	need := fmt.Sprintf("cpu %s, memory %s", quantity(needCPU), quantity(needMem))
	f := Finding{Verdict: Fail, Subject: subject(d)}
	if len(nodes) == 0 {
		f.Finding = fmt.Sprintf("%d replica(s) not placed and the cluster has no nodes", unplaced)
		f.Hint = "add a node"
		return f
	}
	p := newPlacement(d.Workload)
	var fits []string
	var candidates []int
	var closest room // the candidate that comes closest, while none fits
	excluded := make([]excludedNode, 0, len(nodes))
	for i, n := range nodes {
		r := roomOn(n, needCPU, needMem)
		if why := p.exclusions(n, &objects[i]); len(why) > 0 {
			excluded = append(excluded, excludedNode{i, r.shortfall, why})
			continue
		}
		if r.shortfall == 0 {
			fits = append(fits, n.Name)
		}
		if candidates = append(candidates, i); len(candidates) == 1 || r.shortfall < closest.shortfall {
			closest = r
		}
	}
	shares, total := packReplicas(candidates, nodes, needCPU, needMem, unplaced)
	if total == unplaced {
		all := "all of them"
		if unplaced == 1 {
			all = "one"
		}
		return Finding{Verdict: Pass, Subject: subject(d),
			Finding: fmt.Sprintf("%d replica(s) not placed, but %s have room for %s (%s): the scheduler's event says what else holds them", unplaced, strings.Join(fits, ", "), all, need)}
	}
	// A node kept out by a selector or taint may have the room the candidates lack.
	orExcluded := func() string {
		if len(excluded) == 0 {
			return ""
		}
		if nearest := nearestExcluded(excluded); nearest.shortfall == 0 {
			return "; or " + excludedHint(nearest, roomOn(nodes[nearest.index], needCPU, needMem))
		}
		return ""
	}
	switch {
	case total > 0:
		f.Finding = fmt.Sprintf("only %d of %d replica(s) fit (%s each): %s", total, unplaced, need, sharesSummary(shares, nodes))
		if short, ok := nextShort(candidates, shares, nodes, needCPU, needMem); ok {
			f.Finding += "; then the closest node " + short.String()
		} else {
			f.Finding += "; then every node runs as many pods as it may"
		}
		if len(excluded) > 0 {
			f.Finding += "; " + excludedSummary(excluded, len(nodes))
		}
		f.Hint = fmt.Sprintf("add nodes or capacity for %d more replica(s), lower the replicas to %d, or lower the delegate's requests (not below 0.5 CPU and 2Gi per replica)",
			unplaced-total, int64(len(d.Pods))-unplacedPods(d)+total) + orExcluded()
		return f
	case len(candidates) > 0:
		f.Finding = fmt.Sprintf("no node has room for a replica (%s): closest node %s", need, closest)
		if len(excluded) > 0 {
			f.Finding += "; " + excludedSummary(excluded, len(nodes))
		}
		f.Hint = "add a node or capacity, free room on a node, or lower the delegate's requests (not below 0.5 CPU and 2Gi per replica)" + orExcluded()
		return f
	}
	f.Finding = fmt.Sprintf("no node may take a replica (%s): %s", need, excludedSummary(excluded, len(nodes)))
	nearest := nearestExcluded(excluded)
	f.Hint = excludedHint(nearest, roomOn(nodes[nearest.index], needCPU, needMem))
	return f
}

// unplacedPods are d's pods that have no node.
func unplacedPods(d delegate.Delegate) int64 {
	var n int64
	for _, p := range d.Pods {
		if p.Node == "" {
			n++
		}
	}
	return n
}

// excludedHint names the node that needs the least change and each change it needs.
func excludedHint(e excludedNode, r room) string {
	fixes := make([]string, len(e.why))
	for i, x := range e.why {
		fixes[i] = x.fix(r.node)
	}
	if e.shortfall > 0 {
		return fmt.Sprintf("the nearest node %s is %s: %s; it lacks room as well, so add capacity too: %s", r.node, joinReasons(e.why), strings.Join(fixes, "; "), r)
	}
	return fmt.Sprintf("node %s has the cpu and memory for a replica but is %s: %s", r.node, joinReasons(e.why), strings.Join(fixes, "; "))
}

func joinReasons(why []exclusion) string {
	reasons := make([]string, len(why))
	for i, x := range why {
		reasons[i] = x.reason
	}
	return strings.Join(reasons, " and ")
}
