// Package table prints rows the way kubectl get does, for every table the plugin prints:
// upper-case headers, left-aligned columns three spaces apart, no borders or rules. Cells
// are escaped with internal/printable, since most of them come from the cluster.
package table

import (
	"bytes"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/kubectl-delegate/kubectl-delegate/internal/printable"
)

var cellConfig = tw.CellConfig{
	Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
	Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
	Padding:    tw.CellPadding{Global: tw.Padding{Left: "", Right: "   "}},
}

// Write prints header and rows to w.
func Write(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	table := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off, ShowTop: tw.Off, ShowBottom: tw.Off},
			},
		})),
		tablewriter.WithConfig(tablewriter.Config{Header: cellConfig, Row: cellConfig}),
	)
	table.Header(header)
	escaped := make([][]string, len(rows))
	for i, row := range rows {
		escaped[i] = make([]string, len(row))
		for j, cell := range row {
			escaped[i][j] = printable.String(cell)
		}
	}
	if err := table.Bulk(escaped); err != nil {
		return err
	}
	if err := table.Render(); err != nil {
		return err
	}
	// The last column's padding would leave trailing blanks on every line.
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
