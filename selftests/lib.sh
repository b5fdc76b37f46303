# SPDX-License-Identifier: GPL-2.0
#
# Shared by killswitch_test.sh and the VM suites (sourced, busybox sh):
# TAP-style reporting, control writes through ksw, kernel-log marks and
# module loading.  The sourcing script sets HERE to its own directory
# first (ksw is looked for there, then on PATH).

KSW=${KSW:-$HERE/ksw}
[ -x "$KSW" ] || KSW=$(command -v ksw || true)
KS=/sys/kernel/security/killswitch
C=$KS/control
T=/sys/kernel/debug/test_killswitch
PASS=0
FAIL=0

# plan N: the number of results this script reports, printed before the
# first (the VM harness fails a suite that reports another number).
plan() { echo "1..$1"; }
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
# skip NAME REASON: a result that did not run, and why. On a kernel that
# must run everything (KS_NO_SKIP=1) the harness counts it as a failure.
skip() { PASS=$((PASS + 1)); echo "ok - $1 # SKIP $2"; }
nok() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
note() { echo "# $*"; }

# expect NAME EXPECTED ACTUAL
expect() {
	if [ "$3" = "$2" ]; then ok "$1"; else nok "$1: expected '$2', got '$3'"; fi
}

# expect_match NAME PATTERN TEXT (grep -E)
expect_match() {
	if printf '%s\n' "$3" | grep -Eq -- "$2"; then ok "$1"; else
		nok "$1: no match for /$2/ in: $(printf '%s' "$3" | tail -n 3 | tr '\n' '|')"; fi
}

bail() {
	nok "$*"
	finish
}

ctl() { "$KSW" write "$C" "$1"; }
listing() { cat "$KS/engaged" 2>/dev/null; }
call() { cat "$T/call"; }
body_runs() { cat "$T/body_runs"; }

case $(uname -m) in
x86_64) SYS=__x64_sys ;;
aarch64) SYS=__arm64_sys ;;
*) SYS=unknown_arch_sys ;;
esac

# Kernel log since the last mark.
MARK=0
mark() {
	MARK=$((MARK + 1))
	echo "ks-selftest: mark $$-$MARK" > /dev/kmsg
}
log_since_mark() { dmesg | sed -n "/ks-selftest: mark $$-$MARK\$/,\$p"; }

modload() {
	name=$1
	shift
	if modprobe "$name" "$@" 2>/dev/null; then return 0; fi
	# Not installed: fall back to the build tree next to this script.
	insmod "$HERE/../kernel/$name.ko" "$@"
}

now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# finish: unload the modules, print the tally, exit 0 only if all passed.
finish() {
	rmmod test_killswitch 2>/dev/null
	rmmod killswitch 2>/dev/null
	if [ -n "${KS_KERNEL:-}" ]; then
		echo "# $(basename "$0"): $PASS passed, $FAIL failed"
	else
		echo "$PASS passed, $FAIL failed"
	fi
	[ "$FAIL" -eq 0 ]
	exit $?
}
