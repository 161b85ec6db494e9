package bundle

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestJSONShapeLimits(t *testing.T) {
	limits := JSONLimits{MaxItems: 3, MaxContainers: 6, MaxStringBytes: 7, MaxDepth: 3}
	for _, tc := range []struct {
		doc  string
		want string // "" = accepted
	}{
		{`{"a":[1,2,3],"b":"abcde"}`, ""},
		{`[]`, ""},
		{`{}`, ""},
		{`{"a":[1,2,3,4]}`, "more than 3 items"},
		{`{"a":1,"b":2,"c":3,"d":4}`, "more than 3 items"},
		{`{"a":"abcdefgh"}`, "longer than 7 bytes"},
		{`{"a":"ab\"cd"}`, ""},
		{`{"abcdefgh":1}`, "longer than 7 bytes"},
		{`[[[[1]]]]`, "nested deeper than 3"},
		{`[[],[],[]]`, ""},
		{`[[],[],[[]],[]]`, "more than 3 items"},
		{`[{},{},{}] `, ""},
		{`[[{}],[{}],[{}]]`, "more than 6 lists or objects"},
		{`{"a":"[[[[[[["}`, ""},
		{`{"a":"x,y,z,w"}`, ""},
	} {
		err := checkJSONShape([]byte(tc.doc), limits)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one saying %q", tc.doc, err, tc.want)
		case err != nil && !errors.Is(err, ErrUnsafe):
			t.Errorf("%s: %v is not ErrUnsafe", tc.doc, err)
		}
	}
}

// A few KB of gzip can expand to millions of empty items: bytes alone do not bound the
// memory of decoding them into typed objects (3.5 GB and an out-of-memory kill before).
func TestReadRefusesItemAmplification(t *testing.T) {
	doc := `{"collectedAt":"2026-01-02T03:04:05Z","delegates":[` + strings.Repeat(`{},`, 300_000) + `{}],"events":[],"access":{},"logs":{}}`
	_, err := Read(bytes.NewReader(archive(t, member{name: "b/snapshot.json", body: doc})), Limits{})
	if err == nil || !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "items") {
		t.Fatalf("Read: %v, want a refusal for too many items", err)
	}
	_, err = Read(bytes.NewReader(archive(t, member{name: "b/snapshot.json", body: snapshotJSON})), Limits{})
	if err != nil {
		t.Fatalf("a normal snapshot was refused: %v", err)
	}
}
