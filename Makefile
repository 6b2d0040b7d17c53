# kexec-upgrade: build, test, package.
# `make demo` shows a VM switching kernels; `make test` runs every test (see README.md).

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION   ?= $(shell dpkg-parsechangelog -S Version 2>/dev/null || echo 0.0.0)
BIN       := build/kexec-upgrade
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags "-s -w -X github.com/kexec-upgrade/kexec-upgrade/internal/cli.Version=$(VERSION)"
FUZZTIME  ?= 5s

.PHONY: all build test unit fuzz lint deb deb-test vm-test demo bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/kexec-upgrade

unit:
	CGO_ENABLED=0 $(GO) test -count=1 ./...

# Each fuzz target runs for $(FUZZTIME); the list is discovered, so a new target is fuzzed without editing this file.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags vm ./test/vm/

clean:
	rm -rf build dist
