package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// NodeCapacity is one node's room for pods: what it offers and what pods already request.
type NodeCapacity struct {
	Name            string            `json:"name"`
	Schedulable     bool              `json:"schedulable"`
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
		for _, p := range d.Pods {
			if p.Node == "" {
				return true
			}
		}
	}
	return false
}

// gatherNodeCapacity lists the nodes and every non-terminated pod (paginated, 500 a page)
// and sums the pods' requests per node.
func gatherNodeCapacity(ctx context.Context, client kubernetes.Interface) ([]NodeCapacity, error) {
	var nodes []corev1.Node
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing nodes: %w", err)
		}
		nodes = append(nodes, l.Items...)
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	requested := map[string]*NodeCapacity{}
	out := make([]NodeCapacity, len(nodes))
	for i, n := range nodes {
		out[i] = NodeCapacity{
			Name:            n.Name,
			Schedulable:     !n.Spec.Unschedulable,
			Taints:          n.Spec.Taints,
			AllocatableCPU:  n.Status.Allocatable[corev1.ResourceCPU],
			AllocatableMem:  n.Status.Allocatable[corev1.ResourceMemory],
			PodsAllocatable: n.Status.Allocatable.Pods().Value(),
		}
		requested[n.Name] = &out[i]
	}
	opts = metav1.ListOptions{Limit: 500, FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"}
	for {
		l, err := client.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing pods in all namespaces: %w", err)
		}
		for _, p := range l.Items {
			n, ok := requested[p.Spec.NodeName]
			if !ok {
				continue
			}
			cpu, mem := podRequests(p.Spec)
			n.RequestedCPU.Add(cpu)
			n.RequestedMem.Add(mem)
			n.PodsScheduled++
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	return out, nil
}

// podRequests is what the scheduler counts for a pod: the larger of the containers' sum
// and the largest init container, plus the pod overhead.
func podRequests(spec corev1.PodSpec) (cpu, mem resource.Quantity) {
	for _, c := range spec.Containers {
		cpu.Add(*c.Resources.Requests.Cpu())
		mem.Add(*c.Resources.Requests.Memory())
	}
	for _, c := range spec.InitContainers {
		if r := c.Resources.Requests.Cpu(); r.Cmp(cpu) > 0 {
			cpu = r.DeepCopy()
		}
		if r := c.Resources.Requests.Memory(); r.Cmp(mem) > 0 {
			mem = r.DeepCopy()
		}
	}
	if spec.Overhead != nil {
		cpu.Add(*spec.Overhead.Cpu())
		mem.Add(*spec.Overhead.Memory())
	}
	return cpu, mem
}

// blockingTaints are the taints that keep a pod without tolerations off a node.
func blockingTaints(taints []corev1.Taint) []string {
	var out []string
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t.Key+":"+string(t.Effect))
		}
	}
	return out
}

func checkNodeFit(s *Snapshot) []Finding {
	var out []Finding
	for _, d := range s.Delegates {
		unplaced := 0
		for _, p := range d.Pods {
			if p.Node == "" {
				unplaced++
			}
		}
		if unplaced == 0 {
			out = append(out, Finding{Verdict: Pass, Subject: subject(d), Finding: fmt.Sprintf("all %d replica(s) placed on nodes", len(d.Pods))})
			continue
		}
		if s.Nodes == nil {
			out = append(out, Finding{Verdict: Skip, Subject: subject(d), Finding: orDefault(s.NodesError, "node capacity was not read")})
			continue
		}
		out = append(out, nodeFit(d, unplaced, s.Nodes))
	}
	return out
}

func nodeFit(d delegate.Delegate, unplaced int, nodes []NodeCapacity) Finding {
	needCPU, needMem := d.Resources.Requests.Cpu(), d.Resources.Requests.Memory()
	need := fmt.Sprintf("cpu %s, memory %s", quantity(needCPU), quantity(needMem))
	type candidate struct {
		name               string
		freeCPU, freeMem   resource.Quantity
		shortCPU, shortMem resource.Quantity
		shortfall          float64 // the fraction of the request missing, for ranking
		blocked            string
	}
	var fits []string
	var cands []candidate
	for _, n := range nodes {
		c := candidate{name: n.Name, freeCPU: n.AllocatableCPU.DeepCopy(), freeMem: n.AllocatableMem.DeepCopy()}
		c.freeCPU.Sub(n.RequestedCPU)
		c.freeMem.Sub(n.RequestedMem)
		switch taints := blockingTaints(n.Taints); {
		case !n.Schedulable:
			c.blocked = "cordoned"
		case len(taints) > 0:
			c.blocked = "tainted " + strings.Join(taints, ", ")
		case n.PodsAllocatable > 0 && n.PodsScheduled >= n.PodsAllocatable:
			c.blocked = "full (pods)"
		}
		c.shortCPU, c.shortMem = needCPU.DeepCopy(), needMem.DeepCopy()
		c.shortCPU.Sub(c.freeCPU)
		c.shortMem.Sub(c.freeMem)
		if c.shortCPU.Sign() > 0 && !needCPU.IsZero() {
			c.shortfall += float64(c.shortCPU.MilliValue()) / float64(needCPU.MilliValue())
		}
		if c.shortMem.Sign() > 0 && !needMem.IsZero() {
			c.shortfall += float64(c.shortMem.Value()) / float64(needMem.Value())
		}
		if c.blocked == "" && c.shortfall == 0 {
			fits = append(fits, n.Name)
		}
		cands = append(cands, c)
	}
	if len(fits) > 0 {
		return Finding{Verdict: Pass, Subject: subject(d),
			Finding: fmt.Sprintf("%d replica(s) not placed, but %s have room for one (%s): the scheduler's event says what else holds them", unplaced, strings.Join(fits, ", "), need)}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if (cands[i].blocked == "") != (cands[j].blocked == "") {
			return cands[i].blocked == ""
		}
		return cands[i].shortfall < cands[j].shortfall
	})
	f := Finding{Verdict: Fail, Subject: subject(d),
		Hint: "add a node or capacity, free room on a node, or lower the delegate's requests (not below 0.5 CPU and 2Gi per replica)"}
	if len(cands) == 0 {
		f.Finding = fmt.Sprintf("%d replica(s) not placed and the cluster has no nodes", unplaced)
		return f
	}
	best := cands[0]
	var short []string
	if best.shortCPU.Sign() > 0 {
		short = append(short, "cpu by "+best.shortCPU.String())
	}
	if best.shortMem.Sign() > 0 {
		short = append(short, "memory by "+best.shortMem.String())
	}
	closest := fmt.Sprintf("closest node %s has cpu %s and memory %s free", best.name, best.freeCPU.String(), best.freeMem.String())
	if best.blocked != "" {
		closest += " but is " + best.blocked
	}
	if len(short) > 0 {
		closest += ", short of " + strings.Join(short, " and ")
	}
	f.Finding = fmt.Sprintf("no node has room for a replica (%s): %s", need, closest)
	return f
}
