package cmd

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
	"github.com/kubectl-delegate/kubectl-delegate/internal/table"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

// InspectOptions are the inputs of `kubectl delegate inspect`.
type InspectOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Name   string
	Output string
	Events int

	clusterClient
	now func() time.Time
}

// Inspection is the document inspect -o json|yaml|jsonpath|go-template prints: the delegate,
// with its recent warning events.
type Inspection struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	delegate.Delegate
	WarningEvents []delegate.Event `json:"warningEvents"`
	// unread are the pods whose log could not be read, with why: their registration is
	// unknown, not absent.
	unread map[string]string
}

// NewInspectCommand builds `kubectl delegate inspect` (alias status).
func NewInspectCommand(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &InspectOptions{configFlags: configFlags, IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:     "inspect NAME",
		Aliases: []string{"status"},
		Short:   "Show everything about one delegate, with its recent warning events",
		Example: `  # One delegate in the current namespace
  kubectl delegate inspect prod-delegate

  # In another namespace, as JSON
  kubectl delegate status prod-delegate -n harness-delegate-ng -o json

  # Its image tag, with kubectl's JSONPath
  kubectl delegate inspect prod-delegate -o jsonpath='{.image.tag}'`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return o.delegateNames(cmd.Context(), toComplete), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return runOptions(cmd.Context(), o)
		},
	}
	addOutputFlag(cmd, &o.Output, "text")
	cmd.Flags().IntVar(&o.Events, "events", 10, "How many recent warning events to show")
	return cmd
}

// Complete resolves the namespace and builds the client.
func (o *InspectOptions) Complete() error {
	var err error
	o.clusterClient, err = connect(o.configFlags, false)
	return err
}

// Validate checks the flags.
func (o *InspectOptions) Validate() error {
	if err := validateOutput(o.Output, "text"); err != nil {
		return err
	}
	if o.Events < 0 {
		return fmt.Errorf("--events %d: give 0 or more", o.Events)
	}
	return nil
}

// Run finds the delegate by name and prints it.
func (o *InspectOptions) Run(ctx context.Context) error {
	objs, err := delegate.Gather(ctx, o.client, delegate.GatherOptions{Namespace: o.namespace})
	if err != nil {
		return explainServerError(o.server, err)
	}
	ds := delegate.Build(objs, o.now())
	d, err := findByName(ds, o.Name, o.namespace)
	if err != nil {
		return err
	}
	in := Inspection{APIVersion: delegate.SchemaVersion, Kind: "DelegateInspection", Delegate: d, WarningEvents: []delegate.Event{}}
	in.readRegistrations(ctx, o.client)
	if o.Events > 0 {
		events, err := delegate.WarningEvents(ctx, o.client, d, o.Events)
		if err != nil {
			fmt.Fprintf(o.ErrOut, "warning: cannot read events in %s: %v\n", d.Namespace, err)
		} else if events != nil {
			in.WarningEvents = events
		}
	}
	return printInspectionAs(o.Out, o.Output, in, o.now())
}

// readRegistrations reads whether each started pod registered with the manager, from the
// tail of its current log: one request per pod.
func (in *Inspection) readRegistrations(ctx context.Context, client kubernetes.Interface) {
	regs, errs := diagnose.PodRegistrations(ctx, client, in.Delegate, diagnose.LogOptions{}, redactText(nil))
	in.Pods = slices.Clone(in.Pods)
	for i, p := range in.Pods {
		in.Pods[i].Registered = regs[p.Name].Model()
	}
	for pod, err := range errs {
		if in.unread == nil {
			in.unread = map[string]string{}
		}
		in.unread[pod] = err.Error()
	}
}

// registeredDetail is a pod's REGISTERED cell.
func registeredDetail(p delegate.Pod, unread map[string]string, now time.Time) string {
	switch r := p.Registered; {
	case r != nil:
		s := "yes"
		if r.At != nil {
			s += ", " + age(*r.At, now) + " ago"
		}
		if r.DelegateID != "" {
			s += " (id " + r.DelegateID + ")"
		}
		return s
	case p.Node == "":
		return "no (not started)"
	case unread[p.Name] != "":
		return "unknown (log not read)"
	}
	return "no"
}

// printInspectionAs prints the inspection as text, or in the -o format; -o name prints
// delegate/NAME.
func printInspectionAs(w io.Writer, format string, in Inspection, now time.Time) error {
	if format == "" {
		return printInspection(w, in, now)
	}
	return printDocument(w, format, in, "Delegate", []string{in.Name})
}

// findByName matches the delegate's name or its workload's name; an unknown name lists the
// delegates that do exist.
func findByName(ds []delegate.Delegate, name, namespace string) (delegate.Delegate, error) {
	var names []string
	for _, d := range ds {
		if d.Name == name || d.Workload.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return delegate.Delegate{}, fmt.Errorf("no delegate named %q in namespace %s, and no other delegate there either (try -n NAMESPACE, or kubectl delegate list -A)", name, namespace)
	}
	sort.Strings(names)
	return delegate.Delegate{}, fmt.Errorf("no delegate named %q in namespace %s; delegates there: %s", name, namespace, strings.Join(names, ", "))
}

func (o *InspectOptions) delegateNames(ctx context.Context, prefix string) []string {
	if o.Complete() != nil {
		return nil
	}
	objs, err := delegate.Gather(ctx, o.client, delegate.GatherOptions{Namespace: o.namespace})
	if err != nil {
		return nil
	}
	var names []string
	for _, d := range delegate.Build(objs, o.now()) {
		if strings.HasPrefix(d.Name, prefix) {
			names = append(names, d.Name)
		}
	}
	return names
}

func printInspection(w io.Writer, in Inspection, now time.Time) error {
	d := in.Delegate
	var b strings.Builder
	// Values come from the cluster: escaped, so that none can move the cursor or add a line.
	field := func(label, value string) { fmt.Fprintf(&b, "%-17s %s\n", label+":", printable.String(value)) }
	field("Name", d.Name)
	field("Namespace", d.Namespace)
	field("Install method", installDetail(d))
	field("Workload", fmt.Sprintf("%s/%s (ServiceAccount %s)", d.Workload.Kind, d.Workload.Name, d.Workload.ServiceAccount))
	field("Image", imageRef(d.Image))
	field("Version", versionDetail(d))
	field("Replicas", fmt.Sprintf("%d desired, %d ready, %d available, %d updated", d.Replicas.Desired, d.Replicas.Ready, d.Replicas.Available, d.Replicas.Updated))
	field("Account", cmp.Or(d.AccountID, "not set"))
	field("Manager", cmp.Or(d.ManagerEndpoint, "not set"))
	field("Token", tokenDetail(d.Token))
	field("Proxy", proxyDetail(d.Proxy))
	field("Custom CA", map[bool]string{true: d.CustomCA.Source, false: "none"}[d.CustomCA.Configured])
	field("Upgrader", upgraderDetail(d.Upgrader, now))
	field("RBAC", string(d.RBAC.Mode))
	for _, binding := range d.RBAC.Bindings {
		fmt.Fprintf(&b, "%-17s %s\n", "", printable.String(binding))
	}
	field("Tags", cmp.Or(strings.Join(d.Tags, ", "), "not set"))
	field("Poll for tasks", fmt.Sprint(d.PollForTasks))
	field("Created", age(d.CreatedAt, now)+" ago")
	if d.Duplicate != nil {
		field("Warning", fmt.Sprintf("the name %q is also used in namespace(s) %s: one of them may self-destruct", d.Name, strings.Join(d.Duplicate.OtherNamespaces, ", ")))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nPods:")
	if len(d.Pods) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		rows := make([][]string, 0, len(d.Pods))
		for _, p := range d.Pods {
			rows = append(rows, []string{p.Name, strconv.FormatBool(p.Ready), podStatus(p),
				restarts([]delegate.Pod{p}, now), lastTermination(p), registeredDetail(p, in.unread, now), cmp.Or(p.Node, "none"), age(p.CreatedAt, now)})
		}
		if err := table.Write(indent{w}, []string{"NAME", "READY", "STATUS", "RESTARTS", "LAST TERMINATION", "REGISTERED", "NODE", "AGE"}, rows); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nWarning events:")
	if len(in.WarningEvents) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	rows := make([][]string, 0, len(in.WarningEvents))
	for _, e := range in.WarningEvents {
		rows = append(rows, []string{age(e.LastSeen, now), fmt.Sprintf("x%d", e.Count), e.Object, e.Reason, e.Message})
	}
	return table.Write(indent{w}, []string{"LAST SEEN", "COUNT", "OBJECT", "REASON", "MESSAGE"}, rows)
}

// indent prefixes every line with two spaces, to set tables under their heading.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	lines := strings.SplitAfter(string(p), "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString("  " + l)
		}
	}
	if _, err := io.WriteString(i.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func installDetail(d delegate.Delegate) string {
	switch d.InstallMethod {
	case delegate.Helm:
		s := "helm, release " + d.Helm.Release
		if d.Helm.Chart != "" {
			s += ", chart " + d.Helm.Chart + "-" + d.Helm.ChartVersion
		}
		return s
	case delegate.Plugin:
		return "kubectl delegate " + orUnknown(d.PluginVersion)
	case delegate.Legacy:
		return "legacy StatefulSet (out of support since 2024-01-31)"
	}
	return "manifest"
}

func versionDetail(d delegate.Delegate) string {
	if d.Version == "" {
		return "unknown (tag " + strings.TrimSpace(cmp.Or(d.Image.Tag, "none")) + " names no release)"
	}
	s := d.Version
	if d.Minimal {
		s += " minimal"
	}
	sp := d.Support
	if sp.Released == nil || sp.EndOfSupport == nil || sp.EndOfLife == nil {
		return fmt.Sprintf("%s, %s", s, sp.Status) // the dates are unknown: never a nil dereference
	}
	return fmt.Sprintf("%s, released %s, %s (end of support %s, end of life %s)", s, sp.Released.Format("2006-01"), sp.Status,
		sp.EndOfSupport.Format("2006-01-02"), sp.EndOfLife.Format("2006-01-02"))
}

func tokenDetail(t delegate.TokenRef) string {
	state := "could not be read"
	if t.Present != nil {
		state = map[bool]string{true: "present", false: "MISSING or empty"}[*t.Present]
	}
	switch {
	case t.Source == delegate.TokenFromSecret && t.Present == nil:
		// Unknown is not missing: the user may not read Secrets.
		return fmt.Sprintf("Secret %s, key %s: unknown (Secrets not readable)", t.SecretName, t.SecretKey)
	case t.Source == delegate.TokenFromSecret:
		return fmt.Sprintf("Secret %s, key %s (%s)", t.SecretName, t.SecretKey, state)
	case t.Source == delegate.TokenInline:
		return fmt.Sprintf("inline in the pod spec as %s (%s): anyone who can read the workload can read it", t.Variable, state)
	}
	return "MISSING: no DELEGATE_TOKEN in the delegate's environment"
}

func proxyDetail(p delegate.Proxy) string {
	if !p.Configured {
		return "none"
	}
	s := p.Host
	if p.Port != "" {
		s += ":" + p.Port
	}
	if p.Scheme != "" {
		s = p.Scheme + "://" + s
	}
	if p.HasCredentials {
		s += ", with credentials"
	}
	return s + ", NO_PROXY " + cmp.Or(p.NoProxy, "not set")
}

func upgraderDetail(u *delegate.Upgrader, now time.Time) string {
	if u == nil {
		return "none"
	}
	s := fmt.Sprintf("CronJob %s, schedule %q", u.CronJob, u.Schedule)
	if u.Suspended {
		s += ", SUSPENDED"
	}
	if u.LastSchedule != nil {
		s += fmt.Sprintf(", last run %s ago: %s", age(*u.LastSchedule, now), orUnknown(u.LastResult))
	} else {
		s += ", not run yet"
	}
	return s
}

func podStatus(p delegate.Pod) string {
	if p.Waiting != "" {
		return p.Waiting
	}
	return p.Phase
}

func lastTermination(p delegate.Pod) string {
	if p.LastTermination == nil {
		return "-"
	}
	return fmt.Sprintf("%s (exit %d)", p.LastTermination.Reason, p.LastTermination.ExitCode)
}
