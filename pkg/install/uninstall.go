package install

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// ForeignError is a namespace to delete that holds objects the uninstall did not create:
// other delegates, their Secrets, anything else. Nothing was deleted.
type ForeignError struct {
	Namespace string
	// Objects are Kind/name, sorted; More were not named.
	Objects []string
	More    int
}

func (e *ForeignError) Error() string {
	more := ""
	if e.More > 0 {
		more = fmt.Sprintf("\n  and %d more", e.More)
	}
	return fmt.Sprintf("namespace %s holds %d object(s) this uninstall did not create, which deleting it would delete too; nothing was deleted:\n  %s%s",
		e.Namespace, len(e.Objects)+e.More, strings.Join(e.Objects, "\n  "), more)
}

// maxForeignNamed is how many foreign objects an error names.
const maxForeignNamed = 20

// listLimit is the page size of each LIST; every page is read, since the object the
// uninstall did not create may be on any of them.
const listLimit = 500

// CheckNamespaceHoldsOnly returns a *ForeignError when the namespace holds anything but objs
// and what belongs to them by owner reference (the Deployment's ReplicaSets and pods, the
// CronJob's Jobs and pods), or what every namespace has (ServiceAccount default, ConfigMap
// kube-root-ca.crt) and events. Every namespaced kind the server serves is listed once.
func (i *Installer) CheckNamespaceHoldsOnly(ctx context.Context, objs []Object) error {
	_, lists, err := i.kube.Discovery().ServerGroupsAndResources()
	if err != nil {
		return clusterError(fmt.Errorf("finding out what kinds namespace %s may hold: %w", i.settings.Namespace, err))
	}
	ours := map[string]bool{}
	for _, o := range objs {
		ours[o.Kind+"/"+o.Name] = true
	}
	var items []unstructured.Unstructured
	seen := map[schema.GroupResource]bool{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil || gv.Group == "metrics.k8s.io" || gv.Group == "events.k8s.io" {
			continue // metrics repeat the pods; events go with what they are about
		}
		for _, r := range list.APIResources {
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if !r.Namespaced || strings.Contains(r.Name, "/") || r.Name == "events" || !slices.Contains(r.Verbs, "list") || seen[gr] {
				continue
			}
			seen[gr] = true
			client := i.dyn.Resource(gv.WithResource(r.Name)).Namespace(i.settings.Namespace)
			got, err := delegate.ListAll[unstructured.Unstructured](ctx, metav1.ListOptions{Limit: listLimit},
				func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return client.List(ctx, o) })
			if err != nil {
				return clusterError(fmt.Errorf("listing %s in namespace %s: %w", gr, i.settings.Namespace, err))
			}
			for _, item := range got {
				if item.GetKind() == "" {
					item.SetKind(r.Kind)
				}
				items = append(items, item)
			}
		}
	}
	foreign := foreignObjects(items, ours)
	if len(foreign) == 0 {
		return nil
	}
	named := foreign[:min(len(foreign), maxForeignNamed)]
	return &ForeignError{Namespace: i.settings.Namespace, Objects: named, More: len(foreign) - len(named)}
}

// foreignObjects are the items that are neither ours (by Kind/name) nor owned, through any
// chain of owner references, by one that is, nor in every namespace. It is pure.
func foreignObjects(items []unstructured.Unstructured, ours map[string]bool) []string {
	uids := map[types.UID]bool{}
	mine := make([]bool, len(items))
	for changed := true; changed; {
		changed = false
		for n, item := range items {
			if mine[n] {
				continue
			}
			owned := slices.ContainsFunc(item.GetOwnerReferences(), func(r metav1.OwnerReference) bool { return uids[r.UID] })
			if ours[item.GetKind()+"/"+item.GetName()] || owned {
				mine[n], changed = true, true
				uids[item.GetUID()] = true
			}
		}
	}
	var out []string
	for n, item := range items {
		ref := item.GetKind() + "/" + item.GetName()
		if mine[n] || ref == "ServiceAccount/default" || ref == "ConfigMap/kube-root-ca.crt" {
			continue
		}
		out = append(out, ref)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// UnbindNamespace removes the namespace's ServiceAccounts from every ClusterRoleBinding, so
// that none is left naming a deleted subject (a later ServiceAccount of that name would
// inherit its role): a binding of them alone is deleted, another loses those subjects.
func (i *Installer) UnbindNamespace(ctx context.Context) error {
	ns := i.settings.Namespace
	bindings, err := i.kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return clusterError(fmt.Errorf("listing ClusterRoleBindings: %w", err))
	}
	inNamespace := func(s rbacv1.Subject) bool { return s.Kind == rbacv1.ServiceAccountKind && s.Namespace == ns }
	for _, b := range bindings.Items {
		if !slices.ContainsFunc(b.Subjects, inNamespace) {
			continue
		}
		ref := "ClusterRoleBinding/" + b.Name
		rest := slices.DeleteFunc(slices.Clone(b.Subjects), inNamespace)
		if len(rest) == 0 {
			// The resourceVersion as read: a binding changed meanwhile is looked at again by a rerun.
			pre := metav1.Preconditions{ResourceVersion: &b.ResourceVersion}
			if err := i.kube.RbacV1().ClusterRoleBindings().Delete(ctx, b.Name, metav1.DeleteOptions{Preconditions: &pre}); err != nil && !apierrors.IsNotFound(err) {
				return clusterError(fmt.Errorf("deleting %s, which binds ServiceAccounts of namespace %s: %w", ref, ns, err))
			}
			i.progress(Event{Kind: Deleted, Ref: ref})
			continue
		}
		b.Subjects = rest
		if _, err := i.kube.RbacV1().ClusterRoleBindings().Update(ctx, &b, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return clusterError(fmt.Errorf("removing the ServiceAccounts of namespace %s from %s: %w", ns, ref, err))
		}
		i.progress(Event{Kind: Unbound, Ref: ref})
	}
	return nil
}
