package cmd

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
)

// cellBreaks would end a cell or a row early inside the tab writer.
var cellBreaks = strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ")

// writeTable prints rows the way kubectl get does, with kubectl's own tab writer: upper-case
// headers, left-aligned columns three spaces apart, no borders or rules.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	tw := printers.GetNewTabWriter(&buf)
	for _, row := range append([][]string{header}, rows...) {
		cells := make([]string, len(row))
		for i, cell := range row {
			cells[i] = cellBreaks.Replace(cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// An empty last cell would leave the padding of the cells before it as trailing blanks.
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
