# kexec-upgrade: build, test, package.
# `make demo` shows a VM switching kernels; `make test` runs every test (see README.md).

# The first Go >= 1.21 on PATH, in /usr/local/go or from Debian's golang-1.NN-go
# (packaging/go-toolchain.sh find); `make deps` installs one when there is none.
# Looked up each time it is used ("?=" defers it), so targets that run after
# `deps` find the Go it installed. GOTOOLCHAIN=auto (unless set otherwise) lets
# that Go fetch the exact toolchain go.mod names through the module proxy.
GO        ?= $(shell $(CURDIR)/packaging/go-toolchain.sh find 2>/dev/null || echo go)
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN
VERSION   ?= $(shell dpkg-parsechangelog -S Version 2>/dev/null || echo 0.0.0)
BIN       := build/kexec-upgrade
# The Debian architecture `make build` and `make deb` build for: amd64 (the
# default) or arm64, cross-built here (static, CGO_ENABLED=0); `make deb
# ARCH=arm64` writes dist/kexec-upgrade_<version>_arm64.deb.
ARCH      ?= amd64
GOARCH_amd64 := amd64
GOARCH_arm64 := arm64
BUILD_GOARCH = $(or $(GOARCH_$(ARCH)),$(error ARCH=$(ARCH): kexec-upgrade builds for amd64 and arm64 only))
GOFLAGS_BUILD := -trimpath -buildvcs=false -ldflags "-s -w -X github.com/kexec-upgrade/kexec-upgrade/internal/cli.Version=$(VERSION)"
FUZZTIME  ?= 5s

# Debian packages the build and the test suites need (installed by `make deps`);
# build-essential because dpkg-buildpackage checks for it.
APT_DEPS  := make build-essential debhelper dpkg-dev fakeroot lintian man-db groff-base file binutils \
             mmdebstrap qemu-system-x86 qemu-utils e2fsprogs fdisk ovmf openssh-client linux-base ca-certificates
VM_TESTS  := ./internal/vmtest/
# The arm64 guest: its emulator, and what builds its root on this machine (mmdebstrap
# --arch=arm64 runs the guest's programs under qemu-user-static through binfmt_misc).
APT_DEPS  += qemu-system-arm qemu-user-static binfmt-support arch-test

.PHONY: all build test unit real-kernels fuzz lint deb deb-test vm-test demo bench deps go-check clean

all: build

# Installs, as root, a Go when none is usable (bookworm: golang-1.NN-go from
# bookworm-backports, enabled on this machine's own mirror if missing; later
# releases: golang-go) and fetches the toolchain go.mod names, then the missing
# Debian packages.
deps:
	packaging/go-toolchain.sh install
	@missing=""; for p in $(APT_DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

go-check:
	@$(GO) version >/dev/null 2>&1 || { echo "no usable Go (>= 1.21): make deps installs one from the distribution, or set GO=/path/to/go"; exit 1; }

# The whole suite, as CI runs it: lint, unit tests, fuzz smoke, package checks, VM scenarios.
test: deps lint unit fuzz deb-test vm-test

deb: build
	packaging/build-deb.sh --arch $(ARCH)

deb-test:
	packaging/test-deb.sh

# VM scenarios: real kernels, systemd, dpkg and the real .deb under QEMU (two VMs at a time),
# on bookworm and trixie guests with kernels from main and backports (see README.md).
# -parallel: every scenario waits for a VM slot at once (KU_VM_MAX guests run),
# so the firmware guests, which run longest, take the first slots
# (acquireSlot); go test's default (GOMAXPROCS, 2 here) started them last.
vm-test: deb
	packaging/build-deb.sh --arch arm64
	$(GO) test -tags vm -count=1 -v -parallel 16 -timeout 75m $(VM_TESTS)

# A demo VM switches kernels; before/after and the history are printed.
# GUEST=bookworm (default), bookworm+backports, trixie or trixie+backports.
demo: deps deb
	KU_DEMO=1 KU_DEMO_GUEST=$(GUEST) $(GO) test -tags vm -count=1 -v -run '^TestDemo$$' -timeout 45m $(VM_TESTS)

# Performance figures (issue 15), one table from one run: slot open → switch,
# install finished → switch, the outage seen from outside (kexec-upgrade, kexec-tools
# by hand, a reboot; and by hand with dirty pages without and with a flush), the
# switch's phases, and an idle run's cost (Go benchmarks, a process on the host, the
# service and the process in a guest). BENCH_BEFORE=<git revision> adds the Go
# benchmarks at that revision for a before/after comparison; BENCH_STOP=<RFC 3339
# time> starts no guest or switch after it (the table shows what was measured);
# BENCH_RUN=<regexp> runs only the matching guests (e.g. BENCH_RUN=firmware for
# issue 13's GRUB and UEFI Secure Boot guests).
# The guests' log goes to build/bench.log; the table is printed and kept in
# build/bench-table.md.
BENCH_BEFORE ?=
BENCH_STOP ?=
BENCH_RUN ?=
bench: deps build
	@mkdir -p build
	$(GO) test -run '^$$' -bench 'GatherAndPlan|GatherPlanNextRun|Plan$$|NextRun$$' -benchmem ./internal/plan/ > build/bench-go.txt
	@rm -f build/bench-go-before.txt build/bench-table.md; if [ -n "$(BENCH_BEFORE)" ]; then \
	  wt=$$(mktemp -d /tmp/ku-bench-before.XXXXXX) && git worktree add -q --detach $$wt $(BENCH_BEFORE) && \
	  (cd $$wt && $(GO) test -run '^$$' -bench 'GatherAndPlan|Plan$$' -benchmem ./internal/plan/) > build/bench-go-before.txt; \
	  git worktree remove --force $$wt; fi
	$(MAKE) deb
	@echo "VM bench: 7 guests, 2 at a time (KU_VM_MAX); progress in build/bench.log"
	@KU_BENCH=1 KU_BENCH_GO=$(CURDIR)/build/bench-go.txt KU_BENCH_GO_BEFORE=$$( [ -n "$(BENCH_BEFORE)" ] && echo $(CURDIR)/build/bench-go-before.txt ) \
	  KU_BENCH_BEFORE="$(BENCH_BEFORE)" KU_BENCH_STOP="$(BENCH_STOP)" KU_BENCH_BIN=$(CURDIR)/$(BIN) KU_BENCH_TABLE=$(CURDIR)/build/bench-table.md \
	  $(GO) test -tags vm -count=1 -v -run '^TestOutageBench$$$(if $(BENCH_RUN),/$(BENCH_RUN))' -timeout 150m $(VM_TESTS) > build/bench.log 2>&1; \
	  rc=$$?; cat build/bench-table.md 2>/dev/null || tail -n 40 build/bench.log; exit $$rc

build:
	CGO_ENABLED=0 GOARCH=$(BUILD_GOARCH) $(GO) build $(GOFLAGS_BUILD) -o $(BIN) ./cmd/kexec-upgrade

# Unit tests, with the real Debian kernel packages the image tests read
# (.ci/fetch-kernels: the newest of each suite, cached for a day).
unit: real-kernels
	CGO_ENABLED=0 $(GO) test -count=1 ./...

real-kernels:
	.ci/fetch-kernels >/dev/null

# Each fuzz target runs for $(FUZZTIME); the list is discovered, so a new target is fuzzed without editing this file.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) .ci/fuzz-smoke

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags vm $(VM_TESTS)

clean:
	rm -rf build dist
