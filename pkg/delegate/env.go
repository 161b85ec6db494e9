package delegate

import (
	corev1 "k8s.io/api/core/v1"
)

// envVar is one resolved environment variable of the delegate container. Values that come
// from Secrets are never read: only where they come from, and whether they are set.
type envVar struct {
	value      string
	secretName string
	secretKey  string
	// set is false when the source (ConfigMap, Secret, key) is missing or unreadable.
	set bool
	// present reports, for a Secret-sourced variable, whether the key holds a non-empty
	// value; nil when the Secret could not be read.
	present *bool
}

type environment map[string]envVar

func (e environment) value(name string) string { return e[name].value }
func (e environment) has(name string) bool     { _, ok := e[name]; return ok }

// resolveEnv resolves the container's environment the way the kubelet does: envFrom
// sources in order, then env entries, later ones overriding earlier ones.
func resolveEnv(objs *Objects, ns string, c *corev1.Container) environment {
	env := environment{}
	if c == nil {
		return env
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			if cm := objs.ConfigMaps[ns+"/"+from.ConfigMapRef.Name]; cm != nil {
				for k, v := range cm.Data {
					env[from.Prefix+k] = envVar{value: v, set: true}
				}
			}
		case from.SecretRef != nil:
			keys, readable := objs.Secrets[ns+"/"+from.SecretRef.Name]
			if !readable {
				// Its keys are unknown, so a token it may hold is unknown too (present nil),
				// never missing: a read-only user must not be told to create the token. A
				// token already traced to a Secret keeps that Secret: the first one named is
				// the likelier source (install's optional proxy Secret comes after the token's).
				for _, name := range tokenVariables {
					if env[from.Prefix+name].secretName == "" {
						env[from.Prefix+name] = envVar{secretName: from.SecretRef.Name, secretKey: name}
					}
				}
				continue
			}
			for k, nonEmpty := range keys {
				present := nonEmpty
				env[from.Prefix+k] = envVar{secretName: from.SecretRef.Name, secretKey: k, set: true, present: &present}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envVar{value: e.Value, set: true}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v := envVar{}
			if cm := objs.ConfigMaps[ns+"/"+ref.Name]; cm != nil {
				v.value, v.set = cm.Data[ref.Key]
			}
			env[e.Name] = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v := envVar{secretName: ref.Name, secretKey: ref.Key}
			if keys, readable := objs.Secrets[ns+"/"+ref.Name]; readable {
				nonEmpty, exists := keys[ref.Key]
				present := exists && nonEmpty
				v.set, v.present = exists, &present
			}
			env[e.Name] = v
		default:
			// fieldRef and resourceFieldRef name pod facts, not configuration.
			env[e.Name] = envVar{set: true}
		}
	}
	return env
}

// tokenVariables are where delegates read their token: DELEGATE_TOKEN today, ACCOUNT_SECRET
// in legacy StatefulSets.
var tokenVariables = []string{"DELEGATE_TOKEN", "ACCOUNT_SECRET"}

func tokenRef(env environment) TokenRef {
	for _, name := range tokenVariables {
		v, ok := env[name]
		if !ok {
			continue
		}
		if v.secretName != "" {
			return TokenRef{Source: TokenFromSecret, Variable: name, SecretName: v.secretName, SecretKey: v.secretKey, Present: v.present}
		}
		present := v.value != ""
		return TokenRef{Source: TokenInline, Variable: name, Present: &present}
	}
	return TokenRef{Source: TokenMissing}
}

// configReferences lists the Secrets and ConfigMaps a container reads configuration from,
// as "namespace/name", so gather fetches exactly those.
func configReferences(ns string, c *corev1.Container) (configMaps, secrets []string) {
	if c == nil {
		return nil, nil
	}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			configMaps = append(configMaps, ns+"/"+from.ConfigMapRef.Name)
		}
		if from.SecretRef != nil {
			secrets = append(secrets, ns+"/"+from.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if e.ValueFrom.ConfigMapKeyRef != nil {
			configMaps = append(configMaps, ns+"/"+e.ValueFrom.ConfigMapKeyRef.Name)
		}
		if e.ValueFrom.SecretKeyRef != nil {
			secrets = append(secrets, ns+"/"+e.ValueFrom.SecretKeyRef.Name)
		}
	}
	return configMaps, secrets
}
