# bpf.mk - how killswitch compiles BPF C (mitigations/, test/bpf/).
# No libbpf or vmlinux.h: ks_bpf.h declares what the programs use, and the
# multiarch include directory supplies <asm/types.h> for <linux/bpf.h>.
CLANG ?= clang
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))

%.bpf.o: %.bpf.c $(wildcard ks_bpf.h ../../mitigations/ks_bpf.h)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
