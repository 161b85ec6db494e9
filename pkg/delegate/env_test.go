package delegate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A read-only user may not read Secrets. A token that comes from a Secret through envFrom
// (the chart's and install's way) is then unknown, not missing: doctor must not tell the
// user to create a token that is there.
func TestUnreadableEnvFromSecretMakesTokenUnknown(t *testing.T) {
	objs := chartObjects()
	for key := range objs.Secrets {
		delete(objs.Secrets, key)
		objs.Unreadable["secret "+key] = errForbidden
	}
	// A second, optional Secret after the token's (install's proxy Secret) does not take
	// the token over.
	w := &objs.Deployments[0].Spec.Template.Spec.Containers[0]
	w.EnvFrom = append(w.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "prod-delegate-proxy"}}})
	d := findDelegate(t, Build(objs, fixtureTime), "prod-delegate")
	want := TokenRef{Source: TokenFromSecret, Variable: "DELEGATE_TOKEN", SecretName: "prod-delegate", SecretKey: "DELEGATE_TOKEN"}
	if d.Token != want {
		t.Errorf("token %+v, want %+v (Present nil: unknown)", d.Token, want)
	}
}
