#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# btrfs-ordered: is a btrfs work item freed while its worker is still in the ordered loop?
# Upstream fix: c495dcd6fbe1 (v5.5).  Vulnerable: only the harness's pre-fix kernels.
#
#   # ./ordered_free.sh            5 rounds (LOCKFIX_ORDERED_ROUNDS=N for more)
#
# Each round drives btrfs's own workqueue code through lockfix_ordered_test.ko (see its
# header): worker A executes X, runs X's ordered part, then blocks in Y's ordered part,
# which needs a new work item Z.  Bug: X was freed before A left the loop; Z then gets X's
# address and waits behind A (the upstream deadlock, bounded here by a 5 s timeout).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
rounds=${LOCKFIX_ORDERED_ROUNDS:-5}
case "$rounds" in ''|*[!0-9]*|0) lf_fail "LOCKFIX_ORDERED_ROUNDS must be a positive number, got '$rounds'" ;; esac
modprobe btrfs 2>/dev/null || lf_skip "btrfs module not available"
param=/sys/module/lockfix_ordered_test/parameters
[ -d "$param" ] && lf_fail "lockfix_ordered_test already loaded (left over from another run?)"
insmod "$here/lockfix_ordered_test.ko" || lf_fail "cannot load lockfix_ordered_test.ko"

field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

lf_plan "$rounds"
i=1
while [ "$i" -le "$rounds" ]; do
	name="round $i: work item freed only after its worker's ordered loop"
	if ! echo 1 >"$param/run"; then
		lf_result 1 "$name" "round failed to run (see dmesg)"
		i=$((i + 1))
		continue
	fi
	r=$(cat "$param/result")
	echo "# $r"
	early=$(field x_freed_in_loop "$r") zslot=$(field z_slot "$r") zwait=$(field z_wait_ms "$r")
	same=$(field ordered_on_x_worker "$r") xto=$(field x_fn_timeout "$r")
	if [ "$xto" != 0 ] || [ "$same" != 1 ]; then
		lf_result 1 "$name" "inconclusive: Y's ordered part did not run on X's worker ($r)"
	elif [ "$early" = 1 ]; then
		echo "# lockfix: bug-reproduced btrfs-ordered/round-$i: X freed inside its worker's ordered loop; Z got slot $zslot and waited ${zwait} ms behind X's worker"
		lf_result 1 "$name" "X freed early"
	elif [ "$zslot" = X ] || [ "$zwait" -ge 4000 ]; then
		lf_result 1 "$name" "Z stalled although X was not freed early ($r)"
	else
		lf_result 0 "$name"
	fi
	i=$((i + 1))
done
rmmod lockfix_ordered_test
exit "$(lf_exit)"
