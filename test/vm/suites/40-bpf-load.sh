#!/bin/sh
# 40-bpf-load: ks-bpf-load on its own, without killswitch.ko. On a kernel
# with BPF override (the project's test kernel) it attaches the test
# override program to the error-injectable __x64_sys_getpriority and shows:
# the syscall result changes, the change outlives the helper (pinned), a
# second load is refused without replacing the first, removing the pin
# restores the syscall, and failures leave no pin behind.
#
# Needs: /usr/sbin/ks-bpf-load, /ks/bpf/{override,noop}.bpf.o (override
# built with KS_RETVAL=40), /ks/bpf/cve-2025-21700.bpf.o, and a program
# printing getpriority's raw result ($KS_GETPRIO, default "ksw getpriority").
# Where the kernel has no error-injection list it reports one skip (a
# failure on the test kernel, which must have it: KS_NO_SKIP=1).

LOADER=/usr/sbin/ks-bpf-load
BPF=/ks/bpf
PINS=/sys/fs/bpf/killswitch
FN=__x64_sys_getpriority
GETPRIO=${KS_GETPRIO:-/ks/selftests/ksw getpriority}

n=0
ok() { echo "ok - bpf-load: $1"; }
nok() { echo "not ok - bpf-load: $1: $2"; n=$((n + 1)); }
check() { # check NAME WANT GOT
	if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "want '$2', got '$3'"; fi
}

if [ ! -e /sys/kernel/debug/error_injection/list ]; then
	echo "1..1"
	echo "ok - bpf-load: ks-bpf-load override tests # SKIP no /sys/kernel/debug/error_injection/list (kernel without FUNCTION_ERROR_INJECTION)"
	exit 0
fi
qdisc=false
[ -e "$BPF/cve-2025-21700.bpf.o" ] && grep -q ' tc_modify_qdisc$' /proc/kallsyms && qdisc=true
if $qdisc; then echo "1..15"; else echo "1..13"; fi
for f in "$LOADER" "$BPF/override.bpf.o" "$BPF/noop.bpf.o"; do
	[ -e "$f" ] || { nok "setup" "$f missing"; exit 1; }
done
rm -f "$PINS/$FN" "$PINS/__x64_sys_getppid" 2>/dev/null

"$LOADER" >/dev/null 2>&1
check "no arguments is a usage error" 2 $?

base=$($GETPRIO)
check "getpriority before" 20 "$base"

out=$("$LOADER" "$BPF/override.bpf.o" "$FN" 2>&1)
check "override loads on $FN" 0 $?
check "getpriority overridden after the helper exited" 40 "$($GETPRIO)"
[ -e "$PINS/$FN" ] && ok "link pinned at $PINS/$FN" || nok "link pinned" "no $PINS/$FN ($out)"
dmesg | grep -q "ks-bpf-load: loaded ks_override program on $FN" &&
	ok "kernel log names program and function" ||
	nok "kernel log names program and function" "no line in dmesg"

out=$("$LOADER" "$BPF/noop.bpf.o" "$FN" 2>&1)
rc=$?
[ $rc -ne 0 ] && ok "second load on an engaged function refused" || nok "second load refused" "exit 0"
case $out in *"already engaged"*) ok "refusal says already engaged" ;; *) nok "refusal says already engaged" "$out" ;; esac
check "first engagement untouched by the refusal" 40 "$($GETPRIO)"

rm "$PINS/$FN"
check "removing the pin restores getpriority" 20 "$($GETPRIO)"

"$LOADER" "$BPF/noop.bpf.o" __x64_sys_getppid >/dev/null 2>&1
check "no-op program attaches" 0 $?
rm -f "$PINS/__x64_sys_getppid"

out=$("$LOADER" "$BPF/override.bpf.o" ks_no_such_function 2>&1)
[ $? -ne 0 ] && [ ! -e "$PINS/ks_no_such_function" ] &&
	ok "unknown function refused, no pin" || nok "unknown function refused" "$out"

out=$("$LOADER" "$BPF/missing.bpf.o" "$FN" 2>&1)
[ $? -ne 0 ] && [ ! -e "$PINS/$FN" ] &&
	ok "missing object refused, no pin" || nok "missing object refused" "$out"

# tc_modify_qdisc is not on the error-injection list: without killswitch's
# gate the kernel refuses a program that calls bpf_override_return there.
if $qdisc; then
	out=$("$LOADER" "$BPF/cve-2025-21700.bpf.o" tc_modify_qdisc 2>&1)
	[ $? -ne 0 ] && [ ! -e "$PINS/tc_modify_qdisc" ] &&
		ok "override outside the error-injection list refused without the gate, no pin" ||
		nok "override outside the list refused" "$out"
	dmesg | grep -q "ks-bpf-load: tc_modify_qdisc: attach" &&
		ok "refusal reason in the kernel log" || nok "refusal reason in the kernel log" "no line"
fi

[ $n -eq 0 ]
