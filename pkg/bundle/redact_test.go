package bundle

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const (
	testToken = "e2e-token-value-that-must-never-print"
	testJWT   = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZWxlZ2F0ZSJ9.c2lnbmF0dXJlLXBhcnQ"
	testPEM   = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzb1Xq7Y\nQk9vbXBhcnRvZmtleWJvZHk=\n-----END RSA PRIVATE KEY-----\n"
)

func TestRedactorString(t *testing.T) {
	r := NewRedactor([]string{testToken, "short", `pa"ss\word-123`})
	tests := []struct {
		name, in  string
		want      string
		rule      string
		mustNotIn []string
	}{
		{"secret value", "token is " + testToken + " ok", "token is [REDACTED] ok", ruleSecret, []string{testToken}},
		{"short values are left", "short", "short", "", nil},
		{"json-escaped secret", `{"v":"pa\"ss\\word-123"}`, `{"v":"[REDACTED]"}`, ruleSecret, []string{`word-123`}},
		{"delegate token variable", "DELEGATE_TOKEN=abcdef0123456789", "DELEGATE_TOKEN=[REDACTED]", "delegate-token", []string{"abcdef0123456789"}},
		{"upgrader token in yaml", "UPGRADER_TOKEN: 'zzz999zzz'", "UPGRADER_TOKEN: '[REDACTED]'", "delegate-token", []string{"zzz999zzz"}},
		{"describe's secret reference is kept", "DELEGATE_TOKEN:  <set to the key 'DELEGATE_TOKEN' in secret 'x'>", "DELEGATE_TOKEN:  <set to the key 'DELEGATE_TOKEN' in secret 'x'>", "", nil},
		{"jwt", "auth " + testJWT + " end", "auth [REDACTED] end", "jwt", []string{"c2lnbmF0dXJlLXBhcnQ"}},
		{"bearer", "Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [REDACTED]", "bearer-token", []string{"abc.def-ghi_jkl"}},
		{"basic header", "Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]", "authorization", []string{"dXNlcjpwYXNz"}},
		{"url password", "proxy http://user:hunter2pw@proxy.local:3128 up", "proxy http://user:[REDACTED]@proxy.local:3128 up", "url-password", []string{"hunter2pw"}},
		{"proxy password setting", "-Dhttp.proxyPassword=s3cretpw -Dhttp.proxyHost=p", "-Dhttp.proxyPassword=[REDACTED] -Dhttp.proxyHost=p", "password", []string{"s3cretpw"}},
		{"PROXY_PASSWORD json", `"PROXY_PASSWORD":"pw-in-json"`, `"PROXY_PASSWORD":"[REDACTED]"`, "password", []string{"pw-in-json"}},
		{"aws access key id", "key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here", "aws-access-key-id", []string{"AKIAIOSFODNN7EXAMPLE"}},
		{"aws secret key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED]", "aws-secret-key", []string{"wJalrXUtnFEMI"}},
		{"query token", "GET /api?accountId=x&token=abc123 HTTP", "GET /api?accountId=x&token=[REDACTED] HTTP", "query-secret", []string{"abc123"}},
		{"private key", "key:\n" + testPEM + "after", "key:\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\nafter", rulePrivateKey, []string{"MIIEowIBAAKCAQEAzb1Xq7Y"}},
		{"nothing to hide", "Delegate registered with id dlg-7f3a", "Delegate registered with id dlg-7f3a", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, counts := r.String(tt.in)
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if tt.rule != "" && counts[tt.rule] == 0 {
				t.Errorf("counts %v lack %s", counts, tt.rule)
			}
			if tt.rule == "" && counts.Total() != 0 {
				t.Errorf("counts %v, want none", counts)
			}
			for _, s := range tt.mustNotIn {
				if strings.Contains(got, s) {
					t.Errorf("%q still holds %q", got, s)
				}
			}
		})
	}
}

// streamed writes text through a stream in chunks of the given size.
func streamed(r *Redactor, text string, chunk int) (string, Counts) {
	var out bytes.Buffer
	s := r.NewStream(&out)
	for i := 0; i < len(text); i += chunk {
		_, _ = s.Write([]byte(text[i:min(i+chunk, len(text))]))
	}
	_ = s.Close()
	return out.String(), s.Counts()
}

// Secrets split across writes, lines longer than the stream holds, and private keys over
// many writes are all hidden.
func TestStreamChunkBoundaries(t *testing.T) {
	r := NewRedactor([]string{testToken})
	long := strings.Repeat("x", maxLine+100) + testToken + strings.Repeat("y", maxLine) + " password=longline-pw " + testJWT
	texts := map[string]string{
		"lines":     "a\nstarting " + testToken + "\nproxy https://u:pw-in-url@h:1/\n" + testPEM + "jwt " + testJWT + "\nend",
		"long line": long,
	}
	for name, text := range texts {
		for _, chunk := range []int{1, 3, 7, 64, 4096, 1 << 20} {
			got, counts := streamed(r, text, chunk)
			for _, secret := range []string{testToken, "pw-in-url", "MIIEowIBAAKCAQEAzb1Xq7Y", "c2lnbmF0dXJlLXBhcnQ", "longline-pw"} {
				if strings.Contains(got, secret) {
					t.Errorf("%s, chunks of %d: %q leaked", name, chunk, secret)
				}
			}
			if counts.Total() == 0 {
				t.Errorf("%s, chunks of %d: nothing counted", name, chunk)
			}
			// What is not secret comes through whole.
			if name == "lines" && (!strings.HasPrefix(got, "a\nstarting [REDACTED]\n") || !strings.HasSuffix(got, "\nend")) {
				t.Errorf("%s, chunks of %d: %q", name, chunk, got)
			}
		}
	}
}

func FuzzRedactStream(f *testing.F) {
	f.Add("plain log line\n", uint8(3), uint16(0))
	f.Add("-----BEGIN PRIVATE KEY-----\nabc\n", uint8(1), uint16(5))
	f.Add("password=xyz DELEGATE_TOKEN=abc "+testJWT, uint8(7), uint16(2))
	f.Add(strings.Repeat("z", 5000), uint8(250), uint16(4000))
	r := NewRedactor([]string{testToken})
	f.Fuzz(func(t *testing.T, text string, chunk uint8, at uint16) {
		// The secret planted anywhere in any text, written in any chunk size, never comes out.
		pos := int(at) % (len(text) + 1)
		in := text[:pos] + testToken + text[pos:]
		got, _ := streamed(r, in, int(chunk)+1)
		if strings.Contains(got, testToken) {
			t.Fatalf("secret leaked from %q", in)
		}
		// Text with nothing to hide comes out as it went in.
		if plain, counts := r.String(text); counts.Total() == 0 {
			if out, _ := streamed(r, text, int(chunk)+1); out != plain {
				t.Fatalf("stream changed %q into %q", text, out)
			}
		}
	})
}

func BenchmarkRedactStream(b *testing.B) {
	r := NewRedactor([]string{testToken, "another-secret-value", "third-secret-value-xyz"})
	// Delegate-like log lines, one in 50 holding something to hide.
	var buf bytes.Buffer
	for i := 0; buf.Len() < 8<<20; i++ {
		switch i % 50 {
		case 0:
			buf.WriteString("2026-01-02 03:04:05 INFO proxy http://user:pw@proxy:3128 token " + testToken + "\n")
		default:
			buf.WriteString("2026-01-02 03:04:05,678 [pool-1-thread-3] INFO  io.harness.delegate.service.DelegateAgentServiceImpl - Sending heartbeat to manager for delegate dlg-7f3a\n")
		}
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		s := r.NewStream(discard{})
		for i := 0; i < len(data); i += 32 << 10 {
			_, _ = s.Write(data[i:min(i+32<<10, len(data))])
		}
		_ = s.Close()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// index must find what bytes.Index finds, whichever byte it searches for.
func FuzzIndex(f *testing.F) {
	f.Add(strings.Repeat("2026-01-02 log line ", 300)+"e2e-token", "e2e-token", "e2e")
	f.Add("aaaab", "aab", "")
	f.Fuzz(func(t *testing.T, s, needle, sample string) {
		if needle == "" {
			return
		}
		s = strings.Repeat(s, 4096/(len(s)+1)+1) + needle[:len(needle)/2] // past the 4 KiB fast path
		counts := sampleCounts([]byte(sample))
		if got, want := index([]byte(s), []byte(needle), counts), strings.Index(s, needle); got != want {
			t.Fatalf("index(%q, %q) = %d, want %d", s, needle, got, want)
		}
	})
}

// RedactJSONText redacts a document as JSON text, without decoding it into a tree (which
// took five times the document's size in collect), and leaves it JSON.
func TestRedactJSONTextHidesWhatTheTreeWalkHid(t *testing.T) {
	odd := `tok"en\with<html>&amp` + testToken
	r := NewRedactor([]string{odd, testToken})
	doc := map[string]any{
		"logs": map[string]any{"ns/pod": "line 1\nStarting with token " + testToken + "\n" + `{"password":"hunter2-long"}` + "\nodd " + odd + "\n" +
			"Authorization: Bearer abcdefghijklmnop\nproxy http://user:s3cretpw@proxy:3128\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"},
		"env":  []any{map[string]any{"name": "DELEGATE_TOKEN", "value": testToken}},
		odd:    "a key that is a secret",
		"tail": "cut off in a key: -----BEGIN PRIVATE KEY-----\nMIIEunterminated",
	}
	text, counts := r.RedactJSONText(MarshalJSON(doc))
	for _, secret := range []string{testToken, "hunter2-long", "abcdefghijklmnop", "s3cretpw", "MIIEvQIBADANBg", "MIIEunterminated", `tok\"en\\with<html>&amp`} {
		if strings.Contains(string(text), secret) {
			t.Errorf("%q is still in\n%s", secret, text)
		}
	}
	var back map[string]any
	if err := json.Unmarshal(text, &back); err != nil {
		t.Fatalf("the redacted text is no longer JSON: %v\n%s", err, text)
	}
	if counts["secret-value"] < 3 || counts["password"] < 1 || counts["bearer-token"] < 1 || counts["url-password"] < 1 || counts["private-key"] < 2 {
		t.Errorf("counts %v", counts)
	}
}

func FuzzRedactJSONText(f *testing.F) {
	f.Add("plain", "password=x"+testToken)
	f.Add("-----BEGIN PRIVATE KEY-----\nabc", `"quoted\"`)
	r := NewRedactor([]string{testToken})
	f.Fuzz(func(t *testing.T, key, value string) {
		doc := MarshalJSON(map[string]any{key: value + testToken, "list": []any{value, 1, true, nil}})
		out, _ := r.RedactJSONText(doc)
		if !json.Valid(out) {
			t.Fatalf("%s became invalid JSON:\n%s", doc, out)
		}
		if strings.Contains(string(out), testToken) {
			t.Fatalf("the secret is still in %s", out)
		}
	})
}
