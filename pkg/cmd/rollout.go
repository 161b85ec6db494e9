package cmd

import (
	"io"
	"os"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/util/validation"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func validationDNSLabel(s string) []string { return validation.IsDNS1123Label(s) }
