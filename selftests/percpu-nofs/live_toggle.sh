#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs live operation: with percpu allocations running (NOFS-scoped GFP_KERNEL,
# which take pcpu_alloc_mutex and create/populate chunks when patched, and GFP_NOWAIT
# ones, which keep the balance worker queued and running), disable the livepatch, rmmod
# it, insmod it again, three times: every transition must finish (the worker may be
# inside the old or the new pcpu_balance_workfn when the patch switches), nothing may
# oops; afterwards NOFS allocations must succeed again.  Runs only when the livepatch is
# loaded (run_tests.sh -m lockfix_percpu_nofs.ko) and not on lockdep kernels (the
# unpatched windows would record the pre-fix dependency that lock_order.sh tests), unless
# the boot is its own (LOCKFIX_LOCKDEP_OWN_BOOT=1, harness/soak.sh).  LOCKFIX_CYCLES=N: N
# cycles instead of three (harness/soak.sh runs 100).
# $LOCKFIX_MODULE_DIR: where the .ko is (default /lockfix/modules, the harness's guest).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/lib.sh"

lf_require_root
lf_livepatch_require lockfix_percpu_nofs
[ -e /proc/lockdep ] && [ "${LOCKFIX_LOCKDEP_OWN_BOOT:-0}" != 1 ] && lf_skip "lockdep kernel (see comment)"
lf_cycles
pt_load

lf_plan $((LF_CYCLES + 2))
# One pass of the load: NOFS-scoped and GFP_NOWAIT allocations through the helper.
alloc_pass() {
	pt alloc nofs 512 4096 >/dev/null || { echo "helper error (nofs)"; return 1; }
	pt alloc nowait 512 4096 >/dev/null || { echo "helper error (nowait)"; return 1; }
}
lf_load_start alloc_pass

lf_livepatch_cycles "percpu allocations" 1

if lf_load_stop; then
	lf_result 0 "allocations during the cycles: $LF_LOAD_PASSES rounds, no helper error"
else
	lf_result 1 "allocations during the cycles" "$LF_LOAD_WHY"
fi

r=$(pt alloc nofs 2048 4096)
if [ "$(lf_field fail "$r")" = 0 ]; then
	lf_result 0 "NOFS-scoped allocations succeed after re-enabling: $r"
else
	lf_result 1 "NOFS-scoped allocations succeed after re-enabling" "$r"
fi
exit "$(lf_exit)"
