package diagnose

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Issue 11: every excerpt a finding quotes goes through the redactor, live as in a bundle.
// Event messages are quoted verbatim (an admission webhook's refusal, a probe's output), and
// a webhook may quote the value it refused.
func TestGatherRedactsQuotedEventMessages(t *testing.T) {
	const ns, token = "harness-delegate-ng", "tok-3c9e1f-must-not-print"
	labels := map[string]string{"harness.io/name": "prod"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns, Labels: labels, UID: "dep-uid"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "delegate", Image: "harness/delegate:26.09.90000",
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "prod"}}}},
			}}}},
		},
	}
	dep.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
		Message: "pods is forbidden: DELEGATE_TOKEN=" + token}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: ns}, Data: map[string][]byte{"DELEGATE_TOKEN": []byte(token)}}
	event := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "prod-x.1", Namespace: ns}, Type: corev1.EventTypeWarning, Reason: "FailedCreate",
		InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", Namespace: ns, Name: "prod-7d9c5"},
		Message:        `admission webhook "secrets.example.com" denied the request: env DELEGATE_TOKEN=` + token + ` is set inline`}
	client := fake.NewClientset(dep, secret, event)
	redactor := func(secrets []string) func(string) string {
		return func(s string) string {
			for _, v := range secrets {
				s = strings.ReplaceAll(s, v, "***")
			}
			return s
		}
	}
	s, err := Gather(context.Background(), client, GatherOptions{Namespace: ns, NewRedactor: redactor, SkipLogs: true, SupportMatrix: DefaultSupportMatrix()})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Delegates) != 1 || len(s.Events) != 1 {
		t.Fatalf("delegates %d, events %d", len(s.Delegates), len(s.Events))
	}
	if msg := s.Events[0].Message; strings.Contains(msg, token) || !strings.Contains(msg, "DELEGATE_TOKEN=***") {
		t.Errorf("event message kept as read: %q", msg)
	}
	// The ReplicaFailure condition's message is the same refusal, quoted when events expired.
	if c := s.Delegates[0].Rollout.Conditions; len(c) != 1 || strings.Contains(c[0].Message, token) {
		t.Errorf("condition kept as read: %+v", c)
	}
}
