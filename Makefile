SHELL := /bin/bash
# dsrlb build, test and demo. Everything installs what it needs itself on a
# fresh Debian 12 machine (run as root: DPDK and network namespaces need it).

GO       ?= go
BIN      := bin
# Debian packages the build, the tests and the demo use. Their services
# (keepalived, prometheus) are not started by the installation: the tests
# run their own, in network namespaces (policy-rc.d denies the start).
APT_PKGS := build-essential pkg-config libdpdk-dev dpdk-dev nginx tcpdump bird2 \
            iproute2 ethtool curl iputils-ping procps nftables \
            clang libbpf-dev bpftool keepalived prometheus chromium tcpreplay
GOFLAGS_TEST ?= -count=1

.PHONY: all deps build binaries deb deb-package demo test unit e2e lint fmt clean bench bench-smoke fuzz soak readme

all: build

# deps installs missing Debian packages and downloads Go modules.
deps:
	@missing=""; for p in $(APT_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "run as root to install packages" >&2; exit 1; fi; \
		rc=/usr/sbin/policy-rc.d; own=0; \
		if [ ! -e $$rc ]; then printf '#!/bin/sh\nexit 101\n' > $$rc && chmod +x $$rc && own=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; st=$$?; \
		if [ $$own = 1 ]; then rm -f $$rc; fi; [ $$st = 0 ] || exit $$st; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.26 or newer is needed (https://go.dev/dl)" >&2; exit 1; }
	$(GO) mod download

build: deps
	$(MAKE) --no-print-directory binaries

# binaries: the three programs and the eBPF object into $(BIN)/, without
# installing anything. The data plane links DPDK through cgo; the control
# process and dsrlbctl are built without cgo (static). make build, make deb
# and the Dockerfile's build stage all build through here.
binaries:
	$(GO) build -o $(BIN)/ ./cmd/dsrlb-dataplane
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/dsrlb-ctrl ./cmd/dsrlbctl
	$(MAKE) --no-print-directory bpf

# demo: builds a namespace test bed, runs the balancer, shows curl answers
# from both real servers and a capture proving DSR, then tears down.
demo: build
	./$(BIN)/dsrlbctl demo -dataplane $(BIN)/dsrlb-dataplane

lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/dsrlb-ctrl

# unit: pure-Go stage tests, DPDK binding tests on null vdevs, config tests.
unit: deps
	$(GO) test $(GOFLAGS_TEST) ./...
	$(GO) test $(GOFLAGS_TEST) -race ./pipeline/... ./conf/... ./ctrl/... ./perf/shm/ ./perf/counters/ ./hw/dataplane/

# e2e: namespace topologies with real clients, nginx, the data plane and
# the control process; real-server set-up and eBPF decapsulation; the
# Debian package (make deb, installed, run as its units would, purged)
# and the Dockerfile's build stage.
e2e: deps
	$(GO) test $(GOFLAGS_TEST) -p 1 -tags e2e -v ./cmd/dsrlb-dataplane/ ./ctrl/realserver/ ./packaging/

# bench: throughput against dpdk-testpmd macswap on the same cores, vdevs,
# captures and memory (A/B pairs) for every case of the performance goals
# (perf.DefaultCases: hugepages and not, 4096 to 1M flows, 1 and 2
# workers, every method), then the per-stage micro-benchmarks and Maglev
# build times. Results also go to bench.json.
BENCH_FLAGS ?= -pairs 3 -duration 5s
bench: build
	./$(BIN)/dsrlbctl bench -dataplane $(BIN)/dsrlb-dataplane -cases default $(BENCH_FLAGS) -json bench.json
	$(GO) test -run '^$$' -bench . -benchtime 1s ./pipeline/ ./pipeline/header/
	$(GO) test -run '^$$' -bench 'Build$$' -benchtime 20x ./pipeline/maglev/

# bench-smoke: the throughput benchmark for a few seconds, to prove it runs
# (no speed is asserted).
bench-smoke: build
	./$(BIN)/dsrlbctl bench -dataplane $(BIN)/dsrlb-dataplane -workers 1,2 -pairs 1 -warmup 1s -duration 1s

test: lint unit bench-smoke e2e

fmt:
	gofmt -w $$(git ls-files '*.go')

# fuzz: every fuzz target for FUZZTIME each (make test runs them on their
# seed corpora only). FUZZ_PKGS narrows it, e.g. FUZZ_PKGS=./perf/shm/.
# The fuzzing coordinator of Go 1.26 can fail a run that found nothing with
# "context deadline exceeded" when -fuzztime ends (go.dev/issue/75804, fixed
# in Go 1.27): fuzzing runs on Go 1.27.3, which the go command fetches from
# the module proxy by itself (about 76 MB, once).
FUZZTIME  ?= 60s
# Minimising a new input is bounded too (Go's default, 60 s, can take a
# whole run on a 4 KiB input and shows as a stall).
FUZZMINTIME ?= 5s
FUZZ_PKGS ?= ./conf/... ./perf/... ./pipeline/... ./ctrl/vrrp/
FUZZ_GO   ?= env GOTOOLCHAIN=go1.27.3 $(GO)
fuzz: deps
	@set -e; for pkg in $$($(GO) list $(FUZZ_PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			$(FUZZ_GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $$pkg; \
		done; \
	done

# soak: SOAK_DURATION of mixed traffic (the benchmark's capture replayed
# without end plus real clients through the namespace test bed) with a
# health change every 20 s and a reload every 5 s; fails on memory,
# goroutine or thread growth, or a counter going backwards. Not in make
# test (30 minutes by default).
SOAK_DURATION ?= 30m
soak: deps
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -tags 'e2e soak' -run '^TestSoak$$' -timeout 0 -v ./cmd/dsrlb-dataplane/

# readme: rewrite the README's generated counters table from perf/counters.
readme:
	$(GO) test -count=1 -run '^TestREADMETable$$' ./perf/counters/ -update
	$(GO) test -count=1 -run '^TestREADMEMetrics$$' ./ctrl/ -update

clean:
	rm -rf $(BIN)

# deb: the Debian package $(DEB_OUT)/dsrlb_VERSION_ARCH.deb from the
# binaries make build leaves in $(BIN)/ (README: Installing the Debian
# package). DEB_VERSION defaults to the newest v* tag, else
# 0~COMMITS.gHASH (+dirty with uncommitted changes); DEB_COMPRESS is
# dpkg-deb's -Z (xz, gzip, zstd, none).
DEB_OUT      ?= $(BIN)
DEB_VERSION  ?=
DEB_COMPRESS ?= xz
deb: build
	$(MAKE) --no-print-directory deb-package

# deb-package: the package from what is already in $(BIN)/ (installs and
# builds nothing; the Dockerfile's build stage uses it after binaries).
deb-package:
	packaging/build-deb.sh -bin $(BIN) -out $(DEB_OUT) -compress $(DEB_COMPRESS) $(if $(DEB_VERSION),-version $(DEB_VERSION))

# bpf: the real servers' tc eBPF decapsulation program (ipip, gre, gue
# without the kernel's tunnel modules), see ctrl/realserver. Needs the
# Debian packages clang, llvm and libbpf-dev (bpftool and iproute2 to load it).
BPF_CLANG  ?= clang
BPF_CFLAGS ?= -O2 -g -Wall
BPF_ARCH_INCLUDE := /usr/include/$(shell $(CC) -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)

.PHONY: bpf
bpf: $(BIN)/dsrlb-decap.o

$(BIN)/dsrlb-decap.o: ctrl/realserver/bpf/decap.c
	@command -v $(BPF_CLANG) >/dev/null || { echo "clang is needed: apt-get install clang llvm libbpf-dev" >&2; exit 1; }
	@mkdir -p $(BIN)
	$(BPF_CLANG) $(BPF_CFLAGS) -target bpf -I$(BPF_ARCH_INCLUDE) -c $< -o $@
