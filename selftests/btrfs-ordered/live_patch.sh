#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# btrfs-ordered live operation, with btrfs loaded and the livepatch active (run_tests.sh
# -m lockfix_btrfs_ordered.ko; skips otherwise):
#   1. the replacement keeps firing btrfs's tracepoints (btrfs_work_sched,
#      btrfs_ordered_sched, btrfs_all_work_done: one per work item / ordered part / item
#      done in a round of lockfix_ordered_test);
#   2. disabled and removed, btrfs's original code is back: a round shows the early free
#      again (this proves the module, not chance, made the difference);
#   3. loaded again while btrfs is loaded (the other load order), the fix is back.
# $LOCKFIX_MODULE_DIR: where the .ko is (default /lockfix/modules, the harness's guest).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_livepatch_require lockfix_btrfs_ordered
. "$here/ordered_round.sh"
ot_load
lf_plan 3

# 1. Tracepoints.
tr=/sys/kernel/tracing
[ -d "$tr/events" ] || mount -t tracefs nodev "$tr" 2>/dev/null ||
	{ mkdir -p /sys/kernel/debug && mount -t debugfs nodev /sys/kernel/debug; tr=/sys/kernel/debug/tracing; }
events="btrfs_work_sched btrfs_ordered_sched btrfs_all_work_done"
if [ -d "$tr/events/btrfs/btrfs_work_sched" ]; then
	echo >"$tr/trace"
	for e in $events; do echo 1 >"$tr/events/btrfs/$e/enable"; done
	ot_round
	for e in $events; do echo 0 >"$tr/events/btrfs/$e/enable"; done
	got=
	for e in $events; do got="$got $e=$(grep -c " $e:" "$tr/trace")"; done
	# A round: X, Y, Z scheduled; X's and Y's ordered parts; X, Y, Z done (other btrfs
	# work, if any, only adds).
	case "$got" in
	*work_sched=[012]\ *|*ordered_sched=[01]\ *|*all_work_done=[012]) lf_result 1 "replacement fires btrfs tracepoints" "counted:$got" ;;
	*) lf_result 0 "replacement fires btrfs tracepoints" ;;
	esac
	echo "# events:$got"
else
	lf_result 4 "replacement fires btrfs tracepoints" "no btrfs trace events (tracefs?)"
fi

# 2. Disabled and removed: the original again.
if ! lf_livepatch_unload; then
	lf_result 1 "disabled: btrfs's original code runs again" "$LF_WHY"
elif ! ot_round || ! ot_conclusive; then
	lf_result 1 "disabled: btrfs's original code runs again" "round failed ($OT_RESULT)"
elif [ "$OT_EARLY" = 1 ]; then
	lf_result 0 "disabled: btrfs's original code runs again"
else
	lf_result 1 "disabled: btrfs's original code runs again" "no early free without the patch: is this kernel vulnerable? ($OT_RESULT)"
fi

# 3. Loaded after btrfs.
if ! lf_livepatch_load; then
	lf_result 1 "loaded after btrfs: fixed again" "$LF_WHY"
elif ! ot_round || ! ot_conclusive; then
	lf_result 1 "loaded after btrfs: fixed again" "round failed ($OT_RESULT)"
elif [ "$OT_EARLY" = 0 ] && [ "$OT_ZSLOT" != X ]; then
	lf_result 0 "loaded after btrfs: fixed again"
elif ot_deadlock; then
	# with the patch live again, the deadlock itself: the module does not fix it
	echo "# lockfix: bug-reproduced btrfs-ordered/reloaded: X freed inside its worker's ordered loop with the patch loaded again; Z got slot $OT_ZSLOT and waited ${OT_ZWAIT} ms behind X's worker"
	lf_result 1 "loaded after btrfs: fixed again" "$OT_RESULT"
else
	lf_result 1 "loaded after btrfs: fixed again" "$OT_RESULT"
fi
ot_unload
exit "$(lf_exit)"
