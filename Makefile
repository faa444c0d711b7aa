# kube-oidc Makefile. `make test` runs every test; see README.md.
SHELL := /usr/bin/env bash
GO ?= go
BIN ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/kube-oidc/kube-oidc/internal/version.Version=$(VERSION)

.PHONY: all build test unit lint fmt clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## test: everything (lint, unit and integration tests with the race detector).
test: lint unit

unit:
	$(GO) test -race -count=1 ./...

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go'; git ls-files -o --exclude-standard '*.go')

clean:
	rm -rf $(BIN) dist
