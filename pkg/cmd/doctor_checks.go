package cmd

import (
	"errors"
	"strings"

	"github.com/kubectl-delegate/kubectl-delegate/internal/table"
	"github.com/kubectl-delegate/kubectl-delegate/pkg/diagnose"
)

func (o *DoctorOptions) validateListChecks() error {
	if o.ListChecks && (o.Name != "" || o.AllNamespaces || o.Pre || o.BundleFile != "" || o.ECSTaskSpecFile != "" || o.SupportMatrixFile != "") {
		return errors.New("--list-checks prints the check tables: it does not go with a delegate NAME, -A, --pre, --bundle, --ecs-task-spec or --support-matrix")
	}
	return nil
}

// listChecks prints every check's row: a table for people, or with -o a CheckList (-o name:
// check/ID).
// It asks nothing of the cluster.
func (o *DoctorOptions) listChecks() error {
	list := diagnose.ListChecks()
	if o.Output != "" {
		ids := make([]string, len(list.Items))
		for i, c := range list.Items {
			ids[i] = c.ID
		}
		return printDocument(o.Out, o.Output, list, "Check", ids)
	}
	rows := make([][]string, len(list.Items))
	for i, c := range list.Items {
		rows[i] = []string{c.ID, string(c.Category), strings.Join(c.Subsets, ","), c.Title}
	}
	return table.Write(o.Out, []string{"ID", "CATEGORY", "SUBSETS", "TITLE"}, rows)
}
