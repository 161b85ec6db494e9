package delegate

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnerOf(t *testing.T) {
	const plugin = "kubectl-delegate"
	managed := func(managers ...string) []metav1.ManagedFieldsEntry {
		var out []metav1.ManagedFieldsEntry
		for _, m := range managers {
			out = append(out, metav1.ManagedFieldsEntry{Manager: m, Operation: metav1.ManagedFieldsOperationApply})
		}
		return out
	}
	cases := []struct {
		name string
		meta metav1.ObjectMeta
		want Owner
	}{
		{"plugin label", metav1.ObjectMeta{Labels: map[string]string{LabelManagedBy: ManagedByPlugin, LabelName: "prod"}},
			Owner{Plugin: true, Delegate: "prod", Description: `kubectl-delegate (delegate "prod")`}},
		// The label wins over field managers: kubectl edit on the plugin's object stays the plugin's.
		{"plugin label, edited", metav1.ObjectMeta{Labels: map[string]string{LabelManagedBy: ManagedByPlugin, LabelName: "prod"}, ManagedFields: managed(plugin, "kubectl-edit")},
			Owner{Plugin: true, Delegate: "prod", Description: `kubectl-delegate (delegate "prod")`}},
		{"helm annotations", metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{LabelName: "prod"},
			Annotations: map[string]string{AnnotationHelmRelease: "rel", "meta.helm.sh/release-namespace": "helm-ns"}},
			Owner{Delegate: "prod", Description: `Helm release "rel" in namespace helm-ns`}},
		{"helm label only", metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{LabelManagedBy: "Helm", "app.kubernetes.io/instance": "inst"}},
			Owner{Description: `Helm release "inst" in namespace ns`}},
		{"helm label, no release", metav1.ObjectMeta{Namespace: "ns", Labels: map[string]string{LabelManagedBy: "Helm"}},
			Owner{Description: `Helm release "unknown" in namespace ns`}},
		{"manifest", metav1.ObjectMeta{Labels: map[string]string{LabelName: "kubernetes-delegate"}, ManagedFields: managed("kubectl-client-side-apply", "kube-controller-manager", "kubectl-client-side-apply")},
			Owner{Delegate: "kubernetes-delegate", Description: "a manifest applied with kubectl apply (field managers: kube-controller-manager, kubectl-client-side-apply)"}},
		{"other managers", metav1.ObjectMeta{ManagedFields: managed("terraform", plugin, "argocd-controller", "")},
			Owner{Description: "field managers argocd-controller, terraform"}},
		// Only the plugin's own field manager, but no label: someone removed it; nothing says whose.
		{"only the plugin's manager", metav1.ObjectMeta{ManagedFields: managed(plugin)},
			Owner{Description: "unknown (no labels or field managers say)"}},
		{"none", metav1.ObjectMeta{}, Owner{Description: "unknown (no labels or field managers say)"}},
	}
	for _, c := range cases {
		if got := OwnerOf(c.meta, plugin); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
