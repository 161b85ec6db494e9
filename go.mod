module github.com/kubectl-delegate/kubectl-delegate

go 1.26.0
