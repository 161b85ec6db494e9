package table

import (
	"strings"
	"testing"
)

func TestWriteAlignsLikeKubectlGet(t *testing.T) {
	var out strings.Builder
	if err := Write(&out, []string{"NAME", "READY", "NOTE"}, [][]string{
		{"prod", "1/1", ""},
		{"a-longer-name", "0/2", "ünïcode"},
	}); err != nil {
		t.Fatal(err)
	}
	want := "NAME            READY   NOTE\n" +
		"prod            1/1\n" +
		"a-longer-name   0/2     ünïcode\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

// Cells come from the cluster: an ESC, a newline or a BEL in a name must not reach the
// terminal, add a row or break the columns.
func TestWriteEscapesControlCharacters(t *testing.T) {
	var out strings.Builder
	if err := Write(&out, []string{"NAME", "STATUS"}, [][]string{
		{"evil\x1b[2J\x07\nNAMESPACE   FAKE", "ok\r"},
	}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07\r") || strings.Count(got, "\n") != 2 {
		t.Errorf("control characters reached the table:\n%q", got)
	}
	if !strings.Contains(got, `evil\x1b[2J\x07\nNAMESPACE   FAKE`) {
		t.Errorf("the name is not shown escaped:\n%q", got)
	}
}
