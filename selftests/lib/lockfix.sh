# SPDX-License-Identifier: GPL-2.0
# Shell helpers for lockfix selftests (POSIX sh: runs under busybox in the guest and
# under dash/bash on a real test VM).  Sourced by each test's entry script.

KSFT_PASS=0
KSFT_FAIL=1
KSFT_XFAIL=2
KSFT_XPASS=3
KSFT_SKIP=4

# The tests' one hang detector (lib/hangwatch.c; its criteria in lib/hangwatch.h), beside
# this file: every entry script sources it as "$here/../lib/lockfix.sh".
LF_HANGWATCH=${LOCKFIX_HANGWATCH:-${here:-.}/../lib/hangwatch}

lf_skip() { echo "# SKIP: $*"; exit $KSFT_SKIP; }
lf_fail() { echo "# FAIL: $*"; exit $KSFT_FAIL; }

# lf_skip_after_bug: SKIP when an earlier script of this test reproduced the bug in this
# boot (run_tests.sh sets LOCKFIX_BUG_SEEN to "script: case"): its deadlocked tasks keep the
# scratch filesystem and the patch transition, so this script could only hang or fail on
# them.  A test's may_skip allows the skip with the condition after-bug.
lf_skip_after_bug() {
	[ -n "${LOCKFIX_BUG_SEEN:-}" ] && lf_skip "an earlier case left this kernel deadlocked ($LOCKFIX_BUG_SEEN)"
	return 0
}

lf_require_root() { [ "$(id -u)" = 0 ] || lf_skip "must run as root"; }
lf_require_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || lf_skip "missing command: $c"
	done
}

# lf_field NAME LINE: the value of NAME=... in a "k=v k=v" result line.
# lf_is_number STRING: a non-negative decimal integer?
lf_is_number() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }

lf_field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# lf_wait_for "SHELL-CONDITION" SECONDS: poll every 0.2 s until the condition holds;
# status 1 when it still does not after SECONDS.
lf_wait_for() {
	_i=0
	while ! sh -c "$1" 2>/dev/null; do
		[ $_i -ge $(($2 * 5)) ] && return 1
		sleep 0.2
		_i=$((_i + 1))
	done
}

# lf_log_mark: remember where the kernel log ends now; lf_log_since: what it logged after
# that mark (the log itself is left alone: the harness reads it whole at the end).
lf_log_mark() { LF_LOG_BASE=$(dmesg | wc -l); }
lf_log_since() { dmesg | sed "1,${LF_LOG_BASE:-0}d"; }

# Livepatch control for the tests that toggle a lockfix livepatch (loaded by
# run_tests.sh -m).  lf_livepatch_require NAME: skip unless NAME is loaded and its .ko is
# in $LOCKFIX_MODULE_DIR (default /lockfix/modules, the harness's guest).
# lf_livepatch_unload / lf_livepatch_load: disable + wait + rmmod / insmod + wait for the
# transition; status 1 with the reason in LF_WHY.
# lf_livepatch_name NAME: only set LF_LP_NAME, LF_LP_KO and LF_LP_DIR (the benchmarks'
# bench_rounds, which wants NAME not loaded yet).
lf_livepatch_name() {
	LF_LP_NAME=$1
	LF_LP_KO=${LOCKFIX_MODULE_DIR:-/lockfix/modules}/$1.ko
	LF_LP_DIR=/sys/kernel/livepatch/$1
}
lf_livepatch_require() {
	lf_livepatch_name "$1"
	[ -d "$LF_LP_DIR" ] || lf_skip "$1 is not loaded"
	[ -f "$LF_LP_KO" ] || lf_skip "$LF_LP_KO not found (set LOCKFIX_MODULE_DIR)"
	lf_require_cmd insmod rmmod
}
lf_livepatch_unload() {
	LF_WHY=
	echo 0 >"$LF_LP_DIR/enabled" || LF_WHY="cannot disable"
	[ -z "$LF_WHY" ] && { lf_wait_for "[ ! -d $LF_LP_DIR ]" 60 ||
		LF_WHY="transition to disabled did not finish: $(cat "$LF_LP_DIR/transition" 2>&1)"; }
	[ -z "$LF_WHY" ] && { lf_wait_for "rmmod $LF_LP_NAME" 30 || LF_WHY="rmmod failed"; }
	[ -z "$LF_WHY" ]
}
# lf_cycles: LF_CYCLES from $LOCKFIX_CYCLES (default 3; harness/soak.sh sets 100).
lf_cycles() {
	LF_CYCLES=${LOCKFIX_CYCLES:-3}
	lf_is_number "$LF_CYCLES" && [ "$LF_CYCLES" -ge 1 ] ||
		lf_fail "LOCKFIX_CYCLES=$LF_CYCLES: not a positive number"
}
# lf_livepatch_cycles WHAT [PAUSE]: $LF_CYCLES times disable, rmmod, insmod (PAUSE seconds
# before each), one TAP line per cycle "cycle I: disable, rmmod, insmod under WHAT";
# status 1 when one failed.
lf_livepatch_cycles() {
	_c=0 _bad=0
	while [ $_c -lt "$LF_CYCLES" ]; do
		_c=$((_c + 1))
		[ -n "${2:-}" ] && sleep "$2"
		if lf_livepatch_unload && lf_livepatch_load; then
			lf_result 0 "cycle $_c: disable, rmmod, insmod under $1"
		else
			lf_result 1 "cycle $_c: disable, rmmod, insmod under $1" "$LF_WHY"
			_bad=1
		fi
	done
	return $_bad
}
# The loads a live_toggle script runs while it cycles the livepatch.
# lf_load_start FN...: run each shell function FN PASS-NUMBER in the background, pass
# after pass, until lf_load_stop; FN prints why on stdout and returns non-zero when a
# pass fails, which ends that load.  lf_load_stop: stop, wait for every load, set
# LF_LOAD_PASSES_<FN> (and LF_LOAD_PASSES, the first FN's); status 1 (the reason in
# LF_LOAD_WHY, "FN: pass N: why; ...", a failed load's last lines shown as "# ") when a
# pass failed or a load completed none.
lf_load_start() {
	LF_LOAD_DIR=$(mktemp -d) LF_LOAD_PIDS= LF_LOAD_FNS="$*"
	for _fn; do
		( _n=0
		  while [ ! -e "$LF_LOAD_DIR/stop" ]; do
			_why=$("$_fn" "$_n") || { echo "LOAD-FAILED pass $_n: $_why"; break; }
			_n=$((_n + 1))
		  done
		  echo "LOAD-PASSES $_n" ) >"$LF_LOAD_DIR/$_fn.log" 2>&1 &
		LF_LOAD_PIDS="$LF_LOAD_PIDS $!"
	done
}
lf_load_stop() {
	touch "$LF_LOAD_DIR/stop"
	# shellcheck disable=SC2086
	wait $LF_LOAD_PIDS
	LF_LOAD_WHY= LF_LOAD_PASSES=
	for _fn in $LF_LOAD_FNS; do
		_log=$LF_LOAD_DIR/$_fn.log
		_p=$(sed -n 's/^LOAD-PASSES //p' "$_log")
		_w=$(sed -n 's/^LOAD-FAILED //p' "$_log" | head -1)
		[ -z "$_w" ] && [ "${_p:-0}" -lt 1 ] && _w="no pass completed"
		[ -n "$_w" ] && { LF_LOAD_WHY="${LF_LOAD_WHY:+$LF_LOAD_WHY; }$_fn: $_w"; sed 's/^/# /' "$_log" | tail -20; }
		eval "LF_LOAD_PASSES_$_fn=\${_p:-0}"
		[ -n "$LF_LOAD_PASSES" ] || LF_LOAD_PASSES=${_p:-0}
	done
	rm -rf "$LF_LOAD_DIR"
	[ -z "$LF_LOAD_WHY" ]
}
lf_livepatch_load() {
	LF_WHY=
	insmod "$LF_LP_KO" || LF_WHY="insmod failed"
	[ -z "$LF_WHY" ] && { lf_wait_for "[ \$(cat $LF_LP_DIR/transition) = 0 ]" 60 ||
		LF_WHY="transition to enabled did not finish"; }
	[ -z "$LF_WHY" ]
}

# lf_scratch_dev SIZE_MB: the block device to put a test filesystem on.
# $LOCKFIX_SCRATCH_DEV (the harness passes the guest's virtio disk) is used as is and
# WILL BE OVERWRITTEN; otherwise a loop device over a sparse file in $TMPDIR is set up
# and remembered in LF_LOOP for lf_cleanup_scratch.
LF_LOOP=
LF_LOOP_FILE=
lf_scratch_dev() {
	if [ -n "${LOCKFIX_SCRATCH_DEV:-}" ]; then
		[ -b "$LOCKFIX_SCRATCH_DEV" ] || lf_fail "LOCKFIX_SCRATCH_DEV=$LOCKFIX_SCRATCH_DEV is not a block device"
		LF_DEV=$LOCKFIX_SCRATCH_DEV
		return
	fi
	modprobe loop 2>/dev/null
	LF_LOOP_FILE=$(mktemp "${TMPDIR:-/tmp}/lockfix-scratch.XXXXXX") || lf_fail "mktemp"
	truncate -s "${1}M" "$LF_LOOP_FILE" || lf_fail "cannot size $LF_LOOP_FILE"
	LF_LOOP=$(losetup -f --show "$LF_LOOP_FILE") || lf_fail "losetup failed (loop module?)"
	LF_DEV=$LF_LOOP
}

lf_cleanup_scratch() {
	[ -n "$LF_LOOP" ] && losetup -d "$LF_LOOP" 2>/dev/null
	[ -n "$LF_LOOP_FILE" ] && rm -f "$LF_LOOP_FILE"
	LF_LOOP= LF_LOOP_FILE=
}

# lf_mount_btrfs DEV: fresh btrfs on DEV, mounted on a new dir printed in LF_MNT.
lf_mount_btrfs() {
	modprobe btrfs 2>/dev/null
	mkfs.btrfs -f -q "$1" >/dev/null || lf_fail "mkfs.btrfs $1 failed"
	LF_MNT=$(mktemp -d "${TMPDIR:-/tmp}/lockfix-mnt.XXXXXX") || lf_fail "mktemp -d"
	mount -t btrfs "$1" "$LF_MNT" || lf_fail "mount btrfs $1 failed"
}

# lf_umount: unmount LF_MNT unless tasks are stuck in it (after a reproduced deadlock
# the filesystem stays mounted: the harness throws the VM away).
lf_umount() {
	if umount "$LF_MNT" 2>/dev/null; then
		rmdir "$LF_MNT"
		lf_cleanup_scratch
	else
		echo "# scratch filesystem left mounted at $LF_MNT (busy: hung tasks hold it)"
	fi
}

# Nested TAP from shell tests: lf_plan N, then lf_result 0|1|4 NAME [REASON] per case,
# then exit "$(lf_exit)".
LF_N=0 LF_FAILED=0 LF_PASSED=0
lf_plan() { echo "TAP version 13"; echo "1..$1"; }
lf_result() {
	LF_N=$((LF_N + 1))
	case "$1" in
	0) echo "ok $LF_N $2"; LF_PASSED=$((LF_PASSED + 1)) ;;
	4) echo "ok $LF_N $2 # SKIP ${3:-}" ;;
	*) echo "not ok $LF_N $2${3:+ # $3}"; LF_FAILED=$((LF_FAILED + 1)) ;;
	esac
}
lf_exit() {
	if [ $LF_FAILED -gt 0 ]; then echo $KSFT_FAIL
	elif [ $LF_PASSED -eq 0 ]; then echo $KSFT_SKIP
	else echo $KSFT_PASS; fi
}
