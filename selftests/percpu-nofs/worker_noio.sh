#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs (c): the percpu balance worker (pcpu_balance_workfn, which holds
# pcpu_alloc_mutex while it allocates) runs with PF_MEMALLOC_NOIO, so none of its
# allocations can enter FS or IO reclaim.  Upstream fix 9a5b183941b5.
# Atomic (GFP_NOWAIT) allocations, kept until the end, use up the populated free space;
# their failures make the worker populate pages (or create a chunk); the helper's
# kmem:mm_page_alloc probe records, for each page the worker allocates, whether its
# effective gfp (current_gfp_context) allows FS reclaim.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/lib.sh"
lf_require_root
pt_load
echo "# $(uname -r) $(uname -v); $(lp_state)"
lf_plan 1
r=$(pt watch)
[ "$(lf_field watch "$r")" = 0 ] || lf_fail "cannot watch kmem:mm_page_alloc: $r"
pt_wait_worker
a=$PT_HOLD s=$PT_STATS
echo "# GFP_NOWAIT round: $a; worker: $s"
n=$(lf_field worker_allocs "$s")
fs=$(lf_field worker_reclaim_fs "$s")
noio=$(lf_field worker_noio "$s")
if [ "$n" -eq 0 ]; then
	lf_result 1 "balance worker allocates with NOIO" "the worker allocated nothing in its rounds of GFP_NOWAIT pressure (setup did not trigger it): $a"
elif [ "$fs" -gt 0 ]; then
	echo "# lockfix: bug-reproduced percpu-nofs/worker-noio: pcpu_balance_workfn allocated $fs of $n pages with FS reclaim allowed (no NOIO scope) while holding pcpu_alloc_mutex"
	lf_result 1 "balance worker allocates with NOIO" "$s"
elif [ "$noio" -eq "$n" ]; then
	lf_result 0 "balance worker allocates with NOIO ($n pages, all under PF_MEMALLOC_NOIO)"
else
	lf_result 1 "balance worker allocates with NOIO" "no FS-capable allocation, but only $noio of $n under PF_MEMALLOC_NOIO: $s"
fi
exit "$(lf_exit)"
