package diagnose

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// Connector is a Harness connector as far as choosing its delegate goes: Harness sends the
// connector's tasks to a delegate whose tags include every one of its delegateSelectors,
// unless executeOnDelegate is false (the Harness platform then connects itself).
type Connector struct {
	Identifier string `json:"identifier"`
	Name       string `json:"name,omitempty"`
	Type       string `json:"type"`
	// ExecuteOnDelegate is spec.executeOnDelegate; true when the connector does not say (the
	// types without the setting always run on a delegate).
	ExecuteOnDelegate bool     `json:"executeOnDelegate"`
	Selectors         []string `json:"delegateSelectors,omitempty"`
}

// maxConnectorDocuments bounds the documents of one file: an export of a whole account
// holds a few hundred connectors, and each costs a pass over the delegates.
const maxConnectorDocuments = 1000

// connectorTypes are the type values of Harness connectors (the ConnectorType enum of the
// Harness NG API). An unknown type is refused rather than guessed at: it is usually a file
// that is not a connector, or a typo that Harness would refuse too.
var connectorTypes = []string{
	"AppDynamics", "Artifactory", "Aws", "AwsKms", "AwsSecretManager", "Azure", "AzureArtifacts",
	"AzureKeyVault", "AzureRepo", "Bamboo", "Bitbucket", "CEAws", "CEAzure", "CEK8sCluster",
	"CustomHealth", "CustomSecretManager", "Datadog", "DockerRegistry", "Dynatrace",
	"ElasticSearch", "ErrorTracking", "Gcp", "GcpCloudCost", "GcpKms", "GcpSecretManager", "Git",
	"Github", "Gitlab", "HttpHelmRepo", "Jenkins", "Jira", "K8sCluster", "NewRelic", "Nexus",
	"OciHelmRepo", "PagerDuty", "Pdc", "Prometheus", "Rancher", "ServiceNow", "SignalFX",
	"Splunk", "Spot", "SumoLogic", "Tas", "TerraformCloud", "Vault",
}

// ParseConnectors reads one or more Harness connectors from YAML or JSON: documents
// separated by ---, each a connector as Harness exports it (connector: {identifier, type,
// spec}), a list of them, or the Harness API's answer (data.connector, data.content[]). Errors name the document (when there are several) and the
// field, e.g. connector.spec.delegateSelectors[1].
func ParseConnectors(data []byte) ([]Connector, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errors.New("no connector in the file: expected connector: {identifier, type, spec}")
	}
	var out []Connector
	for i, doc := range docs {
		cs, err := parseDocument(doc)
		if err != nil {
			if len(docs) > 1 {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// splitDocuments returns the non-empty YAML documents of data, at most
// maxConnectorDocuments of them.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		if isBlank(doc) {
			continue
		}
		if len(docs) == maxConnectorDocuments {
			return nil, fmt.Errorf("more than %d documents: split the file", maxConnectorDocuments)
		}
		docs = append(docs, doc)
	}
}

// isBlank: a document of only blanks and comments, as before a leading ---.
func isBlank(doc []byte) bool {
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
			return false
		}
	}
	return true
}

// parseDocument reads one document: a connector or a list of them.
func parseDocument(doc []byte) ([]Connector, error) {
	// Strict: a duplicated key (the seed's Spot sample pasted without its indentation has
	// two type: keys) is an error, not a silent last-one-wins.
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not YAML or JSON: %w", err)
	}
	return parseConnectorDoc(v, "")
}

// parseConnectorDoc reads {connector: {...}}, a list of them, or the Harness API's answer
// for one connector ({data: {connector: ...}}) or a page of them ({data: {content: [...]}});
// prefix names the place in the document, for errors.
func parseConnectorDoc(v any, prefix string) ([]Connector, error) {
	if list, ok := v.([]any); ok {
		var out []Connector
		for i, item := range list {
			cs, err := parseConnectorDoc(item, fmt.Sprintf("%s[%d].", prefix, i))
			if err != nil {
				return nil, err
			}
			out = append(out, cs...)
		}
		return out, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%snot a connector: expected a mapping connector: {identifier, type, spec}, found %s", prefix, kindOf(v))
	}
	inner, ok := m["connector"]
	if !ok {
		if data, isAPI := m["data"].(map[string]any); isAPI {
			if content, isPage := data["content"]; isPage {
				return parseConnectorDoc(content, prefix+"data.content")
			}
			return parseConnectorDoc(data, prefix+"data.")
		}
		return nil, fmt.Errorf("%sconnector: missing: not a Harness connector (its YAML starts with connector: and holds identifier, type and spec)", prefix)
	}
	cm, ok := inner.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%sconnector: expected a mapping {identifier, type, spec}, found %s", prefix, kindOf(inner))
	}
	c, err := parseConnector(cm, prefix+"connector")
	if err != nil {
		return nil, err
	}
	return []Connector{c}, nil
}

// parseConnector reads the fields of one connector at path.
func parseConnector(m map[string]any, path string) (Connector, error) {
	var c Connector
	var err error
	if c.Identifier, err = stringField(m, path, "identifier", true); err != nil {
		return c, err
	}
	if c.Name, err = stringField(m, path, "name", false); err != nil {
		return c, err
	}
	if c.Type, err = stringField(m, path, "type", true); err != nil {
		return c, err
	}
	if !slices.Contains(connectorTypes, c.Type) {
		return c, fmt.Errorf("%s.type: %q is not a Harness connector type%s", path, c.Type, typeSuggestion(c.Type))
	}
	rawSpec, ok := m["spec"]
	if !ok {
		return c, fmt.Errorf("%s.spec: missing: a %s connector's settings, with executeOnDelegate and delegateSelectors, are under spec", path, c.Type)
	}
	spec, ok := rawSpec.(map[string]any)
	if !ok {
		return c, fmt.Errorf("%s.spec: expected a mapping, found %s", path, kindOf(rawSpec))
	}
	c.ExecuteOnDelegate = true
	if raw, ok := spec["executeOnDelegate"]; ok && raw != nil {
		b, ok := raw.(bool)
		if !ok {
			return c, fmt.Errorf("%s.spec.executeOnDelegate: expected true or false, found %s", path, kindOf(raw))
		}
		c.ExecuteOnDelegate = b
	}
	if c.Selectors, err = selectors(spec["delegateSelectors"], path+".spec.delegateSelectors"); err != nil {
		return c, err
	}
	return c, nil
}

// selectors reads delegateSelectors: a list of non-empty tags.
func selectors(raw any, path string) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: expected a list of delegate tags, found %s", path, kindOf(raw))
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("%s[%d]: expected a delegate tag (a string), found %s", path, i, kindOf(item))
		}
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("%s[%d]: empty: a selector names a delegate tag or a delegate's name", path, i)
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}

// stringField reads m[key] as a string; required says whether it may be missing.
func stringField(m map[string]any, path, key string, required bool) (string, error) {
	raw, ok := m[key]
	if !ok || raw == nil {
		if required {
			return "", fmt.Errorf("%s.%s: missing", path, key)
		}
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("%s.%s: expected a string, found %s", path, key, kindOf(raw))
	}
	if required && s == "" {
		return "", fmt.Errorf("%s.%s: empty", path, key)
	}
	return s, nil
}

// typeSuggestion names the known type that differs from t only in case.
func typeSuggestion(t string) string {
	for _, known := range connectorTypes {
		if strings.EqualFold(known, t) {
			return fmt.Sprintf(" (did you mean %s?)", known)
		}
	}
	return " (e.g. K8sCluster, Aws, DockerRegistry, Spot)"
}

// kindOf names a decoded JSON value's kind for an error.
func kindOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + v.String()
	case bool:
		return fmt.Sprintf("%t", v)
	}
	return fmt.Sprintf("%T", v)
}

// ConnectorReport is doctor --connector's output for machines: apiVersion
// kubectl-delegate.dev/v1, kind ConnectorReport.
type ConnectorReport struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Connectors []ConnectorResult `json:"connectors"`
}

// ConnectorResult says which delegates in scope serve a connector and whether one of them
// is healthy.
type ConnectorResult struct {
	Connector
	// Verdict: pass when a healthy delegate serves it, warn when the best has warnings,
	// fail when none serves it or all that do fail, skip when it runs on the platform.
	Verdict Verdict `json:"verdict"`
	Finding string  `json:"finding"`
	Hint    string  `json:"hint,omitempty"`
	// Delegates are the delegates in scope whose tags include every selector.
	Delegates []ConnectorDelegate `json:"delegates"`
}

// ConnectorDelegate is a delegate that serves a connector, with doctor's verdict on it.
type ConnectorDelegate struct {
	// Delegate is "namespace/name".
	Delegate string  `json:"delegate"`
	Verdict  Verdict `json:"verdict"`
	// Cause is the ID of the delegate's cause in doctor's report, when it has one.
	Cause   string `json:"cause,omitempty"`
	Finding string `json:"finding,omitempty"`
	Hint    string `json:"hint,omitempty"`
}

// MatchConnectors finds, for each connector, the delegates among ds whose tags include every
// selector, and gives each doctor's verdict from report (the checks run on the same
// delegates): a delegate's cause decides it, no cause is a pass.
func MatchConnectors(connectors []Connector, ds []delegate.Delegate, report Report) ConnectorReport {
	causeOf := map[string]Cause{}
	for _, c := range report.Causes {
		causeOf[c.Delegate] = c
	}
	out := ConnectorReport{APIVersion: "kubectl-delegate.dev/v1", Kind: "ConnectorReport", Connectors: []ConnectorResult{}}
	for _, c := range connectors {
		out.Connectors = append(out.Connectors, matchConnector(c, ds, causeOf))
	}
	return out
}

func matchConnector(c Connector, ds []delegate.Delegate, causeOf map[string]Cause) ConnectorResult {
	r := ConnectorResult{Connector: c, Delegates: []ConnectorDelegate{}}
	if !c.ExecuteOnDelegate {
		r.Verdict = Skip
		r.Finding = "runs on the Harness platform (executeOnDelegate: false): no delegate to check"
		return r
	}
	if len(ds) == 0 {
		r.Verdict = Fail
		r.Finding = "no delegate in scope"
		r.Hint = "look in another namespace (-n, -A) or context, or install one: kubectl delegate install NAME" + tagsFlag(c.Selectors)
		return r
	}
	for _, d := range ds {
		if !Serves(d, c.Selectors) {
			continue
		}
		cd := ConnectorDelegate{Delegate: subject(d), Verdict: Pass}
		if cause, ok := causeOf[subject(d)]; ok {
			cd.Verdict, cd.Cause, cd.Finding, cd.Hint = cause.Verdict, cause.ID, cause.Finding, cause.Hint
		}
		r.Delegates = append(r.Delegates, cd)
	}
	if len(r.Delegates) == 0 {
		r.Verdict = Fail
		r.Finding = fmt.Sprintf("none of the %d delegates in scope has every selector (%s)", len(ds), strings.Join(c.Selectors, ", "))
		r.Hint = missingTagsHint(c.Selectors, ds)
		return r
	}
	healthy := 0
	r.Verdict = Fail
	for _, d := range r.Delegates {
		if d.Verdict != Fail {
			healthy++
		}
		if rank(d.Verdict) < rank(r.Verdict) {
			r.Verdict = d.Verdict
		}
	}
	r.Finding = fmt.Sprintf("served by %d of the %d delegates in scope, %d of them healthy", len(r.Delegates), len(ds), healthy)
	if healthy == 0 {
		r.Hint = fmt.Sprintf("fix %s first: %s", r.Delegates[0].Delegate, r.Delegates[0].Hint)
	}
	return r
}

// rank orders verdicts best first.
func rank(v Verdict) int {
	return map[Verdict]int{Pass: 0, Warn: 1, Fail: 2}[v]
}

// Serves says whether Harness may send a task with these selectors to d: its tags, which
// are DELEGATE_TAGS and the delegate's own name (Harness adds it as a tag), include every
// selector. No selector: any delegate may.
func Serves(d delegate.Delegate, selectors []string) bool {
	for _, s := range selectors {
		if s != d.Name && !slices.Contains(d.Tags, s) {
			return false
		}
	}
	return true
}

// missingTagsHint names the delegate that lacks the fewest selectors and the upgrade that
// adds them (--tags replaces DELEGATE_TAGS, so it lists the tags the delegate keeps too).
func missingTagsHint(selectors []string, ds []delegate.Delegate) string {
	var best delegate.Delegate
	var bestMissing []string
	for i, d := range ds {
		var missing []string
		for _, s := range selectors {
			if s != d.Name && !slices.Contains(d.Tags, s) {
				missing = append(missing, s)
			}
		}
		if i == 0 || len(missing) < len(bestMissing) {
			best, bestMissing = d, missing
		}
	}
	tags := append(slices.Clone(best.Tags), bestMissing...)
	have := "no tags"
	if len(best.Tags) > 0 {
		have = "tags " + strings.Join(best.Tags, ", ")
	}
	return fmt.Sprintf("add the tags to a delegate: kubectl delegate upgrade %s -n %s --tags %s; or change the connector's delegateSelectors to tags a delegate has (%s has %s)",
		best.Name, best.Namespace, strings.Join(tags, ","), subject(best), have)
}

// tagsFlag is the --tags flag that gives a new delegate the selectors.
func tagsFlag(selectors []string) string {
	if len(selectors) == 0 {
		return ""
	}
	return " --tags " + strings.Join(selectors, ",")
}

// ExitCode is doctor's: 3 when a connector has no healthy delegate, 4 when its best has
// warnings only (3 when failOnWarn), else 0.
func (r ConnectorReport) ExitCode(failOnWarn bool) int {
	code := ExitOK
	for _, c := range r.Connectors {
		switch {
		case c.Verdict == Fail, c.Verdict == Warn && failOnWarn:
			return ExitFailures
		case c.Verdict == Warn:
			code = ExitWarnings
		}
	}
	return code
}
