package install

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// SettingsOf reads the settings the plugin recorded on a Deployment it installed.
func SettingsOf(d *appsv1.Deployment) (Values, error) {
	var v Values
	raw := d.Annotations[AnnotationSettings]
	if raw == "" {
		return v, fmt.Errorf("deployment %s/%s has no %s annotation: it was not installed by this plugin, or by an older version", d.Namespace, d.Name, AnnotationSettings)
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return v, fmt.Errorf("deployment %s/%s: annotation %s is not valid: %w", d.Namespace, d.Name, AnnotationSettings, err)
	}
	return v, nil
}

// ManifestChanges are the settings an upgrade may change on a delegate installed from the
// plain manifest, where they live in the Deployment alone.
type ManifestChanges struct {
	Image    string
	Replicas *int32
	CPU      string
	Memory   string
	// Env are environment variables to set on the delegate container, by name.
	Env map[string]string
}

// Empty says whether nothing would change.
func (c ManifestChanges) Empty() bool {
	return c.Image == "" && c.Replicas == nil && c.CPU == "" && c.Memory == "" && len(c.Env) == 0
}

// ManifestEnv maps install settings to the manifest's inline environment variables.
func ManifestEnv(v Values) map[string]string {
	env := map[string]string{}
	set := func(name, value string) {
		if value != "" {
			env[name] = value
		}
	}
	set("ACCOUNT_ID", v.AccountID)
	set("MANAGER_HOST_AND_PORT", v.ManagerEndpoint)
	if v.ManagerEndpoint != "" {
		env["LOG_STREAMING_SERVICE_URL"] = strings.TrimSuffix(v.ManagerEndpoint, "/") + "/log-service/"
	}
	set("DELEGATE_TAGS", v.Tags)
	set("DELEGATE_DESCRIPTION", v.Description)
	set("INIT_SCRIPT", v.InitScript)
	set("JAVA_OPTS", v.JavaOpts)
	if v.PollForTasks != nil {
		env["POLL_FOR_TASKS"] = strconv.FormatBool(*v.PollForTasks)
	}
	set("PROXY_HOST", v.ProxyHost)
	set("PROXY_PORT", v.ProxyPort)
	set("PROXY_SCHEME", v.ProxyScheme)
	set("NO_PROXY", v.NoProxy)
	return env
}

// ManifestPatch is a sparse apply configuration of a manifest-installed Deployment holding
// only the fields an upgrade changes, and the same fields as they are now, for a rollback.
// Applied with force, the plugin takes over just those fields from kubectl apply.
func ManifestPatch(d *appsv1.Deployment, container string, c ManifestChanges) (after, before Object, err error) {
	var current *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == container {
			current = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if current == nil {
		return after, before, fmt.Errorf("deployment %s has no container %q", d.Name, container)
	}
	newC := corev1ac.Container().WithName(container)
	oldC := corev1ac.Container().WithName(container)
	newD := appsv1ac.Deployment(d.Name, d.Namespace)
	oldD := appsv1ac.Deployment(d.Name, d.Namespace)
	newSpec, oldSpec := appsv1ac.DeploymentSpec(), appsv1ac.DeploymentSpec()
	if c.Replicas != nil {
		newSpec.WithReplicas(*c.Replicas)
		oldSpec.WithReplicas(ptrValue(d.Spec.Replicas, 1))
	}
	if c.Image != "" {
		newC.WithImage(c.Image)
		oldC.WithImage(current.Image)
	}
	if c.CPU != "" || c.Memory != "" {
		newC.WithResources(resourcesWith(current.Resources, c.CPU, c.Memory))
		oldC.WithResources(resourcesWith(current.Resources, "", ""))
	}
	names := make([]string, 0, len(c.Env))
	for name := range c.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if fromRef(current.Env, name) {
			return after, before, fmt.Errorf("deployment %s sets %s from a Secret or ConfigMap reference; change it there, not with a flag", d.Name, name)
		}
		newC.WithEnv(corev1ac.EnvVar().WithName(name).WithValue(c.Env[name]))
		if old, ok := envValue(current.Env, name); ok {
			oldC.WithEnv(corev1ac.EnvVar().WithName(name).WithValue(old))
		}
	}
	newSpec.WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(newC)))
	oldSpec.WithTemplate(corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(oldC)))
	newD.WithSpec(newSpec)
	oldD.WithSpec(oldSpec)
	wrap := func(cfg *appsv1ac.DeploymentApplyConfiguration) Object {
		return Object{Resource: gvrDeployment, Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Config: cfg}
	}
	return wrap(newD), wrap(oldD), nil
}

func resourcesWith(r corev1.ResourceRequirements, cpu, memory string) *corev1ac.ResourceRequirementsApplyConfiguration {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	for k, q := range r.Requests {
		requests[k] = q
	}
	for k, q := range r.Limits {
		limits[k] = q
	}
	if cpu != "" {
		requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		m := resource.MustParse(memory)
		requests[corev1.ResourceMemory] = m
		limits[corev1.ResourceMemory] = m
	}
	out := corev1ac.ResourceRequirements()
	if len(requests) > 0 {
		out.WithRequests(requests)
	}
	if len(limits) > 0 {
		out.WithLimits(limits)
	}
	return out
}

func envValue(env []corev1.EnvVar, name string) (string, bool) {
	for _, e := range env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

func fromRef(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name && e.ValueFrom != nil {
			return true
		}
	}
	return false
}

func ptrValue(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Installed lists every object the plugin made for the delegate, cluster-scoped bindings
// included, by its labels: one LIST per kind.
func Installed(ctx context.Context, dyn dynamic.Interface, namespace, name string) ([]Object, error) {
	selector := labels.Set{delegate.LabelManagedBy: delegate.ManagedByPlugin, delegate.LabelName: name}.AsSelector().String()
	var out []Object
	for _, k := range Kinds {
		ri := dyn.Resource(k.Resource)
		var list interface {
			UnstructuredContent() map[string]any
		}
		var err error
		if k.Namespaced {
			list, err = ri.Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		} else {
			list, err = ri.List(ctx, metav1.ListOptions{LabelSelector: selector})
		}
		if err != nil {
			return nil, fmt.Errorf("listing %ss labelled %s: %w", k.Kind, selector, err)
		}
		items, _ := list.UnstructuredContent()["items"].([]any)
		for _, item := range items {
			m, _ := item.(map[string]any)
			meta, _ := m["metadata"].(map[string]any)
			objName, _ := meta["name"].(string)
			objNS, _ := meta["namespace"].(string)
			if !k.Namespaced {
				// A ClusterRoleBinding of another namespace's delegate of the same name is not ours.
				if !bindsNamespace(m, namespace) {
					continue
				}
			}
			out = append(out, Object{Resource: k.Resource, Kind: k.Kind, Namespace: objNS, Name: objName})
		}
	}
	return out, nil
}

func bindsNamespace(binding map[string]any, namespace string) bool {
	subjects, _ := binding["subjects"].([]any)
	for _, s := range subjects {
		m, _ := s.(map[string]any)
		if ns, _ := m["namespace"].(string); ns == namespace {
			return true
		}
	}
	return false
}

// Stale are the installed objects a new rendering no longer has, e.g. the old binding after
// --role changed: an upgrade deletes them once the new objects are applied.
func Stale(installed, rendered []Object, v Values) []Object {
	keep := map[string]bool{}
	for _, o := range rendered {
		keep[o.Ref()] = true
	}
	for _, name := range v.ReferencedSecrets() {
		for _, o := range installed {
			if o.Kind == "Secret" && o.Name == name {
				keep[o.Ref()] = true
			}
		}
	}
	var out []Object
	for _, o := range installed {
		if !keep[o.Ref()] {
			out = append(out, o)
		}
	}
	return out
}

// Delete removes the objects, ignoring those already gone; the Deployment first, so that no
// pod restarts without its configuration.
func Delete(ctx context.Context, dyn dynamic.Interface, objs []Object) ([]string, error) {
	ordered := append([]Object(nil), objs...)
	sort.SliceStable(ordered, func(i, j int) bool { return kindRank(ordered[i].Kind) > kindRank(ordered[j].Kind) })
	var deleted []string
	background := metav1.DeletePropagationBackground
	for _, o := range ordered {
		err := resourceFor(dyn, o).Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &background})
		if err != nil && !isNotFound(err) {
			return deleted, fmt.Errorf("deleting %s: %w", o.Ref(), err)
		}
		if err == nil {
			deleted = append(deleted, o.Ref())
		}
	}
	return deleted, nil
}

func kindRank(kind string) int {
	for i, k := range Kinds {
		if k.Kind == kind {
			return i
		}
	}
	return -1
}
