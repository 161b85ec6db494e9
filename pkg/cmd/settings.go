package cmd

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// settingsFlags are the delegate settings install and upgrade take, by flag or from a Helm
// values file; doctor --pre takes the capacity ones. Only flags the user set count, so that
// -f and an upgrade's recorded settings are not overwritten by flag defaults.
type settingsFlags struct {
	flags *pflag.FlagSet

	valuesFile        string
	accountID         string
	tokenFile         string
	tokenSecret       string
	token             string
	managerEndpoint   string
	image             string
	replicas          int32
	role              string
	upgrader          bool
	cpu               string
	memory            string
	proxyHost         string
	proxyPort         string
	proxyScheme       string
	proxyUser         string
	proxyPasswordFile string
	noProxy           string
	caFile            string
	tags              string
	description       string
	initScriptFile    string
	pollForTasks      bool
	minReadySeconds   int32
}

func (s *settingsFlags) addCapacity(fs *pflag.FlagSet) {
	s.flags = fs
	fs.Int32Var(&s.replicas, "replicas", 1, "Number of delegate replicas (values: replicas)")
	fs.StringVar(&s.cpu, "cpu", install.DefaultCPU, "CPU request of each replica, e.g. 1 or 500m (values: cpu)")
	fs.StringVar(&s.memory, "memory", install.DefaultMemory, "Memory request and limit of each replica, e.g. 2048Mi or 4Gi (values: memory)")
	fs.StringVar(&s.role, "role", "cluster-admin", "What the delegate may do: cluster-admin, cluster-viewer, namespace-admin, or the name of a Role or ClusterRole (Role/NAME or ClusterRole/NAME to be explicit) (values: k8sPermissionsType)")
	fs.BoolVar(&s.upgrader, "upgrader", true, "Install the upgrader CronJob that moves the delegate to the published version hourly (values: upgrader.enabled)")
}

func (s *settingsFlags) addAll(fs *pflag.FlagSet) {
	s.addCapacity(fs)
	fs.StringVarP(&s.valuesFile, "values", "f", "", "A Helm values file for the chart harness-delegate-ng; flags override it")
	fs.StringVar(&s.accountID, "account-id", "", "Harness account id (values: accountId)")
	fs.StringVar(&s.tokenFile, "token-file", "", "File holding the delegate token, or - to read it from stdin (values: delegateToken)")
	fs.StringVar(&s.tokenSecret, "token-secret", "", "An existing Secret in the namespace with key DELEGATE_TOKEN (values: existingDelegateToken)")
	fs.StringVar(&s.token, "token", "", "The delegate token itself; it stays in your shell history, prefer --token-file (values: delegateToken)")
	fs.StringVar(&s.managerEndpoint, "manager-endpoint", install.DefaultManagerEndpoint, "Harness manager URL (values: managerEndpoint)")
	fs.StringVar(&s.image, "image", install.DefaultImage, "Delegate image (values: delegateDockerImage)")
	fs.StringVar(&s.proxyHost, "proxy-host", "", "Proxy host name or IP (values: proxyHost)")
	fs.StringVar(&s.proxyPort, "proxy-port", "", "Proxy port (values: proxyPort)")
	fs.StringVar(&s.proxyScheme, "proxy-scheme", "http", "Proxy scheme: http or https (values: proxyScheme)")
	fs.StringVar(&s.proxyUser, "proxy-user", "", "Proxy user name (values: proxyUser)")
	fs.StringVar(&s.proxyPasswordFile, "proxy-password-file", "", "File holding the proxy password (values: proxyPassword)")
	fs.StringVar(&s.noProxy, "no-proxy", "", "Comma-separated hosts the delegate reaches without the proxy (values: noProxy)")
	fs.StringVar(&s.caFile, "ca-file", "", "PEM bundle of CA certificates the delegate trusts, stored in a Secret mounted at /opt/harness-delegate/ca-bundle/ (values: delegateCustomCa.secretName names an existing Secret instead)")
	fs.StringVar(&s.tags, "tags", "", "Comma-separated delegate tags (values: tags)")
	fs.StringVar(&s.description, "description", "", "Delegate description (values: description)")
	fs.StringVar(&s.initScriptFile, "init-script-file", "", "Shell script the delegate runs at start (values: initScript)")
	fs.BoolVar(&s.pollForTasks, "poll-for-tasks", false, "Poll the manager for tasks instead of holding a WebSocket open (values: pollForTasks)")
	fs.Int32Var(&s.minReadySeconds, "min-ready-seconds", install.DefaultMinReadySeconds, "Seconds a new pod must be ready before it counts as available (values: minReadySeconds)")
}

func (s *settingsFlags) changed(name string) bool {
	if s.flags == nil {
		return false // options built without their command, as in unit tests
	}
	f := s.flags.Lookup(name)
	return f != nil && f.Changed
}

// values reads the values file and the flags the user set, in that order of precedence
// (flags win), reading token, password, CA and script files. stdin is read for
// --token-file -. Warnings (an inline token, keys of the values file that are not used)
// go to warn.
func (s *settingsFlags) values(stdin io.Reader, warn io.Writer) (install.Values, error) {
	var v install.Values
	if s.valuesFile != "" {
		fromFile, unknown, err := install.LoadValuesFile(s.valuesFile)
		if err != nil {
			return v, err
		}
		if len(unknown) > 0 {
			fmt.Fprintf(warn, "Warning: %s: these chart values are not supported by kubectl delegate and are not applied: %s\n", s.valuesFile, strings.Join(unknown, ", "))
		}
		v = fromFile
	}
	var f install.Values
	str := func(flag string, dst *string, val string) {
		if s.changed(flag) {
			*dst = val
		}
	}
	str("account-id", &f.AccountID, s.accountID)
	str("token-secret", &f.ExistingDelegateToken, s.tokenSecret)
	str("manager-endpoint", &f.ManagerEndpoint, s.managerEndpoint)
	str("image", &f.DelegateDockerImage, s.image)
	str("cpu", &f.CPU, s.cpu)
	str("memory", &f.Memory, s.memory)
	str("proxy-host", &f.ProxyHost, s.proxyHost)
	str("proxy-port", &f.ProxyPort, s.proxyPort)
	str("proxy-scheme", &f.ProxyScheme, s.proxyScheme)
	str("proxy-user", &f.ProxyUser, s.proxyUser)
	str("no-proxy", &f.NoProxy, s.noProxy)
	str("tags", &f.Tags, s.tags)
	str("description", &f.Description, s.description)
	if s.changed("replicas") {
		f.Replicas = &s.replicas
	}
	if s.changed("upgrader") {
		f.Upgrader.Enabled = &s.upgrader
	}
	if s.changed("poll-for-tasks") {
		f.PollForTasks = &s.pollForTasks
	}
	if s.changed("min-ready-seconds") {
		f.MinReadySeconds = &s.minReadySeconds
	}
	if s.changed("role") {
		kind, name, explicit := strings.Cut(s.role, "/")
		if explicit {
			f.CustomRoleKind, f.K8sPermissionsType = kind, name
		} else {
			f.K8sPermissionsType = install.PermissionsType(s.role)
		}
	}
	var err error
	sources := 0
	for _, set := range []bool{s.changed("token"), s.changed("token-file"), s.changed("token-secret")} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return v, fmt.Errorf("--token, --token-file and --token-secret: give one of them, not %d", sources)
	}
	if s.changed("token") {
		fmt.Fprintln(warn, "Warning: --token leaves the token in your shell history and process list; prefer --token-file or --token-secret")
		f.DelegateToken = strings.TrimSpace(s.token)
	}
	if s.changed("token-file") {
		if f.DelegateToken, err = readSecretFile("--token-file", s.tokenFile, stdin); err != nil {
			return v, err
		}
	}
	if s.changed("proxy-password-file") {
		if f.ProxyPassword, err = readSecretFile("--proxy-password-file", s.proxyPasswordFile, stdin); err != nil {
			return v, err
		}
	}
	if s.changed("ca-file") {
		data, err := os.ReadFile(s.caFile)
		if err != nil {
			return v, fmt.Errorf("--ca-file: %w", err)
		}
		if len(strings.TrimSpace(string(data))) == 0 {
			return v, fmt.Errorf("--ca-file %s is empty: it must hold one or more -----BEGIN CERTIFICATE----- blocks", s.caFile)
		}
		f.CACertificates = string(data)
	}
	if s.changed("init-script-file") {
		data, err := os.ReadFile(s.initScriptFile)
		if err != nil {
			return v, fmt.Errorf("--init-script-file: %w", err)
		}
		f.InitScript = string(data)
	}
	return v.Overlay(f), nil
}

// readSecretFile reads a token or password from a file or stdin, trimmed of the newline
// editors add. The error names the flag, never the content.
func readSecretFile(flag, path string, stdin io.Reader) (string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	value := strings.TrimSpace(string(data))
	if value == "" {
		return "", fmt.Errorf("%s %s: the file is empty", flag, path)
	}
	return value, nil
}
