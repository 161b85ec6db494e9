package cmd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// TestInstallSettings pins the flags -> install.Config mapping (stern's TestOptionsSternConfig).
func TestInstallSettings(t *testing.T) {
	base := install.Config{Namespace: install.DefaultNamespace, PluginVersion: buildinfo.Version, Wait: true, WaitFor: install.UntilRegistered, Timeout: 10 * time.Minute}
	for _, tc := range []struct {
		args []string
		want func(s *install.Config)
	}{
		{nil, func(*install.Config) {}},
		{[]string{"-n", "ops"}, func(s *install.Config) { s.Namespace = "ops" }},
		{[]string{"--dry-run=server"}, func(s *install.Config) { s.DryRun = true }},
		{[]string{"--dry-run"}, func(*install.Config) {}}, // a client dry run never reaches the installer
		{[]string{"--force-conflicts", "--skip-preflight"}, func(s *install.Config) { s.ForceConflicts, s.SkipPreflight = true, true }},
		{[]string{"--wait=false", "--timeout", "2m"}, func(s *install.Config) { s.Wait, s.Timeout = false, 2*time.Minute }},
		{[]string{"--wait-for=rollout"}, func(s *install.Config) { s.WaitFor = install.UntilRollout }},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			flags := genericclioptions.NewConfigFlags(false)
			o := &InstallOptions{configFlags: flags}
			cmd := newInstallCommand(o)
			cmd.Flags().StringVarP(flags.Namespace, "namespace", "n", "", "") // the root's, in the plugin
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			o.namespace = installNamespace(flags)
			want := base
			tc.want(&want)
			got := o.installSettings()
			checkRedact(t, got.Redact)
			if got.Redact = nil; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Errorf("settings\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// checkRedact: the log lines read while waiting lose their secrets before they are printed.
func checkRedact(t *testing.T, redact func(string) string) {
	t.Helper()
	const line = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZWxlZ2F0ZSJ9.c2lnbmF0dXJlLXZhbHVl"
	if redact == nil {
		t.Fatal("no redactor for the log lines read while waiting")
	}
	if got := redact(line); strings.Contains(got, "eyJzdWIiOiJkZWxlZ2F0ZSJ9") {
		t.Errorf("redact(%q) = %q: the token shows", line, got)
	}
}

// TestWaitForFlag: --wait-for is checked before any request, naming the flag and the values.
func TestWaitForFlag(t *testing.T) {
	for _, value := range []string{"registered", "rollout"} {
		if err := (applyFlags{WaitFor: value, Timeout: time.Minute}).validateWait(); err != nil {
			t.Errorf("--wait-for %s: %v", value, err)
		}
	}
	err := (applyFlags{WaitFor: "ready", Timeout: time.Minute}).validateWait()
	if want := `--wait-for "ready": use registered or rollout`; err == nil || err.Error() != want {
		t.Errorf("--wait-for ready: %v, want %s", err, want)
	}
}

// TestUpgradeSettings pins the upgrade's flags -> install.Config mapping, and the flags only
// a plugin install takes.
func TestUpgradeSettings(t *testing.T) {
	base := install.Config{Namespace: install.DefaultNamespace, PluginVersion: buildinfo.Version, Wait: true, WaitFor: install.UntilRegistered, Timeout: 10 * time.Minute, Atomic: true}
	for _, tc := range []struct {
		args       []string
		want       func(s *install.Config)
		pluginOnly []string
	}{
		{[]string{"--image", "x"}, func(*install.Config) {}, nil},
		{[]string{"--atomic=false", "--wait=false"}, func(s *install.Config) { s.Atomic, s.Wait = false, false }, nil},
		{[]string{"--wait-for", "rollout"}, func(s *install.Config) { s.WaitFor = install.UntilRollout }, nil},
		{[]string{"--force", "--force-conflicts"}, func(s *install.Config) { s.TakeOverHelm, s.ForceConflicts = true, true }, nil},
		{[]string{"--dry-run=server", "-n", "ops"}, func(s *install.Config) { s.DryRun, s.Namespace = true, "ops" }, nil},
		{[]string{"--role", "cluster-viewer", "--token", "t", "--replicas", "2"}, func(*install.Config) {}, []string{"--role", "--token"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			flags := genericclioptions.NewConfigFlags(false)
			o := &UpgradeOptions{configFlags: flags}
			cmd := newUpgradeCommand(o)
			cmd.Flags().StringVarP(flags.Namespace, "namespace", "n", "", "") // the root's, in the plugin
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			o.namespace = installNamespace(flags)
			want := base
			tc.want(&want)
			got := o.upgradeSettings()
			checkRedact(t, got.Redact)
			if got.Redact = nil; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Errorf("settings\n%+v\nwant\n%+v", got, want)
			}
			if got := o.pluginOnlyFlags(); !slices.Equal(got, tc.pluginOnly) {
				t.Errorf("plugin-only flags %v, want %v", got, tc.pluginOnly)
			}
		})
	}
}

// TestExplainInstallError: pkg/cmd names the flag behind each installer error, with the
// messages the commands printed before the installer moved to pkg/install.
func TestExplainInstallError(t *testing.T) {
	cause := errors.New("cause")
	for _, tc := range []struct {
		err      error
		want     string
		exitCode int
	}{
		{&install.ConflictError{Conflicts: []install.Conflict{{Ref: "ns/ConfigMap/prod", Owner: `Helm release "prod"`}}},
			"1 object(s) already exist and belong to someone else; nothing was changed:\n  ns/ConfigMap/prod belongs to Helm release \"prod\"\n" +
				"Uninstall the other installation first (helm uninstall, or kubectl delete -f the manifest), or pass --force-conflicts to take the objects over", 0},
		{&install.FieldConflictError{Ref: "ns/ConfigMap/prod", Err: cause},
			"ns/ConfigMap/prod: other field managers own fields install would change (pass --force-conflicts to take them over): cause", 0},
		{&install.RejectedError{What: "upgrade", Err: &install.FieldConflictError{Ref: "ns/ConfigMap/prod", Err: cause}},
			"the API server rejected the upgrade, nothing was changed: ns/ConfigMap/prod: other field managers own fields install would change (pass --force-conflicts to take them over): cause", 0},
		{&install.RejectedError{What: "install", Err: cause}, "the API server rejected the install, nothing was changed: cause", 0},
		{&install.RoleError{Role: "deployer", Namespace: "ns"},
			"--role deployer: no Role deployer in namespace ns and no ClusterRole deployer; create it first, or use cluster-admin, cluster-viewer or namespace-admin", 0},
		{&install.ClusterError{Err: &install.RoleError{Role: "deployer", Err: cause}},
			"looking up --role deployer: cause", 0}, // not a transport error: not blamed on reaching the server
		{&install.PreflightError{}, "preflight failed: fix the failures above, or pass --skip-preflight to install anyway", 3},
		{&install.NamespaceMissingError{Namespace: "ns", Err: cause}, "--dry-run=server needs namespace ns to exist (install creates it; a dry run cannot): cause", 0},
		{&install.HelmOwnedError{Delegate: "d", Release: "r", Command: "helm upgrade r"},
			"delegate d belongs to Helm release \"r\", which would undo this change on its next upgrade; run:\n  helm upgrade r\nor pass --force to change it here anyway", 0},
		{&install.ManifestError{Delegate: "d", Method: delegate.Manifest, Settings: []string{"--role", "--token"}},
			"delegate d was installed by manifest, whose objects this plugin does not own; --role, --token cannot be changed here: reinstall it with kubectl delegate install, or change the manifest", 0},
		{&install.KeptError{Namespace: "ns", Deployment: "d", Err: cause},
			"cause\nthe new revision stays in place (--atomic=false): kubectl rollout undo deployment/d -n ns goes back", 0},
		{&install.RolledBackError{Deployment: "d", Lowest: 1, Desired: 2, TokenRotated: true, Err: cause},
			"upgrade of d failed and was rolled back: the previous revision is serving again (1 of 2 replicas stayed available throughout). The new token stays in the token Secret.\nwhy it failed: cause", 1},
		{&install.RegistrationError{Namespace: "ns", Deployment: "d", Pod: "d-1", Cause: "the token is wrong", Fix: "make a new one", Line: "used invalid token"},
			"pod d-1 of deployment ns/d will not register with the manager: the token is wrong: \"used invalid token\"\n  fix: make a new one\n" +
				"  (doctor's DLG-501 finding: kubectl delegate doctor d -n ns)", 1},
		// A registration failure rolled back, or kept, still points at doctor's finding.
		{&install.RolledBackError{Deployment: "d", Lowest: 1, Desired: 1, Err: &install.RegistrationError{Namespace: "ns", Deployment: "d", Pod: "d-1", Cause: "the account id is wrong", Fix: "set it", Line: "Account ID: x not found"}},
			"upgrade of d failed and was rolled back: the previous revision is serving again (1 of 1 replicas stayed available throughout).\nwhy it failed: " +
				"pod d-1 of deployment ns/d will not register with the manager: the account id is wrong: \"Account ID: x not found\"\n  fix: set it\n" +
				"  (doctor's DLG-501 finding: kubectl delegate doctor d -n ns)", 1},
		{&install.KeptError{Namespace: "ns", Deployment: "d", Err: &install.RegistrationError{Namespace: "ns", Deployment: "d", Pod: "d-1", Cause: "c", Fix: "f", Line: "l"}},
			"pod d-1 of deployment ns/d will not register with the manager: c: \"l\"\n  fix: f\n  (doctor's DLG-501 finding: kubectl delegate doctor d -n ns)\n" +
				"the new revision stays in place (--atomic=false): kubectl rollout undo deployment/d -n ns goes back", 0},
		{install.ErrNothingToChange, "nothing to change: name what to upgrade, e.g. --image, --replicas, --cpu, --memory, --tags", 0},
		{cause, "cause", 0},
	} {
		err := explainInstallError("https://example:6443", tc.err)
		if err.Error() != tc.want {
			t.Errorf("%T:\n%s\nwant\n%s", tc.err, err, tc.want)
		}
		code := 0 // a plain error, exit code 1 as any other
		var exit *exitError
		if errors.As(err, &exit) {
			code = exit.code
		}
		if code != tc.exitCode {
			t.Errorf("%T: exit code %d, want %d", tc.err, code, tc.exitCode)
		}
	}
}

// TestStepPrinter: the installer's steps print as kubectl apply and rollout status print.
func TestStepPrinter(t *testing.T) {
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	p := newStepPrinter(streams)
	for _, e := range []install.Event{
		{Kind: install.NamespaceCreated, Ref: "ops"},
		{Kind: install.Applied, Ref: "ops/Deployment/prod", Action: "configured"},
		{Kind: install.Applied, Ref: "ClusterRoleBinding/prod-cluster-admin", Action: "unchanged"},
		{Kind: install.Rollout, Deployment: "prod", Rollout: install.RolloutStatus{Message: "1 of 2 updated replicas are available"}},
		{Kind: install.Rollout, Deployment: "prod", Rollout: install.RolloutStatus{Message: "2 of 2 replicas available", Done: true}},
		{Kind: install.Registration, Deployment: "prod", Registration: install.RegistrationStatus{Registered: 1, Pods: 2}},
		{Kind: install.Registration, Deployment: "prod", Registration: install.RegistrationStatus{Registered: 2, Pods: 2}},
		{Kind: install.Deleted, Ref: "Namespace/ops"},
		{Kind: install.RollingBack, Err: errors.New("crash")},
		{Kind: install.HelmTakeOver, Delegate: "prod", Ref: "rel"},
	} {
		p.event(e)
	}
	p.close()
	wantOut := "namespace/ops created\ndeployment/prod configured\nclusterrolebinding/prod-cluster-admin unchanged\n" +
		"Waiting for deployment prod rollout: 1 of 2 updated replicas are available\ndeployment prod: 2 of 2 replicas available\n" +
		"Waiting for delegate prod to register with the manager: 1 of 2 pods registered\ndelegate prod: 2 of 2 pods registered with the manager\nnamespace/ops deleted\n"
	if out.String() != wantOut {
		t.Errorf("stdout:\n%s\nwant\n%s", out, wantOut)
	}
	wantErr := "Upgrade failed: crash\nRolling back to the previous revision...\n" +
		"Warning: delegate prod belongs to Helm release \"rel\"; the next helm upgrade will revert this change\n"
	if errOut.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant\n%s", errOut, wantErr)
	}
}

// TestPrintObjectsDryRun: -o yaml is each object as YAML between --- lines, as before the
// cli-runtime printers; -o json a List; Secrets redacted unless asked.
func TestPrintObjectsDryRun(t *testing.T) {
	const token = "dG9rZW4tdGhhdC1tdXN0LW5vdC1wcmludA=="
	v := install.Values{DelegateName: "prod", AccountID: "acc01", DelegateToken: token}.WithDefaults()
	objs := install.Render(v, install.RenderOptions{Namespace: "ops", PluginVersion: "v0.0.0-test"})
	redacted := base64.StdEncoding.EncodeToString([]byte("REDACTED"))

	var want bytes.Buffer
	for i, obj := range objs {
		u, err := install.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		if obj.IsSecret() {
			redactSecretData(u.Object)
		}
		data, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			want.WriteString("---\n")
		}
		want.Write(data)
	}
	var got bytes.Buffer
	if err := printObjects(&got, "yaml", objs, nil, false); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("-o yaml differs from each object's YAML between --- lines:\n%s", got.String())
	}
	if strings.Contains(got.String(), token) || !strings.Contains(got.String(), redacted) {
		t.Error("-o yaml does not redact the token")
	}

	got.Reset()
	if err := printObjects(&got, "json", objs, nil, false); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(got.Bytes(), &list); err != nil || list.Kind != "List" || len(list.Items) != len(objs) {
		t.Fatalf("-o json: %v, kind %q with %d items, want a List of %d\n%s", err, list.Kind, len(list.Items), len(objs), got.String())
	}
	if strings.Contains(got.String(), token) {
		t.Error("-o json printed the token")
	}

	got.Reset()
	if err := printObjects(&got, "json", objs, nil, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.String(), base64.StdEncoding.EncodeToString([]byte(token))) {
		t.Error("--show-secrets does not show the token")
	}
}

// TestValidateTimeout: a timeout of 0 or less would end the wait before its first look.
func TestValidateTimeout(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0} {
		if err := validateTimeout(d); err == nil || !strings.Contains(err.Error(), "--timeout "+d.String()+": must be more than 0") {
			t.Errorf("--timeout %s: %v", d, err)
		}
	}
	if err := validateTimeout(time.Minute); err != nil {
		t.Error(err)
	}
}

// TestUpgradeReplicasSized: an upgrade to more replicas than the documented sizing covers
// is refused, as an install is, unless --force (issue 12, point 9).
func TestUpgradeReplicasSized(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"--replicas", "8"}, false},
		{[]string{"--replicas", "100000"}, true},
		{[]string{"--replicas", "100000", "--force"}, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o := &UpgradeOptions{configFlags: genericclioptions.NewConfigFlags(false), Name: "d"}
			cmd := newUpgradeCommand(o)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			var err error
			if o.changes, err = o.settings.values(strings.NewReader(""), io.Discard); err != nil {
				t.Fatal(err)
			}
			err = flagErrors(o.Validate())
			if !tc.wantErr {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			for _, want := range []string{"--replicas", "more than the 8 replicas", "--force"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("the error lacks %q: %v", want, err)
				}
			}
		})
	}
}
