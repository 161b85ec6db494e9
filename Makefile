# kubectl-delegate: build, test, demo and the local cluster. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin/kubectl-delegate
VERSION ?= $(shell git describe --tags --match 'v*' --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
BUILDINFO := github.com/kubectl-delegate/kubectl-delegate/internal/buildinfo
# kustomize (linked through cli-runtime and kubectl describe) imports Go's plugin loader unless
# told not to; with it the linker keeps every exported symbol: 70.6 MB instead of 54.2 MB, and
# 59 MiB instead of 34 MiB resident at start. kubectl builds with the same tag.
BUILD_TAGS := kustomize_disable_go_plugin_support
LDFLAGS := -s -w -X $(BUILDINFO).Version=$(VERSION) -X $(BUILDINFO).Commit=$(COMMIT) -X $(BUILDINFO).Date=$(DATE)
E2E_TIMEOUT ?= 30m
STATICCHECK := $(GO) tool -modfile=hack/tools/lint/go.mod staticcheck

.DEFAULT_GOAL := build
.PHONY: help build test test-unit test-e2e lint release-check demo cluster-binaries cluster-up cluster-down clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/kubectl-delegate with version, commit and date stamped in
	$(GO) build -trimpath -tags $(BUILD_TAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubectl-delegate

test: lint test-unit test-e2e release-check ## everything CI runs: lint, unit, e2e on the local cluster, release checks

test-unit: ## unit tests (no cluster; the e2e tests need -tags e2e)
	$(GO) test -count=1 ./...

test-e2e: cluster-binaries ## e2e tests: start a local cluster (or use KUBECONFIG's) and run the plugin against it
	$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) ./test/e2e

lint: ## gofmt, go vet and staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet -tags e2e ./...
	$(STATICCHECK) -tags e2e ./...

release-check: ## goreleaser check and validate-krew-manifest on krew.yaml rendered for a test tag
	hack/release-check.sh

demo: build cluster-up ## start the local cluster and show the plugin working against it
	hack/demo.sh

cluster-binaries: ## build the local cluster's binaries into the cache when missing
	hack/cluster.sh build

cluster-up: ## start the local cluster (.cluster/), building its binaries when missing
	hack/cluster.sh up

cluster-down: ## stop the local cluster; no process or port is left
	hack/cluster.sh down

.PHONY: bench
bench: build cluster-binaries ## measure the plugin against kubectl baselines on a scaled local cluster (BENCH_FLAGS="-nodes 20 -runs 3")
	hack/bench.sh $(BENCH_FLAGS)

clean: cluster-down ## stop the cluster and remove build output
	rm -rf bin dist .cluster
