package diagnose

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-delegate/kubectl-delegate/pkg/delegate"
)

// spotConnector is the seed's Spot connector sample with the nesting Harness exports it
// in (the seed's text lost its indentation), and with delegateSelectors added.
const spotConnector = `connector:
  name: spotinst-conn
  identifier: spotinstconn
  description: ""
  orgIdentifier: Ng_Pipelines_K8s_Organisations
  projectIdentifier: DoNotDelete_IvanBalan
  type: Spot
  spec:
    credential:
      type: PermanentTokenConfig
      spec:
        spotAccountId: act-a12b12cd
        apiTokenRef: spotapitoken
    executeOnDelegate: true
    delegateSelectors:
      - spot
      - east
`

func TestParseConnectors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Connector
	}{
		{"seed Spot connector with selectors", spotConnector,
			[]Connector{{Identifier: "spotinstconn", Name: "spotinst-conn", Type: "Spot", ExecuteOnDelegate: true, Selectors: []string{"spot", "east"}}}},
		{"seed Spot connector without selectors", strings.Split(spotConnector, "    delegateSelectors:")[0],
			[]Connector{{Identifier: "spotinstconn", Name: "spotinst-conn", Type: "Spot", ExecuteOnDelegate: true}}},
		{"Kubernetes cluster connector, inheriting the delegate's credentials", `
connector:
  name: prod-cluster
  identifier: prod_cluster
  type: K8sCluster
  spec:
    credential:
      type: InheritFromDelegate
    delegateSelectors: [prod-k8s]
`, []Connector{{Identifier: "prod_cluster", Name: "prod-cluster", Type: "K8sCluster", ExecuteOnDelegate: true, Selectors: []string{"prod-k8s"}}}},
		{"AWS connector as JSON", `{"connector": {"identifier": "aws", "type": "Aws", "spec": {"credential": {"type": "ManualConfig", "spec": {"accessKey": "AKIA"}}, "executeOnDelegate": true, "delegateSelectors": ["aws", "us-east-1"]}}}`,
			[]Connector{{Identifier: "aws", Type: "Aws", ExecuteOnDelegate: true, Selectors: []string{"aws", "us-east-1"}}}},
		{"Docker registry on the platform", `
connector:
  identifier: dockerhub
  type: DockerRegistry
  spec:
    dockerRegistryUrl: https://index.docker.io/v2/
    providerType: DockerHub
    auth:
      type: Anonymous
    executeOnDelegate: false
`, []Connector{{Identifier: "dockerhub", Type: "DockerRegistry", ExecuteOnDelegate: false}}},
		{"several documents and a list", "# exported\n---\n" + spotConnector + "---\n" + `
- connector: {identifier: a, type: Git, spec: {executeOnDelegate: true}}
- connector: {identifier: b, type: Github, spec: {delegateSelectors: [b]}}
`, []Connector{
			{Identifier: "spotinstconn", Name: "spotinst-conn", Type: "Spot", ExecuteOnDelegate: true, Selectors: []string{"spot", "east"}},
			{Identifier: "a", Type: "Git", ExecuteOnDelegate: true},
			{Identifier: "b", Type: "Github", ExecuteOnDelegate: true, Selectors: []string{"b"}},
		}},
		{"the Harness API's answer for one connector", `{"status": "SUCCESS", "data": {"connector": {"identifier": "git", "type": "Github", "spec": {"delegateSelectors": ["gh"]}}, "status": {"status": "SUCCESS"}}}`,
			[]Connector{{Identifier: "git", Type: "Github", ExecuteOnDelegate: true, Selectors: []string{"gh"}}}},
		{"a page of the Harness API's connector list", `{"status": "SUCCESS", "data": {"totalItems": 2, "content": [{"connector": {"identifier": "a", "type": "Vault", "spec": {}}}, {"connector": {"identifier": "b", "type": "Jira", "spec": {}}}]}}`,
			[]Connector{{Identifier: "a", Type: "Vault", ExecuteOnDelegate: true}, {Identifier: "b", Type: "Jira", ExecuteOnDelegate: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConnectors([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.want, got) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseConnectorsNamesTheField(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"empty file", "# nothing\n", "no connector in the file"},
		{"not a connector", "apiVersion: v1\nkind: ConfigMap\n", "connector: missing: not a Harness connector"},
		{"a scalar", "hello\n", `not a connector: expected a mapping connector: {identifier, type, spec}, found the string "hello"`},
		{"unknown type", "connector: {identifier: x, type: Spotty, spec: {}}", `connector.type: "Spotty" is not a Harness connector type`},
		{"type in the wrong case", "connector: {identifier: x, type: k8scluster, spec: {}}", "did you mean K8sCluster?"},
		{"missing identifier", "connector: {type: Spot, spec: {}}", "connector.identifier: missing"},
		{"missing spec", "connector: {identifier: x, type: Spot}", "connector.spec: missing"},
		{"selector not a string", "connector: {identifier: x, type: Spot, spec: {delegateSelectors: [a, 3]}}", "connector.spec.delegateSelectors[1]: expected a delegate tag (a string), found the number 3"},
		{"empty selector", "connector: {identifier: x, type: Spot, spec: {delegateSelectors: [a, '']}}", "connector.spec.delegateSelectors[1]: empty"},
		{"selectors not a list", "connector: {identifier: x, type: Spot, spec: {delegateSelectors: a}}", `connector.spec.delegateSelectors: expected a list of delegate tags, found the string "a"`},
		{"executeOnDelegate not a bool", "connector: {identifier: x, type: Spot, spec: {executeOnDelegate: 'yes'}}", `connector.spec.executeOnDelegate: expected true or false, found the string "yes"`},
		{"malformed YAML", "connector:\n  identifier: [x\n", "not YAML or JSON"},
		// The seed's sample as printed, without its nesting: two type: keys.
		{"duplicate key", "name: spotinst-conn\ntype: Spot\ntype: PermanentTokenConfig\n", `"type" already set`},
		{"a bad document among good ones", spotConnector + "---\nconnector: {identifier: x, type: Spot, spec: {delegateSelectors: [a, 1]}}\n", "document 2: connector.spec.delegateSelectors[1]"},
		{"a bad item of a list", "- connector: {identifier: x, type: Nope, spec: {}}", `[0].connector.type: "Nope"`},
		{"a bad item of an API page", `{"data": {"content": [{"connector": {"identifier": "a", "type": "Vault", "spec": {}}}, {"connector": {"type": "Jira", "spec": {}}}]}}`, "data.content[1].connector.identifier: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConnectors([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseConnectorsBoundsDocuments(t *testing.T) {
	doc := "connector: {identifier: x, type: Git, spec: {}}\n---\n"
	if _, err := ParseConnectors([]byte(strings.Repeat(doc, maxConnectorDocuments+1))); err == nil || !strings.Contains(err.Error(), "more than 1000 documents") {
		t.Fatalf("error %v, want the document limit", err)
	}
}

func TestMatchConnectors(t *testing.T) {
	east := delegate.Delegate{Name: "east", Namespace: "ns", Tags: []string{"spot", "east"}}
	west := delegate.Delegate{Name: "west", Namespace: "ns", Tags: []string{"spot"}}
	broken := Cause{Delegate: "ns/east", ID: "DLG-501", Verdict: Fail, Finding: "token invalid", Hint: "renew the token"}
	for _, tc := range []struct {
		name      string
		connector Connector
		ds        []delegate.Delegate
		causes    []Cause
		verdict   Verdict
		served    []string
		finding   string
		hint      string
	}{
		{name: "every selector, one delegate has them", connector: Connector{ExecuteOnDelegate: true, Selectors: []string{"spot", "east"}},
			ds: []delegate.Delegate{east, west}, verdict: Pass, served: []string{"ns/east"}, finding: "served by 1 of the 2 delegates in scope, 1 of them healthy"},
		{name: "the delegate's name is a tag", connector: Connector{ExecuteOnDelegate: true, Selectors: []string{"west", "spot"}},
			ds: []delegate.Delegate{east, west}, verdict: Pass, served: []string{"ns/west"}},
		{name: "no selector: any delegate", connector: Connector{ExecuteOnDelegate: true},
			ds: []delegate.Delegate{east, west}, verdict: Pass, served: []string{"ns/east", "ns/west"}},
		{name: "on the platform", connector: Connector{ExecuteOnDelegate: false, Selectors: []string{"nowhere"}},
			ds: []delegate.Delegate{east}, verdict: Skip, finding: "runs on the Harness platform"},
		{name: "no delegate has every selector", connector: Connector{ExecuteOnDelegate: true, Selectors: []string{"spot", "east", "gpu"}},
			ds: []delegate.Delegate{west, east}, verdict: Fail, finding: "none of the 2 delegates in scope has every selector (spot, east, gpu)",
			hint: "kubectl delegate upgrade east -n ns --tags spot,east,gpu; or change the connector's delegateSelectors"},
		{name: "the only delegate that serves it fails", connector: Connector{ExecuteOnDelegate: true, Selectors: []string{"east"}},
			ds: []delegate.Delegate{east, west}, causes: []Cause{broken}, verdict: Fail, served: []string{"ns/east"},
			finding: "1 of the 2 delegates in scope, 0 of them healthy", hint: "fix ns/east first: renew the token"},
		{name: "a healthy one beside a failing one", connector: Connector{ExecuteOnDelegate: true, Selectors: []string{"spot"}},
			ds: []delegate.Delegate{east, west}, causes: []Cause{broken}, verdict: Pass, served: []string{"ns/east", "ns/west"}},
		{name: "nothing in scope", connector: Connector{ExecuteOnDelegate: true, Selectors: []string{"spot"}},
			verdict: Fail, finding: "no delegate in scope", hint: "kubectl delegate install NAME --tags spot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MatchConnectors([]Connector{tc.connector}, tc.ds, Report{Causes: tc.causes})
			if r.Kind != "ConnectorReport" || r.APIVersion != "kubectl-delegate.dev/v1" || len(r.Connectors) != 1 {
				t.Fatalf("report %+v", r)
			}
			got := r.Connectors[0]
			if got.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s", got.Verdict, tc.verdict)
			}
			var served []string
			for _, d := range got.Delegates {
				served = append(served, d.Delegate)
			}
			if !slices.Equal(tc.served, served) {
				t.Errorf("served by %q, want %q", served, tc.served)
			}
			if !strings.Contains(got.Finding, tc.finding) {
				t.Errorf("finding %q, want it to contain %q", got.Finding, tc.finding)
			}
			if !strings.Contains(got.Hint, tc.hint) {
				t.Errorf("hint %q, want it to contain %q", got.Hint, tc.hint)
			}
		})
	}
}

func TestConnectorReportExitCode(t *testing.T) {
	report := func(vs ...Verdict) ConnectorReport {
		var r ConnectorReport
		for _, v := range vs {
			r.Connectors = append(r.Connectors, ConnectorResult{Verdict: v})
		}
		return r
	}
	for _, tc := range []struct {
		r          ConnectorReport
		failOnWarn bool
		want       int
	}{
		{report(Pass, Skip), false, ExitOK},
		{report(Pass, Warn), false, ExitWarnings},
		{report(Pass, Warn), true, ExitFailures},
		{report(Warn, Fail), false, ExitFailures},
	} {
		if got := tc.r.ExitCode(tc.failOnWarn); got != tc.want {
			t.Errorf("%+v failOnWarn=%t: exit %d, want %d", tc.r, tc.failOnWarn, got, tc.want)
		}
	}
}

// FuzzParseConnectors: any file either parses into connectors that each have an identifier
// and a known type, or fails with an error; it never panics.
func FuzzParseConnectors(f *testing.F) {
	f.Add([]byte(spotConnector))
	f.Add([]byte("- connector: {identifier: a, type: Git, spec: {delegateSelectors: [x]}}\n---\n{}"))
	f.Add([]byte(`{"connector": {"identifier": "aws", "type": "Aws", "spec": {"executeOnDelegate": false}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseConnectors(data)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.Identifier == "" || !slices.Contains(connectorTypes, c.Type) || slices.Contains(c.Selectors, "") {
				t.Fatalf("accepted %+v from %q", c, data)
			}
		}
	})
}
