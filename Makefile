# pkgserver: `make run` starts the server on the embedded store; `make test`
# runs the whole suite on a fresh machine (it installs the tools it needs).
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
# The tools the tests run, pinned here and nowhere else. Go tools are built
# from the Go module proxy at these versions; Debian packages come from apt at
# the distribution's current version (old ones leave the archive).
REGISTRY_VERSION := v3.1.2
ORAS_VERSION := v1.3.6
CRANE_VERSION := v0.22.1
ETCD_VERSION := v3.7.3
APT_skopeo := skopeo
APT_chromium := chromium fonts-liberation
export PKGSERVER_REGISTRY_BIN := $(TOOLS)/registry
export PKGSERVER_ORAS_BIN := $(TOOLS)/oras
export PKGSERVER_CRANE_BIN := $(TOOLS)/crane
export PKGSERVER_ETCD_BIN := $(TOOLS)/etcd
export PKGSERVER_ETCDCTL_BIN := $(TOOLS)/etcdctl
export PKGSERVER_SKOPEO_BIN := $(TOOLS)/skopeo
export PKGSERVER_CHROMIUM_BIN := $(TOOLS)/chromium

.PHONY: all build run test test-unit test-e2e tools generate verify-generated fmt vet fuzz bench bench-scale clean

all: build

build:
	$(GO) build -o bin/pkgserver ./cmd/pkgserver

run: build
	./bin/pkgserver $(ARGS)

tools: $(TOOLS)/registry $(TOOLS)/oras $(TOOLS)/crane $(TOOLS)/etcd $(TOOLS)/etcdctl $(TOOLS)/skopeo $(TOOLS)/chromium

# Real clients and a real registry for the end-to-end tests, built from the
# Go module proxy at pinned versions. Each binary depends on a stamp named
# after its pin, so changing a pin (either way) rebuilds it; go install
# leaves an up-to-date binary untouched, hence the touch.
$(TOOLS)/.pins/%:
	@mkdir -p $(@D); rm -f $(@D)/$(firstword $(subst @, ,$*))@*; touch $@

$(TOOLS)/registry: $(TOOLS)/.pins/registry@$(REGISTRY_VERSION)
	GOBIN=$(TOOLS) $(GO) install github.com/distribution/distribution/v3/cmd/registry@$(REGISTRY_VERSION)
	@touch $@

$(TOOLS)/oras: $(TOOLS)/.pins/oras@$(ORAS_VERSION)
	GOBIN=$(TOOLS) $(GO) install oras.land/oras/cmd/oras@$(ORAS_VERSION)
	@touch $@

$(TOOLS)/crane: $(TOOLS)/.pins/crane@$(CRANE_VERSION)
	GOBIN=$(TOOLS) $(GO) install github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)
	@touch $@

# etcd's go.mod files replace its sibling modules with relative paths, so
# `go install pkg@version` refuses them. A throwaway module that requires
# them builds the same release (checked against the checksum database).
$(TOOLS)/etcd $(TOOLS)/etcdctl &: $(TOOLS)/.pins/etcd@$(ETCD_VERSION)
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cd "$$tmp"; \
	$(GO) mod init pkgserver.dev/etcd-tools 2>/dev/null; \
	$(GO) get go.etcd.io/etcd/server/v3@$(ETCD_VERSION) go.etcd.io/etcd/etcdctl/v3@$(ETCD_VERSION); \
	$(GO) build -trimpath -o $(TOOLS)/etcd go.etcd.io/etcd/server/v3; \
	$(GO) build -trimpath -o $(TOOLS)/etcdctl go.etcd.io/etcd/etcdctl/v3
	@touch $(TOOLS)/etcd $(TOOLS)/etcdctl

# skopeo and Chromium come from Debian: installed with apt when the command
# is missing (as root, or through passwordless sudo), then linked into
# .tools/bin so every tool the tests run is found in one directory.
$(TOOLS)/skopeo $(TOOLS)/chromium:
	@set -e; cmd=$(@F); pkgs="$(APT_$(@F))"; \
	if ! command -v $$cmd >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; \
	  elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "make tools: $$cmd is missing; install the Debian packages $$pkgs as root (apt-get install -y $$pkgs), then run make tools again" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  install="$$sudo apt-get install -y -q --no-install-recommends $$pkgs"; \
	  echo "$$install"; \
	  $$install || { $$sudo apt-get update -q && $$install; }; \
	fi; \
	mkdir -p $(TOOLS); ln -sf "$$(command -v $$cmd)" $@

# Regenerates what k8s.io/code-generator derives from the API types after
# they change: DeepCopy methods, and the clientset, listers and informers
# under pkg/generated.
generate:
	GO=$(GO) ./hack/codegen.sh

# Fails when the checked-in generated code is not what make generate writes.
verify-generated:
	GO=$(GO) ./hack/codegen.sh --verify

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# examples/ holds Go modules of their own (controller-runtime stays out of
# the server's dependencies); they are vetted and tested here too.
EXAMPLES := examples/approval-bot

vet:
	$(GO) vet ./...
	@for ex in $(EXAMPLES); do (cd $$ex && $(GO) vet ./...) || exit 1; done

# The OCI conformance suite runs on its own (without -race, which only slows
# it) so its pass/fail count is printed.
test: tools fmt vet verify-generated
	$(GO) test -race -count=1 -timeout 30m -skip '^TestConformance$$' ./...
	$(GO) test -race -count=1 -timeout 10m -run '^TestConformance$$' ./pkg/store/...
	@for ex in $(EXAMPLES); do (cd $$ex && $(GO) test -race -count=1 ./...) || exit 1; done
	@echo "== OCI distribution-spec conformance, embedded registry"
	@set -o pipefail; $(GO) test -count=1 -timeout 10m -run '^TestConformance$$' -v ./pkg/registry \
	  | tee .conformance.log | sed -n 's/^.*\(conformance: [0-9]* passed, [0-9]* failed\).*$$/\1/p; /^\(ok\|FAIL\)/p'

test-unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

test-e2e: tools
	$(GO) test -race -count=1 -timeout 30m ./e2e/...

# Short runs of every fuzzer; longer runs: make fuzz FUZZTIME=5m
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Benchmark against the targets of issues 6, 11, 12 and 13
# (docs/performance.md): every phase at up to 100,000 revisions, about 10
# minutes on 2 cores. It prints every target with its value and its ratio to
# a baseline of the same run, and replaces the generated section of
# $(BENCH_DOC). Smaller: make bench BENCH_ARGS="-list-sizes 1000,10000
# -watch-size 10000"; tiny: go run ./cmd/pkgbench -quick; profiles of the
# largest lists: BENCH_ARGS="-profile-dir /tmp/profiles".
BENCH_ARGS ?=
BENCH_DOC ?= docs/performance.md
bench: build tools
	$(GO) run ./cmd/pkgbench -server-bin bin/pkgserver -doc $(BENCH_DOC) -doc-section bench $(BENCH_ARGS)

# The million: memory, lists, pages, queries and starts at 1,000, 10,000,
# 100,000 and 1,000,000 revisions on the embedded store (the fill writes the
# OCI layout directly); about 15 minutes on 2 cores, about 10 GB of disk.
bench-scale: build tools
	$(GO) run ./cmd/pkgbench -scale -server-bin bin/pkgserver -doc $(BENCH_DOC) -doc-section scale $(BENCH_ARGS)

clean:
	rm -rf bin .tools pkgserver-data
