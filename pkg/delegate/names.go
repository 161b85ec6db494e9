package delegate

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
)

// FindNamesElsewhere looks for the delegates' names outside the namespace they were gathered
// from: Harness tells delegates apart by name whatever the namespace, so doctor -n must see a
// twin in another one. One paginated LIST of Deployments in all namespaces, selected by
// harness.io/name in (the names): a fixed cost, whatever the number of pods. A delegate whose
// name is found elsewhere gets Duplicate; when the LIST fails (forbidden, say) each gets
// NameUnchecked with the reason. Names that are not label values cannot be selected on and
// are left as they are.
func FindNamesElsewhere(ctx context.Context, client kubernetes.Interface, ds []Delegate, pageSize int64) {
	selector, ok := nameSelector(ds)
	if !ok {
		return
	}
	opts := metav1.ListOptions{LabelSelector: selector, Limit: pageSize}
	deployments, err := ListAll[appsv1.Deployment](ctx, opts, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, o)
	})
	if err != nil {
		for i := range ds {
			ds[i].NameUnchecked = fmt.Sprintf("listing Deployments labelled %s in all namespaces: %v", LabelName, err)
		}
		return
	}
	markElsewhere(ds, deployments)
}

// nameSelector selects the delegates' names: harness.io/name in (a,b).
func nameSelector(ds []Delegate) (string, bool) {
	var names []string
	for _, d := range ds {
		if !slices.Contains(names, d.Name) {
			names = append(names, d.Name)
		}
	}
	var valid []string
	for _, n := range names {
		// NewRequirement validates each value: a name that is not a label value would make
		// the whole selector invalid, so it is dropped alone.
		if _, err := labels.NewRequirement(LabelName, selection.Equals, []string{n}); err == nil {
			valid = append(valid, n)
		}
	}
	if len(valid) == 0 {
		return "", false
	}
	req, err := labels.NewRequirement(LabelName, selection.In, valid)
	if err != nil {
		return "", false
	}
	return labels.NewSelector().Add(*req).String(), true
}

// markElsewhere records, for each delegate, the other namespaces whose Deployments carry its
// name.
func markElsewhere(ds []Delegate, deployments []appsv1.Deployment) {
	for i := range ds {
		others := []string{}
		if ds[i].Duplicate != nil {
			others = ds[i].Duplicate.OtherNamespaces
		}
		for _, w := range deployments {
			if w.Labels[LabelName] == ds[i].Name && w.Namespace != ds[i].Namespace && !slices.Contains(others, w.Namespace) {
				others = append(others, w.Namespace)
			}
		}
		if len(others) > 0 {
			slices.Sort(others)
			ds[i].Duplicate = &Duplicate{OtherNamespaces: others}
		}
	}
}
