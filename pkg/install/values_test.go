package install

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
)

// chartValues is written the way the chart's own values.yaml writes its values: plain
// numbers for memory and cpu, booleans as strings, proxy credentials in base64, and keys
// the plugin does not support.
const chartValues = `
delegateName: edge
accountId: acct_ABC-123
delegateToken: tok3n
managerEndpoint: https://app.harness.io/gratis
delegateDockerImage: harness/delegate:24.10.84200
replicas: 2
cpu: 0.5
memory: 2048
k8sPermissionsType: NAMESPACE_ADMIN
upgrader:
  enabled: false
  schedule: "0 3 * * *"
proxyHost: proxy.example.com
proxyPort: 3128
proxyScheme: http
proxyUser: dXNlcg==
proxyPassword: cGFzcw==
noProxy: .svc
pollForTasks: "true"
minReadySeconds: 30
javaOpts: "-Xms64M -Xmx1g"
tags: "a,b"
description: edge delegate
initScript: ""
delegateCustomCa:
  secretName: corp-ca
nodeSelector: {}
image:
  pullPolicy: Always
autoscaling:
  enabled: false
`

func TestDecodeValues(t *testing.T) {
	v, unknown, err := DecodeValues([]byte(chartValues))
	if err != nil {
		t.Fatal(err)
	}
	want := Values{
		DelegateName: "edge", AccountID: "acct_ABC-123", DelegateToken: "tok3n",
		ManagerEndpoint: "https://app.harness.io/gratis", DelegateDockerImage: "harness/delegate:24.10.84200",
		Replicas: ptr.To(int32(2)), CPU: "0.5", Memory: "2048Mi", K8sPermissionsType: PermNamespaceAdmin,
		Upgrader:  UpgraderValues{Enabled: ptr.To(false)},
		ProxyHost: "proxy.example.com", ProxyPort: "3128", ProxyScheme: "http",
		ProxyUser: "user", ProxyPassword: "pass", NoProxy: ".svc",
		PollForTasks: ptr.To(true), MinReadySeconds: ptr.To(int32(30)), JavaOpts: "-Xms64M -Xmx1g",
		Tags: "a,b", Description: "edge delegate", DelegateCustomCa: CustomCAValues{SecretName: "corp-ca"},
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("values:\n got %+v\nwant %+v", v, want)
	}
	// Sorted, so that the warning reads the same every time; upgrader.schedule is a setting
	// the user made that would otherwise be lost without a word.
	if got := strings.Join(unknown, " "); got != "autoscaling image nodeSelector upgrader.schedule" {
		t.Errorf("unknown keys %q", got)
	}
	if err := Validate(v.WithDefaults(), true); err != nil {
		t.Errorf("the chart-style values do not validate: %v", err)
	}
}

func TestDecodeValuesScalars(t *testing.T) {
	cases := []struct {
		yaml string
		get  func(Values) any
		want any
	}{
		{"memory: 4096", func(v Values) any { return v.Memory }, "4096Mi"},
		{"memory: '2048'", func(v Values) any { return v.Memory }, "2048Mi"},
		{"memory: 4Gi", func(v Values) any { return v.Memory }, "4Gi"},
		{"cpu: 1", func(v Values) any { return v.CPU }, "1"},
		{"cpu: 500m", func(v Values) any { return v.CPU }, "500m"},
		{"pollForTasks: false", func(v Values) any { return *v.PollForTasks }, false},
		{"pollForTasks: 'TRUE'", func(v Values) any { return *v.PollForTasks }, true},
		{"upgrader: {enabled: 'false'}", func(v Values) any { return v.UpgraderEnabled() }, false},
		{"upgrader: {}", func(v Values) any { return v.UpgraderEnabled() }, true},
		{"proxyPort: 8080", func(v Values) any { return v.ProxyPort }, "8080"},
		{"accountId: 12345", func(v Values) any { return v.AccountID }, "12345"},
		{"delegateCustomCa: {secretName: }", func(v Values) any { return v.DelegateCustomCa.SecretName }, ""},
		{"delegateCustomCa:", func(v Values) any { return v.DelegateCustomCa.SecretName }, ""},
		{"proxyUser: ''", func(v Values) any { return v.ProxyUser }, ""},
		// Helm reads YAML 1.1: an unquoted yes or off is a boolean where one belongs...
		{"pollForTasks: yes", func(v Values) any { return *v.PollForTasks }, true},
		{"upgrader: {enabled: off}", func(v Values) any { return v.UpgraderEnabled() }, false},
		// ...and a string is the text as written, leading zeros and all.
		{"tags: yes", func(v Values) any { return v.Tags }, "yes"},
		{"accountId: 007", func(v Values) any { return v.AccountID }, "007"},
		{"replicas: 2.0", func(v Values) any { return *v.Replicas }, int32(2)},
		// null is unset, as in Helm.
		{"upgrader:", func(v Values) any { return v.Upgrader.Enabled == nil }, true},
		{"replicas: ~", func(v Values) any { return v.Replicas == nil }, true},
		// Anchors and merge keys.
		{"x: &cpu 3\ncpu: *cpu", func(v Values) any { return v.CPU }, "3"},
		{"x: &base {memory: 4Gi}\n<<: *base", func(v Values) any { return v.Memory }, "4Gi"},
	}
	for _, c := range cases {
		v, _, err := DecodeValues([]byte(c.yaml))
		if err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		if got := c.get(v); got != c.want {
			t.Errorf("%s: got %v, want %v", c.yaml, got, c.want)
		}
	}
}

func TestDecodeValuesErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"replicas: two", `replicas "two" is not a whole number`},
		{"replicas: 1.5", "not a whole number"},
		{"minReadySeconds: soon", "minReadySeconds"},
		{"pollForTasks: maybe", `pollForTasks: "maybe" is not true or false`},
		{"upgrader: true", "upgrader must be a map"},
		{"upgrader: {enabled: sometimes}", "upgrader.enabled"},
		{"delegateCustomCa: corp-ca", "delegateCustomCa must be a map"},
		{"proxyPassword: 'p@ss word!'", "proxyPassword must be base64-encoded"},
		{"proxyUser: 'not base64'", "proxyUser must be base64-encoded"},
		{"[a, b]", "not YAML"},
		{"a: b: c", "not YAML"},
		{"delegateToken: [X]", "delegateToken must be a string, not a list"},
	}
	for _, c := range cases {
		_, _, err := DecodeValues([]byte(c.yaml))
		if err == nil {
			t.Errorf("%s: accepted", c.yaml)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want %q", c.yaml, err, c.want)
		}
		// A password that is not base64 is still a password: never in the message.
		if strings.Contains(err.Error(), "p@ss word!") || strings.Contains(err.Error(), "not base64'") {
			t.Errorf("%s: error %q echoes the value", c.yaml, err)
		}
	}
	for _, bad := range []string{"[a, b]", "a: b: c", "just text"} {
		if _, _, err := DecodeValues([]byte(bad)); !errors.Is(err, ErrNotYAML) {
			t.Errorf("%s: %v is not ErrNotYAML", bad, err)
		}
	}
}

func TestOverlay(t *testing.T) {
	file := Values{DelegateName: "a", AccountID: "from-file", CPU: "2", Tags: "file", Replicas: ptr.To(int32(3)),
		Upgrader: UpgraderValues{Enabled: ptr.To(true)}, PollForTasks: ptr.To(true), ProxyHost: "p.example.com"}
	flags := Values{AccountID: "from-flag", Replicas: ptr.To(int32(1)), Upgrader: UpgraderValues{Enabled: ptr.To(false)}}
	got := file.Overlay(flags)
	if got.AccountID != "from-flag" || *got.Replicas != 1 || got.UpgraderEnabled() {
		t.Errorf("flags do not win: %+v", got)
	}
	if got.CPU != "2" || got.Tags != "file" || !*got.PollForTasks || got.ProxyHost != "p.example.com" || got.DelegateName != "a" {
		t.Errorf("what the flags do not set is not kept: %+v", got)
	}
	if *file.Replicas != 3 {
		t.Errorf("Overlay changed its receiver")
	}

	// The token and the token Secret exclude each other: the newer one wins.
	withToken := Values{DelegateToken: "t"}
	if v := withToken.Overlay(Values{ExistingDelegateToken: "s"}); v.DelegateToken != "" || v.ExistingDelegateToken != "s" {
		t.Errorf("--token-secret over a token: %+v", v)
	}
	withSecret := Values{ExistingDelegateToken: "s"}
	if v := withSecret.Overlay(Values{DelegateToken: "t"}); v.DelegateToken != "t" || v.ExistingDelegateToken != "" {
		t.Errorf("--token-file over a token Secret: %+v", v)
	}
	// So do a managed CA bundle and an existing CA Secret.
	managed := Values{DelegateName: "d", ManagedCASecret: "d-ca-bundle"}
	if v := managed.Overlay(Values{DelegateCustomCa: CustomCAValues{SecretName: "corp"}}); v.CASecretName() != "corp" || v.ManagedCASecret != "" {
		t.Errorf("delegateCustomCa over a managed bundle: %+v", v)
	}
	existing := Values{DelegateName: "d", DelegateCustomCa: CustomCAValues{SecretName: "corp"}}
	if v := existing.Overlay(Values{CACertificates: "pem"}); v.CASecretName() != "d-ca-bundle" || v.DelegateCustomCa.SecretName != "" {
		t.Errorf("--ca-file over delegateCustomCa: %+v", v)
	}
}

// allSet is a Values with every field set to something other than a default.
func allSet() Values {
	return Values{
		DelegateName: "n", AccountID: "a", DelegateToken: "t", ExistingDelegateToken: "", ManagerEndpoint: "https://m",
		DelegateDockerImage: "i", Replicas: ptr.To(int32(5)), CPU: "3", Memory: "5Gi", K8sPermissionsType: "r",
		Upgrader: UpgraderValues{Enabled: ptr.To(false)}, ProxyHost: "h", ProxyPort: "1", ProxyScheme: "https",
		ProxyUser: "u", ProxyPassword: "p", NoProxy: "np", DelegateCustomCa: CustomCAValues{}, Tags: "tg",
		Description: "d", InitScript: "s", PollForTasks: ptr.To(true), JavaOpts: "j", MinReadySeconds: ptr.To(int32(7)),
		CustomRoleKind: "ClusterRole", CACertificates: "pem", ManagedCASecret: "n-ca-bundle",
	}
}

func TestWithDefaults(t *testing.T) {
	d := Values{}.WithDefaults()
	if d.DelegateName != DefaultNamespace || d.ManagerEndpoint != DefaultManagerEndpoint || d.DelegateDockerImage != DefaultImage ||
		*d.Replicas != 1 || d.CPU != DefaultCPU || d.Memory != DefaultMemory || d.K8sPermissionsType != PermClusterAdmin ||
		!d.UpgraderEnabled() || *d.PollForTasks || d.JavaOpts != DefaultJavaOpts || *d.MinReadySeconds != DefaultMinReadySeconds {
		t.Errorf("defaults %+v differ from the chart's", d)
	}
	if d.DelegateToken != "" || d.ProxyHost != "" || d.CASecretName() != "" {
		t.Errorf("defaults set a token, proxy or CA: %+v", d)
	}
	// Everything that is set survives, including what only an upgrade records.
	v := allSet()
	if got := v.WithDefaults(); !reflect.DeepEqual(got, v) {
		t.Errorf("WithDefaults changed set values:\n got %+v\nwant %+v", got, v)
	}
	// Overlaying a fully set Values onto nothing gives it back: Overlay misses no field.
	if got := (Values{}).Overlay(v); !reflect.DeepEqual(got, v) {
		t.Errorf("Overlay drops fields:\n got %+v\nwant %+v", got, v)
	}
}

func TestSettings(t *testing.T) {
	v := allSet()
	s := v.Settings()
	if s.DelegateToken != "" || s.ProxyPassword != "" || s.CACertificates != "" {
		t.Errorf("settings keep a secret: %+v", s)
	}
	if s.ManagedCASecret != "n-ca-bundle" || s.CASecretName() != "n-ca-bundle" {
		t.Errorf("settings lose the managed CA Secret: %+v", s)
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{`"t"`, `"p"`, "pem", "delegateToken", "proxyPassword"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("settings JSON %s contains %s", data, secret)
		}
	}
	// A fresh --ca-file install records the Secret it makes.
	fresh := Values{DelegateName: "prod", CACertificates: "pem"}
	if got := fresh.Settings().ManagedCASecret; got != "prod-ca-bundle" {
		t.Errorf("ManagedCASecret %q", got)
	}
	// An existing CA Secret is not the plugin's to record.
	corp := Values{DelegateName: "prod", DelegateCustomCa: CustomCAValues{SecretName: "corp"}}
	if got := corp.Settings(); got.ManagedCASecret != "" || got.CASecretName() != "corp" {
		t.Errorf("existing CA: %+v", got)
	}
}

func TestReferencedSecrets(t *testing.T) {
	cases := []struct {
		name string
		v    Values
		want string
	}{
		{"token, upgrader on", Values{DelegateName: "d"}, "d d-upgrader-token"},
		{"token, upgrader off", Values{DelegateName: "d", Upgrader: UpgraderValues{Enabled: ptr.To(false)}}, "d"},
		{"existing token", Values{DelegateName: "d", ExistingDelegateToken: "mine"}, ""},
		{"proxy credentials", Values{DelegateName: "d", ExistingDelegateToken: "mine", ProxyHost: "h", ProxyUser: "u"}, "d-proxy"},
		{"proxy user without host", Values{DelegateName: "d", ExistingDelegateToken: "mine", ProxyUser: "u"}, ""},
		{"managed CA", Values{DelegateName: "d", ExistingDelegateToken: "mine", ManagedCASecret: "d-ca-bundle"}, "d-ca-bundle"},
		{"existing CA", Values{DelegateName: "d", ExistingDelegateToken: "mine", DelegateCustomCa: CustomCAValues{SecretName: "corp"}}, ""},
	}
	for _, c := range cases {
		if got := strings.Join(c.v.ReferencedSecrets(), " "); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestPermissionsType(t *testing.T) {
	for _, c := range []struct{ role, perm, flag string }{
		{"cluster-admin", PermClusterAdmin, "cluster-admin"},
		{"CLUSTER_ADMIN", PermClusterAdmin, "cluster-admin"},
		{"cluster-viewer", PermClusterViewer, "cluster-viewer"},
		{"view", PermClusterViewer, "cluster-viewer"},
		{"Namespace-Admin", PermNamespaceAdmin, "namespace-admin"},
		{"namespace_admin", PermNamespaceAdmin, "namespace-admin"},
		{"deployer", "deployer", "deployer"},
	} {
		perm := PermissionsType(c.role)
		if perm != c.perm {
			t.Errorf("PermissionsType(%q) = %q, want %q", c.role, perm, c.perm)
		}
		if flag := RoleFlag(perm); flag != c.flag {
			t.Errorf("RoleFlag(%q) = %q, want %q", perm, flag, c.flag)
		}
		// What RoleFlag prints, --role reads back.
		if back := PermissionsType(RoleFlag(perm)); back != perm {
			t.Errorf("round trip of %q gives %q", perm, back)
		}
	}
}

func TestValuesHelpers(t *testing.T) {
	v := Values{DelegateName: "d", ProxyHost: "proxy.example.com", ProxyPort: "3128", ProxyScheme: "HTTPS", ProxyUser: "u", ProxyPassword: "secret"}
	if got := v.ProxyURLForLog(); got != "https://proxy.example.com:3128" {
		t.Errorf("ProxyURLForLog %q", got)
	}
	if (Values{}).ProxyURLForLog() != "" {
		t.Errorf("no proxy gives a URL")
	}
	if v.TokenSecretName() != "d" || (Values{DelegateName: "d", ExistingDelegateToken: "s"}).TokenSecretName() != "s" {
		t.Errorf("TokenSecretName")
	}
	if !v.HasProxyCredentials() || (Values{}).HasProxyCredentials() {
		t.Errorf("HasProxyCredentials")
	}
	if !(Values{}).UpgraderEnabled() {
		t.Errorf("the upgrader is on unless turned off, as in the chart")
	}
	if (Values{CACertificates: "x"}).ManagedCA() != true || (Values{DelegateCustomCa: CustomCAValues{SecretName: "c"}}).ManagedCA() {
		t.Errorf("ManagedCA")
	}
}

// TestDecodeValuesTypes: a value of the wrong shape is an error naming its key, not a
// string made of its YAML, and ids keep every digit.
func TestDecodeValuesTypes(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"delegateToken: [X]", "delegateToken"},
		{"accountId: {a: b}", "accountId"},
		{"tags: [a, b]", "tags"},
		{"replicas: [1]", "replicas"},
		{"upgrader: {enabled: [true]}", "upgrader.enabled"},
		{"delegateCustomCa: {secretName: {a: b}}", "delegateCustomCa.secretName"},
	} {
		_, _, err := DecodeValues([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.yaml, err, c.want)
		}
	}
	v, _, err := DecodeValues([]byte("accountId: 1234567890123456789012\n"))
	if err != nil || v.AccountID != "1234567890123456789012" {
		t.Errorf("a long all-digit account id: %q, %v", v.AccountID, err)
	}
}

// TestSettingsTable: every row parses its default, has a field of its own, and round-trips
// through a values file and through Overlay, so that a new row needs no other code.
func TestSettingsTable(t *testing.T) {
	keys := map[string]bool{}
	for _, s := range Settings {
		if keys[s.Key] {
			t.Errorf("%s has two rows", s.Key)
		}
		keys[s.Key] = true
		if s.Default != "" {
			var d Values
			if err := s.Set(&d, s.Default); err != nil {
				t.Errorf("%s: default %q: %v", s.Key, s.Default, err)
			}
			if got, _ := s.Get(Values{}.WithDefaults()); got != s.Default {
				t.Errorf("%s: WithDefaults gives %q, want %q", s.Key, got, s.Default)
			}
		}
		sample := map[Type]string{TypeString: "x-1", TypeInt: "7", TypeBool: "false"}[s.Type()]
		var v Values
		if err := s.Set(&v, sample); err != nil {
			t.Fatalf("%s: %v", s.Key, err)
		}
		for _, other := range Settings {
			if _, set := other.Get(v); set != (other.Key == s.Key) {
				t.Errorf("setting %s sets %s too, or not itself: the rows share a field", s.Key, other.Key)
			}
		}
		text, _ := s.ChartText(v)
		file := s.Key + ": '" + text + "'"
		if parent, sub, nested := strings.Cut(s.Key, "."); nested {
			file = parent + ":\n  " + sub + ": '" + text + "'"
		}
		back, unknown, err := DecodeValues([]byte(file))
		if err != nil || len(unknown) > 0 || !reflect.DeepEqual(back, v) {
			t.Errorf("%s: the values file\n%s\nreads back as %+v (unknown %v, %v), want %+v", s.Key, file, back, unknown, err, v)
		}
		if got := allSet().Overlay(v); !reflect.DeepEqual(func() string { x, _ := s.Get(got); return x }(), sample) {
			t.Errorf("%s: Overlay does not take it", s.Key)
		}
		if got := v.Overlay(Values{}); !reflect.DeepEqual(got, v) {
			t.Errorf("%s: Overlay of nothing loses it: %+v", s.Key, got)
		}
	}
}
