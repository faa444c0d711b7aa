# kube-oidc Makefile. `make test` runs every test; see README.md.
SHELL := /usr/bin/env bash
GO ?= go
BIN ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/kube-oidc/kube-oidc/internal/version.Version=$(VERSION)

# The Go toolchain is go.mod's `toolchain` line (a patched release, fetched once
# from the Go module proxy by the go command), also where the machine's go.env
# says GOTOOLCHAIN=local. A GOTOOLCHAIN in the environment wins; govulncheck in
# `make lint` then fails if that toolchain's standard library has known
# vulnerabilities.
ifeq ($(origin GOTOOLCHAIN),undefined)
export GOTOOLCHAIN := auto
endif

.PHONY: all build test unit lint fmt clean e2e e2e-deps e2e-bins demo

all: build

## build: oidc-proxy, and kubectl-oidc as a release ships it: kubectl-oidc built with
## the tag kubeconfig_sibling (no client-go: get-token starts faster) runs the full build,
## kubectl-oidc-kubeconfig, for setup, convert and whoami (cmd/kubectl-oidc/sibling.go).
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/oidc-proxy
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-oidc-kubeconfig ./cmd/kubectl-oidc
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -tags kubeconfig_sibling -o $(BIN)/kubectl-oidc ./cmd/kubectl-oidc

## test: everything (lint, unit and integration tests with the race detector,
## then the e2e suite on real components, see docs/e2e.md).
test: lint unit e2e

unit:
	$(GO) test -race -count=1 ./...

## Tools at pinned versions, installed by `go install` (Go module proxy) into a
## cache outside the repository, one directory per version.
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kube-oidc/tools
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
GOVULNCHECK := $(TOOLS_DIR)/govulncheck-$(GOVULNCHECK_VERSION)/govulncheck
# The Go vulnerability database as of one snapshot of golang.org/x/vulndb (its
# OSV reports, from the Go module proxy), indexed by vulndb's own cmd/indexdb
# into the layout govulncheck reads with -db file://. Offline once built; bump
# the version to take in newer reports (go list -m golang.org/x/vulndb@latest).
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := $(TOOLS_DIR)/vulndb-$(VULNDB_VERSION)

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
$(GOVULNCHECK):
	GOBIN=$(dir $@) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
$(VULNDB)/index/db.json:
	@src="$$(cd / && $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p')"; \
	  [ -d "$$src/data/osv" ] || { echo "vulndb: no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION)"; exit 1; }; \
	  rm -rf $(VULNDB).tmp && \
	  $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out $(VULNDB).tmp && \
	  rm -rf $(VULNDB) && mv $(VULNDB).tmp $(VULNDB)

## lint: gofmt, go vet, staticcheck, govulncheck (against the pinned database
## snapshot: fails on a known vulnerability that the code reaches, in a module
## or in the toolchain's standard library), and go.mod/go.sum as `go mod tidy`
## leaves them (checked with -diff: the tree is not modified).
lint: $(STATICCHECK) $(GOVULNCHECK) $(VULNDB)/index/db.json
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tests=false -tags kubeconfig_sibling ./cmd/kubectl-oidc/...
	$(GOVULNCHECK) -db file://$(VULNDB) ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

## vulncheck: govulncheck against the live Go vulnerability database
## (https://vuln.go.dev, not reachable from every build machine; `make lint`
## checks against the pinned snapshot instead).
.PHONY: vulncheck
vulncheck: $(GOVULNCHECK)
	$(GOVULNCHECK) ./...

## fuzz: every Fuzz target of the root module for FUZZTIME each (go test
## -fuzz runs one target per package per run). Plain `go test` runs their
## seed corpora (testdata/fuzz) in `make unit`.
.PHONY: fuzz
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

fmt:
	gofmt -w $$(git ls-files '*.go'; git ls-files -o --exclude-standard '*.go')

clean:
	rm -rf $(BIN) dist

## e2e-deps: install the Debian packages the e2e suite runs (etcd, Chromium, and for the
## node containerd, runc, busybox-static, the CNI plugins), only when missing.
## (kubectl is not in Debian: e2e-bins builds it when none is on PATH.)
E2E_DEBS := etcd:etcd-server chromium:chromium containerd:containerd runc:runc busybox:busybox-static /usr/lib/cni/bridge:containernetworking-plugins
e2e-deps:
	@missing=""; for pair in $(E2E_DEBS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "e2e-deps: installing$$missing"; \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

## e2e-bins: build kube-apiserver, Dex, krew, kubelogin, kubelet, kube-controller-manager, kube-scheduler
## (and kubectl when missing) once into $${XDG_CACHE_HOME:-~/.cache}/kube-oidc/.
e2e-bins:
	GO=$(GO) e2e/hack/build-bins.sh

## e2e: the end-to-end suite on real components (our binaries from `make build`).
E2E_TEST_FLAGS ?= -count=1 -timeout 40m
e2e: e2e-deps e2e-bins build
	cd e2e && $(GO) vet ./... && $(GO) vet -tags demo ./demo
	cd e2e && KUBE_OIDC_E2E_BIN_DIR=$(abspath $(BIN)) $(GO) test $(E2E_TEST_FLAGS) ./...

## demo: the e2e sandbox (etcd, kube-apiserver, Dex, oidc-proxy) for a person: writes
## demo/kubeconfig with `kubectl oidc setup`, logs in and runs kubectl through the proxy,
## then keeps running until Ctrl-C when stdin is a terminal (see docs/e2e.md).
demo: e2e-deps e2e-bins build
	cd e2e && $(GO) test -tags demo -c -o $(abspath $(BIN))/e2e-demo ./demo
	KUBE_OIDC_E2E_BIN_DIR=$(abspath $(BIN)) KUBE_OIDC_DEMO_DIR=$(abspath demo) $(BIN)/e2e-demo -test.run '^TestDemo$$' -test.timeout 0

## bench: oidc-proxy's cost per request (Go benchmark), a loopback load run of the built
## binary against a bare reverse proxy (hack/proxybench), then bench-gettoken.
## Results: docs/benchmarks.md.
.PHONY: bench bench-gettoken bench-apiserver
BENCH_FLAGS ?= -benchtime 1s -count 3
bench: build
	$(GO) test -run XXX -bench BenchmarkProxy $(BENCH_FLAGS) ./pkg/proxy/
	$(GO) run ./hack/proxybench -proxy-bin $(BIN)/oidc-proxy
	$(MAKE) bench-gettoken

## bench-gettoken: a cache-hit `kubectl-oidc get-token` against kubelogin's and a hello
## world's, interleaved (whole processes; wall time and peak RSS, ratios to kubelogin).
## kubelogin is the e2e build, made by e2e/hack/build-bins.sh when missing.
## GETTOKEN_BENCH_BINS=name=path,... adds other kubectl-oidc builds to the same rounds.
KUBELOGIN_VERSION := $(shell sed -n 's/^KUBELOGIN_VERSION="\(.*\)"$$/\1/p' e2e/hack/build-bins.sh)
KUBELOGIN_BIN ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kube-oidc/kubelogin-$(KUBELOGIN_VERSION)/kubelogin
GETTOKEN_BENCH_FLAGS ?= -benchtime 200x -count 3
bench-gettoken:
	@[ -x "$(KUBELOGIN_BIN)" ] || GO=$(GO) e2e/hack/build-bins.sh kubelogin
	KUBELOGIN_BIN=$(KUBELOGIN_BIN) $(GO) test -run '^$$' -bench '^BenchmarkGetTokenVsKubelogin$$' $(GETTOKEN_BENCH_FLAGS) ./cmd/kubectl-oidc/

## bench-apiserver: oidc-proxy against a real kube-apiserver v1.37.2 and etcd (the e2e
## builds): direct, a bare reverse proxy and bin/oidc-proxy, rounds interleaved; GET and
## LIST loads from HTTP/1.1 and HTTP/2 clients, watch fan-out, a watcher that stops
## reading (e2e/apiserverbench, a Go benchmark that `go test` without -bench never runs).
## Not part of `make bench` (it needs the e2e components and takes minutes).
## APISERVER_BENCH_FLAGS: e.g. -watch-streams 1000,5000 -watch-http2 -rounds 9
## -cpuprofile /tmp/list.cpu -out /tmp/apiserverbench.md (docs/benchmarks.md).
APISERVER_BENCH_FLAGS ?=
bench-apiserver: e2e-deps build
	@GO=$(GO) e2e/hack/build-bins.sh kube-apiserver
	cd e2e && KUBE_OIDC_E2E_BIN_DIR=$(abspath $(BIN)) $(GO) test -run '^$$' -bench '^BenchmarkAPIServer$$' -benchtime 1x -timeout 0 ./apiserverbench -args $(APISERVER_BENCH_FLAGS)

## dist: release files in $(DIST) for VERSION=vX.Y.Z: kubectl-oidc (linux, darwin: amd64+arm64;
## windows/amd64) and oidc-proxy (linux amd64+arm64), CGO off, -trimpath, version stamped,
## one .tar.gz (.zip on Windows) each with LICENSE, SHA256SUMS, and the krew manifest
## $(DIST)/oidc.yaml rendered from krew/oidc.yaml. Reproducible archives (SOURCE_DATE_EPOCH
## or the last commit's time). FIPS=1 adds oidc-proxy-fips archives (oidc-proxy built with
## GOFIPS140=v1.0.0, FIPS 140-3 mode). See docs/install.md.
.PHONY: dist
DIST ?= dist
DIST_BASE_URL ?= https://github.com/kube-oidc/kube-oidc/releases/download/$(VERSION)
DIST_JOBS ?= 2
FIPS ?=
dist:
	$(GO) run ./hack/dist -version '$(VERSION)' -ldflags '$(LDFLAGS)' -base-url '$(DIST_BASE_URL)' -out '$(DIST)' -jobs $(DIST_JOBS)$(if $(FIPS), -fips)

## image: the oidc-proxy container image built without Docker (hack/image, with
## go-containerregistry): static binary, CA bundle, user 65532, as an OCI layout tar
## $(IMAGE_OUT) tagged $(IMAGE_REPO):$(VERSION). Reproducible: the same commit gives
## the same digest. See docs/install.md.
.PHONY: image
IMAGE_REPO ?= ghcr.io/kube-oidc/oidc-proxy
IMAGE_OUT ?= $(DIST)/oidc-proxy-image.tar
IMAGE_PLATFORMS ?= linux/$(shell $(GO) env GOARCH)
image:
	$(GO) run ./hack/image -version '$(VERSION)' -ldflags '$(LDFLAGS)' -repository '$(IMAGE_REPO)' -platforms '$(IMAGE_PLATFORMS)' -out '$(IMAGE_OUT)'
