package delegate

import (
	"cmp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Objects are what discovery reads from the cluster: plain data, so that building the
// model is a pure function that tests feed with fixtures.
type Objects struct {
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	Pods         []corev1.Pod
	// ReplicaSets and Jobs tie pods to Deployments and Jobs to the upgrader CronJob by
	// owner reference (owners.go).
	ReplicaSets []appsv1.ReplicaSet
	CronJobs    []batchv1.CronJob
	Jobs        []batchv1.Job
	// JobPods are the pods of every Job in scope (upgrader.go): the upgrader's runs.
	JobPods             []corev1.Pod
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
	// ConfigMaps the delegates reference, by "namespace/name".
	ConfigMaps map[string]*corev1.ConfigMap
	// Secrets the delegates reference, by "namespace/name": for each key, whether its value
	// is non-empty. Values are never kept.
	Secrets map[string]map[string]bool
	// SecretValues are the values of the delegates' Secrets and inline sensitive variables,
	// kept only when GatherOptions.SecretValues asks, for a redactor: never printed.
	SecretValues []string
	// Unreadable says which kinds could not be listed (forbidden, say), so that what
	// depends on them is reported unknown instead of absent.
	Unreadable map[string]error
}

// workload is what a Deployment and a StatefulSet have in common for a delegate.
type workload struct {
	kind     string
	meta     metav1.ObjectMeta
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
	replicas Replicas
	// rollout is the workload's own part of Rollout: its conditions and minReadySeconds.
	rollout Rollout
}

func workloads(objs *Objects) []workload {
	var out []workload
	for _, d := range objs.Deployments {
		desired := int32(1)
		if d.Spec.Replicas != nil {
			desired = *d.Spec.Replicas
		}
		out = append(out, workload{kind: "Deployment", meta: d.ObjectMeta, selector: d.Spec.Selector, template: d.Spec.Template,
			replicas: Replicas{Desired: desired, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas, Updated: d.Status.UpdatedReplicas},
			rollout:  deploymentRollout(&d)})
	}
	for _, s := range objs.StatefulSets {
		desired := int32(1)
		if s.Spec.Replicas != nil {
			desired = *s.Spec.Replicas
		}
		out = append(out, workload{kind: "StatefulSet", meta: s.ObjectMeta, selector: s.Spec.Selector, template: s.Spec.Template,
			replicas: Replicas{Desired: desired, Ready: s.Status.ReadyReplicas, Available: s.Status.AvailableReplicas, Updated: s.Status.UpdatedReplicas},
			rollout:  statefulSetRollout(&s)})
	}
	return out
}

// isDelegate recognises a delegate workload by the labels every install method puts on it,
// or, for hand-made copies that lost them, by the delegate image.
func isDelegate(w workload) bool {
	l := w.meta.Labels
	if l[LabelName] != "" || l[LabelLegacyApp] == LegacyAppValue || l[LabelManagedBy] == ManagedByPlugin {
		return true
	}
	return delegateContainer(w.template.Spec) != nil
}

// delegateContainer is the container running the delegate image, or nil.
func delegateContainer(spec corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		repo := ParseImage(spec.Containers[i].Image).Repository
		if strings.HasSuffix(repo, "harness/delegate") || strings.HasSuffix(repo, "harness/delegate-immutable") {
			return &spec.Containers[i]
		}
	}
	return nil
}

// MainContainer is the name of the delegate's container in spec ("" when it has none), as
// every command picks it.
func MainContainer(spec corev1.PodSpec) string {
	if c := mainContainer(spec); c != nil {
		return c.Name
	}
	return ""
}

// mainContainer is the delegate's container: the one running the delegate image, else the
// one named delegate, else the first.
func mainContainer(spec corev1.PodSpec) *corev1.Container {
	if c := delegateContainer(spec); c != nil {
		return c
	}
	for i := range spec.Containers {
		if spec.Containers[i].Name == "delegate" {
			return &spec.Containers[i]
		}
	}
	if len(spec.Containers) > 0 {
		return &spec.Containers[0]
	}
	return nil
}

// Build turns cluster objects into delegates, sorted by namespace and name.
func Build(objs *Objects, now time.Time) []Delegate {
	// Pods by namespace, so that matching each workload's selector looks at its own
	// namespace only.
	podsByNamespace := map[string][]corev1.Pod{}
	for _, p := range objs.Pods {
		podsByNamespace[p.Namespace] = append(podsByNamespace[p.Namespace], p)
	}
	rs := replicaSetsByUID(objs.ReplicaSets)
	var out []Delegate
	for _, w := range workloads(objs) {
		if isDelegate(w) {
			out = append(out, buildOne(objs, ownedPods(podsByNamespace[w.meta.Namespace], w, rs), w, now))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	markDuplicates(out)
	return out
}

func buildOne(objs *Objects, pods []corev1.Pod, w workload, now time.Time) Delegate {
	ns := w.meta.Namespace
	spec := w.template.Spec
	env := resolveEnv(objs, ns, mainContainer(spec))
	d := Delegate{
		Namespace: ns,
		Workload: WorkloadRef{Kind: w.kind, Name: w.meta.Name, ServiceAccount: serviceAccountName(spec),
			NodeSelector: spec.NodeSelector, RequiredNodeAffinity: requiredNodeAffinity(spec), Tolerations: spec.Tolerations},
		CreatedAt: w.meta.CreationTimestamp.Time,
		Replicas:  w.replicas,
	}
	d.Name = cmp.Or(env.value("DELEGATE_NAME"), w.meta.Labels[LabelName], w.meta.Name)
	d.InstallMethod, d.Helm, d.PluginVersion = installMethod(w)
	if c := mainContainer(spec); c != nil {
		d.Image = ParseImage(c.Image)
		if v, ok := ParseVersion(d.Image.Tag); ok {
			d.Version, d.Minimal = v.String(), v.Minimal
		}
		d.Support = SupportAt(d.Image.Tag, now)
		d.Resources = c.Resources
		d.Workload.Container = c.Name
	}
	d.AccountID = env.value("ACCOUNT_ID")
	d.ManagerEndpoint = cmp.Or(env.value("MANAGER_HOST_AND_PORT"), env.value("MANAGER_URL"))
	d.Token = tokenRef(env)
	d.Proxy = Proxy{
		Host:           env.value("PROXY_HOST"),
		Port:           env.value("PROXY_PORT"),
		Scheme:         env.value("PROXY_SCHEME"),
		NoProxy:        cmp.Or(env.value("NO_PROXY"), env.value("no_proxy")),
		HasCredentials: env.has("PROXY_USER") || env.has("PROXY_PASSWORD"),
	}
	d.Proxy.Configured = d.Proxy.Host != ""
	d.CustomCA = customCA(spec)
	d.Tags = splitList(env.value("DELEGATE_TAGS"))
	d.Description = env.value("DELEGATE_DESCRIPTION")
	d.PollForTasks = strings.EqualFold(env.value("POLL_FOR_TASKS"), "true")
	d.Pods = make([]Pod, 0, len(pods))
	for _, p := range pods {
		d.Pods = append(d.Pods, summarisePod(p))
	}
	cronJob := upgraderCronJob(objs, ns, w.meta.Name, d.Name)
	d.Upgrader = upgraderOf(cronJob)
	if d.Upgrader != nil {
		d.Upgrader.LastJob = lastUpgraderJob(objs, cronJob)
	}
	d.Members = members(objs, w, pods, cronJob)
	d.RBAC = rbacOf(objs, ns, d.Workload.ServiceAccount)
	d.Rollout = rolloutOf(objs, w)
	return d
}

func installMethod(w workload) (InstallMethod, *HelmRelease, string) {
	l, a := w.meta.Labels, w.meta.Annotations
	switch {
	case l[LabelManagedBy] == ManagedByPlugin:
		return Plugin, nil, a[AnnotationPluginVersion]
	case l[LabelManagedBy] == "Helm" || a[AnnotationHelmRelease] != "":
		rel := &HelmRelease{Release: cmp.Or(a[AnnotationHelmRelease], l["app.kubernetes.io/instance"])}
		rel.Chart, rel.ChartVersion = splitChart(l[LabelHelmChart])
		return Helm, rel, ""
	case w.kind == "StatefulSet" || l[LabelLegacyApp] == LegacyAppValue:
		return Legacy, nil, ""
	}
	return Manifest, nil, ""
}

// splitChart splits helm.sh/chart (harness-delegate-ng-1.0.15) into name and version.
func splitChart(chart string) (string, string) {
	i := strings.LastIndex(chart, "-")
	if i <= 0 || i == len(chart)-1 || chart[i+1] < '0' || chart[i+1] > '9' {
		return chart, ""
	}
	return chart[:i], chart[i+1:]
}

func requiredNodeAffinity(spec corev1.PodSpec) *corev1.NodeSelector {
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil {
		return nil
	}
	return spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

func serviceAccountName(spec corev1.PodSpec) string {
	return cmp.Or(spec.ServiceAccountName, spec.DeprecatedServiceAccount, "default")
}

// ownedPods finds the workload's pods through its own selector, never by assumed label
// values (copies of the manifest in the wild select with harness.io/name=delegate), and
// keeps those it owns: two manifest copies may select the same labels in one namespace.
func ownedPods(candidates []corev1.Pod, w workload, rs map[types.UID]*appsv1.ReplicaSet) []corev1.Pod {
	selector, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil || selector.Empty() {
		return nil
	}
	var pods []corev1.Pod
	for i := range candidates {
		p := &candidates[i]
		if p.Namespace == w.meta.Namespace && selector.Matches(labels.Set(p.Labels)) && podOwnedBy(p, w, rs) {
			pods = append(pods, *p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

func summarisePod(p corev1.Pod) Pod {
	out := Pod{Name: p.Name, Node: p.Spec.NodeName, Phase: string(p.Status.Phase), CreatedAt: p.CreationTimestamp.Time}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			out.Ready, out.ReadyChanged = c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	main := mainContainer(p.Spec)
	for _, cs := range p.Status.ContainerStatuses {
		out.Restarts += cs.RestartCount
		if main != nil && cs.Name != main.Name {
			continue
		}
		if cs.State.Waiting != nil {
			out.Waiting = cs.State.Waiting.Reason
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			out.LastTermination = &Termination{Reason: t.Reason, ExitCode: t.ExitCode, FinishedAt: t.FinishedAt.Time}
		}
	}
	return out
}

// upgraderCronJob finds the upgrader CronJob: the chart names it <delegate>-upgrader-job.
func upgraderCronJob(objs *Objects, ns, workloadName, delegateName string) *batchv1.CronJob {
	for i := range objs.CronJobs {
		if cj := &objs.CronJobs[i]; cj.Namespace == ns && (cj.Name == workloadName+"-upgrader-job" || cj.Name == delegateName+"-upgrader-job") {
			return cj
		}
	}
	return nil
}

func upgraderOf(cj *batchv1.CronJob) *Upgrader {
	if cj == nil {
		return nil
	}
	u := &Upgrader{CronJob: cj.Name, Schedule: cj.Spec.Schedule, Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend,
		CreatedAt: cj.CreationTimestamp.Time}
	if t := cj.Status.LastScheduleTime; t != nil {
		u.LastSchedule = &t.Time
	}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		u.LastSuccessful = &t.Time
	}
	u.LastResult = lastResult(cj.Status)
	return u
}

// lastResult reads the outcome of the newest run from the CronJob's own status, which
// needs no LIST of Jobs: a run is still going, ended in success, or ended otherwise.
func lastResult(s batchv1.CronJobStatus) string {
	switch {
	case len(s.Active) > 0:
		return "Running"
	case s.LastScheduleTime == nil:
		return ""
	case s.LastSuccessfulTime != nil && !s.LastSuccessfulTime.Before(s.LastScheduleTime):
		return "Succeeded"
	}
	return "Failed"
}

func rbacOf(objs *Objects, ns, serviceAccount string) RBAC {
	r := RBAC{Mode: NoRBAC}
	names := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == serviceAccount && (s.Namespace == ns || s.Namespace == "") {
				return true
			}
		}
		return false
	}
	// Strongest first, so the mode says the most the delegate can do.
	rank := map[RBACMode]int{ClusterAdmin: 4, NamespaceAdmin: 3, CustomRole: 2, ClusterViewer: 1, NoRBAC: 0}
	consider := func(mode RBACMode, binding string) {
		r.Bindings = append(r.Bindings, binding)
		if rank[mode] > rank[r.Mode] {
			r.Mode = mode
		}
	}
	for _, b := range objs.ClusterRoleBindings {
		if !names(b.Subjects) {
			continue
		}
		mode := CustomRole
		switch b.RoleRef.Name {
		case "cluster-admin":
			mode = ClusterAdmin
		case "view":
			mode = ClusterViewer
		}
		consider(mode, "ClusterRoleBinding/"+b.Name+" -> ClusterRole/"+b.RoleRef.Name)
	}
	for _, b := range objs.RoleBindings {
		if b.Namespace != ns || !names(b.Subjects) {
			continue
		}
		mode := CustomRole
		if b.RoleRef.Name == "cluster-admin" || b.RoleRef.Name == "admin" || strings.HasSuffix(b.RoleRef.Name, "namespace-admin") {
			mode = NamespaceAdmin
		}
		consider(mode, "RoleBinding/"+b.Name+" -> "+b.RoleRef.Kind+"/"+b.RoleRef.Name)
	}
	if r.Mode == NoRBAC {
		_, crbErr := objs.Unreadable["clusterrolebindings"]
		_, rbErr := objs.Unreadable["rolebindings"]
		if crbErr || rbErr {
			r.Mode = RBACUnknown
		}
	}
	return r
}

// customCA recognises the chart's CA bundle mount and the JVM trust-store variables.
func customCA(spec corev1.PodSpec) CustomCA {
	c := mainContainer(spec)
	if c == nil {
		return CustomCA{}
	}
	for _, m := range c.VolumeMounts {
		if strings.Contains(m.MountPath, "ca-bundle") || strings.HasSuffix(m.MountPath, "/certs") {
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					return CustomCA{Configured: true, Source: "Secret/" + v.Secret.SecretName}
				}
				if v.Name == m.Name && v.ConfigMap != nil {
					return CustomCA{Configured: true, Source: "ConfigMap/" + v.ConfigMap.Name}
				}
			}
			return CustomCA{Configured: true, Source: "volume " + m.Name}
		}
	}
	return CustomCA{}
}

func markDuplicates(ds []Delegate) {
	byName := map[string][]string{}
	for _, d := range ds {
		byName[d.Name] = append(byName[d.Name], d.Namespace)
	}
	for i := range ds {
		var others []string
		for _, ns := range byName[ds[i].Name] {
			if ns != ds[i].Namespace {
				others = append(others, ns)
			}
		}
		if len(others) > 0 {
			ds[i].Duplicate = &Duplicate{OtherNamespaces: others}
		}
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
