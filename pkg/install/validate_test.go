package install

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
)

func TestValidateAcceptsEveryGoldenInput(t *testing.T) {
	for name, v := range goldenCases(t) {
		if err := Validate(v, v.ExistingDelegateToken == ""); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An upgrade keeps the token it has: none is required.
	v := base()
	v.DelegateToken = ""
	if err := Validate(v, false); err != nil {
		t.Errorf("upgrade without a token: %v", err)
	}
}

func privateKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestValidateRejects: each bad input is a FieldError naming its chart key, first, and the
// message says what would be valid. pkg/cmd spells the keys as flags (TestFlagErrors).
func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Values)
		// want are substrings of the error: the chart key (the FieldError's Field) first, then what is valid.
		want []string
	}{
		{"bad DNS name", func(v *Values) { v.DelegateName = "Prod_1" }, []string{"delegateName", `"Prod_1" is not a valid delegate name`, "lower case"}},
		{"name too long with upgrader", func(v *Values) { v.DelegateName = strings.Repeat("a", 40) }, []string{"delegateName", "at most 39", "a-upgrader-job must fit in 52", "upgrader.enabled=false"}},
		{"empty account", func(v *Values) { v.AccountID = "" }, []string{"accountId", "required", "Harness URL"}},
		{"account with a slash", func(v *Values) { v.AccountID = "abc/def" }, []string{"accountId", "letters, digits, - and _ only"}},
		{"account with other punctuation", func(v *Values) { v.AccountID = "abc{def}" }, []string{"accountId", "letters, digits, - and _ only"}},
		{"missing token", func(v *Values) { v.DelegateToken = "" }, []string{"delegateToken", "existingDelegateToken", "DELEGATE_TOKEN"}},
		{"blank token", func(v *Values) { v.DelegateToken = " \n" }, []string{"delegateToken", "required"}},
		{"token with whitespace", func(v *Values) { v.DelegateToken = testToken + " trailing" }, []string{"delegateToken", "whitespace", "one word"}},
		{"bad token secret name", func(v *Values) { v.DelegateToken, v.ExistingDelegateToken = "", "Bad_Secret" }, []string{"existingDelegateToken", "not a Secret name"}},
		{"http endpoint", func(v *Values) { v.ManagerEndpoint = "http://app.harness.io" }, []string{"managerEndpoint", "https://", "e.g. https://app.harness.io"}},
		{"endpoint without host", func(v *Values) { v.ManagerEndpoint = "https:///gratis" }, []string{"managerEndpoint", "no host"}},
		{"endpoint with credentials", func(v *Values) { v.ManagerEndpoint = "https://admin:hunter2@app.harness.io" }, []string{"managerEndpoint", "must not carry credentials"}},
		{"bad image", func(v *Values) { v.DelegateDockerImage = "harness/delegate:UPPER CASE" }, []string{"delegateDockerImage", "not an image reference", "e.g. " + DefaultImage}},
		{"image with upper-case repository", func(v *Values) { v.DelegateDockerImage = "Harness/Delegate" }, []string{"delegateDockerImage", "not an image reference"}},
		{"zero replicas", func(v *Values) { v.Replicas = ptr.To(int32(0)) }, []string{"replicas", "at least 1"}},
		{"cpu abc", func(v *Values) { v.CPU = "abc" }, []string{"cpu", `"abc"`, "such as 1, 0.5 or 500m"}},
		{"cpu zero", func(v *Values) { v.CPU = "0" }, []string{"cpu", "positive"}},
		{"negative memory", func(v *Values) { v.Memory = "-1Gi" }, []string{"memory", `"-1Gi"`, "such as 2048Mi or 4Gi"}},
		{"negative min ready", func(v *Values) { v.MinReadySeconds = ptr.To(int32(-1)) }, []string{"minReadySeconds", "0 or more"}},
		{"no role", func(v *Values) { v.K8sPermissionsType = "" }, []string{"k8sPermissionsType", "cluster-admin, cluster-viewer, namespace-admin"}},
		{"bad custom role name", func(v *Values) { v.K8sPermissionsType = "my role!" }, []string{"k8sPermissionsType", "neither cluster-admin", "Role or ClusterRole name"}},
		{"bad custom role kind", func(v *Values) { v.K8sPermissionsType, v.CustomRoleKind = "deployer", "Group" }, []string{"k8sPermissionsType", "Group/deployer", "Role or ClusterRole"}},
		{"proxy host with scheme", func(v *Values) { setProxy(v); v.ProxyHost = "http://proxy.example.com" }, []string{"proxyHost", "host name or IP address only", "proxyScheme"}},
		{"proxy host with port", func(v *Values) { setProxy(v); v.ProxyHost = "proxy.example.com:3128" }, []string{"proxyHost", "proxyPort"}},
		{"proxy host not a name", func(v *Values) { setProxy(v); v.ProxyHost = "proxy_1.example.com" }, []string{"proxyHost", "not a host name"}},
		{"proxy port 70000", func(v *Values) { setProxy(v); v.ProxyPort = "70000" }, []string{"proxyPort", `"70000"`, "1 to 65535"}},
		{"proxy port missing", func(v *Values) { setProxy(v); v.ProxyPort = "" }, []string{"proxyPort", "1 to 65535"}},
		{"proxy scheme socks5", func(v *Values) { setProxy(v); v.ProxyScheme = "socks5" }, []string{"proxyScheme", `"socks5"`, "http or https"}},
		{"proxy user without password", func(v *Values) { setProxy(v); v.ProxyUser = "u" }, []string{"proxyUser", "needs a password", "proxyPassword"}},
		{"proxy password without user", func(v *Values) { setProxy(v); v.ProxyPassword = "pa55-w0rd" }, []string{"proxyUser", "needs a user"}},
		{"proxy port without host", func(v *Values) { v.ProxyPort = "3128" }, []string{"proxyPort", "proxyHost is not"}},
		{"no-proxy with empty entry", func(v *Values) { setProxy(v); v.NoProxy = "a.example.com,,b" }, []string{"noProxy", "empty entry"}},
		{"CA file with a private key", func(v *Values) { v.CACertificates = testCA(t) + privateKeyPEM(t) }, []string{"delegateCustomCa.secretName", `PEM block 2 is a "PRIVATE KEY"`, "certificates only"}},
		{"CA file of garbage", func(v *Values) { v.CACertificates = "not a certificate\n" }, []string{"delegateCustomCa.secretName", "no PEM certificate found", "BEGIN CERTIFICATE"}},
		{"CA file of whitespace", func(v *Values) { v.CACertificates = "\n\n" }, []string{"delegateCustomCa.secretName", "no PEM certificate found"}},
		{"bad CA secret name", func(v *Values) { v.DelegateCustomCa.SecretName = "Corp CA" }, []string{"delegateCustomCa.secretName", "delegateCustomCa.secretName", "not a Secret name"}},
		{"tags with empty entry", func(v *Values) { v.Tags = "a,,b" }, []string{"tags", "empty tag", "a,b,c"}},
		{"tags with trailing comma", func(v *Values) { v.Tags = "a," }, []string{"tags", "empty tag"}},
		{"endpoint port 99999", func(v *Values) { v.ManagerEndpoint = "https://app.harness.io:99999" }, []string{"managerEndpoint", "port 99999", "1 to 65535"}},
		{"token with NUL", func(v *Values) { v.DelegateToken = "abc\x00def" }, []string{"delegateToken", "non-printable", "printable ASCII"}},
		{"token with a control byte", func(v *Values) { v.DelegateToken = "abc\x1b[2Jdef" }, []string{"delegateToken", "non-printable"}},
		{"token not ASCII", func(v *Values) { v.DelegateToken = "tökén" }, []string{"delegateToken", "non-ASCII"}},
		{"cpu 1e100", func(v *Values) { v.CPU = "1e100" }, []string{"cpu", `"1e100" is too large`, "1024 cores"}},
		{"cpu 0.0000001", func(v *Values) { v.CPU = "0.0000001" }, []string{"cpu", "too small", "1m"}},
		{"cpu finer than 1m", func(v *Values) { v.CPU = "1.0005" }, []string{"cpu", "finer than 1m"}},
		{"memory 1e100", func(v *Values) { v.Memory = "1e100" }, []string{"memory", `"1e100" is too large`, "16Ti"}},
		{"memory 1 byte", func(v *Values) { v.Memory = "1" }, []string{"memory", "too small", "1Mi"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := base()
			c.mutate(&v)
			err := Validate(v, true)
			if err == nil {
				t.Fatalf("accepted %+v", v)
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			for _, secret := range []string{testToken, "hunter2", v.ProxyPassword, "PRIVATE KEY-----"} {
				if secret != "" && strings.Contains(msg, secret) {
					t.Errorf("error %q contains the secret %q", msg, secret)
				}
			}
			var fe FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %T", err)
			}
			if fe.Field != c.want[0] {
				t.Errorf("the error is about %s, want %s", fe.Field, c.want[0])
			}
			// pkg/cmd can spell only the settings of the table.
			for _, key := range append(fe.Refs(), fe.Field) {
				if _, ok := SettingOf(key); !ok {
					t.Errorf("error %q names %s, which is not in Settings", msg, key)
				}
			}
			if flagName.MatchString(msg) {
				t.Errorf("error %q names a flag: pkg/install knows nothing of flags", msg)
			}
		})
	}
}

var flagName = regexp.MustCompile(`(^|\s)--[a-z]`)

// TestProxySchemeDefault: --proxy-scheme's documented default, http, applies to a proxy that
// names no scheme, at install and at upgrade; no proxy records no scheme.
func TestProxySchemeDefault(t *testing.T) {
	v := base()
	v.ProxyHost, v.ProxyPort = "proxy.example.com", "3128"
	v = v.WithDefaults()
	if v.ProxyScheme != "http" {
		t.Errorf("proxy scheme %q, want http", v.ProxyScheme)
	}
	if err := Validate(v, true); err != nil {
		t.Errorf("a proxy without a scheme: %v", err)
	}
	if s := base().WithDefaults().ProxyScheme; s != "" {
		t.Errorf("no proxy, yet scheme %q", s)
	}
	v.ProxyScheme = "https"
	if s := v.WithDefaults().ProxyScheme; s != "https" {
		t.Errorf("the default replaced the scheme given: %q", s)
	}
}

func setProxy(v *Values) {
	v.ProxyHost, v.ProxyPort, v.ProxyScheme = "proxy.example.com", "3128", "http"
}

func TestValidateNameLength(t *testing.T) {
	long := base()
	long.DelegateName = strings.Repeat("a", 40)
	long.Upgrader.Enabled = ptr.To(false)
	if err := Validate(long, true); err != nil {
		t.Errorf("a 40-character name with the upgrader off: %v", err)
	}
	edge := base()
	edge.DelegateName = strings.Repeat("a", 39)
	if err := Validate(edge, true); err != nil {
		t.Errorf("a 39-character name with the upgrader on: %v", err)
	}
	label := base()
	label.DelegateName = strings.Repeat("a", 64)
	label.Upgrader.Enabled = ptr.To(false)
	if err := Validate(label, true); err == nil || !strings.Contains(err.Error(), "delegateName") {
		t.Errorf("a 64-character name: %v", err)
	}
}

// TestValidateReportsEveryError: one run shows every mistake, in a stable order.
func TestValidateReportsEveryError(t *testing.T) {
	v := Values{DelegateName: "x", ProxyPort: "1", ProxyUser: "u", ProxyPassword: "p", NoProxy: "n"}
	first := Validate(v, true)
	if first == nil {
		t.Fatal("accepted")
	}
	for _, flag := range []string{"accountId", "delegateToken", "managerEndpoint", "delegateDockerImage", "cpu", "memory", "k8sPermissionsType", "proxyPort", "proxyUser", "proxyPassword", "noProxy"} {
		if !strings.Contains(first.Error(), flag) {
			t.Errorf("no error for %s in:\n%v", flag, first)
		}
	}
	for range 20 {
		if again := Validate(v, true); again.Error() != first.Error() {
			t.Fatalf("the errors come in a different order from run to run:\n%v\n---\n%v", first, again)
		}
	}
}

func TestValidateProxyIPs(t *testing.T) {
	for _, host := range []string{"10.0.0.1", "::1", "fd00::10", "Proxy.Example.COM"} {
		v := base()
		setProxy(&v)
		v.ProxyHost = host
		if err := Validate(v, true); err != nil {
			t.Errorf("proxy host %s: %v", host, err)
		}
	}
}

// TestValidateRedactsCredentials: a URL or host with credentials in it is echoed without them.
func TestValidateRedactsCredentials(t *testing.T) {
	v := base()
	v.ManagerEndpoint = "https://admin:hunter2@app.harness.io/"
	setProxy(&v)
	v.ProxyHost = "bob:s3cret@proxy.example.com"
	err := Validate(v, true)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
	for _, w := range []string{"managerEndpoint", "proxyHost", "app.harness.io", "proxy.example.com"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestParseCABundle(t *testing.T) {
	ca := testCA(t)
	cases := []struct {
		name    string
		data    string
		certs   int
		wantErr string
	}{
		{"one", ca, 1, ""},
		{"two", ca + ca, 2, ""},
		{"surrounding whitespace", "\n" + ca + "\n\n", 1, ""},
		// Bundles such as Mozilla's carry a comment before each certificate.
		{"comments before the blocks", "# corp root\n" + ca + "# again\n" + ca, 2, ""},
		{"empty", "", 0, "no PEM certificate found"},
		{"garbage", "hello", 0, "no PEM certificate found"},
		{"private key", privateKeyPEM(t), 0, `PEM block 1 is a "PRIVATE KEY"`},
		{"key after the cert", ca + privateKeyPEM(t), 0, `PEM block 2 is a "PRIVATE KEY"`},
		{"bad DER", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0, "PEM block 1 is not a valid certificate"},
		{"truncated last block", ca + "-----BEGIN CERTIFICATE-----\nMIIB", 0, "text after the last PEM certificate"},
	}
	for _, c := range cases {
		certs, err := ParseCABundle([]byte(c.data))
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.wantErr)
		case len(certs) != c.certs:
			t.Errorf("%s: %d certificates, want %d", c.name, len(certs), c.certs)
		}
		if c.name == "one" && certs[0].Subject.CommonName != "kubectl-delegate test CA" {
			t.Errorf("parsed %q", certs[0].Subject.CommonName)
		}
	}
}

// FuzzParseCABundle: --ca-file is untrusted input; the parser must not panic, and what it
// accepts is one or more certificates and nothing else.
func FuzzParseCABundle(f *testing.F) {
	ca, err := readTestCA()
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", ca, ca + ca, "junk", "-----BEGIN CERTIFICATE-----\n", ca + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCABundle(data)
		if err == nil && len(certs) == 0 {
			t.Errorf("accepted a bundle with no certificate")
		}
		if err != nil && certs != nil {
			t.Errorf("returned certificates with an error")
		}
		if err == nil {
			v := base()
			v.CACertificates = string(data)
			if verr := Validate(v, true); verr != nil {
				t.Errorf("ParseCABundle accepts what Validate rejects: %v", verr)
			}
		}
	})
}

// FuzzDecodeValues: a values file is untrusted input; reading it must not panic, and every
// error says it is not YAML or names a key of the table.
func FuzzDecodeValues(f *testing.F) {
	for _, seed := range []string{
		chartValues,
		"memory: 2048\nreplicas: 2\n",
		"upgrader: true\n",
		"proxyPassword: '%%%'\n",
		"replicas: 1.5\n",
		"delegateCustomCa: [a]\n",
		"pollForTasks: maybe\n",
		": :\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, unknown, err := DecodeValues(data)
		if err != nil {
			if !errors.Is(err, ErrNotYAML) && !slices.ContainsFunc(Settings, func(s Setting) bool { return strings.HasPrefix(err.Error(), strings.Split(s.Key, ".")[0]) }) {
				t.Errorf("error %q neither says not YAML nor names a setting", err)
			}
			return
		}
		for i := 1; i < len(unknown); i++ {
			if unknown[i-1] > unknown[i] {
				t.Errorf("unknown keys not sorted: %v", unknown)
			}
		}
		// Whatever was read, defaults and validation do not panic.
		_ = Validate(v.WithDefaults(), false)
	})
}
