package install

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Settings is the one table of the chart values the plugin understands: a row per key. Values
// files, Overlay, WithDefaults and validation errors are derived from it here, and the
// command line's flags in pkg/cmd; adding a chart setting is adding a row (and its field).
var Settings = []Setting{
	{Key: "delegateName", Default: DefaultNamespace, NoFlag: "it is the NAME argument of install and upgrade",
		field: func(v *Values) any { return &v.DelegateName }},
	{Key: "accountId", field: func(v *Values) any { return &v.AccountID },
		Flags: []Flag{{Name: "account-id", Help: "Harness account id (values: accountId)"}}},
	{Key: "delegateToken", field: func(v *Values) any { return &v.DelegateToken },
		Flags: []Flag{
			{Name: "token-file", Arg: "PATH (or - for stdin)", Help: "File holding the delegate token, or - to read it from stdin (values: delegateToken)"},
			{Name: "token", Help: "The delegate token itself; it stays in your shell history, prefer --token-file (values: delegateToken)"},
		}},
	{Key: "existingDelegateToken", field: func(v *Values) any { return &v.ExistingDelegateToken },
		Flags: []Flag{{Name: "token-secret", Arg: "NAME", Help: "An existing Secret in the namespace with key DELEGATE_TOKEN (values: existingDelegateToken)"}}},
	{Key: "managerEndpoint", Default: DefaultManagerEndpoint, field: func(v *Values) any { return &v.ManagerEndpoint },
		Flags: []Flag{{Name: "manager-endpoint", Help: "Harness manager URL (values: managerEndpoint)"}}},
	{Key: "delegateDockerImage", Default: DefaultImage, field: func(v *Values) any { return &v.DelegateDockerImage },
		Flags: []Flag{{Name: "image", Help: "Delegate image (values: delegateDockerImage)"}}},
	{Key: "replicas", Default: "1", field: func(v *Values) any { return &v.Replicas },
		Flags: []Flag{{Name: "replicas", Help: "Number of delegate replicas (values: replicas)"}}},
	{Key: "cpu", Default: DefaultCPU, field: func(v *Values) any { return &v.CPU },
		Flags: []Flag{{Name: "cpu", Help: "CPU request of each replica, e.g. 1 or 500m (values: cpu)"}}},
	{Key: "memory", Default: DefaultMemory, field: func(v *Values) any { return &v.Memory }, fromChart: chartMemory,
		Flags: []Flag{{Name: "memory", Help: "Memory request and limit of each replica, e.g. 2048Mi or 4Gi (values: memory)"}}},
	{Key: "k8sPermissionsType", Default: PermClusterAdmin, field: func(v *Values) any { return &v.K8sPermissionsType },
		Flags: []Flag{{Name: "role", Default: "cluster-admin", Help: "What the delegate may do: cluster-admin, cluster-viewer, namespace-admin, or the name of a Role or ClusterRole (Role/NAME or ClusterRole/NAME to be explicit) (values: k8sPermissionsType)"}}},
	{Key: "upgrader.enabled", Default: "true", field: func(v *Values) any { return &v.Upgrader.Enabled },
		Flags: []Flag{{Name: "upgrader", Help: "Install the upgrader CronJob that moves the delegate to the published version hourly (values: upgrader.enabled)"}}},
	{Key: "proxyHost", field: func(v *Values) any { return &v.ProxyHost },
		Flags: []Flag{{Name: "proxy-host", Help: "Proxy host name or IP (values: proxyHost)"}}},
	{Key: "proxyPort", field: func(v *Values) any { return &v.ProxyPort },
		Flags: []Flag{{Name: "proxy-port", Help: "Proxy port (values: proxyPort)"}}},
	{Key: "proxyScheme", field: func(v *Values) any { return &v.ProxyScheme },
		Flags: []Flag{{Name: "proxy-scheme", Default: DefaultProxyScheme, Help: "Proxy scheme: http or https (values: proxyScheme)"}}},
	{Key: "proxyUser", field: func(v *Values) any { return &v.ProxyUser }, fromChart: fromBase64, toChart: toBase64,
		Flags: []Flag{{Name: "proxy-user", Help: "Proxy user name (values: proxyUser)"}}},
	{Key: "proxyPassword", field: func(v *Values) any { return &v.ProxyPassword }, fromChart: fromBase64, toChart: toBase64,
		Flags: []Flag{{Name: "proxy-password-file", Help: "File holding the proxy password (values: proxyPassword)"}}},
	{Key: "noProxy", field: func(v *Values) any { return &v.NoProxy },
		Flags: []Flag{{Name: "no-proxy", Help: "Comma-separated hosts the delegate reaches without the proxy (values: noProxy)"}}},
	// --ca-file does not name the Secret: it gives the bundle the plugin makes one of
	// (CACertificates), which the chart's key would name instead.
	{Key: "delegateCustomCa.secretName", field: func(v *Values) any { return &v.DelegateCustomCa.SecretName },
		Flags: []Flag{{Name: "ca-file", Help: "PEM bundle of CA certificates the delegate trusts, stored in a Secret mounted at /opt/harness-delegate/ca-bundle/ (values: delegateCustomCa.secretName names an existing Secret instead)"}}},
	{Key: "tags", field: func(v *Values) any { return &v.Tags },
		Flags: []Flag{{Name: "tags", Help: "Comma-separated delegate tags (values: tags)"}}},
	{Key: "description", field: func(v *Values) any { return &v.Description },
		Flags: []Flag{{Name: "description", Help: "Delegate description (values: description)"}}},
	{Key: "initScript", field: func(v *Values) any { return &v.InitScript },
		Flags: []Flag{{Name: "init-script-file", Help: "Shell script the delegate runs at start (values: initScript)"}}},
	{Key: "pollForTasks", Default: "false", field: func(v *Values) any { return &v.PollForTasks },
		Flags: []Flag{{Name: "poll-for-tasks", Help: "Poll the manager for tasks instead of holding a WebSocket open (values: pollForTasks)"}}},
	{Key: "javaOpts", Default: DefaultJavaOpts, NoFlag: "JVM options are tuned rarely; set them with -f",
		field: func(v *Values) any { return &v.JavaOpts }},
	{Key: "minReadySeconds", Default: strconv.Itoa(DefaultMinReadySeconds), field: func(v *Values) any { return &v.MinReadySeconds },
		Flags: []Flag{{Name: "min-ready-seconds", Help: "Seconds a new pod must be ready before it counts as available (values: minReadySeconds)"}}},
}

// Setting is one chart value: where it sits in values.yaml and in Values, its default, and
// how the command line spells it.
type Setting struct {
	// Key is the value's path in the chart's values.yaml, e.g. upgrader.enabled.
	Key string
	// Default is the chart's default, as a values file writes it; "" for none.
	Default string
	// Flags spell the setting on the command line, the first the one messages name. They are
	// plain data for pkg/cmd, which registers and reads them; this package never looks.
	Flags []Flag
	// NoFlag says why a setting has no flag.
	NoFlag string

	// field points at the setting in a Values: a *string, **int32 or **bool.
	field func(*Values) any
	// fromChart turns a values file's text into the setting's (the chart's base64, memory's
	// plain Mi); toChart is its inverse. nil for most settings.
	fromChart func(string) (string, error)
	toChart   func(string) string
}

// Flag is a setting's command-line spelling, for pkg/cmd.
type Flag struct {
	// Name is the flag without its leading --.
	Name string
	// Arg follows the flag where a message tells the user to set it, e.g. NAME.
	Arg string
	// Help is the flag's usage text.
	Help string
	// Default is the flag's default when it is not the setting's: another spelling, or a
	// default the chart leaves unset.
	Default string
}

// Type is what a setting holds, and so what a values file must hold at its key.
type Type int

const (
	TypeString Type = iota
	TypeInt
	TypeBool
)

func (t Type) String() string {
	switch t {
	case TypeInt:
		return "a whole number"
	case TypeBool:
		return "true or false"
	}
	return "a string"
}

// SettingOf is the row of a chart key path.
func SettingOf(key string) (Setting, bool) {
	i := slices.IndexFunc(Settings, func(s Setting) bool { return s.Key == key })
	if i < 0 {
		return Setting{}, false
	}
	return Settings[i], true
}

// Type is what the setting holds, read off its field so that the two cannot disagree.
func (s Setting) Type() Type {
	switch s.field(&Values{}).(type) {
	case **int32:
		return TypeInt
	case **bool:
		return TypeBool
	}
	return TypeString
}

// Set parses text as the setting's type and stores it in v.
func (s Setting) Set(v *Values, text string) error {
	switch p := s.field(v).(type) {
	case *string:
		*p = text
	case **int32:
		n, err := parseInt32(text)
		if err != nil {
			return fmt.Errorf("%s %q is not a whole number", s.Key, text)
		}
		*p = &n
	case **bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", s.Key, text)
		}
		*p = &b
	}
	return nil
}

// Get returns the setting's value in v as text, and whether v sets it.
func (s Setting) Get(v Values) (string, bool) {
	switch p := s.field(&v).(type) {
	case *string:
		return *p, *p != ""
	case **int32:
		if *p != nil {
			return strconv.FormatInt(int64(**p), 10), true
		}
	case **bool:
		if *p != nil {
			return strconv.FormatBool(**p), true
		}
	}
	return "", false
}

// ChartText is the setting's value in v as a values file writes it, and whether v sets it.
func (s Setting) ChartText(v Values) (string, bool) {
	text, ok := s.Get(v)
	if ok && s.toChart != nil {
		text = s.toChart(text)
	}
	return text, ok
}

// overlay copies the setting from src to dst when src sets it.
func (s Setting) overlay(dst, src *Values) {
	switch p := s.field(dst).(type) {
	case *string:
		if q := *s.field(src).(*string); q != "" {
			*p = q
		}
	case **int32:
		if q := *s.field(src).(**int32); q != nil {
			*p = q
		}
	case **bool:
		if q := *s.field(src).(**bool); q != nil {
			*p = q
		}
	}
}

// decode stores a values file's node for the setting in v. A list or map where a scalar
// belongs is an error naming the key, not the YAML of it taken as a string; null leaves the
// setting unset, as it does in Helm.
func (s Setting) decode(v *Values, n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s must be %s, not %s", s.Key, s.Type(), kindName(n))
	}
	// The node's text, not a number decoded from it: an all-digit id keeps every digit.
	text := n.Value
	if s.Key == "k8sPermissionsType" && strings.TrimSpace(text) == "" {
		// Unset, it would become the default, cluster-admin, where Helm binds nothing.
		return fmt.Errorf("%s is empty: name the permissions (%s, %s, %s or a Role), or leave the key out for %s",
			s.Key, PermClusterAdmin, PermClusterViewer, PermNamespaceAdmin, PermClusterAdmin)
	}
	if b, ok := yaml11Bools[strings.ToLower(text)]; ok && s.Type() == TypeBool && n.Style == 0 {
		// Helm reads values as YAML 1.1, where an unquoted yes or off is a boolean.
		text = strconv.FormatBool(b)
	}
	if s.fromChart != nil {
		var err error
		if text, err = s.fromChart(text); err != nil {
			return fmt.Errorf("%s %w", s.Key, err)
		}
	}
	return s.Set(v, text)
}

var yaml11Bools = map[string]bool{"yes": true, "on": true, "y": true, "no": false, "off": false, "n": false}

// parseInt32 reads a whole number, also when written as one with a fraction of zero (2.0),
// as a YAML number may be.
func parseInt32(text string) (int32, error) {
	n, err := strconv.ParseInt(text, 10, 32)
	if err == nil {
		return int32(n), nil
	}
	f, ferr := strconv.ParseFloat(text, 64)
	if ferr != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, err
	}
	return int32(f), nil
}

// chartMemory reads the chart's memory, which appends Mi to a plain number.
func chartMemory(s string) (string, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s + "Mi", nil
	}
	return s, nil
}

// fromBase64 reads the chart's proxyUser/proxyPassword, which it copies into a Secret's data
// unchanged and so must be base64. The error never contains the value.
func fromBase64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", errors.New("must be base64-encoded, as the chart expects it")
	}
	return string(b), nil
}

func toBase64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// ErrNotYAML says a values file is not a YAML map of chart values.
var ErrNotYAML = errors.New("not YAML")

// DecodeValues reads a Helm values file for the chart: every key of Settings, as the type it
// holds. Numbers and booleans may be written as the chart's own values.yaml writes them
// (memory: 2048, pollForTasks: "false"), and proxyUser/proxyPassword are base64 as the chart
// expects them. It returns the keys it does not understand, sorted, so that the caller can
// say which settings would be lost.
func DecodeValues(data []byte) (Values, []string, error) {
	var v Values
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return v, nil, fmt.Errorf("%w: %w", ErrNotYAML, err)
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		return v, nil, nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return v, nil, fmt.Errorf("%w: a values file is a map of chart values, not %s", ErrNotYAML, kindName(root))
	}
	var unknown []string
	if err := decodeMap(root, "", &v, &unknown); err != nil {
		return v, nil, err
	}
	sort.Strings(unknown)
	return v, unknown, nil
}

// decodeMap reads the keys of a map at path prefix: settings, blocks that hold settings
// (upgrader), and the rest, which are unknown. Of a block only its settings are read; another
// key in it (upgrader.schedule, say) would otherwise be lost without a word.
func decodeMap(m *yaml.Node, prefix string, v *Values, unknown *[]string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		keyNode, val := m.Content[i], resolve(m.Content[i+1])
		if keyNode.Tag == "!!merge" && val.Kind == yaml.MappingNode {
			// <<: *defaults, as Helm reads it.
			if err := decodeMap(val, prefix, v, unknown); err != nil {
				return err
			}
			continue
		}
		key := prefix + keyNode.Value
		if s, ok := SettingOf(key); ok {
			if err := s.decode(v, val); err != nil {
				return err
			}
			continue
		}
		children := blockSettings(key)
		switch {
		case len(children) == 0:
			*unknown = append(*unknown, key)
		case isNull(val):
		case val.Kind == yaml.MappingNode:
			if err := decodeMap(val, key+".", v, unknown); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s must be a map such as {%s}", key, strings.Join(children, ", "))
		}
	}
	return nil
}

// blockSettings are the settings under the block at key, as examples: "enabled: true".
func blockSettings(key string) []string {
	var out []string
	for _, s := range Settings {
		if sub, ok := strings.CutPrefix(s.Key, key+"."); ok {
			out = append(out, sub+": "+map[Type]string{TypeString: "…", TypeInt: "1", TypeBool: "true"}[s.Type()])
		}
	}
	return out
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a map"
	}
	return "a scalar"
}
