package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/describe"

	"github.com/kubectl-delegate/kubectl-delegate/internal/table"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/bundle"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// Kinds of failure recorded in index.json.
const (
	kindForbidden   = "forbidden"
	kindNotFound    = "not-found"
	kindTimeout     = "timeout"
	kindUnreachable = "unreachable"
	kindInterrupted = "interrupted"
	kindError       = "error"
)

// errorKind sorts a failure for index.json and for noticing a lost API server.
func errorKind(err error) string {
	var netErr net.Error
	switch {
	case apierrors.IsForbidden(err):
		return kindForbidden
	case apierrors.IsNotFound(err):
		return kindNotFound
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.Is(err, context.Canceled):
		return kindInterrupted
	case errors.As(err, &netErr) && netErr.Timeout():
		return kindTimeout
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), errors.Is(err, syscall.EPIPE):
		return kindUnreachable
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return kindUnreachable
	}
	return kindError
}

type taskError struct {
	task string
	err  error
}

// describers are kubectl describe's own, so the text matches `kubectl describe` exactly.
type describers map[schema.GroupKind]describe.ResourceDescriber

var (
	kindPod         = schema.GroupKind{Kind: "Pod"}
	kindDeployment  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	kindStatefulSet = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	kindCronJob     = schema.GroupKind{Group: "batch", Kind: "CronJob"}
	kindJob         = schema.GroupKind{Group: "batch", Kind: "Job"}
)

func newDescribers(cfg *rest.Config, timeout time.Duration, cache *readCache) (describers, error) {
	// The describers take no context: a client whose every request times out bounds them.
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	cfg.Wrap(cache.wrap)
	out := describers{}
	for _, gk := range []schema.GroupKind{kindPod, kindDeployment, kindStatefulSet, kindCronJob, kindJob} {
		d, ok := describe.DescriberFor(gk, cfg)
		if !ok {
			return nil, fmt.Errorf("kubectl has no describer for %s", gk)
		}
		out[gk] = d
	}
	return out, nil
}

// describe writes what `kubectl describe KIND NAME -n NS` prints.
func (c *collector) describe(task, file string, gk schema.GroupKind, ns, name string) error {
	text, err := c.describers[gk].Describe(ns, name, describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
	if err != nil {
		return c.fail(task+": "+file, err)
	}
	return c.add(task, file, writeBytes([]byte(text)))
}

func (c *collector) clusterVersion(ctx context.Context) error {
	const task = "cluster version"
	info, err := diagnose.ServerVersion(ctx, c.client)
	if err != nil {
		return c.fail(task, err)
	}
	// Indented as the API server writes /version.
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return c.fail(task, err)
	}
	return c.add(task, "cluster/version.json", writeBytes(data))
}

func (c *collector) nodes(ctx context.Context) error {
	const task = "nodes"
	// Gather read them when a replica was not placed: the same LISTs would give the same.
	var nodes []diagnose.NodeCapacity
	if c.snapshot != nil && c.snapshot.Nodes != nil {
		nodes = c.snapshot.Nodes
	} else {
		var err error
		if nodes, err = diagnose.NodeCapacities(ctx, c.client); err != nil {
			return c.fail(task, err)
		}
	}
	if err := c.add(task, "cluster/nodes.json", writeBytes(mustJSON(nodes))); err != nil {
		return err
	}
	return c.add(task, "cluster/nodes.txt", func(w io.Writer) error {
		rows := make([][]string, len(nodes))
		for i, n := range nodes {
			rows[i] = []string{n.Name, strconv.FormatBool(n.Schedulable), n.RequestedCPU.String() + "/" + n.AllocatableCPU.String(),
				n.RequestedMem.String() + "/" + n.AllocatableMem.String(), fmt.Sprintf("%d/%d", n.PodsScheduled, n.PodsAllocatable)}
		}
		return table.Write(w, []string{"NODE", "SCHEDULABLE", "CPU REQUESTED/ALLOCATABLE", "MEMORY REQUESTED/ALLOCATABLE", "PODS SCHEDULED/ALLOCATABLE"}, rows)
	})
}

// readEvents lists the events of each namespace that holds delegates, once: for its
// events.txt, each delegate's share of them, and the Events of every description.
func (c *collector) readEvents(ctx context.Context) (map[string][]corev1.Event, map[string]error) {
	namespaces := map[string]bool{}
	for _, d := range c.snapshot.Delegates {
		namespaces[d.Namespace] = true
	}
	var mu sync.Mutex
	events, errs := map[string][]corev1.Event{}, map[string]error{}
	var g errgroup.Group
	g.SetLimit(c.opts.Workers)
	for ns := range namespaces {
		g.Go(func() error {
			list, err := delegate.ListAll[corev1.Event](ctx, metav1.ListOptions{Limit: 500}, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return c.client.CoreV1().Events(ns).List(ctx, o)
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[ns] = err
			} else {
				events[ns] = list
			}
			return nil
		})
	}
	_ = g.Wait()
	return events, errs
}

// namespaceEvents writes a namespace's events, all of them and each delegate's share.
func (c *collector) namespaceEvents(ns string, ds []delegate.Delegate) error {
	task := "events of namespace " + ns
	if err := c.eventErrs[ns]; err != nil {
		return c.fail(task, err)
	}
	// A copy: the describers read the API server's order at the same time.
	events := slices.Clone(c.events[ns])
	sort.SliceStable(events, func(i, j int) bool { return delegate.EventTime(events[i]).Before(delegate.EventTime(events[j])) })
	if err := c.add(task, "namespaces/"+bundle.Component(ns)+"/events.txt", eventTable(events)); err != nil {
		return err
	}
	var firstErr error
	for _, d := range ds {
		var mine []corev1.Event
		for _, e := range events {
			if delegate.Concerns(d, e.InvolvedObject) {
				mine = append(mine, e)
			}
		}
		if err := c.add(task, dir(d)+"/events.txt", eventTable(mine)); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// eventTable prints events as kubectl get events does, with absolute times: the bundle is
// read later, when "5m ago" would mean nothing.
func eventTable(events []corev1.Event) func(io.Writer) error {
	return func(w io.Writer) error {
		rows := make([][]string, len(events))
		for i, e := range events {
			rows[i] = []string{delegate.EventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason,
				strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name, strconv.Itoa(int(max(e.Count, 1))),
				strings.ReplaceAll(strings.TrimSpace(e.Message), "\n", " ")}
		}
		return table.Write(w, []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"}, rows)
	}
}

func (c *collector) describeWorkload(d delegate.Delegate) error {
	gk := kindDeployment
	if d.Workload.Kind == "StatefulSet" {
		gk = kindStatefulSet
	}
	file := dir(d) + "/" + strings.ToLower(d.Workload.Kind) + ".txt"
	return c.describe("describe "+d.Workload.Kind, file, gk, d.Namespace, d.Workload.Name)
}

// objects writes the YAML of the delegate's workload, configuration, Secrets (key names
// only), ServiceAccount and the bindings naming it.
func (c *collector) objects(ctx context.Context, d delegate.Delegate) error {
	task := "objects of " + d.Namespace + "/" + d.Name
	var docs []any
	var spec *corev1.PodSpec
	switch w := c.workload(d).(type) {
	case *appsv1.Deployment:
		w = w.DeepCopy()
		w.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
		spec = &w.Spec.Template.Spec
		docs = append(docs, w)
	case *appsv1.StatefulSet:
		w = w.DeepCopy()
		w.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}
		spec = &w.Spec.Template.Spec
		docs = append(docs, w)
	}
	if spec != nil {
		cms, _ := podReferences(spec)
		for _, name := range cms {
			if cm := c.objs.ConfigMaps[d.Namespace+"/"+name]; cm != nil {
				cm = cm.DeepCopy()
				cm.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
				docs = append(docs, cm)
			}
		}
	}
	for _, s := range c.secrets[subject(d)] {
		docs = append(docs, s.reduced())
	}
	var failed error
	if d.Workload.ServiceAccount != "" {
		sa, err := c.client.CoreV1().ServiceAccounts(d.Namespace).Get(ctx, d.Workload.ServiceAccount, metav1.GetOptions{})
		if err != nil {
			failed = c.fail(task+": ServiceAccount "+d.Workload.ServiceAccount, err)
		} else {
			sa.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}
			docs = append(docs, sa)
		}
		for i := range c.objs.RoleBindings {
			b := c.objs.RoleBindings[i].DeepCopy()
			if b.Namespace == d.Namespace && namesServiceAccount(b.Subjects, d.Namespace, d.Workload.ServiceAccount) {
				b.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}
				docs = append(docs, b)
			}
		}
		for i := range c.objs.ClusterRoleBindings {
			b := c.objs.ClusterRoleBindings[i].DeepCopy()
			if namesServiceAccount(b.Subjects, d.Namespace, d.Workload.ServiceAccount) {
				b.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}
				docs = append(docs, b)
			}
		}
	}
	if err := c.add(task, dir(d)+"/objects.yaml", yamlDocs(docs)); err != nil {
		return err
	}
	return failed
}

// upgrader writes the upgrader CronJob and its last Jobs, as YAML and as kubectl describe
// prints them.
func (c *collector) upgrader(ctx context.Context, d delegate.Delegate) error {
	task := "upgrader of " + d.Namespace + "/" + d.Name
	name := d.Upgrader.CronJob
	var docs []any
	var cronJob *batchv1.CronJob
	for i := range c.objs.CronJobs {
		if cj := &c.objs.CronJobs[i]; cj.Namespace == d.Namespace && cj.Name == name {
			cronJob = cj
			cj = cj.DeepCopy()
			cj.TypeMeta = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"}
			docs = append(docs, cj)
		}
	}
	var failed error
	var last []batchv1.Job
	if err, unreadable := c.objs.Unreadable["jobs"]; unreadable {
		failed = c.fail(task+": jobs", err)
	} else {
		// The Jobs come from gather's paginated LIST; the CronJob's own are those it
		// controls (delegate's one ownership rule).
		for i := range c.objs.Jobs {
			if j := &c.objs.Jobs[i]; j.Namespace == d.Namespace && cronJob != nil && delegate.ControlledBy(j, cronJob.UID) {
				last = append(last, *j)
			}
		}
		sort.Slice(last, func(i, j int) bool { return last[j].CreationTimestamp.Before(&last[i].CreationTimestamp) })
		if len(last) > lastJobs {
			last = last[:lastJobs]
		}
		for i := range last {
			j := last[i].DeepCopy()
			j.TypeMeta = metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}
			docs = append(docs, j)
		}
	}
	if err := c.add(task, dir(d)+"/upgrader/objects.yaml", yamlDocs(docs)); err != nil {
		return err
	}
	if err := c.describe(task, dir(d)+"/upgrader/cronjob.txt", kindCronJob, d.Namespace, name); err != nil && failed == nil {
		failed = err
	}
	for _, j := range last {
		if err := c.describe(task, dir(d)+"/upgrader/job-"+bundle.Component(j.Name)+".txt", kindJob, d.Namespace, j.Name); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// lastJobs is how many of the upgrader's Jobs are kept: enough to see a pattern of failures.
const lastJobs = 3

// pod writes one pod's YAML, description and the logs of each container, current and, where
// a previous instance exists, previous.
func (c *collector) pod(ctx context.Context, d delegate.Delegate, name string) error {
	task := "pod " + d.Namespace + "/" + name
	base := dir(d) + "/pods/" + bundle.Component(name)
	var failed error
	keep := func(err error) {
		if err != nil && failed == nil {
			failed = err
		}
	}
	pod := c.rawPod(d.Namespace, name)
	if pod != nil {
		p := pod.DeepCopy()
		p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		keep(c.add(task, base+"/pod.yaml", yamlDocs([]any{p})))
	}
	keep(c.describe(task, base+"/describe.txt", kindPod, d.Namespace, name))
	if pod == nil {
		return failed
	}
	restarted := map[string]bool{}
	for _, st := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		restarted[st.Name] = st.RestartCount > 0 || st.LastTerminationState.Terminated != nil
	}
	for _, ct := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if ctx.Err() != nil {
			keep(c.fail(task, ctx.Err()))
			break
		}
		// The delegate's own container's log also gives the snapshot its tail, from the same read.
		tail := ct.Name == d.Workload.Container && pod.Spec.NodeName != ""
		keep(c.log(ctx, task, base+"/"+bundle.Component(ct.Name)+".log", d.Namespace, name, ct.Name, false, tail))
		if restarted[ct.Name] {
			keep(c.log(ctx, task, base+"/"+bundle.Component(ct.Name)+".previous.log", d.Namespace, name, ct.Name, true, tail))
		}
	}
	return failed
}

// log streams one container's log into the bundle: it is never held whole in memory. With
// tail, what doctor reads of it (diagnose.TailWriter) goes into the snapshot too.
func (c *collector) log(ctx context.Context, task, file, ns, pod, container string, previous, tail bool) error {
	o := &corev1.PodLogOptions{Container: container, Previous: previous}
	if c.opts.Since > 0 {
		s := int64(c.opts.Since.Seconds())
		o.SinceSeconds = &s
	}
	if c.opts.TailLines >= 0 {
		t := c.opts.TailLines
		o.TailLines = &t
	}
	if c.opts.LimitBytes > 0 {
		l := c.opts.LimitBytes
		o.LimitBytes = &l
	}
	stream, err := c.logClient.CoreV1().Pods(ns).GetLogs(pod, o).Stream(ctx)
	if err != nil {
		if tail {
			c.recordTail(ns, pod, previous, "", err)
		}
		return c.fail(task+": "+file, err)
	}
	defer stream.Close()
	tw := diagnose.NewTailWriter(diagnose.LogOptions{})
	err = c.add(task, file, func(w io.Writer) error {
		if tail {
			w = io.MultiWriter(w, tw)
		}
		_, err := io.Copy(w, stream)
		return err
	})
	if tail {
		c.recordTail(ns, pod, previous, tw.String(), err)
	}
	return err
}

// recordTail puts a log's tail, or why it could not be read, into the snapshot as doctor's
// gather would have, redacted.
func (c *collector) recordTail(ns, pod string, previous bool, tail string, err error) {
	var counts bundle.Counts
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if r := c.w.Redactor(); r != nil {
		tail, counts = r.String(tail)
		var more bundle.Counts
		msg, more = r.String(msg)
		counts.Add(more)
	}
	c.tails.record(ns+"/"+pod, previous, err != nil, tail, msg, counts)
}

func (c *collector) workload(d delegate.Delegate) any {
	switch d.Workload.Kind {
	case "Deployment":
		for i := range c.objs.Deployments {
			if w := &c.objs.Deployments[i]; w.Namespace == d.Namespace && w.Name == d.Workload.Name {
				return w
			}
		}
	case "StatefulSet":
		for i := range c.objs.StatefulSets {
			if w := &c.objs.StatefulSets[i]; w.Namespace == d.Namespace && w.Name == d.Workload.Name {
				return w
			}
		}
	}
	return nil
}

func (c *collector) rawPod(ns, name string) *corev1.Pod {
	for i := range c.objs.Pods {
		if p := &c.objs.Pods[i]; p.Namespace == ns && p.Name == name {
			return p
		}
	}
	return nil
}

func namesServiceAccount(subjects []rbacv1.Subject, ns, name string) bool {
	for _, s := range subjects {
		if s.Kind == "ServiceAccount" && s.Name == name && (s.Namespace == ns || s.Namespace == "") {
			return true
		}
	}
	return false
}

func subject(d delegate.Delegate) string { return d.Namespace + "/" + d.Name }

func mustJSON(v any) []byte {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return []byte(fmt.Sprintf("%q\n", err.Error()))
	}
	return append(data, '\n')
}
