//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// prod and prod-canary: the canary's pods match prod's selector and its ReplicaSet's name
// starts with "prod-". With the owner references the controller-manager writes, inspect
// prod shows prod's pods and prod's ReplicaSet events only.
func TestInspectKeepsAnotherDeploymentsEventsOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testNamespace(t, "owners")
	deploy := func(name string, selector map[string]string) {
		labels := map[string]string{delegate.LabelName: name}
		for k, v := range selector {
			labels[k] = v
		}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{delegate.LabelName: name}},
			Spec: appsv1.DeploymentSpec{Replicas: new(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "delegate", Image: "harness/delegate:26.09.90000"}}}}},
		}
		if _, err := env.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deploy("prod", map[string]string{"app": "prod"})
	deploy("prod-canary", map[string]string{"app": "prod", "track": "canary"})

	// The ReplicaSet each Deployment controls, once the controller-manager made it.
	replicaSets := map[string]appsv1.ReplicaSet{}
	eventually(t, 60*time.Second, func() (bool, string) {
		l, err := env.client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, rs := range l.Items {
			if ref := metav1.GetControllerOf(&rs); ref != nil {
				replicaSets[ref.Name] = rs
			}
		}
		return len(replicaSets) == 2, fmt.Sprintf("%d ReplicaSets", len(l.Items))
	})
	for _, owner := range []string{"prod", "prod-canary"} {
		rs := replicaSets[owner]
		_, err := env.client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: rs.Name + "."},
			InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: ns, Name: rs.Name, UID: rs.UID, APIVersion: "apps/v1"},
			Type:           corev1.EventTypeWarning, Reason: "FailedCreate", Message: "quota exceeded for " + owner,
			Count: 1, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "replicaset-controller"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}

	var in struct {
		Pods          []delegate.Pod
		WarningEvents []delegate.Event
	}
	eventually(t, 60*time.Second, func() (bool, string) {
		res := plugin(t, "inspect", "prod", "-n", ns, "-o", "json")
		if res.code != 0 {
			return false, res.stderr
		}
		if err := json.Unmarshal([]byte(res.stdout), &in); err != nil {
			return false, err.Error()
		}
		return len(in.Pods) == 1, fmt.Sprintf("pods %+v", in.Pods)
	})
	if rs := replicaSets["prod"].Name; len(in.Pods) != 1 || len(in.Pods[0].Name) <= len(rs) || in.Pods[0].Name[:len(rs)] != rs {
		t.Errorf("prod's pods = %+v, want one of ReplicaSet %s", in.Pods, rs)
	}
	if len(in.WarningEvents) != 1 || in.WarningEvents[0].Object != "ReplicaSet/"+replicaSets["prod"].Name {
		t.Errorf("prod's warning events = %+v, want only ReplicaSet/%s's", in.WarningEvents, replicaSets["prod"].Name)
	}
}
