package delegate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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

	var mu sync.Mutex
	var wg sync.WaitGroup
	var fatal []error
	// required lists fail the whole gather; optional ones only make what depends on them
	// unknown.
	run := func(kind string, required bool, list func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := list()
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if required {
				fatal = append(fatal, fmt.Errorf("listing %s%s: %w", kind, scope(ns), err))
			} else {
				objs.Unreadable[kind] = err
			}
		}()
	}
	run("deployments", true, func() (err error) {
		objs.Deployments, err = listAll(ctx, workloadOpts, func(o metav1.ListOptions) ([]appsv1.Deployment, string, error) {
			l, err := client.AppsV1().Deployments(ns).List(ctx, o)
			return items(l, err, func(l *appsv1.DeploymentList) ([]appsv1.Deployment, string) { return l.Items, l.Continue })
		})
		return err
	})
	run("statefulsets", true, func() (err error) {
		objs.StatefulSets, err = listAll(ctx, workloadOpts, func(o metav1.ListOptions) ([]appsv1.StatefulSet, string, error) {
			l, err := client.AppsV1().StatefulSets(ns).List(ctx, o)
			return items(l, err, func(l *appsv1.StatefulSetList) ([]appsv1.StatefulSet, string) { return l.Items, l.Continue })
		})
		return err
	})
	run("pods", false, func() (err error) {
		o := pageOpts
		o.LabelSelector = podSelector
		objs.Pods, err = listAll(ctx, o, func(o metav1.ListOptions) ([]corev1.Pod, string, error) {
			l, err := client.CoreV1().Pods(ns).List(ctx, o)
			return items(l, err, func(l *corev1.PodList) ([]corev1.Pod, string) { return l.Items, l.Continue })
		})
		return err
	})
	run("cronjobs", false, func() (err error) {
		objs.CronJobs, err = listAll(ctx, pageOpts, func(o metav1.ListOptions) ([]batchv1.CronJob, string, error) {
			l, err := client.BatchV1().CronJobs(ns).List(ctx, o)
			return items(l, err, func(l *batchv1.CronJobList) ([]batchv1.CronJob, string) { return l.Items, l.Continue })
		})
		return err
	})
	run("rolebindings", false, func() (err error) {
		objs.RoleBindings, err = listAll(ctx, pageOpts, func(o metav1.ListOptions) ([]rbacv1.RoleBinding, string, error) {
			l, err := client.RbacV1().RoleBindings(ns).List(ctx, o)
			return items(l, err, func(l *rbacv1.RoleBindingList) ([]rbacv1.RoleBinding, string) { return l.Items, l.Continue })
		})
		return err
	})
	run("clusterrolebindings", false, func() (err error) {
		objs.ClusterRoleBindings, err = listAll(ctx, pageOpts, func(o metav1.ListOptions) ([]rbacv1.ClusterRoleBinding, string, error) {
			l, err := client.RbacV1().ClusterRoleBindings().List(ctx, o)
			return items(l, err, func(l *rbacv1.ClusterRoleBindingList) ([]rbacv1.ClusterRoleBinding, string) {
				return l.Items, l.Continue
			})
		})
		return err
	})
	wg.Wait()
	if len(fatal) > 0 {
		return nil, fatal[0]
	}
	if err := gatherReferenced(ctx, client, objs, opts); err != nil {
		return nil, err
	}
	return objs, nil
}

func scope(ns string) string {
	if ns == "" {
		return " in all namespaces"
	}
	return " in namespace " + ns
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

	var mu sync.Mutex
	sem := make(chan struct{}, opts.Workers)
	var wg sync.WaitGroup
	do := func(f func()) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	for _, key := range sortedKeys(configMaps) {
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
	for _, key := range sortedKeys(secrets) {
		ns, name := splitKey(key)
		do(func() {
			s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				// Only whether each key holds something: the values go no further than here.
				keys := map[string]bool{}
				for k, v := range s.Data {
					keys[k] = len(v) > 0
				}
				for k, v := range s.StringData {
					keys[k] = v != ""
				}
				objs.Secrets[key] = keys
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
			pods, err := listAll(ctx, o, func(o metav1.ListOptions) ([]corev1.Pod, string, error) {
				l, err := client.CoreV1().Pods(w.meta.Namespace).List(ctx, o)
				return items(l, err, func(l *corev1.PodList) ([]corev1.Pod, string) { return l.Items, l.Continue })
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				objs.Unreadable["pods of "+w.kind+" "+w.meta.Namespace+"/"+w.meta.Name] = err
				return
			}
			objs.Pods = appendNewPods(objs.Pods, pods)
		})
	}
	wg.Wait()
	return ctx.Err()
}

func appendNewPods(have, more []corev1.Pod) []corev1.Pod {
	seen := map[string]bool{}
	for _, p := range have {
		seen[p.Namespace+"/"+p.Name] = true
	}
	for _, p := range more {
		if !seen[p.Namespace+"/"+p.Name] {
			have = append(have, p)
		}
	}
	return have
}

// listAll follows Continue tokens until the list is complete. When a token expires (410
// Gone, the list took longer than etcd keeps its revision) it starts over once without
// paging, as client-go's pager does.
func listAll[T any](ctx context.Context, opts metav1.ListOptions, list func(metav1.ListOptions) ([]T, string, error)) ([]T, error) {
	var out []T
	for {
		page, cont, err := list(opts)
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			opts.Continue, opts.Limit = "", 0
			out = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if cont == "" || ctx.Err() != nil {
			return out, ctx.Err()
		}
		opts.Continue = cont
	}
}

func items[L any, T any](l *L, err error, get func(*L) ([]T, string)) ([]T, string, error) {
	if err != nil {
		return nil, "", err
	}
	page, cont := get(l)
	return page, cont, nil
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func splitKey(key string) (string, string) {
	ns, name, _ := strings.Cut(key, "/")
	return ns, name
}
