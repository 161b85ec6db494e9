// Package install renders the objects of a Harness delegate (the set the Helm chart
// harness-delegate-ng makes), applies them with server-side apply, waits for the rollout,
// rolls a failed upgrade back and uninstalls. It knows nothing of flags or terminals.
package install

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
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

// supportedKeys are the chart values -f understands; others are reported, not ignored silently.
var supportedKeys = map[string]bool{
	"delegateName": true, "accountId": true, "delegateToken": true, "existingDelegateToken": true,
	"managerEndpoint": true, "delegateDockerImage": true, "replicas": true, "cpu": true, "memory": true,
	"k8sPermissionsType": true, "upgrader": true, "proxyHost": true, "proxyPort": true,
	"proxyScheme": true, "proxyUser": true, "proxyPassword": true, "noProxy": true,
	"delegateCustomCa": true, "tags": true, "description": true, "initScript": true,
	"pollForTasks": true, "javaOpts": true, "minReadySeconds": true,
}

// supportedNested are the keys of the nested blocks among supportedKeys that -f understands.
var supportedNested = map[string]bool{"upgrader.enabled": true, "delegateCustomCa.secretName": true}

// LoadValuesFile reads a Helm values file for the chart. Numbers and booleans may be written
// as the chart's own values.yaml writes them (memory: 2048, pollForTasks: "false"), and
// proxyUser/proxyPassword are base64 as the chart expects them. It returns the keys it does
// not understand, so that the caller can say which settings would be lost.
func LoadValuesFile(path string) (Values, []string, error) {
	var v Values
	data, err := os.ReadFile(path)
	if err != nil {
		return v, nil, fmt.Errorf("reading --values: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return v, nil, fmt.Errorf("--values %s is not YAML: %w", path, err)
	}
	return valuesFromMap(raw, path)
}

func valuesFromMap(raw map[string]any, path string) (Values, []string, error) {
	var v Values
	var unknown []string
	for key, val := range raw {
		if !supportedKeys[key] {
			unknown = append(unknown, key)
			continue
		}
		if err := setValue(&v, key, val); err != nil {
			return v, nil, fmt.Errorf("--values %s: %w", path, err)
		}
		// Of the chart's nested blocks only these keys are read; a setting under another
		// (upgrader.schedule, say) would otherwise be lost without a word.
		if m, ok := val.(map[string]any); ok {
			for sub := range m {
				if !supportedNested[key+"."+sub] {
					unknown = append(unknown, key+"."+sub)
				}
			}
		}
	}
	sort.Strings(unknown)
	return v, unknown, nil
}

func setValue(v *Values, key string, val any) error {
	var err error
	str := func() string { return scalarString(val) }
	switch key {
	case "delegateName":
		v.DelegateName = str()
	case "accountId":
		v.AccountID = str()
	case "delegateToken":
		v.DelegateToken = str()
	case "existingDelegateToken":
		v.ExistingDelegateToken = str()
	case "managerEndpoint":
		v.ManagerEndpoint = str()
	case "delegateDockerImage":
		v.DelegateDockerImage = str()
	case "replicas":
		n, perr := strconv.ParseInt(str(), 10, 32)
		if perr != nil {
			return fmt.Errorf("replicas %q is not a whole number", str())
		}
		r := int32(n)
		v.Replicas = &r
	case "cpu":
		v.CPU = str()
	case "memory":
		// The chart appends Mi to a plain number.
		v.Memory = str()
		if _, perr := strconv.ParseFloat(v.Memory, 64); perr == nil {
			v.Memory += "Mi"
		}
	case "k8sPermissionsType":
		v.K8sPermissionsType = str()
	case "upgrader":
		m, ok := val.(map[string]any)
		if !ok {
			return fmt.Errorf("upgrader must be a map such as {enabled: true}")
		}
		if e, ok := m["enabled"]; ok {
			b, perr := parseBool(e)
			if perr != nil {
				return fmt.Errorf("upgrader.enabled: %w", perr)
			}
			v.Upgrader.Enabled = &b
		}
	case "proxyHost":
		v.ProxyHost = str()
	case "proxyPort":
		v.ProxyPort = str()
	case "proxyScheme":
		v.ProxyScheme = str()
	case "proxyUser":
		v.ProxyUser, err = decodeChartBase64("proxyUser", str())
	case "proxyPassword":
		v.ProxyPassword, err = decodeChartBase64("proxyPassword", str())
	case "noProxy":
		v.NoProxy = str()
	case "delegateCustomCa":
		if m, ok := val.(map[string]any); ok {
			v.DelegateCustomCa.SecretName = scalarString(m["secretName"])
		} else if val != nil {
			return fmt.Errorf("delegateCustomCa must be a map such as {secretName: my-ca}")
		}
	case "tags":
		v.Tags = str()
	case "description":
		v.Description = str()
	case "initScript":
		v.InitScript = str()
	case "pollForTasks":
		b, perr := parseBool(val)
		if perr != nil {
			return fmt.Errorf("pollForTasks: %w", perr)
		}
		v.PollForTasks = &b
	case "javaOpts":
		v.JavaOpts = str()
	case "minReadySeconds":
		n, perr := strconv.ParseInt(str(), 10, 32)
		if perr != nil {
			return fmt.Errorf("minReadySeconds %q is not a whole number", str())
		}
		m := int32(n)
		v.MinReadySeconds = &m
	}
	return err
}

// decodeChartBase64 reads the chart's proxyUser/proxyPassword, which it copies into a
// Secret's data unchanged and so must be base64. The error never contains the value.
func decodeChartBase64(key, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%s must be base64-encoded, as the chart expects it", key)
	}
	return string(b), nil
}

func scalarString(val any) string {
	switch x := val.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}

func parseBool(val any) (bool, error) {
	switch x := val.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(x)
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", x)
		}
		return b, nil
	}
	return false, fmt.Errorf("%v is not true or false", val)
}

// Overlay returns v with every setting that o sets replacing v's.
func (v Values) Overlay(o Values) Values {
	str := func(dst *string, src string) {
		if src != "" {
			*dst = src
		}
	}
	str(&v.DelegateName, o.DelegateName)
	str(&v.AccountID, o.AccountID)
	str(&v.DelegateToken, o.DelegateToken)
	str(&v.ExistingDelegateToken, o.ExistingDelegateToken)
	str(&v.ManagerEndpoint, o.ManagerEndpoint)
	str(&v.DelegateDockerImage, o.DelegateDockerImage)
	str(&v.CPU, o.CPU)
	str(&v.Memory, o.Memory)
	str(&v.K8sPermissionsType, o.K8sPermissionsType)
	str(&v.CustomRoleKind, o.CustomRoleKind)
	str(&v.ProxyHost, o.ProxyHost)
	str(&v.ProxyPort, o.ProxyPort)
	str(&v.ProxyScheme, o.ProxyScheme)
	str(&v.ProxyUser, o.ProxyUser)
	str(&v.ProxyPassword, o.ProxyPassword)
	str(&v.NoProxy, o.NoProxy)
	str(&v.DelegateCustomCa.SecretName, o.DelegateCustomCa.SecretName)
	str(&v.CACertificates, o.CACertificates)
	str(&v.ManagedCASecret, o.ManagedCASecret)
	str(&v.Tags, o.Tags)
	str(&v.Description, o.Description)
	str(&v.InitScript, o.InitScript)
	str(&v.JavaOpts, o.JavaOpts)
	if o.Replicas != nil {
		v.Replicas = o.Replicas
	}
	if o.Upgrader.Enabled != nil {
		v.Upgrader.Enabled = o.Upgrader.Enabled
	}
	if o.PollForTasks != nil {
		v.PollForTasks = o.PollForTasks
	}
	if o.MinReadySeconds != nil {
		v.MinReadySeconds = o.MinReadySeconds
	}
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
	d := Values{
		DelegateName:        DefaultNamespace,
		ManagerEndpoint:     DefaultManagerEndpoint,
		DelegateDockerImage: DefaultImage,
		Replicas:            ptr(int32(1)),
		CPU:                 DefaultCPU,
		Memory:              DefaultMemory,
		K8sPermissionsType:  PermClusterAdmin,
		Upgrader:            UpgraderValues{Enabled: ptr(true)},
		PollForTasks:        ptr(false),
		JavaOpts:            DefaultJavaOpts,
		MinReadySeconds:     ptr(int32(DefaultMinReadySeconds)),
	}
	out := d.Overlay(v)
	// Overlay drops the default's token fields only when v sets them; nothing to keep here.
	return out
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

func ptr[T any](v T) *T { return &v }
