#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# btrfs-ordered: is a btrfs work item freed while its worker is still in the ordered loop?
# Upstream fix: c495dcd6fbe1 (v5.5).  Vulnerable: only the harness's pre-fix kernels.
#
#   # ./ordered_free.sh            5 rounds (LOCKFIX_ORDERED_ROUNDS=N for more)
#
# Each round drives btrfs's own workqueue code through lockfix_ordered_test.ko (see its
# header): worker A executes X, runs X's ordered part, then blocks in Y's ordered part,
# which needs a new work item Z.  Bug (all three): X was freed before A left the loop, Z
# got X's address, and Z waited >= 4 s behind A (the upstream deadlock, bounded here by a
# 5 s timeout).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
rounds=${LOCKFIX_ORDERED_ROUNDS:-5}
case "$rounds" in ''|*[!0-9]*|0) lf_fail "LOCKFIX_ORDERED_ROUNDS must be a positive number, got '$rounds'" ;; esac
. "$here/ordered_round.sh"
ot_load

lf_plan "$rounds"
i=1
while [ "$i" -le "$rounds" ]; do
	name="round $i: work item freed only after its worker's ordered loop"
	if ! ot_round; then
		lf_result 1 "$name" "round failed to run (see dmesg)"
	elif ! lf_is_number "$OT_ZWAIT" || [ -z "$OT_EARLY" ] || [ -z "$OT_ZSLOT" ]; then
		lf_result 1 "$name" "unreadable result line ($OT_RESULT)"
	elif ! ot_conclusive; then
		lf_result 1 "$name" "inconclusive: Y's ordered part did not run on X's worker ($OT_RESULT)"
	elif ot_deadlock; then
		echo "# lockfix: bug-reproduced btrfs-ordered/round-$i: X freed inside its worker's ordered loop; Z got slot $OT_ZSLOT and waited ${OT_ZWAIT} ms behind X's worker"
		lf_result 1 "$name" "X freed early"
	elif [ "$OT_EARLY" = 1 ]; then
		lf_result 1 "$name" "X freed early, but Z did not stall behind X's worker (slot $OT_ZSLOT, ${OT_ZWAIT} ms): inconclusive"
	elif [ "$OT_ZSLOT" = X ] || [ "$OT_ZWAIT" -ge 4000 ]; then
		lf_result 1 "$name" "Z stalled although X was not freed early ($OT_RESULT)"
	else
		lf_result 0 "$name"
	fi
	i=$((i + 1))
done
ot_unload
exit "$(lf_exit)"
