#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# prefix-kernel: the harness's pre-fix kernels are what the fix tests rely on.
# Checks that the running kernel carries the project's reverts of c495dcd6fbe1 and
# 28307d938fb2 (harness/build-prefix.sh stamps them into /proc/version), that livepatch
# and the test modules are there, and that lockdep is active exactly on -lockdep builds.
# Skips on any other kernel.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
version=$(cat /proc/version)
case "$version" in
*lockfix-reverts*) ;;
*) lf_skip "not a lockfix pre-fix kernel: $version" ;;
esac

lf_plan 5
for c in c495dcd6fbe1 28307d938fb2; do
	case "$version" in
	*"-$c"*) lf_result 0 "carries revert of $c" ;;
	*) lf_result 1 "carries revert of $c" "not in /proc/version: $version" ;;
	esac
done
if [ -d /sys/kernel/livepatch ]; then
	lf_result 0 "livepatch available"
else
	lf_result 1 "livepatch available" "/sys/kernel/livepatch missing"
fi
missing=
for m in btrfs loop dm_thin_pool dm_flakey; do
	modprobe "$m" 2>/dev/null || missing="$missing $m"
done
if [ -z "$missing" ]; then
	lf_result 0 "test modules load"
else
	lf_result 1 "test modules load" "cannot load:$missing"
fi
case "$(uname -r)" in
*-lockdep)
	if [ -r /proc/lockdep_stats ] && grep -q 'debug_locks: *1' /proc/lockdep_stats; then
		lf_result 0 "lockdep active"
	else
		lf_result 1 "lockdep active" "$(grep debug_locks /proc/lockdep_stats 2>&1)"
	fi ;;
*)
	if [ -e /proc/lockdep_stats ]; then
		lf_result 1 "lockdep off on the plain build" "/proc/lockdep_stats exists"
	else
		lf_result 0 "lockdep off on the plain build"
	fi ;;
esac
exit "$(lf_exit)"
