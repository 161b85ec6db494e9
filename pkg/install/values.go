// Package install renders the objects of a Harness delegate (the set the Helm chart
// harness-delegate-ng makes), applies them with server-side apply, waits for the rollout,
// rolls a failed upgrade back and uninstalls. It knows nothing of flags or terminals.
package install

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
)

// Defaults, as the chart harness-delegate-ng 1.0.32 (values.yaml) sets them.
const (
	DefaultNamespace       = "harness-delegate-ng"
	DefaultManagerEndpoint = "https://app.harness.io"
	// DefaultImage is the chart's pinned delegate image (appVersion of chart 1.0.32). The
	// upgrader, on by default, moves a delegate to the published version within the hour.
	DefaultImage         = "us-docker.pkg.dev/gar-prod-setup/harness-public/harness/delegate:26.02.88404"
	DefaultUpgraderImage = "us-docker.pkg.dev/gar-prod-setup/harness-public/harness/upgrader:latest"
	DefaultCPU           = "1"
	DefaultMemory        = "2048Mi"
	DefaultJavaOpts      = "-Xms64M"
	// DefaultMinReadySeconds is the chart's: a pod counts as available after two minutes ready.
	DefaultMinReadySeconds  = 120
	DefaultUpgraderSchedule = "0 */1 * * *"
	// DefaultProxyScheme is --proxy-scheme's default, applied only when there is a proxy.
	DefaultProxyScheme = "http"
)

// The chart's k8sPermissionsType values and the --role spellings that mean the same.
const (
	PermClusterAdmin   = "CLUSTER_ADMIN"
	PermClusterViewer  = "CLUSTER_VIEWER"
	PermNamespaceAdmin = "NAMESPACE_ADMIN"
)

// Values are a delegate's install settings, spelled as the chart's values.yaml spells them
// so that a Helm user's values file works with -f.
type Values struct {
	DelegateName          string `json:"delegateName,omitempty"`
	AccountID             string `json:"accountId,omitempty"`
	DelegateToken         string `json:"delegateToken,omitempty"`
	ExistingDelegateToken string `json:"existingDelegateToken,omitempty"`
	ManagerEndpoint       string `json:"managerEndpoint,omitempty"`
	DelegateDockerImage   string `json:"delegateDockerImage,omitempty"`
	Replicas              *int32 `json:"replicas,omitempty"`
	// CPU and Memory are quantities; the chart's plain numbers mean cores and Mi.
	CPU                string         `json:"cpu,omitempty"`
	Memory             string         `json:"memory,omitempty"`
	K8sPermissionsType string         `json:"k8sPermissionsType,omitempty"`
	Upgrader           UpgraderValues `json:"upgrader,omitempty"`
	ProxyHost          string         `json:"proxyHost,omitempty"`
	ProxyPort          string         `json:"proxyPort,omitempty"`
	ProxyScheme        string         `json:"proxyScheme,omitempty"`
	ProxyUser          string         `json:"proxyUser,omitempty"`
	ProxyPassword      string         `json:"proxyPassword,omitempty"`
	NoProxy            string         `json:"noProxy,omitempty"`
	DelegateCustomCa   CustomCAValues `json:"delegateCustomCa,omitempty"`
	Tags               string         `json:"tags,omitempty"`
	Description        string         `json:"description,omitempty"`
	InitScript         string         `json:"initScript,omitempty"`
	PollForTasks       *bool          `json:"pollForTasks,omitempty"`
	JavaOpts           string         `json:"javaOpts,omitempty"`
	MinReadySeconds    *int32         `json:"minReadySeconds,omitempty"`

	// CustomRoleKind is Role or ClusterRole for a custom k8sPermissionsType; the chart binds
	// only a Role, the plugin looks the name up before it renders.
	CustomRoleKind string `json:"customRoleKind,omitempty"`
	// CACertificates is the PEM bundle of --ca-file, stored in a Secret the plugin makes.
	CACertificates string `json:"-"`
	// ManagedCASecret is the Secret the plugin made from --ca-file, recorded so that an
	// upgrade keeps mounting it without being given the file again.
	ManagedCASecret string `json:"managedCaSecret,omitempty"`
}

// UpgraderValues is the chart's upgrader block.
type UpgraderValues struct {
	Enabled *bool `json:"enabled,omitempty"`
}

// CustomCAValues is the chart's delegateCustomCa block: an existing Secret of CA certificates.
type CustomCAValues struct {
	SecretName string `json:"secretName,omitempty"`
}

// Overlay returns v with every setting that o sets replacing v's.
func (v Values) Overlay(o Values) Values {
	for _, s := range Settings {
		s.overlay(&v, &o)
	}
	// What the plugin records beside the chart's values: --role's kind, --ca-file's bundle
	// and the Secret made of it.
	v.CustomRoleKind = cmp.Or(o.CustomRoleKind, v.CustomRoleKind)
	v.CACertificates = cmp.Or(o.CACertificates, v.CACertificates)
	v.ManagedCASecret = cmp.Or(o.ManagedCASecret, v.ManagedCASecret)
	if o.ExistingDelegateToken != "" {
		v.DelegateToken = ""
	}
	if o.DelegateToken != "" {
		v.ExistingDelegateToken = ""
	}
	if o.CACertificates != "" {
		v.DelegateCustomCa.SecretName = ""
	}
	if o.DelegateCustomCa.SecretName != "" {
		v.CACertificates, v.ManagedCASecret = "", ""
	}
	return v
}

// WithDefaults fills what is unset with the chart's defaults.
func (v Values) WithDefaults() Values {
	var d Values
	for _, s := range Settings {
		if s.Default == "" {
			continue
		}
		if err := s.Set(&d, s.Default); err != nil {
			// The defaults are constants, each parsed by TestSettingsTable.
			panic(fmt.Sprintf("install: the default of %s: %v", s.Key, err))
		}
	}
	return d.Overlay(v).withProxyScheme()
}

// withProxyScheme applies the documented default scheme to a proxy that names none; without
// it the proxy would be refused for a scheme the user was told is http.
func (v Values) withProxyScheme() Values {
	if v.ProxyHost != "" && v.ProxyScheme == "" {
		v.ProxyScheme = DefaultProxyScheme
	}
	return v
}

// Settings is v without anything secret: what the plugin records on the Deployment so that
// an upgrade keeps every setting it is not told to change.
func (v Values) Settings() Values {
	if v.CACertificates != "" {
		v.ManagedCASecret = v.CASecretName()
	}
	v.DelegateToken = ""
	v.ProxyPassword = ""
	v.CACertificates = ""
	return v
}

// ReferencedSecrets are the Secrets of the plugin's own making that the settings still use
// although their values are not among them: an upgrade keeps them.
func (v Values) ReferencedSecrets() []string {
	var out []string
	if v.ExistingDelegateToken == "" {
		out = append(out, v.DelegateName)
		if v.UpgraderEnabled() {
			_, _, _, _, token, _ := upgraderNames(v.DelegateName)
			out = append(out, token)
		}
	}
	if v.ProxyHost != "" && v.ProxyUser != "" {
		out = append(out, v.DelegateName+"-proxy")
	}
	if name := v.CASecretName(); name != "" && name == v.ManagedCASecret {
		out = append(out, name)
	}
	return out
}

// HasProxyCredentials says whether the proxy Secret is part of the install.
func (v Values) HasProxyCredentials() bool { return v.ProxyUser != "" }

// UpgraderEnabled reads the chart's upgrader.enabled, true when unset.
func (v Values) UpgraderEnabled() bool { return v.Upgrader.Enabled == nil || *v.Upgrader.Enabled }

// ManagedCA says whether the plugin makes the CA Secret (from --ca-file) or uses an existing one.
func (v Values) ManagedCA() bool { return v.CACertificates != "" }

// CASecretName is the Secret mounted as the delegate's CA bundle, "" when there is none.
func (v Values) CASecretName() string {
	switch {
	case v.DelegateCustomCa.SecretName != "":
		return v.DelegateCustomCa.SecretName
	case v.CACertificates != "":
		return v.DelegateName + "-ca-bundle"
	case v.ManagedCASecret != "":
		return v.ManagedCASecret
	}
	return ""
}

// TokenSecretName is the Secret that holds DELEGATE_TOKEN.
func (v Values) TokenSecretName() string {
	if v.ExistingDelegateToken != "" {
		return v.ExistingDelegateToken
	}
	return v.DelegateName
}

// RoleFlag spells k8sPermissionsType as --role takes it.
func RoleFlag(perm string) string {
	switch perm {
	case PermClusterAdmin:
		return "cluster-admin"
	case PermClusterViewer:
		return "cluster-viewer"
	case PermNamespaceAdmin:
		return "namespace-admin"
	}
	return perm
}

// PermissionsType turns --role into the chart's k8sPermissionsType.
func PermissionsType(role string) string {
	switch strings.ToLower(role) {
	case "cluster-admin", "cluster_admin":
		return PermClusterAdmin
	case "cluster-viewer", "cluster_viewer", "view":
		return PermClusterViewer
	case "namespace-admin", "namespace_admin":
		return PermNamespaceAdmin
	}
	return role
}

// ProxyURLForLog is the proxy without its credentials, for messages.
func (v Values) ProxyURLForLog() string {
	if v.ProxyHost == "" {
		return ""
	}
	u := url.URL{Scheme: strings.ToLower(v.ProxyScheme), Host: v.ProxyHost}
	if v.ProxyPort != "" {
		u.Host += ":" + v.ProxyPort
	}
	return u.String()
}
