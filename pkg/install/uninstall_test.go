package install

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"
)

// serveKinds has the fake discovery serve the kinds install makes.
func (c *fakeCluster) serveKinds() {
	byGV := map[string]*metav1.APIResourceList{}
	for _, k := range Kinds {
		gv := k.Resource.GroupVersion().String()
		if byGV[gv] == nil {
			byGV[gv] = &metav1.APIResourceList{GroupVersion: gv}
			c.kube.Resources = append(c.kube.Resources, byGV[gv])
		}
		byGV[gv].APIResources = append(byGV[gv].APIResources, metav1.APIResource{Name: k.Resource.Resource, Kind: k.Kind, Namespaced: k.Namespaced, Verbs: []string{"list"}})
	}
}

// TestCheckNamespaceHoldsOnly: deleting the namespace is refused while it holds another
// delegate, and allowed when it holds only the uninstall's objects.
func TestCheckNamespaceHoldsOnly(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, nil)
	c.serveKinds()
	inst := c.installer(Config{SkipPreflight: true})
	other := base()
	other.DelegateName = "other"
	for _, v := range []Values{base(), other} {
		if _, _, err := inst.Install(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := inst.Installed(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	err = inst.CheckNamespaceHoldsOnly(ctx, objs)
	var foreign *ForeignError
	if !errors.As(err, &foreign) || !slices.Contains(foreign.Objects, "Deployment/other") || slices.Contains(foreign.Objects, "Deployment/prod") {
		t.Fatalf("namespace with delegate other: %v, want a *ForeignError naming other's objects and not prod's", err)
	}
	otherObjs, _ := inst.Installed(ctx, "other")
	if err := inst.Delete(ctx, otherObjs); err != nil {
		t.Fatal(err)
	}
	if err := inst.CheckNamespaceHoldsOnly(ctx, objs); err != nil {
		t.Errorf("namespace of prod's objects alone: %v", err)
	}
}

// TestForeignObjects: what the uninstall's objects own, through any chain of owner
// references, and what every namespace has, is not foreign.
func TestForeignObjects(t *testing.T) {
	item := func(kind, name, uid, owner string) unstructured.Unstructured {
		u := unstructured.Unstructured{}
		u.SetKind(kind)
		u.SetName(name)
		u.SetUID(types.UID(uid))
		if owner != "" {
			u.SetOwnerReferences([]metav1.OwnerReference{{UID: types.UID(owner)}})
		}
		return u
	}
	items := []unstructured.Unstructured{
		item("Pod", "prod-abc-1", "p1", "rs1"), // listed before its owner
		item("ReplicaSet", "prod-abc", "rs1", "d1"),
		item("Deployment", "prod", "d1", ""),
		item("ServiceAccount", "default", "sa0", ""),
		item("ConfigMap", "kube-root-ca.crt", "cm0", ""),
		item("Secret", "someone-elses", "s9", ""),
		item("Pod", "stray", "p9", "rs9"),
	}
	got := foreignObjects(items, map[string]bool{"Deployment/prod": true})
	if want := []string{"Pod/stray", "Secret/someone-elses"}; !slices.Equal(got, want) {
		t.Errorf("foreign %v, want %v", got, want)
	}
}

// TestUnbindNamespace: no ClusterRoleBinding keeps a subject of the deleted namespace.
func TestUnbindNamespace(t *testing.T) {
	ctx := context.Background()
	sa := func(ns string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "other", Namespace: ns}
	}
	user := rbacv1.Subject{Kind: rbacv1.UserKind, Name: "alice"}
	c := newFakeCluster(t, []runtime.Object{
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "other-cluster-admin"}, Subjects: []rbacv1.Subject{sa(testNamespace)}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mixed"}, Subjects: []rbacv1.Subject{sa(testNamespace), user}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}, Subjects: []rbacv1.Subject{sa("another-namespace")}},
	})
	if err := c.installer(Config{}).UnbindNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := c.kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range left.Items {
		var subjects []string
		for _, s := range b.Subjects {
			subjects = append(subjects, s.Kind+":"+s.Namespace+"/"+s.Name)
		}
		got = append(got, b.Name+"="+strings.Join(subjects, ","))
	}
	slices.Sort(got)
	if want := []string{"elsewhere=ServiceAccount:another-namespace/other", "mixed=User:/alice"}; !slices.Equal(got, want) {
		t.Errorf("bindings left %v, want %v", got, want)
	}
}

// TestCheckNamespaceHoldsOnlyReadsEveryPage: an object the uninstall did not create is found
// on any page of a LIST, not only on the first (the server pages at the request's Limit).
func TestCheckNamespaceHoldsOnlyReadsEveryPage(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster(t, nil)
	c.serveKinds()
	inst := c.installer(Config{SkipPreflight: true})
	if _, _, err := inst.Install(ctx, base()); err != nil {
		t.Fatal(err)
	}
	objs, err := inst.Installed(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	// Every ConfigMap LIST pages: a full first page of what every namespace has, then the
	// foreign object on the second.
	c.dyn.PrependReactor("list", "configmaps", func(action clienttesting.Action) (bool, runtime.Object, error) {
		opts := action.(clienttesting.ListActionImpl).ListOptions
		page := func(names ...string) *unstructured.UnstructuredList {
			l := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMapList"}}
			for _, n := range names {
				item := unstructured.Unstructured{}
				item.SetAPIVersion("v1")
				item.SetKind("ConfigMap")
				item.SetName(n)
				l.Items = append(l.Items, item)
			}
			return l
		}
		if opts.Continue == "" && opts.Limit > 0 {
			first := make([]string, opts.Limit)
			for n := range first {
				first[n] = "kube-root-ca.crt"
			}
			l := page(first...)
			l.SetContinue("page-2")
			return true, l, nil
		}
		return true, page("left-by-someone-else"), nil
	})
	err = inst.CheckNamespaceHoldsOnly(ctx, objs)
	var foreign *ForeignError
	if !errors.As(err, &foreign) || !slices.Contains(foreign.Objects, "ConfigMap/left-by-someone-else") {
		t.Fatalf("a foreign ConfigMap on the second page: %v, want a *ForeignError naming it", err)
	}
}
