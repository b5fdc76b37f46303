#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# killswitch selftest: the module's securityfs contract, end to end, on
# the running kernel.  Runs on a real host (as root, with killswitch.ko
# and test_killswitch.ko installed or loadable) and as the first suite in
# the test VM.  Prints "ok - ..." / "not ok - ..." per check.
#
#   cd selftests && make && sudo ./killswitch_test.sh
#
# It loads and unloads killswitch and test_killswitch itself.
#
#   ./killswitch_test.sh --lockdown
#
# checks the lockdown rules instead: it raises lockdown to integrity and
# then confidentiality, which cannot be undone before a reboot, so it is
# for a test VM or a host you are about to reboot.  busybox sh compatible.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

MODE=contract
case "${1:-}" in
--lockdown) MODE=lockdown ;;
"") ;;
*) echo "usage: $0 [--lockdown]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
# The plan (TAP): every check below reports one result on every kernel,
# what a kernel lacks included, so the count is fixed per mode.
if [ "$MODE" = lockdown ]; then plan 17; else plan 152; fi
[ -n "$KSW" ] && [ -x "$KSW" ] || { echo "ksw not built: run make in selftests/" >&2; exit 2; }
grep -q ' /sys/kernel/security ' /proc/mounts || mount -t securityfs securityfs /sys/kernel/security
grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug

# --- load ----------------------------------------------------------------
rmmod test_killswitch 2>/dev/null
rmmod killswitch 2>/dev/null
modload killswitch || bail "load killswitch.ko"
modload test_killswitch || bail "load test_killswitch.ko"

# --- lockdown: a separate run, it cannot be lowered again ---------------------
if [ "$MODE" = lockdown ]; then
	LD=/sys/kernel/security/lockdown
	F=$KS/fn/ks_test_vuln
	[ -w $LD ] || bail "lockdown: $LD missing (kernel without the lockdown LSM)"
	expect "engage before lockdown" "OK" "$(ctl 'engage ks_test_vuln -9')"
	ctl 'engage ks_test_dup_other -2' > /dev/null
	mark
	echo integrity > $LD
	expect_match "lockdown raised to integrity" '\[integrity\]' "$(cat $LD)"
	expect "integrity: engage EPERM" "EPERM" "$(ctl "engage ${SYS}_getuid 1")"
	expect "integrity: tryengage EPERM" "EPERM" "$(ctl "tryengage ${SYS}_getuid 1 5")"
	expect "integrity: observe allowed (it never overrides)" "OK" "$(ctl "observe ${SYS}_getuid")"
	expect "integrity: engagebpf EPERM" "EPERM" "$(ctl "engagebpf ${SYS}_getuid /tmp/x.bpf.o")"
	expect "integrity: retval write EPERM" "EPERM" "$("$KSW" write $F/retval 1)"
	expect "integrity: retval unchanged" "-9" "$(cat $F/retval)"
	expect "integrity: override still in force" "-9" "$(call)"
	expect_match "refusal logged in our words" \
		"killswitch: engage ${SYS}_getuid refused: kernel is locked down" "$(log_since_mark)"
	expect "integrity: disengage allowed" "OK" "$(ctl 'disengage ks_test_vuln')"
	expect "integrity: target runs again" "42" "$(call)"
	echo confidentiality > $LD
	expect_match "lockdown raised to confidentiality" '\[confidentiality\]' "$(cat $LD)"
	expect "confidentiality: engage EPERM" "EPERM" "$(ctl "engage ${SYS}_getpid 1")"
	expect "confidentiality: observe EPERM" "EPERM" "$(ctl "observe ${SYS}_getpid")"
	expect "confidentiality: disengage_all allowed" "OK" "$(ctl 'disengage_all')"
	expect "confidentiality: nothing left" "" "$(listing)"
	finish
fi
[ -d "$KS" ] && ok "securityfs tree present" || bail "no $KS"

# stat -c is in busybox and coreutils
expect "control is 0200" "200" "$(stat -c %a $C)"
expect "engaged is 0444" "444" "$(stat -c %a $KS/engaged)"
expect "taint is 0444" "444" "$(stat -c %a $KS/taint)"
expect "taint reads 1" "1" "$(cat $KS/taint)"
expect "engaged starts empty" "" "$(listing)"
expect "test target runs its body" "42" "$(call)"

# --- engage ----------------------------------------------------------------
mark
runs=$(body_runs)
expect "engage ks_test_vuln -5" "OK" "$(ctl 'engage ks_test_vuln -5')"
expect "engaged target returns retval" "-5" "$(call)"
expect "engaged target body does not run" "$runs" "$(body_runs)"
expect "engaged line" "ks_test_vuln retval=-5 hits=1" "$(listing)"
F=$KS/fn/ks_test_vuln
expect "fn/retval" "-5" "$(cat $F/retval)"
expect "fn/hits" "1" "$(cat $F/hits)"
expect "fn/state" "engaged" "$(cat $F/state)"
expect "fn/timeout_left" "0" "$(cat $F/timeout_left)"
expect "fn/retval is 0600" "600" "$(stat -c %a $F/retval)"
expect "fn/hits is 0444" "444" "$(stat -c %a $F/hits)"
expect "fn/state is 0444" "444" "$(stat -c %a $F/state)"
expect "fn/timeout_left is 0444" "444" "$(stat -c %a $F/timeout_left)"
expect_match "audit line for engage" \
	"killswitch: engage ks_test_vuln retval=-5 uid=0 auid=[0-9]+ ses=[0-9]+ comm=ksw" "$(log_since_mark)"

call > /dev/null
call > /dev/null
expect "hits count every call" "3" "$(cat $F/hits)"

# --- live retval -------------------------------------------------------------
expect "retval write" "OK" "$("$KSW" write $F/retval 7)"
expect "live retval takes effect" "7" "$(call)"
expect "retval write, hex" "OK" "$("$KSW" write $F/retval '0x10\n')"
expect "hex retval" "16" "$(call)"
expect "retval write, garbage" "EINVAL" "$("$KSW" write $F/retval 'x1')"
expect "retval unchanged by garbage" "16" "$(cat $F/retval)"
expect_match "audit line for retval" "killswitch: retval ks_test_vuln 7 -> 16 uid=0" "$(log_since_mark)"

# --- refusals ----------------------------------------------------------------
before=$(listing)
expect "engage twice: EBUSY" "EBUSY" "$(ctl 'engage ks_test_vuln 1')"
expect "EBUSY changes nothing" "$before" "$(listing)"
expect "unknown symbol: ENOENT" "ENOENT" "$(ctl 'engage ks_no_such_symbol_anywhere 1')"
expect_match "unknown symbol logged" "engage ks_no_such_symbol_anywhere refused: no such symbol" "$(log_since_mark)"
bl=$(awk '$2 == "notify_die" { print $2; exit }' /sys/kernel/debug/kprobes/blacklist 2>/dev/null)
if [ -n "$bl" ]; then
	expect "blacklisted symbol: EINVAL" "EINVAL" "$(ctl "engage $bl -1")"
else
	nok "blacklisted symbol: notify_die not in /sys/kernel/debug/kprobes/blacklist"
fi
expect "disengage unknown: ENOENT" "ENOENT" "$(ctl 'disengage ks_no_such_symbol_anywhere')"
expect "refusals change nothing" "$before" "$(listing)"

# Every malformed line is EINVAL and leaves the listing alone.
long=$(head -c 5000 /dev/zero | tr '\0' a)
for line in '' '\n' ' ' 'engage' 'engage ks_test_vuln' \
	'engage ks_test_vuln 1 extra' 'engage ks_test_vuln abc' \
	'engage ks_test_vuln 1.5' 'engage ks_test_vuln 99999999999999999999' \
	'engage ks_test_vuln 0x' 'engage ks_test_vuln --1' 'engage ks_test_vuln 1x' \
	'engage ks_test_vuln 0x1g' 'engage ks_test_vuln 1\n\n' \
	'engage ks_test_vuln 1\0' 'engage ks_test_vuln\x01 1' \
	'engage bad/sym 1' 'engage ks_test_vuln 1 uid=' \
	'engage ks_test_vuln 1 uid=-1' 'engage ks_test_vuln 1 arg7=1' \
	'engage ks_test_vuln 1 arg0=1' 'engage ks_test_vuln 1 gid=0' \
	'tryengage ks_test_vuln 1' 'tryengage ks_test_vuln 1 86401' \
	'tryengage ks_test_vuln 1 -1' 'tryengage ks_test_vuln 1 x' \
	'tryengage ks_test_vuln 1 0x10' 'tryengage ks_test_vuln 1 2 extra' \
	'disengage' 'disengage a b' 'disengage_all x' 'bogus ks_test_vuln' \
	'ENGAGE ks_test_vuln 1' 'engagebpf ks_test_vuln' \
	'engagebpf ks_test_vuln relative.o' 'engagebpf ks_test_vuln /a.o extra' \
	"engage $long 1"; do
	expect "malformed '$(printf '%.40s' "$line")': EINVAL" "EINVAL" "$(ctl "$line")"
done
expect "malformed lines change nothing" "$before" "$(listing)"
expect "trailing newline accepted" "OK" "$(ctl 'disengage ks_test_vuln\n')"
expect "tabs separate tokens" "OK" "$(ctl 'engage\tks_test_vuln\t-1')"

# --- permissions -------------------------------------------------------------
before=$(listing)
expect "non-root cannot open control" "EACCES" "$("$KSW" asuser 65534 "$KSW" write $C 'disengage_all')"
expect "non-root cannot open retval" "EACCES" "$("$KSW" asuser 65534 "$KSW" write $F/retval 1)"
expect "root without CAP_SYS_ADMIN: control EPERM" "EPERM" "$("$KSW" nocap "$KSW" write $C 'disengage_all')"
expect "root without CAP_SYS_ADMIN: retval EPERM" "EPERM" "$("$KSW" nocap "$KSW" write $F/retval 1)"
expect "root in a user namespace: control EPERM" "EPERM" "$("$KSW" userns "$KSW" write $C 'disengage_all')"
expect "root in a user namespace: retval EPERM" "EPERM" "$("$KSW" userns "$KSW" write $F/retval 1)"
expect "non-root cannot read callers" "EACCES" "$("$KSW" asuser 65534 "$KSW" read $F/callers)"
expect "non-root can read engaged" "$before" "$("$KSW" asuser 65534 cat $KS/engaged)"
expect "refused writers change nothing" "$before" "$(listing)"

# --- disengage ---------------------------------------------------------------
mark
expect "disengage" "OK" "$(ctl 'disengage ks_test_vuln')"
runs=$(body_runs)
expect "disengaged target runs again" "42" "$(call)"
expect "disengaged body runs" "$((runs + 1))" "$(body_runs)"
expect "fn dir removed" "absent" "$([ -e $F ] && echo present || echo absent)"
expect "disengage twice: ENOENT" "ENOENT" "$(ctl 'disengage ks_test_vuln')"
expect_match "audit line for disengage" \
	"killswitch: disengage ks_test_vuln retval=-1 hits=[0-9]+ .*uid=0 auid=[0-9]+ ses=[0-9]+ comm=ksw" "$(log_since_mark)"

# --- a syscall seen from user space --------------------------------------------
expect "getuid before" "0" "$("$KSW" getuid)"
expect "engage ${SYS}_getuid" "OK" "$(ctl "engage ${SYS}_getuid 1234")"
expect "getuid overridden" "1234" "$("$KSW" getuid)"
expect "disengage ${SYS}_getuid" "OK" "$(ctl "disengage ${SYS}_getuid")"
expect "getuid restored" "0" "$("$KSW" getuid)"

# --- an open file across a disengage ---------------------------------------------
ctl 'engage ks_test_vuln 3' > /dev/null
exec 3< $KS/fn/ks_test_vuln/hits
ctl 'disengage ks_test_vuln' > /dev/null
expect_match "stale fn file reads ENOENT, not freed memory" "No such file" "$(cat <&3 2>&1)"
exec 3<&-

# --- tryengage -----------------------------------------------------------------
mark
expect "tryengage commit: start" "OK" "$(ctl 'tryengage ks_test_vuln -3 2')"
expect "probing state" "probing" "$(cat $F/state)"
left=$(cat $F/timeout_left)
[ "$left" -ge 1 ] && [ "$left" -le 2 ] && ok "timeout_left counts down ($left)" || nok "timeout_left: $left"
expect "probing shows in engaged" "ks_test_vuln retval=-3 hits=0 state=probing" "$(listing)"
expect "engage while probing: EBUSY" "EBUSY" "$(ctl 'engage ks_test_vuln 1')"
sleep 3
expect "committed state" "engaged" "$(cat $F/state)"
expect "committed timeout_left" "0" "$(cat $F/timeout_left)"
expect "committed override" "-3" "$(call)"
expect_match "commit logged" "killswitch: tryengage ks_test_vuln committed" "$(log_since_mark)"
ctl 'disengage ks_test_vuln' > /dev/null

mark
expect "tryengage abort: start" "OK" "$(ctl 'tryengage ks_test_vuln -3 2')"
expect "probe lets calls run" "42" "$(call)"
expect "probe counts the call" "1" "$(cat $F/hits)"
sleep 3
expect "aborted: gone from engaged" "" "$(listing)"
expect "aborted: fn dir gone" "absent" "$([ -e $F ] && echo present || echo absent)"
expect "aborted: body still runs" "42" "$(call)"
expect_match "abort logged" "killswitch: tryengage ks_test_vuln aborted: hits=1" "$(log_since_mark)"

mark
expect "tryengage cancel: start" "OK" "$(ctl 'tryengage ks_test_vuln -3 2')"
expect "disengage cancels the probe" "OK" "$(ctl 'disengage ks_test_vuln')"
sleep 3
expect "cancelled probe never commits" "" "$(listing)"
log=$(log_since_mark)
if printf '%s\n' "$log" | grep -Eq "tryengage ks_test_vuln (committed|aborted)"; then
	nok "cancelled probe logged a verdict"
else
	ok "cancelled probe logged no verdict"
fi

expect "tryengage T=0 engages at once" "OK" "$(ctl 'tryengage ks_test_vuln -4 0')"
expect "T=0 state" "engaged" "$(cat $F/state)"
expect "T=0 override" "-4" "$(call)"
ctl 'disengage ks_test_vuln' > /dev/null
expect "tryengage T=86400 accepted" "OK" "$(ctl 'tryengage ks_test_vuln -4 86400')"
left=$(cat $F/timeout_left)
[ "$left" -ge 86399 ] && ok "T=86400 timeout_left ($left)" || nok "T=86400 timeout_left: $left"
ctl 'disengage ks_test_vuln' > /dev/null

# --- unload during a probe window ------------------------------------------------
ctl 'tryengage ks_test_vuln -3 2' > /dev/null
rmmod killswitch && ok "rmmod during a probe window" || nok "rmmod during a probe window"
sleep 3
expect "tree gone after unload" "absent" "$([ -e $KS ] && echo present || echo absent)"
expect "target runs after unload" "42" "$(call)"
modload killswitch || bail "reload killswitch"

# --- a target in a module that unloads --------------------------------------------
mark
ctl 'engage ks_test_vuln -6' > /dev/null
expect "engaged in test_killswitch" "-6" "$(call)"
rmmod test_killswitch && ok "target module unloads while engaged" || nok "rmmod test_killswitch"
expect "engagement dropped with its module" "" "$(listing)"
expect_match "mitigation lost logged" \
	"killswitch: mitigation lost: module test_killswitch unloading: disengage ks_test_vuln" "$(log_since_mark)"
modload test_killswitch || bail "reload test_killswitch"
expect "reloaded target runs its body" "42" "$(call)"

if modprobe algif_skcipher 2>/dev/null; then
	mark
	expect "AF_ALG round trip before" "OK" "$("$KSW" alg)"
	expect "engage af_alg_sendmsg -1" "OK" "$(ctl 'engage af_alg_sendmsg -1')"
	expect "AF_ALG refused while engaged" "EPERM" "$("$KSW" alg)"
	for m in algif_skcipher algif_aead algif_hash algif_rng af_alg; do
		rmmod $m 2>/dev/null
	done
	expect "af_alg unloaded" "gone" "$(grep -q '^af_alg ' /proc/modules && echo loaded || echo gone)"
	expect "engagement dropped with af_alg" "" "$(listing)"
	expect_match "mitigation lost: module af_alg" \
		"killswitch: mitigation lost: module af_alg unloading: disengage af_alg_sendmsg" "$(log_since_mark)"
	modprobe algif_skcipher
	expect "AF_ALG works after reload" "OK" "$("$KSW" alg)"
else
	nok "AF_ALG: modprobe algif_skcipher failed (module missing from this kernel?)"
	for t in "engage af_alg_sendmsg -1" "AF_ALG refused while engaged" "af_alg unloaded" \
		"engagement dropped with af_alg" "mitigation lost: module af_alg" "AF_ALG works after reload"; do
		skip "$t" "no algif_skcipher"
	done
fi

# --- 300 probes, listed completely --------------------------------------------------
# tryengage in probe mode never overrides, so any traceable function is safe.
AF=/sys/kernel/tracing/available_filter_functions
[ -r $AF ] || AF=/sys/kernel/debug/tracing/available_filter_functions
n=0
for sym in $(grep -v '\[' $AF | awk '{print $1}' | grep -E '^(crypto_|xfrm_|tcp_|udp_|ipv6_|inet_|ext4_|kernfs_|sysfs_|proc_)' | grep -v '\.' | sort -u); do
	[ $n -ge 300 ] && break
	[ "$(ctl "tryengage $sym 0 86400")" = OK ] && n=$((n + 1))
done
expect "300 probes installed" "300" "$n"
lines=$(listing | wc -l)
expect "engaged lists all 300" "300" "$lines"
bytes=$(listing | wc -c)
[ "$bytes" -gt 4096 ] && ok "engaged spans pages ($bytes bytes)" || nok "engaged only $bytes bytes"
t0=$(now_ms)
expect "disengage_all" "OK" "$(ctl disengage_all)"
t1=$(now_ms)
note "disengage_all of 300: $((t1 - t0)) ms"
expect "disengage_all empties" "" "$(listing)"
expect "fn/ empty" "" "$(ls $KS/fn)"

# --- engage latency ------------------------------------------------------------------
t0=$(now_ms)
i=0
while [ $i -lt 50 ]; do
	ctl 'engage ks_test_vuln -1' > /dev/null
	ctl 'disengage ks_test_vuln' > /dev/null
	i=$((i + 1))
done
t1=$(now_ms)
note "engage+disengage: $(((t1 - t0) / 50)) ms per pair (50 pairs, includes ksw exec)"

# --- calls racing engage/disengage ---------------------------------------------------
(i=0; while [ $i -lt 200 ]; do cat $T/call > /dev/null; i=$((i + 1)); done) &
racer=$!
i=0
while [ $i -lt 30 ]; do
	ctl 'engage ks_test_vuln -1' > /dev/null
	echo 5 > $F/retval 2>/dev/null
	ctl 'disengage ks_test_vuln' > /dev/null
	i=$((i + 1))
done
wait $racer
expect "calls racing engage/disengage leave it clean" "42" "$(call)"

# --- engage= at load -----------------------------------------------------------------
rmmod killswitch
mark
modload killswitch "engage=bogus,ks_test_vuln=-9,nosuchsym_ks=1,${SYS}_getuid" || nok "load with engage="
expect "engage= engaged the good entry" "-9" "$(call)"
expect "engage= listing" "ks_test_vuln retval=-9 hits=1" "$(listing)"
log=$(log_since_mark)
expect_match "engage= bad entry named" "engage= entry 'bogus' skipped" "$log"
expect_match "engage= missing '=' named" "engage= entry '${SYS}_getuid' skipped" "$log"
expect_match "engage= unknown symbol skipped" "engage= entry 'nosuchsym_ks' skipped" "$log"
expect_match "engage= audit says source=modparam" \
	"killswitch: engage ks_test_vuln retval=-9 uid=0 .* source=modparam" "$log"

# --- unload ------------------------------------------------------------------------------
mark
rmmod killswitch && ok "rmmod killswitch" || nok "rmmod killswitch"
expect "unload removes the tree" "absent" "$([ -e $KS ] && echo present || echo absent)"
expect_match "unload logged" "killswitch: unloaded" "$(log_since_mark)"
finish
