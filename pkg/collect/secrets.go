package collect

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/pager"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// secretInfo is one of the delegate's Secrets: its values feed the redactor and never
// leave this package; the bundle gets the key names only.
type secretInfo struct {
	meta   metav1.ObjectMeta
	typ    corev1.SecretType
	keys   []string
	values []string
}

// reducedSecret is how a Secret appears in the bundle.
type reducedSecret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   reducedMeta       `json:"metadata"`
	Type       corev1.SecretType `json:"type,omitempty"`
	// Keys are the names of the Secret's keys; the values are left out.
	Keys []string `json:"keys"`
}

type reducedMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	Labels            map[string]string `json:"labels,omitempty"`
	CreationTimestamp metav1.Time       `json:"creationTimestamp"`
}

func (s secretInfo) reduced() reducedSecret {
	// Annotations are left out: kubectl's last-applied-configuration holds the values.
	return reducedSecret{APIVersion: "v1", Kind: "Secret", Type: s.typ, Keys: s.keys,
		Metadata: reducedMeta{Name: s.meta.Name, Namespace: s.meta.Namespace, Labels: s.meta.Labels, CreationTimestamp: s.meta.CreationTimestamp}}
}

// readSecrets reads each delegate's Secrets: those its pods and upgrader reference, those
// named as the chart and the manifest name them, and those labelled with its name. One LIST
// per namespace finds them all, including which of the optional names exist (most do not:
// 40 GETs for 10 delegates answered 404 for the most part); where the LIST is refused (a
// Role that names the Secrets it grants), one GET per name and a labelled LIST per delegate.
func (c *collector) readSecrets(ctx context.Context) (map[string][]secretInfo, []taskError) {
	byNamespace := map[string][]delegate.Delegate{}
	for _, d := range c.snapshot.Delegates {
		byNamespace[d.Namespace] = append(byNamespace[d.Namespace], d)
	}
	out := map[string][]secretInfo{}
	var errs []taskError
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(c.opts.Workers)
	for ns, ds := range byNamespace {
		g.Go(func() error {
			found, nsErrs := c.namespaceSecrets(ctx, ns, ds)
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(out, found)
			errs = append(errs, nsErrs...)
			return nil
		})
	}
	_ = g.Wait()
	sort.Slice(errs, func(i, j int) bool { return errs[i].task < errs[j].task })
	return out, errs
}

// secretNames are the names of the Secrets a delegate may use.
func (c *collector) secretNames(d delegate.Delegate) map[string]bool {
	names := map[string]bool{}
	var spec *corev1.PodSpec
	switch w := c.workload(d).(type) {
	case *appsv1.Deployment:
		spec = &w.Spec.Template.Spec
	case *appsv1.StatefulSet:
		spec = &w.Spec.Template.Spec
	}
	if spec != nil {
		_, secrets := podReferences(spec)
		for _, s := range secrets {
			names[s] = true
		}
	}
	if d.Token.SecretName != "" {
		names[d.Token.SecretName] = true
	}
	if d.Upgrader != nil {
		for i := range c.objs.CronJobs {
			if cj := &c.objs.CronJobs[i]; cj.Namespace == d.Namespace && cj.Name == d.Upgrader.CronJob {
				_, secrets := podReferences(&cj.Spec.JobTemplate.Spec.Template.Spec)
				for _, s := range secrets {
					names[s] = true
				}
			}
		}
	}
	// The chart's and the manifest's names, referenced or not (the upgrader's token is read
	// by its own ServiceAccount's job).
	for _, suffix := range []string{"", "-upgrader-token", "-account-token", "-proxy"} {
		names[d.Name+suffix] = true
	}
	return names
}

// namespaceSecrets are the Secrets of the delegates of one namespace, by delegate.
func (c *collector) namespaceSecrets(ctx context.Context, ns string, ds []delegate.Delegate) (map[string][]secretInfo, []taskError) {
	out := map[string][]secretInfo{}
	wanted := make([]map[string]bool, len(ds))
	for i, d := range ds {
		wanted[i] = c.secretNames(d)
	}
	found := make([]map[string]secretInfo, len(ds))
	for i := range found {
		found[i] = map[string]secretInfo{}
	}
	// Page by page: only the delegates' Secrets are kept, not every Secret of the namespace.
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.client.CoreV1().Secrets(ns).List(ctx, o)
	})
	p.PageSize = 100
	err := p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return fmt.Errorf("listing Secrets: got a %T", obj)
		}
		for i, d := range ds {
			// The label's value is compared, not put into a selector: DELEGATE_NAME comes
			// from the cluster and may be any string.
			if wanted[i][s.Name] || s.Labels[delegate.LabelName] == d.Name {
				found[i][s.Name] = info(s)
			}
		}
		return nil
	})
	var errs []taskError
	if err != nil {
		// Refused is expected of a Role that grants its Secrets by name; anything else is
		// worth a note of its own.
		if !apierrors.IsForbidden(err) {
			errs = append(errs, taskError{"secrets of namespace " + ns + " (read one by one instead)", err})
		}
		for i, d := range ds {
			var more []taskError
			found[i], more = c.secretsOneByOne(ctx, d, wanted[i])
			errs = append(errs, more...)
		}
	}
	for i, d := range ds {
		for _, name := range slices.Sorted(maps.Keys(found[i])) {
			out[subject(d)] = append(out[subject(d)], found[i][name])
		}
	}
	return out, errs
}

// secretsOneByOne reads a delegate's Secrets by name, and those labelled with its name.
func (c *collector) secretsOneByOne(ctx context.Context, d delegate.Delegate, names map[string]bool) (map[string]secretInfo, []taskError) {
	var errs []taskError
	task := "secrets of " + subject(d)
	found := map[string]secretInfo{}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		s, err := c.client.CoreV1().Secrets(d.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			found[name] = info(s)
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, taskError{fmt.Sprintf("%s: Secret %s (values not redacted by name; patterns still apply)", task, name), err})
		}
	}
	// A name that is not a valid label value labels no Secret, and pasted into a selector it
	// could widen it.
	if len(validation.IsValidLabelValue(d.Name)) == 0 {
		selector := labels.SelectorFromValidatedSet(labels.Set{delegate.LabelName: d.Name}).String()
		labelled, err := delegate.ListAll[corev1.Secret](ctx, metav1.ListOptions{LabelSelector: selector},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return c.client.CoreV1().Secrets(d.Namespace).List(ctx, o)
			})
		if err != nil {
			errs = append(errs, taskError{task + ": Secrets labelled " + selector, err})
		}
		for i := range labelled {
			found[labelled[i].Name] = info(&labelled[i])
		}
	}
	return found, errs
}

func info(s *corev1.Secret) secretInfo {
	in := secretInfo{meta: s.ObjectMeta, typ: s.Type}
	for k, v := range s.Data {
		in.keys = append(in.keys, k)
		in.values = append(in.values, string(v))
	}
	for k, v := range s.StringData {
		in.keys = append(in.keys, k)
		in.values = append(in.values, v)
	}
	sort.Strings(in.keys)
	return in
}

// secretValues are every value the redactor must hide: the delegates' Secrets, and inline
// values of sensitive variables in their workloads, pods, upgraders and ConfigMaps.
func (c *collector) secretValues() []string {
	var out []string
	for _, infos := range c.secrets {
		for _, s := range infos {
			out = append(out, s.values...)
		}
	}
	if c.objs == nil {
		return out
	}
	inline := func(spec *corev1.PodSpec) {
		for _, ct := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			for _, e := range ct.Env {
				if e.Value != "" && delegate.SensitiveName(e.Name) {
					out = append(out, e.Value)
				}
			}
		}
	}
	for i := range c.objs.Deployments {
		inline(&c.objs.Deployments[i].Spec.Template.Spec)
	}
	for i := range c.objs.StatefulSets {
		inline(&c.objs.StatefulSets[i].Spec.Template.Spec)
	}
	for i := range c.objs.Pods {
		inline(&c.objs.Pods[i].Spec)
	}
	for i := range c.objs.CronJobs {
		inline(&c.objs.CronJobs[i].Spec.JobTemplate.Spec.Template.Spec)
	}
	for _, cm := range c.objs.ConfigMaps {
		for k, v := range cm.Data {
			if delegate.SensitiveName(k) {
				out = append(out, v)
			}
		}
	}
	return out
}

// podReferences are the ConfigMaps and Secrets a pod spec reads: environment, volumes and
// image pull Secrets.
func podReferences(spec *corev1.PodSpec) (configMaps, secrets []string) {
	cms, secs := map[string]bool{}, map[string]bool{}
	for _, ct := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, from := range ct.EnvFrom {
			if from.ConfigMapRef != nil {
				cms[from.ConfigMapRef.Name] = true
			}
			if from.SecretRef != nil {
				secs[from.SecretRef.Name] = true
			}
		}
		for _, e := range ct.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				cms[r.Name] = true
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				secs[r.Name] = true
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			secs[v.Secret.SecretName] = true
		}
		if v.ConfigMap != nil {
			cms[v.ConfigMap.Name] = true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					secs[src.Secret.Name] = true
				}
				if src.ConfigMap != nil {
					cms[src.ConfigMap.Name] = true
				}
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		secs[s.Name] = true
	}
	return slices.Sorted(maps.Keys(cms)), slices.Sorted(maps.Keys(secs))
}

// yamlDocs writes objects as one multi-document YAML file, without server-side bookkeeping
// (managedFields). Inline secrets in them are hidden by the redactor they pass through.
func yamlDocs(docs []any) func(io.Writer) error {
	return func(w io.Writer) error {
		for i, d := range docs {
			if m, ok := d.(metav1.Object); ok {
				m.SetManagedFields(nil)
			}
			data, err := yaml.Marshal(d)
			if err != nil {
				return err
			}
			if i > 0 {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return err
				}
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
		return nil
	}
}
