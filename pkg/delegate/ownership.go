package delegate

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Owner says who an existing object belongs to, from its labels, annotations and field
// managers: what install needs to know before it writes over an object of that name.
type Owner struct {
	// Plugin is true when this plugin made the object for the delegate Name.
	Plugin bool `json:"plugin"`
	// Delegate is the delegate the object belongs to, "" when unknown.
	Delegate string `json:"delegate,omitempty"`
	// Description says who else owns it, e.g. `Helm release "prod" in namespace harness-delegate-ng`.
	Description string `json:"description"`
}

// OwnerOf classifies an object's metadata. pluginManager is the plugin's field manager.
func OwnerOf(m metav1.ObjectMeta, pluginManager string) Owner {
	l, a := m.Labels, m.Annotations
	name := l[LabelName]
	switch {
	case l[LabelManagedBy] == ManagedByPlugin:
		return Owner{Plugin: true, Delegate: name, Description: fmt.Sprintf("kubectl-delegate (delegate %q)", name)}
	case a[AnnotationHelmRelease] != "" || l[LabelManagedBy] == "Helm":
		rel := cmp.Or(a[AnnotationHelmRelease], l["app.kubernetes.io/instance"], "unknown")
		ns := cmp.Or(a["meta.helm.sh/release-namespace"], m.Namespace)
		return Owner{Delegate: name, Description: fmt.Sprintf("Helm release %q in namespace %s", rel, ns)}
	}
	managers := otherManagers(m.ManagedFields, pluginManager)
	switch {
	case len(managers) == 0:
		return Owner{Delegate: name, Description: "unknown (no labels or field managers say)"}
	case slices.Contains(managers, "kubectl-client-side-apply"):
		return Owner{Delegate: name, Description: "a manifest applied with kubectl apply (field managers: " + strings.Join(managers, ", ") + ")"}
	}
	return Owner{Delegate: name, Description: "field managers " + strings.Join(managers, ", ")}
}

func otherManagers(fields []metav1.ManagedFieldsEntry, pluginManager string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fields {
		if f.Manager == pluginManager || f.Manager == "" || seen[f.Manager] {
			continue
		}
		seen[f.Manager] = true
		out = append(out, f.Manager)
	}
	sort.Strings(out)
	return out
}
