package delegate

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
)

// GatherOptions say what to read.
type GatherOptions struct {
	// Namespace to look in; "" for all namespaces.
	Namespace string
	// Selector narrows the workloads (label selector syntax); "" for all.
	Selector string
	// PageSize is the Limit of each LIST page (default 500).
	PageSize int64
	// Workers bounds the GETs of referenced ConfigMaps and Secrets in flight (default 8).
	Workers int
	// SecretValues keeps the values of the delegates' Secrets and inline sensitive variables
	// in Objects.SecretValues, for a redactor; otherwise no value is kept.
	SecretValues bool
	// UpgraderRuns reads the pods of the Jobs in scope, for how the upgrader's last run ended
	// (doctor's DLG-406): one more LIST that list and inspect do without.
	UpgraderRuns bool
}

// podSelector is on the pods of every known install method (the chart, the manifest, the
// legacy StatefulSet and this plugin), so one label-selected LIST finds them all without
// paging through every other pod in the cluster. Workloads whose selector does not use it
// get a LIST of their own.
const podSelector = LabelName

// Gather reads what Build needs with a fixed set of paginated LIST requests made in
// parallel, plus one GET per ConfigMap or Secret the delegates reference: the number of
// requests does not grow with the number of pods.
func Gather(ctx context.Context, client kubernetes.Interface, opts GatherOptions) (*Objects, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	ns := opts.Namespace
	objs := &Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]map[string]bool{}, Unreadable: map[string]error{}}
	workloadOpts := metav1.ListOptions{LabelSelector: opts.Selector, Limit: opts.PageSize}
	pageOpts := metav1.ListOptions{Limit: opts.PageSize}
	selectedOpts := metav1.ListOptions{LabelSelector: podSelector, Limit: opts.PageSize}

	var mu sync.Mutex
	var g errgroup.Group
	// required lists fail the whole gather; optional ones only make what depends on them
	// unknown.
	run := func(kind string, required bool, list func() error) {
		g.Go(func() error {
			err := list()
			switch {
			case err == nil:
				return nil
			case required:
				return fmt.Errorf("listing %s%s: %w", kind, scope(ns), err)
			}
			mu.Lock()
			defer mu.Unlock()
			objs.Unreadable[kind] = err
			return nil
		})
	}
	run("deployments", true, func() (err error) {
		objs.Deployments, err = ListAll[appsv1.Deployment](ctx, workloadOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.AppsV1().Deployments(ns).List(ctx, o)
		})
		return err
	})
	run("statefulsets", true, func() (err error) {
		objs.StatefulSets, err = ListAll[appsv1.StatefulSet](ctx, workloadOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.AppsV1().StatefulSets(ns).List(ctx, o)
		})
		return err
	})
	run("pods", false, func() (err error) {
		objs.Pods, err = ListAll[corev1.Pod](ctx, selectedOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Pods(ns).List(ctx, o)
		})
		return err
	})
	// ReplicaSets carry their pods' labels, so the pods' selector finds the delegates' own:
	// one more paginated LIST, of at most revisionHistoryLimit+1 (11) per delegate.
	run("replicasets", false, func() (err error) {
		objs.ReplicaSets, err = ListAll[appsv1.ReplicaSet](ctx, selectedOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.AppsV1().ReplicaSets(ns).List(ctx, o)
		})
		return err
	})
	run("cronjobs", false, func() (err error) {
		objs.CronJobs, err = ListAll[batchv1.CronJob](ctx, pageOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.BatchV1().CronJobs(ns).List(ctx, o)
		})
		return err
	})
	// The upgrader's Jobs carry no label of the delegate's: all Jobs in scope, one more
	// paginated LIST, to tie them to the upgrader CronJob by owner reference.
	run("jobs", false, func() (err error) {
		objs.Jobs, err = ListAll[batchv1.Job](ctx, pageOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.BatchV1().Jobs(ns).List(ctx, o)
		})
		return err
	})
	if opts.UpgraderRuns {
		run("job pods", false, func() (err error) {
			objs.JobPods, err = listJobPods(ctx, client, ns, opts.PageSize)
			return err
		})
	}
	run("rolebindings", false, func() (err error) {
		objs.RoleBindings, err = ListAll[rbacv1.RoleBinding](ctx, pageOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.RbacV1().RoleBindings(ns).List(ctx, o)
		})
		return err
	})
	run("clusterrolebindings", false, func() (err error) {
		objs.ClusterRoleBindings, err = ListAll[rbacv1.ClusterRoleBinding](ctx, pageOpts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.RbacV1().ClusterRoleBindings().List(ctx, o)
		})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := gatherReferenced(ctx, client, objs, opts); err != nil {
		return nil, err
	}
	return objs, nil
}

var sensitiveNameRE = regexp.MustCompile(`(?i)token|secret|passw|private.?key|api.?key|credential`)

// SensitiveName says whether a variable or ConfigMap key holds a secret even when its value
// is written inline (a token, a password, a key): doctor's and collect's redactors hide such
// values.
func SensitiveName(name string) bool { return sensitiveNameRE.MatchString(name) }

// inlineSecretValues are the values of sensitive variables written into the pod spec.
func inlineSecretValues(spec *corev1.PodSpec) []string {
	var out []string
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, e := range c.Env {
			if e.Value != "" && SensitiveName(e.Name) {
				out = append(out, e.Value)
			}
		}
	}
	return out
}

func scope(ns string) string {
	if ns == "" {
		return " in all namespaces"
	}
	return " in namespace " + ns
}

// addSecret records which keys of a Secret hold something; the values go no further, unless
// withValues (doctor's redactor hides them in the log excerpts it quotes).
func (objs *Objects) addSecret(key string, s *corev1.Secret, withValues bool) {
	keys := map[string]bool{}
	for k, v := range s.Data {
		keys[k] = len(v) > 0
		if withValues {
			objs.SecretValues = append(objs.SecretValues, string(v))
		}
	}
	for k, v := range s.StringData {
		keys[k] = v != ""
		if withValues {
			objs.SecretValues = append(objs.SecretValues, v)
		}
	}
	objs.Secrets[key] = keys
}

// listLabelledConfig lists the ConfigMaps and Secrets labelled harness.io/name in scope, by
// "namespace/name"; a LIST that fails (forbidden) returns nothing, and the GETs take over.
func listLabelledConfig(ctx context.Context, client kubernetes.Interface, opts GatherOptions) (map[string]*corev1.ConfigMap, map[string]*corev1.Secret) {
	list := metav1.ListOptions{LabelSelector: podSelector, Limit: opts.PageSize}
	cms, secrets := map[string]*corev1.ConfigMap{}, map[string]*corev1.Secret{}
	var g errgroup.Group
	g.Go(func() error {
		items, err := ListAll[corev1.ConfigMap](ctx, list, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().ConfigMaps(opts.Namespace).List(ctx, o)
		})
		for i := range items {
			if err == nil {
				cms[items[i].Namespace+"/"+items[i].Name] = &items[i]
			}
		}
		return nil
	})
	g.Go(func() error {
		items, err := ListAll[corev1.Secret](ctx, list, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Secrets(opts.Namespace).List(ctx, o)
		})
		for i := range items {
			if err == nil {
				secrets[items[i].Namespace+"/"+items[i].Name] = &items[i]
			}
		}
		return nil
	})
	_ = g.Wait()
	return cms, secrets
}

// gatherReferenced fetches, for the delegate workloads only, the ConfigMaps and Secrets
// their configuration comes from, and the pods of workloads the shared pod LIST cannot see.
func gatherReferenced(ctx context.Context, client kubernetes.Interface, objs *Objects, opts GatherOptions) error {
	configMaps, secrets := map[string]bool{}, map[string]bool{}
	var unselectedPods []workload
	for _, w := range workloads(objs) {
		if !isDelegate(w) {
			continue
		}
		cms, secs := configReferences(w.meta.Namespace, mainContainer(w.template.Spec))
		if opts.SecretValues {
			objs.SecretValues = append(objs.SecretValues, inlineSecretValues(&w.template.Spec)...)
		}
		for _, k := range cms {
			configMaps[k] = true
		}
		for _, k := range secs {
			secrets[k] = true
		}
		if w.selector != nil {
			if _, ok := w.selector.MatchLabels[podSelector]; !ok {
				unselectedPods = append(unselectedPods, w)
			}
		}
	}

	// The chart labels its ConfigMaps and Secrets with harness.io/name: two labelled LISTs
	// read them for every delegate at once, and only what they miss (manifest installs,
	// Secrets made by hand) is read one GET at a time. A LIST that fails leaves the GETs.
	var labelledCMs map[string]*corev1.ConfigMap
	var labelledSecrets map[string]*corev1.Secret
	if len(configMaps)+len(secrets) > 0 {
		labelledCMs, labelledSecrets = listLabelledConfig(ctx, client, opts)
	}
	for key := range configMaps {
		if cm, ok := labelledCMs[key]; ok {
			objs.ConfigMaps[key] = cm
			delete(configMaps, key)
		}
	}
	for key := range secrets {
		if s, ok := labelledSecrets[key]; ok {
			objs.addSecret(key, s, opts.SecretValues)
			delete(secrets, key)
		}
	}

	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(opts.Workers)
	// Each GET records its own failure, so one failing leaves the others' results.
	do := func(f func()) { g.Go(func() error { f(); return nil }) }
	for _, key := range slices.Sorted(maps.Keys(configMaps)) {
		ns, name := splitKey(key)
		do(func() {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				objs.ConfigMaps[key] = cm
			} else if !apierrors.IsNotFound(err) {
				objs.Unreadable["configmap "+key] = err
			}
		})
	}
	for _, key := range slices.Sorted(maps.Keys(secrets)) {
		ns, name := splitKey(key)
		do(func() {
			s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				objs.addSecret(key, s, opts.SecretValues)
			case apierrors.IsNotFound(err):
				// A missing Secret is known to hold no keys.
				objs.Secrets[key] = map[string]bool{}
			default:
				objs.Unreadable["secret "+key] = err
			}
		})
	}
	for _, w := range unselectedPods {
		do(func() {
			selector, err := metav1.LabelSelectorAsSelector(w.selector)
			if err != nil {
				return
			}
			o := metav1.ListOptions{LabelSelector: selector.String(), Limit: opts.PageSize}
			pods, err := ListAll[corev1.Pod](ctx, o, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.CoreV1().Pods(w.meta.Namespace).List(ctx, o)
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				objs.Unreadable["pods of "+w.kind+" "+w.meta.Namespace+"/"+w.meta.Name] = err
				return
			}
			objs.Pods = appendNew(objs.Pods, pods)
		})
		do(func() {
			selector, err := metav1.LabelSelectorAsSelector(w.selector)
			if err != nil || w.kind != "Deployment" {
				return
			}
			o := metav1.ListOptions{LabelSelector: selector.String(), Limit: opts.PageSize}
			rss, err := ListAll[appsv1.ReplicaSet](ctx, o, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return client.AppsV1().ReplicaSets(w.meta.Namespace).List(ctx, o)
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				objs.Unreadable["replicasets of "+w.kind+" "+w.meta.Namespace+"/"+w.meta.Name] = err
				return
			}
			objs.ReplicaSets = appendNew(objs.ReplicaSets, rss)
		})
	}
	_ = g.Wait() // the tasks return no errors: each records its own
	return ctx.Err()
}

// appendNew appends the objects not already in have: two workloads' selectors may find
// the same ones.
func appendNew[T any, PT interface {
	*T
	metav1.Object
}](have, more []T) []T {
	seen := map[string]bool{}
	for i := range have {
		seen[PT(&have[i]).GetNamespace()+"/"+PT(&have[i]).GetName()] = true
	}
	for i := range more {
		if !seen[PT(&more[i]).GetNamespace()+"/"+PT(&more[i]).GetName()] {
			have = append(have, more[i])
		}
	}
	return have
}

// ListAll lists every item with client-go's pager, opts.Limit (default 500) at a time: it
// follows Continue tokens and, when a token expires mid-list (410 Gone), lists once more
// without paging. No list stops silently at its first page.
func ListAll[T any](ctx context.Context, opts metav1.ListOptions, list func(context.Context, metav1.ListOptions) (runtime.Object, error)) ([]T, error) {
	p := pager.New(list)
	if opts.Limit > 0 {
		p.PageSize = opts.Limit
	}
	// List, not EachListItem: only List starts over when a Continue token expires.
	all, _, err := p.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	var out []T
	err = meta.EachListItem(all, func(obj runtime.Object) error {
		item, ok := obj.(any).(*T)
		if !ok {
			return fmt.Errorf("listing: got a %T, want a %T", obj, item)
		}
		out = append(out, *item)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func splitKey(key string) (string, string) {
	ns, name, _ := strings.Cut(key, "/")
	return ns, name
}
