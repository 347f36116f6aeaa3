#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs (b): premature failure.  GFP_KERNEL percpu allocations made inside a
# memalloc_nofs_save() / memalloc_noio_save() scope (btrfs, iscsid with PR_SET_IO_FLUSHER)
# that need new chunks must succeed like plain GFP_KERNEL ones.  Debian 11 (28307d938fb2
# without 9a5b183941b5) treats them as atomic: they fail once the populated free space is
# used up.  Upstream fix 9a5b183941b5.
#   ./nofs_fail.sh [COUNT] [SIZE]      default 2048 x 4096 bytes (8 MiB per CPU)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/lib.sh"
lf_require_root
count=${1:-2048}
size=${2:-4096}
pt_load
echo "# $(uname -r) $(uname -v); $(lp_state)"

lf_plan 3
# GFP_KERNEL control: proves the sizes are satisfiable here.  On lockdep kernels too: with
# the module, whoever holds pcpu_alloc_mutex never enters FS/IO reclaim (DESIGN.md, the
# follow-up series), so populating here records no pcpu_alloc_mutex -> fs_reclaim next
# to lock_order.sh's edges.
r=$(pt alloc kernel "$count" "$size")
echo "# GFP_KERNEL: $r"
if [ "$(lf_field fail "$r")" = 0 ]; then
	lf_result 0 "GFP_KERNEL: $count x $size bytes"
else
	lf_result 1 "GFP_KERNEL: $count x $size bytes" "control failed: $r"
fi
for scope in nofs noio; do
	r=$(pt alloc "$scope" "$count" "$size")
	echo "# GFP_KERNEL in memalloc_${scope}_save(): $r"
	fail=$(lf_field fail "$r")
	if [ "$fail" = 0 ]; then
		lf_result 0 "GFP_KERNEL in ${scope} scope: $count x $size bytes"
	elif [ -n "$fail" ]; then
		echo "# lockfix: bug-reproduced percpu-nofs/${scope}-premature-fail: $fail of $count ${scope}-scoped GFP_KERNEL percpu allocations failed (first at #$(lf_field first_fail "$r")) while GFP_KERNEL ones succeed"
		lf_result 1 "GFP_KERNEL in ${scope} scope: $count x $size bytes" "$r"
	else
		lf_result 1 "GFP_KERNEL in ${scope} scope: $count x $size bytes" "helper error: $r"
	fi
done
exit "$(lf_exit)"
