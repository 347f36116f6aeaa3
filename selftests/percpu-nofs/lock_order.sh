#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs (a): lock order, on lockdep kernels (skips elsewhere).
# A filesystem holding its lock calls percpu_counter_init(GFP_KERNEL) inside
# memalloc_nofs_save() (btrfs); the balance worker holds pcpu_alloc_mutex while it
# allocates; reclaim takes the filesystem lock.  Without 28307d938fb2 + 9a5b183941b5 that is
#   fs lock -> pcpu_alloc_mutex -> fs_reclaim -> fs lock
# (the upstream report: fs_reclaim -> pcpu_alloc_mutex -> ... -> btrfs locks).  Steps:
#   1. prime:  fs_reclaim -> lf_fs_lock (reclaim takes the filesystem lock)
#   2. GFP_NOWAIT allocations use up populated space; the balance worker populates
#      (without the fix: under pcpu_alloc_mutex with FS reclaim -> pcpu_alloc_mutex -> fs_reclaim)
#   3. NOFS-scoped GFP_KERNEL allocations holding lf_fs_lock (takes pcpu_alloc_mutex both on
#      the pre-fix kernel and with 9a5b183941b5): lf_fs_lock -> pcpu_alloc_mutex
# Lockdep must report the cycle without the fix and stay silent with it.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/lib.sh"
lf_require_root
[ -e /proc/lockdep ] || lf_skip "not a lockdep kernel"
grep -q 'debug_locks: *1' /proc/lockdep_stats || lf_skip "lockdep already off: $(grep debug_locks /proc/lockdep_stats)"
pt_load
echo "# $(uname -r) $(uname -v); $(lp_state)"
lf_plan 3
before_lines=$(dmesg | wc -l)
before=$(dmesg | grep -c 'possible circular locking dependency')
pt prime >/dev/null
r=$(pt watch)
[ "$(lf_field watch "$r")" = 0 ] || lf_fail "cannot watch kmem:mm_page_alloc: $r"
pt_wait_worker
a=$PT_HOLD s=$PT_STATS
echo "# step 2: GFP_NOWAIT $a; worker: $s"
if [ "$(lf_field worker_allocs "$s")" -gt 0 ]; then
	lf_result 0 "balance worker ran and allocated"
else
	lf_result 1 "balance worker ran and allocated" "not triggered: $s"
fi
r=$(pt locked_nofs 256 4096)
echo "# step 3: NOFS-scoped GFP_KERNEL holding lf_fs_lock: $r"
# The step's own result ("ok=N fail=M ..."): all 256 allocations were attempted holding
# the lock (else the lock order was never exercised).
ok=$(lf_field ok "$r") fl=$(lf_field fail "$r")
case "$ok" in ''|*[!0-9]*) ok=-1 ;; esac
case "$fl" in ''|*[!0-9]*) fl=-1 ;; esac
if [ "$ok" -ge 0 ] && [ "$fl" -ge 0 ] && [ $((ok + fl)) -eq 256 ]; then
	lf_result 0 "NOFS-scoped GFP_KERNEL allocations ran holding lf_fs_lock"
else
	lf_result 1 "NOFS-scoped GFP_KERNEL allocations ran holding lf_fs_lock" "step 3 did not run: ${r:-no result}"
fi
sleep 1
# Only this test's part of the log: the report must be new and name pcpu_alloc_mutex.
report=$(dmesg | tail -n +"$((before_lines + 1))" | sed -n '/possible circular locking dependency/,/stack backtrace/p')
after=$(dmesg | grep -c 'possible circular locking dependency')
if [ "$after" -gt "$before" ] && grep -q 'pcpu_alloc_mutex' <<EOF_R
$report
EOF_R
then
	echo "$report" | grep -E 'circular|-> #|^\[.*\] *[a-z_&>(]' | head -20 | sed 's/^/# /'
	echo "# lockfix: bug-reproduced percpu-nofs/lock-order: lockdep reports lf_fs_lock -> pcpu_alloc_mutex -> fs_reclaim -> lf_fs_lock"
	lf_result 1 "no lockdep cycle through pcpu_alloc_mutex" "lockdep report"
elif [ "$after" -gt "$before" ]; then
	lf_result 1 "no lockdep cycle through pcpu_alloc_mutex" "an unrelated lockdep report"
elif ! grep -q 'debug_locks: *1' /proc/lockdep_stats; then
	# Lockdep switched itself off during the test: its silence proves nothing.
	lf_result 1 "no lockdep cycle through pcpu_alloc_mutex" "lockdep went off during the test: $(grep debug_locks /proc/lockdep_stats)"
else
	lf_result 0 "no lockdep cycle through pcpu_alloc_mutex"
fi
exit "$(lf_exit)"
