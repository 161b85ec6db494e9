package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/utils/ptr"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseSettings sets args on a real command's flags and returns the settings they make.
func parseSettings(t *testing.T, stdin string, args ...string) (install.Values, string, error) {
	t.Helper()
	var s settingsFlags
	cmd := &cobra.Command{Use: "install"}
	s.addAll(cmd.Flags())
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var warn bytes.Buffer
	v, err := s.values(strings.NewReader(stdin), &warn)
	return v, warn.String(), err
}

// TestSettingsFlags pins the flag -> settings mapping, as stern's TestOptionsSternConfig does:
// each flag on a real command, and the install.Values it makes.
func TestSettingsFlags(t *testing.T) {
	token := writeFile(t, "token", "tok3n\n")
	password := writeFile(t, "password", "pa55\n")
	ca := writeFile(t, "ca.pem", "-----BEGIN CERTIFICATE-----\n")
	script := writeFile(t, "init.sh", "echo hi\n")
	values := writeFile(t, "values.yaml", "accountId: from-file\ncpu: 2\nreplicas: 3\ntags: file\n")
	cases := []struct {
		args  []string
		stdin string
		want  install.Values
		warn  string
	}{
		{nil, "", install.Values{}, ""},
		// Flag defaults are not settings: they would overwrite -f and recorded settings.
		{[]string{"--account-id", "acc01"}, "", install.Values{AccountID: "acc01"}, ""},
		{[]string{"--token-file", token}, "", install.Values{DelegateToken: "tok3n"}, ""},
		{[]string{"--token-file", "-"}, " from-stdin\n", install.Values{DelegateToken: "from-stdin"}, ""},
		{[]string{"--token", " inline "}, "", install.Values{DelegateToken: "inline"}, "--token leaves the token in your shell history"},
		{[]string{"--token-secret", "mine"}, "", install.Values{ExistingDelegateToken: "mine"}, ""},
		{[]string{"--manager-endpoint", "https://h.example.com"}, "", install.Values{ManagerEndpoint: "https://h.example.com"}, ""},
		{[]string{"--image", "harness/delegate:1"}, "", install.Values{DelegateDockerImage: "harness/delegate:1"}, ""},
		{[]string{"--replicas", "3"}, "", install.Values{Replicas: ptr.To(int32(3))}, ""},
		{[]string{"--cpu", "500m", "--memory", "4Gi"}, "", install.Values{CPU: "500m", Memory: "4Gi"}, ""},
		// The flag takes memory as a quantity; only a values file's plain number means Mi.
		{[]string{"--memory", "2048"}, "", install.Values{Memory: "2048"}, ""},
		{[]string{"--role", "view"}, "", install.Values{K8sPermissionsType: install.PermClusterViewer}, ""},
		{[]string{"--role", "deployer"}, "", install.Values{K8sPermissionsType: "deployer"}, ""},
		{[]string{"--role", "ClusterRole/deployer"}, "", install.Values{K8sPermissionsType: "deployer", CustomRoleKind: "ClusterRole"}, ""},
		{[]string{"--upgrader=false"}, "", install.Values{Upgrader: install.UpgraderValues{Enabled: ptr.To(false)}}, ""},
		{[]string{"--proxy-host", "p.example.com", "--proxy-port", "3128", "--proxy-scheme", "https", "--proxy-user", "u", "--proxy-password-file", password, "--no-proxy", ".svc"}, "",
			install.Values{ProxyHost: "p.example.com", ProxyPort: "3128", ProxyScheme: "https", ProxyUser: "u", ProxyPassword: "pa55", NoProxy: ".svc"}, ""},
		{[]string{"--ca-file", ca}, "", install.Values{CACertificates: "-----BEGIN CERTIFICATE-----\n"}, ""},
		{[]string{"--tags", "a,b", "--description", "edge"}, "", install.Values{Tags: "a,b", Description: "edge"}, ""},
		{[]string{"--init-script-file", script}, "", install.Values{InitScript: "echo hi\n"}, ""},
		{[]string{"--poll-for-tasks"}, "", install.Values{PollForTasks: ptr.To(true)}, ""},
		{[]string{"--min-ready-seconds", "30"}, "", install.Values{MinReadySeconds: ptr.To(int32(30))}, ""},
		// Flags win over the values file; what they do not set, the file keeps.
		{[]string{"-f", values, "--account-id", "from-flag", "--replicas", "1"}, "",
			install.Values{AccountID: "from-flag", CPU: "2", Replicas: ptr.To(int32(1)), Tags: "file"}, ""},
		{[]string{"-f", values, "--token-file", token}, "",
			install.Values{AccountID: "from-file", CPU: "2", Replicas: ptr.To(int32(3)), Tags: "file", DelegateToken: "tok3n"}, ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			got, warn, err := parseSettings(t, c.stdin, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("settings\n got %+v\nwant %+v", got, c.want)
			}
			if (c.warn == "") != (warn == "") || !strings.Contains(warn, c.warn) {
				t.Errorf("warning %q, want %q", warn, c.warn)
			}
		})
	}
}

func TestSettingsFlagErrors(t *testing.T) {
	token := writeFile(t, "token", "t")
	empty := writeFile(t, "empty", "\n")
	missing := filepath.Join(t.TempDir(), "missing")
	notYAML := writeFile(t, "bad.yaml", "a: b: c")
	list := writeFile(t, "list.yaml", "delegateToken: [X]\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", "t", "--token-file", token}, "--token, --token-file and --token-secret: give one of them, not 2"},
		{[]string{"--token-file", empty}, "--token-file " + empty + ": the file is empty"},
		{[]string{"--proxy-password-file", missing}, "--proxy-password-file: open " + missing},
		{[]string{"--ca-file", empty}, "--ca-file " + empty + " is empty"},
		{[]string{"--ca-file", missing}, "--ca-file: open"},
		{[]string{"--init-script-file", missing}, "--init-script-file: open"},
		{[]string{"-f", missing}, "--values: open " + missing},
		{[]string{"-f", notYAML}, "--values " + notYAML + " is not YAML: "},
		{[]string{"-f", list}, "--values " + list + ": delegateToken must be a string, not a list"},
	} {
		_, _, err := parseSettings(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	_, warn, err := parseSettings(t, "", "-f", writeFile(t, "v.yaml", "image: {pullPolicy: Always}\nupgrader: {schedule: x}\n"))
	if err != nil || !strings.Contains(warn, "are not applied: image, upgrader.schedule") {
		t.Errorf("unknown keys: %q, %v", warn, err)
	}
}

// TestSettingFlagsFromTable: every row of install.Settings has a flag or says why not, every
// flag is registered with help that names its chart key, and the flags read by hand are
// flags of the table.
func TestSettingFlagsFromTable(t *testing.T) {
	var s settingsFlags
	cmd := &cobra.Command{Use: "install"}
	s.addAll(cmd.Flags())
	seen := map[string]bool{}
	for _, row := range install.Settings {
		if len(row.Flags) == 0 && row.NoFlag == "" {
			t.Errorf("%s has neither a flag nor a reason for none", row.Key)
		}
		for _, f := range row.Flags {
			seen[f.Name] = true
			flag := cmd.Flags().Lookup(f.Name)
			if flag == nil {
				t.Errorf("--%s of %s is not registered", f.Name, row.Key)
				continue
			}
			if !strings.Contains(flag.Usage, "(values: "+row.Key) {
				t.Errorf("--%s: help %q does not name %s", f.Name, flag.Usage, row.Key)
			}
			if _, custom := customFlags[f.Name]; !custom {
				// A plain flag's default is the chart's, unless the row says otherwise.
				if want := shownDefault(f.Default, row.Default, row.Type()); flag.DefValue != want {
					t.Errorf("--%s defaults to %q, want %q", f.Name, flag.DefValue, want)
				}
				if err := row.Set(&install.Values{}, flag.DefValue); err != nil {
					t.Errorf("--%s: its default does not parse: %v", f.Name, err)
				}
			}
		}
	}
	for name := range customFlags {
		if !seen[name] {
			t.Errorf("customFlags reads --%s, which no row of install.Settings has", name)
		}
	}
	for _, key := range capacitySettings {
		if _, ok := install.SettingOf(key); !ok {
			t.Errorf("capacity setting %s is not in install.Settings", key)
		}
	}
}

// shownDefault is the default text pflag shows for a flag: the flag's own, else the setting's, else
// its type's zero.
func shownDefault(flagDefault, rowDefault string, typ install.Type) string {
	switch {
	case flagDefault != "":
		return flagDefault
	case rowDefault != "":
		return rowDefault
	case typ == install.TypeInt:
		return "0"
	case typ == install.TypeBool:
		return "false"
	}
	return ""
}

// TestFlagErrors: install's errors name chart keys; the user reads them as the flags they
// type, with the key for -f users, worded as before the table.
func TestFlagErrors(t *testing.T) {
	labels := map[string]string{
		"delegateName":                "NAME",
		"accountId":                   "--account-id (accountId)",
		"delegateToken":               "--token-file/--token (delegateToken)",
		"existingDelegateToken":       "--token-secret (existingDelegateToken)",
		"managerEndpoint":             "--manager-endpoint (managerEndpoint)",
		"delegateDockerImage":         "--image (delegateDockerImage)",
		"replicas":                    "--replicas (replicas)",
		"cpu":                         "--cpu (cpu)",
		"memory":                      "--memory (memory)",
		"k8sPermissionsType":          "--role (k8sPermissionsType)",
		"proxyHost":                   "--proxy-host (proxyHost)",
		"proxyPort":                   "--proxy-port (proxyPort)",
		"proxyScheme":                 "--proxy-scheme (proxyScheme)",
		"proxyUser":                   "--proxy-user (proxyUser)",
		"proxyPassword":               "--proxy-password-file (proxyPassword)",
		"noProxy":                     "--no-proxy (noProxy)",
		"delegateCustomCa.secretName": "--ca-file (delegateCustomCa.secretName)",
		"tags":                        "--tags (tags)",
		"minReadySeconds":             "--min-ready-seconds (minReadySeconds)",
		"javaOpts":                    "javaOpts",
	}
	for key, want := range labels {
		if got := settingLabel(key); got != want {
			t.Errorf("settingLabel(%s) = %q, want %q", key, got, want)
		}
	}

	v := install.Values{DelegateName: strings.Repeat("a", 40), ProxyPort: "1", ProxyUser: "u", NoProxy: "n"}.WithDefaults()
	err := flagErrors(fmt.Errorf("checking the settings: %w", install.Validate(v, true)))
	for _, want := range []string{
		"checking the settings: NAME: ",
		"or pass --upgrader=false",
		"--account-id (accountId): required",
		"--token-file/--token (delegateToken): a delegate token is required: --token-file PATH (or - for stdin), or --token-secret NAME of a Secret with key DELEGATE_TOKEN",
		"--proxy-port (proxyPort): is set but --proxy-host is not; give the proxy's host too",
		"--no-proxy (noProxy): is set but --proxy-host is not",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	var fe install.FieldError
	if !errors.As(err, &fe) || fe.Field != "delegateName" {
		t.Errorf("the FieldErrors are lost: %v", fe)
	}

	proxy := install.Values{ProxyHost: "http://p", ProxyPort: "1", ProxyScheme: "http", ProxyUser: "u"}.WithDefaults()
	err = flagErrors(install.Validate(proxy, false))
	for _, want := range []string{
		"put the port in --proxy-port, the scheme in --proxy-scheme and credentials in --proxy-user and --proxy-password-file",
		"--proxy-user (proxyUser): a proxy user needs a password and a password needs a user: give both --proxy-user and --proxy-password-file",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A value is shown as given, never read as the name of a setting.
	braces := install.Values{DelegateName: "d", AccountID: "abc{proxyHost}", ExistingDelegateToken: "s"}.WithDefaults()
	if err := flagErrors(install.Validate(braces, false)); !strings.Contains(err.Error(), `"abc{proxyHost}" is not an account id`) {
		t.Errorf("a value with braces is rewritten: %v", err)
	}
	plain := errors.New("not a setting")
	if flagErrors(plain) != plain || flagErrors(nil) != nil {
		t.Errorf("flagErrors changes errors without a FieldError")
	}
}

// TestSettingsRefusals: inputs that would silently grant more, or become a default, are
// refused in Complete, before any request, naming the flag and what is valid.
func TestSettingsRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--role", ""}, "--role is empty"},
		{[]string{"--role", " "}, "--role is empty"},
		{[]string{"--role", "Role/"}, `--role "Role/" names no Role: give Role/NAME or ClusterRole/NAME`},
		{[]string{"--role", "ClusterRole/"}, `--role "ClusterRole/" names no ClusterRole`},
		{[]string{"--image", ""}, "--image is empty: give a value, or leave the flag out for the default " + install.DefaultImage},
		{[]string{"--manager-endpoint", ""}, "--manager-endpoint is empty"},
		{[]string{"--cpu", ""}, "--cpu is empty"},
	} {
		v, _, err := parseSettings(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: settings %+v, error %v, want %q", c.args, v, err, c.want)
		}
	}
	emptyRole := writeFile(t, "values.yaml", "k8sPermissionsType: \"\"\n")
	if _, _, err := parseSettings(t, "", "-f", emptyRole); err == nil || !strings.Contains(err.Error(), "k8sPermissionsType is empty") {
		t.Errorf("-f with an empty k8sPermissionsType: %v, want it refused", err)
	}
	// Only the explicit name, or no flag at all, means cluster-admin.
	for _, args := range [][]string{{"--role", "cluster-admin"}, nil} {
		v, _, err := parseSettings(t, "", args...)
		if err != nil || v.WithDefaults().K8sPermissionsType != install.PermClusterAdmin {
			t.Errorf("%q: %q, %v", args, v.WithDefaults().K8sPermissionsType, err)
		}
	}
}

// TestSettingsFileLimits: each file a flag names has a size limit, checked before it is read
// whole; the error names the flag and the limit.
func TestSettingsFileLimits(t *testing.T) {
	big := func(name string, size int) string {
		path := filepath.Join(t.TempDir(), name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		// Sparse: the size is there without the bytes, as a stat sees it.
		if err := f.Truncate(int64(size)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	for _, c := range []struct {
		flag  string
		size  int
		limit string
	}{
		{"-f", 45 << 20, "1 MiB"},
		{"--ca-file", 1<<20 + 1, "1 MiB"},
		{"--token-file", 10 << 20, "4 KiB"},
		{"--proxy-password-file", 4<<10 + 1, "4 KiB"},
		{"--init-script-file", 512<<10 + 1, "512 KiB"},
	} {
		_, _, err := parseSettings(t, "", c.flag, big("f", c.size))
		name := c.flag
		if name == "-f" {
			name = "--values"
		}
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "larger than the limit of "+c.limit) {
			t.Errorf("%s of %d bytes: %v, want it refused naming %s and %s", c.flag, c.size, err, name, c.limit)
		}
	}
	// stdin has no size to look at: it is read up to the limit and one byte more.
	_, _, err := parseSettings(t, strings.Repeat("x", 4<<10+1), "--token-file", "-")
	if err == nil || !strings.Contains(err.Error(), "--token-file -: the file is larger than the limit of 4 KiB") {
		t.Errorf("a token of 4 KiB + 1 on stdin: %v", err)
	}
}

// TestUnknownKeysWarningIsCapped: a values file of many unknown keys, or of one huge or
// hostile key, gives one short, escaped warning line.
func TestUnknownKeysWarningIsCapped(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "key%04d: x\n", i)
	}
	fmt.Fprintf(&b, "? %s\n: x\n", strings.Repeat("k", 100000)) // an explicit key: implicit ones stop at 1024
	b.WriteString("\"evil\\e[2J\": x\n")
	_, warn, err := parseSettings(t, "", "-f", writeFile(t, "v.yaml", b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) > 2000 || strings.Count(warn, "\n") != 1 || !strings.Contains(warn, "and 4982 more") {
		t.Errorf("warning of %d bytes, %d lines: %.300q", len(warn), strings.Count(warn, "\n"), warn)
	}
	_, warn, _ = parseSettings(t, "", "-f", writeFile(t, "v.yaml", "\"evil\\e[2J\": x\n"))
	if strings.Contains(warn, "\x1b") {
		t.Errorf("the warning prints an escape sequence: %q", warn)
	}
}
