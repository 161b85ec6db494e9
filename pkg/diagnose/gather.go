package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// GatherOptions say what doctor reads.
type GatherOptions struct {
	// Namespace to check; "" for all namespaces.
	Namespace     string
	SupportMatrix SupportMatrix
	Logs          LogOptions
	// Select narrows the delegates (doctor NAME) before their logs are read; nil keeps all.
	Select func([]delegate.Delegate) ([]delegate.Delegate, error)
	// SkipLogs leaves the logs to the caller: collect reads each log once, for its file and
	// for the snapshot's tail (TailWriter), and fills Logs itself.
	SkipLogs bool
	// Objects, when set, receives the objects the delegates were built from (collect writes
	// them into the bundle without asking the API server again).
	Objects func(*delegate.Objects)
	Now     func() time.Time
	// NewRedactor, when set, makes the function that hides secrets in every log text, event
	// message and condition message before it enters the Snapshot (checks quote them), from
	// the secret values gather met: the delegates' Secrets and inline sensitive variables.
	// pkg/bundle's Redactor, as in a bundle; nil keeps them as read.
	NewRedactor func(secrets []string) func(string) string
}

// Gather builds a Snapshot from the live cluster: the delegates (delegate.Gather's fixed set
// of paginated LISTs), the server version and the warning events in scope, in parallel; then
// the tails of the delegate pods' logs.
func Gather(ctx context.Context, client kubernetes.Interface, opts GatherOptions) (*Snapshot, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Snapshot{SupportMatrix: opts.SupportMatrix}
	var wg sync.WaitGroup
	var objs *delegate.Objects
	var objsErr, eventsErr, err error
	wg.Add(3)
	go func() {
		defer wg.Done()
		objs, objsErr = delegate.Gather(ctx, client, delegate.GatherOptions{Namespace: opts.Namespace, SecretValues: opts.NewRedactor != nil, UpgraderRuns: true})
	}()
	go func() {
		defer wg.Done()
		// An unknown server version skips the version check; it does not stop doctor.
		if v, err := ServerVersion(ctx, client); err == nil {
			s.ServerVersion = v.GitVersion
		}
	}()
	go func() {
		defer wg.Done()
		s.Events, eventsErr = delegate.ListWarningEvents(ctx, client, opts.Namespace)
	}()
	wg.Wait()
	if objsErr != nil {
		return nil, objsErr
	}
	if eventsErr != nil {
		// Without events Pending pods are still reported, with less detail.
		s.Events = nil
	}
	if opts.Objects != nil {
		opts.Objects(objs)
	}
	s.CollectedAt = opts.Now()
	s.Delegates = delegate.Build(objs, s.CollectedAt)
	if opts.Select != nil {
		if s.Delegates, err = opts.Select(s.Delegates); err != nil {
			return nil, err
		}
	}
	if opts.Namespace != "" {
		// The namespace's LISTs cannot see the same name used in another: one more LIST.
		delegate.FindNamesElsewhere(ctx, client, s.Delegates, 500)
	}
	if needsNodeCapacity(s.Delegates) {
		if s.Nodes, err = gatherNodeCapacity(ctx, client, nil); err != nil {
			s.Nodes, s.NodesError = nil, "node capacity could not be read: "+err.Error()
		}
	}
	s.Access = gatherAccess(ctx, client, s.Delegates)
	redact := func(s string) string { return s }
	if opts.NewRedactor != nil {
		redact = opts.NewRedactor(objs.SecretValues)
		redactQuoted(s, redact)
	}
	s.Logs = map[string]PodLogs{}
	if !opts.SkipLogs {
		s.Logs = gatherLogs(ctx, client, s.Delegates, opts.Logs, redact)
	}
	return s, ctx.Err()
}

// redactQuoted hides secrets in the texts from the cluster that findings quote verbatim
// besides logs: event messages (an admission webhook's refusal may quote the value it
// refused, a probe its output), the workloads' condition messages and a failed upgrader
// Job's message. A bundle's snapshot is redacted whole; this makes live doctor say no more.
func redactQuoted(s *Snapshot, redact func(string) string) {
	for i := range s.Events {
		s.Events[i].Message = redact(s.Events[i].Message)
	}
	for i := range s.Delegates {
		d := &s.Delegates[i]
		for j := range d.Rollout.Conditions {
			d.Rollout.Conditions[j].Message = redact(d.Rollout.Conditions[j].Message)
		}
		if d.Upgrader != nil && d.Upgrader.LastJob != nil {
			d.Upgrader.LastJob.Message = redact(d.Upgrader.LastJob.Message)
		}
	}
}

// ServerVersion is the API server's version, read within ctx: discovery's ServerVersion
// takes no context, so a server that accepts and never answers held doctor and collect past
// Ctrl-C and any deadline. A discovery client without a REST client (client-go's fake) is
// asked directly.
func ServerVersion(ctx context.Context, client kubernetes.Interface) (*version.Info, error) {
	rc := client.Discovery().RESTClient()
	if rc == nil {
		return client.Discovery().ServerVersion()
	}
	body, err := rc.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("reading the server's version: %w", err)
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("decoding the server's version: %w", err)
	}
	return &info, nil
}
