package install

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FieldError is one bad setting: Field is its chart key path (accountId, upgrader.enabled),
// the message says what is wrong and what would be valid. Format names other settings as
// {key}, so that whoever shows the error can spell them the way the user set them (pkg/cmd:
// as flags); Args, the values shown, stay apart so that braces in a value are never a name.
type FieldError struct {
	Field  string
	Format string
	Args   []any
}

// Error spells the setting and those its message names by their chart keys.
func (e FieldError) Error() string {
	return e.Field + ": " + e.Message(func(key string) string { return key })
}

var settingRef = regexp.MustCompile(`\{([A-Za-z.]+)\}`)

// Message is the message with each {key} in Format spelled by name.
func (e FieldError) Message(name func(key string) string) string {
	format := settingRef.ReplaceAllStringFunc(e.Format, func(ref string) string {
		return strings.ReplaceAll(name(ref[1:len(ref)-1]), "%", "%%")
	})
	return fmt.Sprintf(format, e.Args...)
}

// Refs are the chart keys the message names.
func (e FieldError) Refs() []string {
	var keys []string
	for _, m := range settingRef.FindAllStringSubmatch(e.Format, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// Validate checks defaulted values before anything is written. A token is required unless
// requireToken is false (an upgrade keeps the token it has). Every error is returned, so
// that one run shows them all.
func Validate(v Values, requireToken bool) error {
	return validate(v, validateOptions{requireToken: requireToken})
}

// validateOptions say which secrets may be missing from the values because the cluster keeps
// them: an upgrade is not given the secrets again (the recorded settings hold none).
type validateOptions struct {
	requireToken bool
	// proxyPasswordKept: the proxy Secret holds the password of the unchanged proxy user.
	proxyPasswordKept bool
}

func validate(v Values, opts validateOptions) error {
	requireToken := opts.requireToken
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Format: format, Args: args})
	}

	if msgs := validation.IsDNS1123Label(v.DelegateName); len(msgs) > 0 {
		bad("delegateName", "%q is not a valid delegate name: %s", v.DelegateName, strings.Join(msgs, "; "))
	} else if cj, _, _, _, _, _ := upgraderNames(v.DelegateName); v.UpgraderEnabled() && len(cj) > 52 {
		// Kubernetes appends 11 characters to a CronJob's name for its Jobs.
		bad("delegateName", "%q is %d characters; with the upgrader on, a name may have at most 39 (its CronJob %s must fit in 52), or pass {upgrader.enabled}=false", v.DelegateName, len(v.DelegateName), cj)
	}
	if v.AccountID == "" {
		bad("accountId", "required: the account id from the Harness URL (…/account/<id>/…)")
	} else if strings.IndexFunc(v.AccountID, notAccountIDRune) >= 0 {
		// It goes unquoted into the upgrader's config.yaml too: only what the message allows.
		bad("accountId", "%q is not an account id: letters, digits, - and _ only", v.AccountID)
	}
	switch {
	case v.ExistingDelegateToken != "":
		if msgs := validation.IsDNS1123Subdomain(v.ExistingDelegateToken); len(msgs) > 0 {
			bad("existingDelegateToken", "%q is not a Secret name: %s", v.ExistingDelegateToken, strings.Join(msgs, "; "))
		}
	case requireToken && strings.TrimSpace(v.DelegateToken) == "":
		bad("delegateToken", "a delegate token is required: {delegateToken}, or {existingDelegateToken} of a Secret with key DELEGATE_TOKEN")
	case strings.ContainsAny(v.DelegateToken, " \t\r\n"):
		// Never the value: it is a secret.
		bad("delegateToken", "the token contains whitespace; a delegate token is one word, as Harness shows it")
	case strings.IndexFunc(v.DelegateToken, notTokenRune) >= 0:
		// A NUL or control byte (a binary file, a pasted escape) would reach the Secret and
		// fail only when the delegate connects.
		bad("delegateToken", "the token contains non-printable or non-ASCII bytes; a delegate token is printable ASCII, as Harness shows it")
	}
	if err := validateHTTPSURL(v.ManagerEndpoint); err != nil {
		// Redacted: the mistake may be credentials in the URL, and errors end up in CI logs.
		bad("managerEndpoint", "%q %v; e.g. https://app.harness.io or https://harness.example.com", redactUserinfo(v.ManagerEndpoint), err)
	}
	if _, err := reference.ParseNormalizedNamed(v.DelegateDockerImage); err != nil {
		bad("delegateDockerImage", "%q is not an image reference (%v); e.g. %s", v.DelegateDockerImage, err, DefaultImage)
	}
	if v.Replicas != nil && *v.Replicas < 1 {
		bad("replicas", "%d: a delegate needs at least 1 replica", *v.Replicas)
	}
	if q, err := resource.ParseQuantity(v.CPU); err != nil || q.Sign() <= 0 {
		bad("cpu", "%q is not a positive CPU quantity such as 1, 0.5 or 500m", v.CPU)
	} else if msg := outOfRange(q, minCPU, maxCPU); msg != "" || resource.NewMilliQuantity(q.MilliValue(), q.Format).Cmp(q) != 0 {
		msg = cmp.Or(msg, "finer than 1m")
		bad("cpu", "%q is %s: a CPU request is from %s (1m) to %s cores, in steps of 1m", v.CPU, msg, minCPU.String(), maxCPU.String())
	}
	if q, err := resource.ParseQuantity(v.Memory); err != nil || q.Sign() <= 0 {
		bad("memory", "%q is not a positive memory quantity such as 2048Mi or 4Gi", v.Memory)
	} else if msg := outOfRange(q, minMemory, maxMemory); msg != "" {
		bad("memory", "%q is %s: a memory request is from %s to %s, such as 2048Mi or 4Gi", v.Memory, msg, minMemory.String(), maxMemory.String())
	}
	if v.MinReadySeconds != nil && *v.MinReadySeconds < 0 {
		bad("minReadySeconds", "%d: must be 0 or more", *v.MinReadySeconds)
	}
	validateRole(v, bad)
	validateProxy(v, opts.proxyPasswordKept, bad)
	validateCA(v, bad)
	if v.Tags != "" && hasEmptyEntry(v.Tags) {
		bad("tags", "%q has an empty tag: write tags as a,b,c", v.Tags)
	}
	return errors.Join(errs...)
}

// The bounds of cpu and memory: what a node could hold, and the API server's precision (a
// CPU request finer than 1m is refused by it, 1e100 overflows what it stores).
var (
	minCPU    = resource.MustParse("1m")
	maxCPU    = resource.MustParse("1024")
	minMemory = resource.MustParse("1Mi")
	maxMemory = resource.MustParse("16Ti")
)

// outOfRange says how q misses [lo, hi], or "" when it does not.
func outOfRange(q, lo, hi resource.Quantity) string {
	switch {
	case q.Cmp(hi) > 0:
		return "too large"
	case q.Cmp(lo) < 0:
		return "too small"
	}
	return ""
}

func validateHTTPSURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "https":
		return errors.New("must be an https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not carry credentials")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("has port %s: a port is from 1 to 65535", p)
		}
	}
	return nil
}

func validateRole(v Values, bad func(field, format string, args ...any)) {
	switch v.K8sPermissionsType {
	case PermClusterAdmin, PermClusterViewer, PermNamespaceAdmin:
		return
	case "":
		bad("k8sPermissionsType", "required: cluster-admin, cluster-viewer, namespace-admin or the name of a Role or ClusterRole")
		return
	}
	if msgs := validation.IsDNS1123Subdomain(strings.ToLower(v.K8sPermissionsType)); len(msgs) > 0 {
		bad("k8sPermissionsType", "%q is neither cluster-admin, cluster-viewer, namespace-admin nor a Role or ClusterRole name: %s", v.K8sPermissionsType, strings.Join(msgs, "; "))
	}
	if v.CustomRoleKind != "" && v.CustomRoleKind != "Role" && v.CustomRoleKind != "ClusterRole" {
		bad("k8sPermissionsType", "%s/%s: the kind must be Role or ClusterRole", v.CustomRoleKind, v.K8sPermissionsType)
	}
}

func validateProxy(v Values, passwordKept bool, bad func(field, format string, args ...any)) {
	if v.ProxyHost == "" {
		// A slice, not a map: the errors come in the same order every run.
		for _, f := range []struct {
			field string
			set   bool
		}{{"proxyPort", v.ProxyPort != ""}, {"proxyUser", v.ProxyUser != ""}, {"proxyPassword", v.ProxyPassword != ""}, {"noProxy", v.NoProxy != ""}} {
			if f.set {
				bad(f.field, "is set but {proxyHost} is not; give the proxy's host too")
			}
		}
		return
	}
	if strings.Contains(v.ProxyHost, "://") || strings.ContainsAny(v.ProxyHost, "/@: ") && net.ParseIP(v.ProxyHost) == nil {
		bad("proxyHost", "%q must be a host name or IP address only, e.g. proxy.example.com; put the port in {proxyPort}, the scheme in {proxyScheme} and credentials in {proxyUser} and {proxyPassword}", redactUserinfo(v.ProxyHost))
	} else if net.ParseIP(v.ProxyHost) == nil {
		if msgs := validation.IsDNS1123Subdomain(strings.ToLower(v.ProxyHost)); len(msgs) > 0 {
			bad("proxyHost", "%q is not a host name: %s", v.ProxyHost, strings.Join(msgs, "; "))
		}
	}
	if port, err := strconv.Atoi(v.ProxyPort); err != nil || port < 1 || port > 65535 {
		bad("proxyPort", "%q must be a port number from 1 to 65535", v.ProxyPort)
	}
	switch strings.ToLower(v.ProxyScheme) {
	case "http", "https":
	default:
		bad("proxyScheme", "%q must be http or https", v.ProxyScheme)
	}
	if (v.ProxyUser == "") != (v.ProxyPassword == "" && !passwordKept) {
		bad("proxyUser", "a proxy user needs a password and a password needs a user: give both {proxyUser} and {proxyPassword}")
	}
	if v.NoProxy != "" && hasEmptyEntry(v.NoProxy) {
		bad("noProxy", "%q has an empty entry: write hosts as a.example.com,10.0.0.0/8,.svc", v.NoProxy)
	}
}

func validateCA(v Values, bad func(field, format string, args ...any)) {
	if v.DelegateCustomCa.SecretName != "" {
		if msgs := validation.IsDNS1123Subdomain(v.DelegateCustomCa.SecretName); len(msgs) > 0 {
			bad("delegateCustomCa.secretName", "%q is not a Secret name: %s", v.DelegateCustomCa.SecretName, strings.Join(msgs, "; "))
		}
	}
	if v.CACertificates == "" {
		return
	}
	if _, err := ParseCABundle([]byte(v.CACertificates)); err != nil {
		bad("delegateCustomCa.secretName", "%v", err)
	}
}

// ParseCABundle reads a PEM bundle of CA certificates: at least one certificate, and nothing
// that is not a certificate (a private key in a CA bundle is a leak waiting to happen).
func ParseCABundle(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE: a CA bundle holds certificates only", n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a valid certificate: %v", n, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found: the file must hold one or more -----BEGIN CERTIFICATE----- blocks")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("text after the last PEM certificate is neither a certificate nor empty")
	}
	return certs, nil
}

// notTokenRune is what a token as Harness shows it never holds: anything but printable ASCII.
func notTokenRune(r rune) bool { return r < 0x21 || r > 0x7e }

func notAccountIDRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// redactUserinfo replaces what comes before the last @ of a URL or host (after any scheme)
// with xxxxx, so that an error can show the value without the credentials in it.
func redactUserinfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return s[:start] + "xxxxx" + s[at:]
}

func hasEmptyEntry(list string) bool {
	for _, entry := range strings.Split(list, ",") {
		if strings.TrimSpace(entry) == "" {
			return true
		}
	}
	return false
}

// MaxSizedReplicas is the most replicas the documented sizing covers: the Harness delegate
// requirements list 1, 2, 4 and 8 replicas (2 GB and 0.5 CPU each). A larger count is most
// likely a typo (--replicas 100000 once made 17,058 pods before the cluster gave out), so
// whoever takes settings from people asks for it to be confirmed.
const MaxSizedReplicas = 8

// ValidateReplicasSized refuses more replicas than MaxSizedReplicas; it is apart from
// Validate because a caller may let the user confirm the count (install --force) or only
// weigh it (doctor --pre places any count on the nodes).
func ValidateReplicasSized(v Values) error {
	if v.Replicas == nil || *v.Replicas <= MaxSizedReplicas {
		return nil
	}
	return FieldError{Field: "replicas", Format: "%d is more than the %d replicas the documented delegate sizing covers (1, 2, 4 or 8)",
		Args: []any{*v.Replicas, MaxSizedReplicas}}
}
