# killswitch top-level build.
#
#   make              kernel modules (against KDIR), selftest helper, Go binaries in bin/
#   make install      modules (modules_install runs depmod), /usr/bin/killswitch,
#                     /usr/sbin/ks-bpf-load; installs what is built, says what is not
#   make test         the CI entry point (.ci/run): dependencies, go vet, go test
#                     -race, every fuzz target for 2s (CI_FUZZTIME), then the VM
#                     suites on every stock kernel
#   make fuzz         every Go fuzz target for FUZZTIME (10s) each
#   make vmtest       the VM suites only; e.g.
#                     make vmtest VMTEST_FLAGS="-kernels debian-6.12 -suites '00-*' -verbose"
#   make lint         gofmt and staticcheck
#   make stress       the stress and the fuzzer on the debug kernel for longer:
#                     make stress DURATION=30m (whole minutes; default 30m)
#   make demo         boot Debian's stock 6.1 kernel in QEMU and walk through two
#                     CVE incidents: exposed, killswitch mitigate, blocked, undone
#   make fresh-check  make demo and make test in a fresh Debian 12 root
#                     (mmdebstrap, chroot), wall time per phase; FRESH_PHASES=demo
#   make deb          Debian packages killswitch-dkms and killswitch in out/deb/
#   make deb-test     install them here, DKMS-build for the VM kernels, boot them
#   make deploy-test  systemd unit, Kubernetes manifests, Helm chart, alert rules
#   make sign KEY=mok.key CERT=mok.der   sign the built modules (Secure Boot)
#   make clean
#
# KDIR, ARCH and CROSS_COMPILE pass through to kernel/ and selftests/;
# ARCH=arm64 also builds the Go binaries for arm64.
# More targets (demo, bench, sign, stress) belong below, one small block each.

KDIR ?= /lib/modules/$(shell uname -r)/build
KS_CACHE ?= /var/cache/killswitch
DESTDIR ?=
VMTEST_FLAGS ?=

# The go command: the first one new enough for go.mod, or a toolchain
# scripts/ensure-deps fetches from the module proxy. Evaluated once, and only
# by targets that run Go.
GO = $(eval GO := $$(or $$(shell scripts/ensure-deps --go),$$(error no usable Go: see scripts/ensure-deps)))$(GO)
GOBUILD = CGO_ENABLED=0 $(if $(filter arm64,$(ARCH)),GOARCH=arm64 )$(GO) build -trimpath

export KS_CACHE

.PHONY: all modules selftests go install install-modules install-bin install-bpf \
	test deps vet unit fuzz vmtest lint clean demo

all: modules selftests go

modules:
	$(MAKE) -C kernel KDIR=$(KDIR)

selftests:
	$(MAKE) -C selftests

# Static binaries: the same files work on the host and in the test VMs.
go:
	$(GOBUILD) -o bin/ ./cmd/...

install: install-modules install-bin install-bpf

install-modules:
	@if ls kernel/*.ko >/dev/null 2>&1; then \
		$(MAKE) -C kernel KDIR=$(KDIR) modules_install; \
	else \
		echo "install: kernel modules are not built (run make first); skipping them"; \
	fi

install-bin:
	@for pair in killswitch:/usr/bin ks-bpf-load:/usr/sbin killswitchd:/usr/sbin; do \
		bin=$${pair%%:*}; dir=$(DESTDIR)$${pair#*:}; \
		if [ -x bin/$$bin ]; then \
			echo "install bin/$$bin $$dir/$$bin"; install -D -m 0755 bin/$$bin $$dir/$$bin; \
		else \
			echo "install: bin/$$bin is not built (run make first); skipping it"; \
		fi; \
	done

# The catalog's engagebpf programs, where `killswitch mitigate` looks for
# them (--bpf-dir). Compiling needs clang; without it they are skipped.
BPF_DIR ?= /usr/lib/killswitch/mitigations
install-bpf:
	@if command -v clang >/dev/null; then \
		$(MAKE) -C mitigations && \
		install -d $(DESTDIR)$(BPF_DIR) && \
		install -m 0644 mitigations/cve-*.bpf.o $(DESTDIR)$(BPF_DIR)/ && \
		echo "install mitigations/*.bpf.o $(DESTDIR)$(BPF_DIR)/"; \
	else \
		echo "install: clang not found; the engagebpf mitigation programs are not installed"; \
	fi

VMTEST = GO=$(GO) $(GO) run ./cmd/ks-vmtest $(VMTEST_FLAGS)
# The unit tests run under the race detector (it needs cgo: gcc, which
# scripts/ensure-deps installs); measured 32s against 15s without.
UNIT = CGO_ENABLED=1 $(GO) test -race ./...
# Fuzzing in CI: 30 targets at 2s each plus ~1.5s of start-up apiece:
# measured 107s (168s at 3s each, cold). make fuzz FUZZTIME=5m digs deeper.
FUZZTIME ?= 10s
CI_FUZZTIME ?= 2s

# One recipe, so the steps stay in order under make -j: no point booting
# kernels when the unit tests fail.
test: deps
	$(GO) vet ./...
	$(UNIT)
	GO=$(GO) scripts/fuzz $(CI_FUZZTIME)
	$(VMTEST)
	$(MAKE) --no-print-directory deploy-test deb-test GO=$(GO)

deps:
	@scripts/ensure-deps

vet: deps
	$(GO) vet ./...

unit: deps
	$(UNIT)

fuzz: deps
	GO=$(GO) scripts/fuzz $(FUZZTIME)

vmtest: deps
	$(VMTEST)

lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	GOBIN=$(KS_CACHE)/gobin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(KS_CACHE)/gobin/staticcheck ./...

clean:
	rm -rf bin
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C kernel KDIR=$(KDIR) clean; \
		else echo "clean: no kernel tree at $(KDIR); kernel/ left as is (pass KDIR=)"; fi
	$(MAKE) -C selftests clean

# The debug kernel (ks-6.1-debug) under 90-stress for DURATION, then
# 91-fuzz; each suite may take the duration plus 15 minutes, the run (a cold
# kernel build included) the duration plus 75. More fuzz:
# VMTEST_FLAGS="-env KS_FUZZ_INPUTS=1000000".
DURATION ?= 30m
STRESS_MIN = $(patsubst %m,%,$(DURATION))
.PHONY: stress
stress: deps
	@case "$(STRESS_MIN)" in ''|*[!0-9]*) echo "make stress: DURATION=$(DURATION) is not whole minutes; use e.g. DURATION=30m"; exit 2;; esac
	GO=$(GO) $(GO) run ./cmd/ks-vmtest -kernels ks-6.1-debug -suites '90-stress,91-fuzz' \
		-env KS_STRESS_DURATION=$(STRESS_MIN)m -suite-timeout $$(( $(STRESS_MIN) + 15 ))m \
		-timeout $$(( $(STRESS_MIN) + 75 ))m $(VMTEST_FLAGS)

# The README's first command: one boot of the stock Debian 6.1 kernel, the
# 51-demos suite told step by step (what is typed, what it prints), a
# success line, non-zero on any failure.
demo: deps go
	@start=$$(date +%s); \
	GO=$(GO) $(GO) run ./cmd/ks-vmtest -kernels debian-6.1 -suites 51-demos $(VMTEST_FLAGS); rc=$$?; \
	secs=$$(( $$(date +%s) - start )); \
	if [ $$rc = 0 ]; then echo "make demo: PASSED in $${secs}s: killswitch mitigated Copy Fail and Dirty Frag on Debian's 6.1 kernel and gave the code back"; \
	else echo "make demo: FAILED (exit $$rc) after $${secs}s: see the lines above"; fi; exit $$rc

# Fleet (killswitchd): Debian packages and deployment files. deb-test installs
# both packages on this machine (root), has DKMS build killswitch.ko for the
# Debian kernels the VM harness caches, and boots them with that module
# (suites 00-boot and 60-agent). deploy-test runs deploy/'s own Go module:
# manifests decoded with the Kubernetes types, helm lint/template (helm built
# once into $(KS_CACHE)/gobin), alert rules, systemd-analyze verify.
DEB_VERSION ?= $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
.PHONY: deb deb-test deploy-test
deb: deps
	$(GOBUILD) -ldflags='-s -w' -o bin/ ./cmd/killswitch ./cmd/killswitchd ./cmd/ks-bpf-load
	GO=$(GO) $(if $(filter arm64,$(ARCH)),DEB_ARCH=arm64 )packaging/deb/build $(DEB_VERSION) out/deb

deb-test: deb
	GO=$(GO) packaging/deb/test $(DEB_VERSION) out/deb

deploy-test: deps
	cd deploy && $(GO) vet ./... && GO=$(GO) $(GO) test ./...

# Secure Boot: sign the built modules with an enrolled MOK (or any key the
# kernel trusts) using $(KDIR)/scripts/sign-file, then show modinfo's view.
# scripts/sign-modules checks the key, the certificate and KDIR first.
MODULES_TO_SIGN ?= kernel/killswitch.ko kernel/test_killswitch.ko
.PHONY: sign
sign:
	@scripts/sign-modules --kdir "$(KDIR)" --key "$(KEY)" --cert "$(CERT)" $(if $(HASH),--hash "$(HASH)") $(MODULES_TO_SIGN)

# Benchmarks: one boot of the test kernel (label ks-6.1-bench, suite
# 85-bench) measures killswitch next to fail_function, BPF override and a
# bare kprobe; scripts/bench writes the figures into docs/benchmarks.md
# (between its markers) and prints them.
.PHONY: bench
bench: deps
	GO=$(GO) VMTEST_FLAGS="$(VMTEST_FLAGS)" scripts/bench

# The README's two commands on a truly fresh Debian 12: a minbase bookworm
# root made by mmdebstrap (cached by date in $(KS_CACHE)/fresh), this
# repository's HEAD cloned into it, make demo and make test run in a chroot
# with empty caches. Not part of make test: it is the whole of make test
# again, from cold (see scripts/fresh-check).
.PHONY: fresh-check
fresh-check:
	scripts/fresh-check
