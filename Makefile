# kexec-upgrade: build, test, package.
# `make demo` shows a VM switching kernels; `make test` runs every test (see README.md).

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION   ?= $(shell dpkg-parsechangelog -S Version 2>/dev/null || echo 0.0.0)
BIN       := build/kexec-upgrade
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags "-s -w -X github.com/kexec-upgrade/kexec-upgrade/internal/cli.Version=$(VERSION)"
FUZZTIME  ?= 5s

# Debian packages the build and the test suites need (installed by `make deps`).
APT_DEPS  := make debhelper dpkg-dev fakeroot lintian man-db groff-base file binutils \
             mmdebstrap qemu-system-x86 qemu-utils e2fsprogs openssh-client linux-base ca-certificates
VM_TESTS  := ./internal/vmtest/

.PHONY: all build test unit fuzz lint deb deb-test vm-test demo bench deps go-check clean

all: build

# Installs the missing Debian packages (run as root). Go itself is not a Debian
# package here: bookworm's is too old, see README.md.
deps: go-check
	@missing=""; for p in $(APT_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

go-check:
	@$(GO) version >/dev/null 2>&1 || { echo "Go is missing: install Go >= 1.21 (it fetches the toolchain go.mod names) at /usr/local/go or set GO=/path/to/go"; exit 1; }

# The whole suite, as CI runs it: lint, unit tests, fuzz smoke, package checks, VM scenarios.
test: deps lint unit fuzz deb-test vm-test

deb: build
	packaging/build-deb.sh

deb-test:
	packaging/test-deb.sh

vm-test: deb
	$(GO) test -tags vm -count=1 -v -timeout 75m $(VM_TESTS)

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/kexec-upgrade

unit:
	CGO_ENABLED=0 $(GO) test -count=1 ./...

# Each fuzz target runs for $(FUZZTIME); the list is discovered, so a new target is fuzzed without editing this file.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
	  done; \
	done

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags vm $(VM_TESTS)

clean:
	rm -rf build dist
