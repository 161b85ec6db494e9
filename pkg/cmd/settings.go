package cmd

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/install"
)

// settingsFlags are the delegate settings install and upgrade take, by flag or from a Helm
// values file; doctor --pre takes the capacity ones. The flags are install.Settings' rows.
// Only flags the user set count, so that -f and an upgrade's recorded settings are not
// overwritten by flag defaults.
type settingsFlags struct {
	flags      *pflag.FlagSet
	valuesFile string
}

// capacitySettings are the settings doctor --pre takes too.
var capacitySettings = []string{"replicas", "cpu", "memory", "k8sPermissionsType", "upgrader.enabled"}

func (s *settingsFlags) addCapacity(fs *pflag.FlagSet) {
	s.flags = fs
	for _, key := range capacitySettings {
		row, _ := install.SettingOf(key)
		addSettingFlags(fs, row)
	}
}

func (s *settingsFlags) addAll(fs *pflag.FlagSet) {
	s.addCapacity(fs)
	fs.StringVarP(&s.valuesFile, "values", "f", "", "A Helm values file for the chart harness-delegate-ng; flags override it")
	for _, row := range install.Settings {
		if !slices.Contains(capacitySettings, row.Key) {
			addSettingFlags(fs, row)
		}
	}
}

// addSettingFlags registers a setting's flags, typed as the setting is so that pflag rejects
// --replicas=many itself; a flag read by customFlags takes text.
func addSettingFlags(fs *pflag.FlagSet, row install.Setting) {
	for _, f := range row.Flags {
		if _, custom := customFlags[f.Name]; custom {
			fs.String(f.Name, f.Default, f.Help)
			continue
		}
		def := cmp.Or(f.Default, row.Default)
		switch row.Type() {
		case install.TypeInt:
			n, _ := strconv.ParseInt(def, 10, 32) // "" is 0; TestSettingFlags parses every default
			fs.Int32(f.Name, int32(n), f.Help)
		case install.TypeBool:
			fs.Bool(f.Name, def == "true", f.Help)
		default:
			fs.String(f.Name, def, f.Help)
		}
	}
}

// settingInput is what the flags that read a file may read and warn on.
type settingInput struct {
	stdin io.Reader
	warn  io.Writer
}

// customFlags read the flags whose value is not the setting itself: a file or stdin to read,
// an inline secret to warn about, --role's Role/NAME and short names.
var customFlags = map[string]func(value string, v *install.Values, in settingInput) error{
	"token-file": func(path string, v *install.Values, in settingInput) (err error) {
		v.DelegateToken, err = readSecretFile("--token-file", path, in.stdin)
		return err
	},
	"token": func(token string, v *install.Values, in settingInput) error {
		fmt.Fprintln(in.warn, "Warning: --token leaves the token in your shell history and process list; prefer --token-file or --token-secret")
		v.DelegateToken = strings.TrimSpace(token)
		return nil
	},
	"proxy-password-file": func(path string, v *install.Values, in settingInput) (err error) {
		v.ProxyPassword, err = readSecretFile("--proxy-password-file", path, in.stdin)
		return err
	},
	"ca-file": func(path string, v *install.Values, _ settingInput) error {
		data, err := readLimited("--ca-file", path, limitCA, nil)
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(data))) == 0 {
			return fmt.Errorf("--ca-file %s is empty: it must hold one or more -----BEGIN CERTIFICATE----- blocks", path)
		}
		v.CACertificates = string(data)
		return nil
	},
	"init-script-file": func(path string, v *install.Values, _ settingInput) error {
		data, err := readLimited("--init-script-file", path, limitInitScript, nil)
		if err != nil {
			return err
		}
		v.InitScript = string(data)
		return nil
	},
	"role": func(role string, v *install.Values, _ settingInput) error {
		// An empty name (--role " ", --role Role/$UNSET) would fall back to the default,
		// cluster-admin: the broadest grant must be asked for by name or by leaving the flag out.
		kind, name, explicit := strings.Cut(role, "/")
		switch {
		case strings.TrimSpace(role) == "":
			return errors.New("--role is empty: give cluster-admin, cluster-viewer, namespace-admin or the name of a Role or ClusterRole, or leave the flag out for cluster-admin")
		case explicit && strings.TrimSpace(name) == "":
			return fmt.Errorf("--role %q names no %s: give Role/NAME or ClusterRole/NAME, or cluster-admin, cluster-viewer or namespace-admin", role, kind)
		case explicit:
			v.CustomRoleKind, v.K8sPermissionsType = kind, name
		default:
			v.K8sPermissionsType = install.PermissionsType(role)
		}
		return nil
	},
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
		fromFile, err := readValuesFile(s.valuesFile, warn)
		if err != nil {
			return v, err
		}
		v = fromFile
	}
	f, err := s.flagValues(settingInput{stdin: stdin, warn: warn})
	if err != nil {
		return v, err
	}
	return v.Overlay(f), nil
}

// flagValues are the settings of the flags the user set.
func (s *settingsFlags) flagValues(in settingInput) (install.Values, error) {
	var v install.Values
	sources := 0
	for _, flag := range []string{"token", "token-file", "token-secret"} {
		if s.changed(flag) {
			sources++
		}
	}
	if sources > 1 {
		return v, fmt.Errorf("--token, --token-file and --token-secret: give one of them, not %d", sources)
	}
	for _, row := range install.Settings {
		for _, f := range row.Flags {
			if !s.changed(f.Name) {
				continue
			}
			text := s.flags.Lookup(f.Name).Value.String()
			if text == "" && row.Default != "" {
				// An empty value would be unset and so quietly become the default.
				return v, fmt.Errorf("--%s is empty: give a value, or leave the flag out for the default %s", f.Name, cmp.Or(f.Default, row.Default))
			}
			var err error
			if read, custom := customFlags[f.Name]; custom {
				err = read(text, &v, in)
			} else {
				err = row.Set(&v, text)
			}
			if err != nil {
				return v, err
			}
		}
	}
	return v, nil
}

// readValuesFile reads a Helm values file; keys it does not use are a warning.
func readValuesFile(path string, warn io.Writer) (install.Values, error) {
	data, err := readLimited("--values", path, limitValues, nil)
	if err != nil {
		return install.Values{}, err
	}
	v, unknown, err := install.DecodeValues(data)
	if errors.Is(err, install.ErrNotYAML) {
		return v, fmt.Errorf("--values %s is %w", path, err)
	}
	if err != nil {
		return v, fmt.Errorf("--values %s: %w", path, err)
	}
	if len(unknown) > 0 {
		fmt.Fprintf(warn, "Warning: %s: these chart values are not supported by kubectl delegate and are not applied: %s\n", path, unknownKeys(unknown))
	}
	return v, nil
}

// maxUnknownKeys and maxKeyLength cap the unknown-keys warning: a values file of thousands
// of keys (or one key of megabytes) gives one readable line, escaped for the terminal.
const (
	maxUnknownKeys = 20
	maxKeyLength   = 80
)

func unknownKeys(keys []string) string {
	shown := make([]string, 0, min(len(keys), maxUnknownKeys))
	for _, k := range keys[:min(len(keys), maxUnknownKeys)] {
		if len(k) > maxKeyLength {
			k = k[:maxKeyLength] + "…"
		}
		shown = append(shown, printable.String(k))
	}
	text := strings.Join(shown, ", ")
	if more := len(keys) - len(shown); more > 0 {
		text += fmt.Sprintf(" and %d more", more)
	}
	return text
}

// flagErrors spells the settings that install's FieldErrors name as the flags a user types,
// with the chart key for whoever set it with -f: "--account-id (accountId): required ...".
// The error still unwraps to what it was.
func flagErrors(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, fe := range fieldErrors(err) {
		msg = strings.Replace(msg, fe.Error(), settingLabel(fe.Field)+": "+fe.Message(settingRef), 1)
	}
	if msg == err.Error() {
		return err
	}
	return &flaggedError{msg: msg, err: err}
}

type flaggedError struct {
	msg string
	err error
}

func (e *flaggedError) Error() string { return e.msg }
func (e *flaggedError) Unwrap() error { return e.err }

// fieldErrors are the FieldErrors in err's tree, joined or wrapped.
func fieldErrors(err error) []install.FieldError {
	if fe, ok := err.(install.FieldError); ok {
		return []install.FieldError{fe}
	}
	var out []install.FieldError
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = fieldErrors(e)
		}
	}
	return out
}

// settingLabel names a setting at the start of an error: its flags and its chart key.
func settingLabel(key string) string {
	row, ok := install.SettingOf(key)
	switch {
	case key == "delegateName":
		return "NAME"
	case !ok || len(row.Flags) == 0:
		return key
	}
	names := make([]string, len(row.Flags))
	for i, f := range row.Flags {
		names[i] = "--" + f.Name
	}
	return strings.Join(names, "/") + " (" + key + ")"
}

// settingRef names a setting inside an error's message: the flag to set, and what it takes.
func settingRef(key string) string {
	row, ok := install.SettingOf(key)
	switch {
	case key == "delegateName":
		return "NAME"
	case !ok || len(row.Flags) == 0:
		return key
	}
	f := row.Flags[0]
	return strings.TrimSpace("--" + f.Name + " " + f.Arg)
}

// readSecretFile reads a token or password from a file or stdin, trimmed of the newline
// editors add. The error names the flag, never the content.
func readSecretFile(flag, path string, stdin io.Reader) (string, error) {
	data, err := readLimited(flag, path, limitSecretFile, stdin)
	if err != nil {
		return "", err
	}
	value := strings.TrimSpace(string(data))
	if value == "" {
		return "", fmt.Errorf("%s %s: the file is empty", flag, path)
	}
	return value, nil
}
