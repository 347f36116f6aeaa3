#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs transition window (issue: mixing old and new code).  While a livepatch
# transition is in progress, old and new pcpu_alloc() / pcpu_balance_workfn() run side
# by side.  A NOFS/NOIO-scoped caller that 9a5b183941b5 lets wait for pcpu_alloc_mutex
# may then wait behind the *original* worker, which holds the mutex and reclaims into
# the filesystem: the 28307d938fb2 deadlock, which stock Debian 11 avoids by making such
# callers atomic.  So the module keeps them atomic until post_patch and again from
# pre_unpatch on, and pre_unpatch waits for the ones already let through.
#
# Driven deterministically, with the helper holding pcpu_alloc_mutex:
#   patching:   the balance worker waits for the mutex inside the original
#               pcpu_balance_workfn(), so it cannot switch and the transition stays
#               open; a NOFS-scoped allocation by a switched task must not wait for the
#               mutex (it is atomic, as stock);
#   unpatching: a NOFS-scoped allocation admitted under the full patch waits for the
#               mutex; `echo 0 > enabled` must not start the unpatch transition (which
#               would let the original worker run) before that allocation is out.
# Runs only with the livepatch loaded (run_tests.sh -m lockfix_percpu_nofs.ko); leaves it
# loaded and enabled.  On a lockdep kernel it needs a boot of its own
# (LOCKFIX_LOCKDEP_OWN_BOOT=1, harness/soak.sh): the original worker it lets run records
# pcpu_alloc_mutex -> fs_reclaim, which with lock_order.sh's edges in the same boot is a
# (stock code's) lockdep report.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/lib.sh"

lf_require_root
lf_livepatch_require lockfix_percpu_nofs
[ -e /proc/lockdep ] && [ "${LOCKFIX_LOCKDEP_OWN_BOOT:-0}" != 1 ] &&
	lf_skip "lockdep kernel: needs a boot without lock_order.sh (see comment)"
pt_load
mutex=$(awk '$3 == "pcpu_alloc_mutex" { print $1; exit }' /proc/kallsyms)
case "$mutex" in ''|0000000000000000) lf_fail "pcpu_alloc_mutex has no address in /proc/kallsyms" ;; esac
tmp=$(mktemp -d)
hold() { echo "mutex_hold $mutex" >"$PT"; }
release() { echo mutex_release >"$PT" 2>/dev/null; }
trap 'release; pt release >/dev/null 2>&1; rm -rf "$tmp"' EXIT

# in_stack FUNCTION: the pid of a task with FUNCTION on its kernel stack.
in_stack() { grep -l "$1" /proc/[0-9]*/stack 2>/dev/null | sed -n 's,^/proc/\([0-9]*\)/stack$,\1,p;q'; }
# bg_alloc NAME MODE COUNT: the helper command in the background; $tmp/NAME when done.
bg_alloc() { (r=$(pt alloc "$2" "$3" 4096); echo "$r" >"$tmp/$1.part"; mv "$tmp/$1.part" "$tmp/$1") & }

lf_plan 9

# 1. Start from unpatched.
if lf_livepatch_unload; then
	lf_result 0 "livepatch disabled and removed"
else
	lf_fail "cannot unload the livepatch: $LF_WHY"
fi

# 2. The worker waits for the mutex inside the original pcpu_balance_workfn().
hold || lf_fail "mutex_hold failed"
worker=
i=0
while [ $i -lt 20 ]; do
	pt hold 256 4096 >/dev/null	# GFP_NOWAIT: eats populated space, queues the worker
	sleep 0.5
	worker=$(in_stack pcpu_balance_workfn)
	[ -n "$worker" ] && break
	i=$((i + 1))
done
if [ -n "$worker" ]; then
	lf_result 0 "the balance worker (pid $worker) waits for pcpu_alloc_mutex in the original pcpu_balance_workfn"
else
	release
	lf_fail "the balance worker never ran while the mutex was held"
fi

# 3. insmod: the transition cannot finish while that worker sits in the old function.
(insmod "$LF_LP_KO" && touch "$tmp/insmod") &
if lf_wait_for "[ -e $tmp/insmod ] && [ \$(cat $LF_LP_DIR/transition) = 1 ]" 20 &&
	lf_wait_for "[ \$(cat /proc/$$/patch_state) = 1 ]" 20; then
	lf_result 0 "patch transition held open by the worker; this shell already switched (patch_state 1)"
else
	release
	lf_fail "no open patch transition with a switched shell (insmod: $([ -e "$tmp/insmod" ] && echo done || echo pending), transition $(cat "$LF_LP_DIR/transition" 2>&1))"
fi

# 4. In that window a NOFS-scoped allocation must not wait for the mutex.
bg_alloc window nofs 256
if lf_wait_for "[ -e $tmp/window ]" 8; then
	lf_result 0 "during the patch transition a NOFS-scoped allocation stays atomic (as stock): $(cat "$tmp/window")"
else
	echo "# lockfix: bug-reproduced percpu-nofs/transition-window: a switched NOFS-scoped allocation waits for pcpu_alloc_mutex while the original, unscoped worker can hold it (the 28307d938fb2 deadlock)"
	lf_result 1 "during the patch transition a NOFS-scoped allocation stays atomic (as stock)" "it waits for pcpu_alloc_mutex$(p=$(in_stack klpp_pcpu_alloc); [ -n "$p" ] && echo " (pid $p in klpp_pcpu_alloc)")"
fi

# 5. Released, the worker finishes, the transition completes, the gate opens.
lf_log_mark
release
pt release >/dev/null
wait
if lf_wait_for "[ \$(cat $LF_LP_DIR/transition) = 0 ]" 60 && lf_wait_for "[ -e $tmp/window ]" 20; then
	r=$(pt alloc nofs 1024 4096)
	if [ "$(lf_field fail "$r")" = 0 ] && lf_log_since | grep -q 'NOFS/NOIO-scoped allocations may block now'; then
		lf_result 0 "transition done once the worker ran; post_patch opened the gate: nofs $r"
	else
		lf_result 1 "after the transition NOFS-scoped allocations may block" "$r; $(lf_log_since | grep lockfix_percpu | tail -2 | tr '\n' ' ')"
	fi
else
	lf_result 1 "the transition finishes once the worker is released" "transition $(cat "$LF_LP_DIR/transition" 2>&1)"
fi

# 6. Unpatch while an admitted NOFS-scoped allocation waits for the mutex.
hold || lf_fail "mutex_hold failed"
bg_alloc admitted nofs 64
if ! lf_wait_for "[ -n \"\$(grep -l klpp_pcpu_alloc /proc/[0-9]*/stack 2>/dev/null)\" ]" 10; then
	release
	lf_fail "the NOFS-scoped allocation did not wait for the mutex under the full patch: $(cat "$tmp/admitted" 2>&1)"
fi
(echo 0 >"$LF_LP_DIR/enabled" && touch "$tmp/disabled") &
lf_wait_for "[ -e $tmp/disabled ] || [ \$(cat $LF_LP_DIR/transition) = 1 ]" 10
sleep 2
# (klp sets up the unpatch transition before pre_unpatch, so `transition` reads 1 once the
# disable is in the kernel; `enabled` turns 0 only when the transition starts, after
# pre_unpatch.  Both together: the disable is waiting in pre_unpatch, not still unsent.)
tr=$(cat "$LF_LP_DIR/transition" 2>&1) en=$(cat "$LF_LP_DIR/enabled" 2>&1)
tt=$(cat /sys/module/$LF_LP_NAME/parameters/transition_target 2>&1)
if [ ! -e "$tmp/disabled" ] && [ "$tr" = 1 ] && [ "$en" = 1 ]; then
	lf_result 0 "the disable waits in pre_unpatch for the admitted NOFS-scoped allocation (enabled still 1)"
else
	echo "# lockfix: bug-reproduced percpu-nofs/unpatch-window: the unpatch transition started while a NOFS-scoped allocation was waiting for pcpu_alloc_mutex (the original worker can run again)"
	lf_result 1 "the disable waits in pre_unpatch for the admitted NOFS-scoped allocation" "disable $([ -e "$tmp/disabled" ] && echo returned || echo pending), transition $tr, enabled $en"
fi
# What lockfix status reads to tell this unpatch from a patch (enabled is 1 in both).
[ "$tt" = unpatched ] && r=0 || r=1
lf_result $r "the module names the transition's direction while pre_unpatch waits (transition_target: $tt)"

# 7. Released: the allocation completes, the unpatch runs and finishes, rmmod.
release
wait
if [ -e "$tmp/disabled" ] && lf_wait_for "[ ! -d $LF_LP_DIR ]" 60 && lf_wait_for "rmmod $LF_LP_NAME" 30; then
	lf_result 0 "unpatch finished after the allocation ($(cat "$tmp/admitted")), module removed"
else
	lf_result 1 "unpatch finishes after the allocation" "disable $([ -e "$tmp/disabled" ] && echo returned || echo pending), $(ls "$LF_LP_DIR" >/dev/null 2>&1 && echo "transition $(cat "$LF_LP_DIR/transition")" || echo gone)"
fi

# 8. Back to where run_tests.sh left it.
if lf_livepatch_load; then
	r=$(pt alloc nofs 1024 4096)
	if [ "$(lf_field fail "$r")" = 0 ]; then
		lf_result 0 "re-enabled; NOFS-scoped allocations succeed: $r"
	else
		lf_result 1 "re-enabled; NOFS-scoped allocations succeed" "$r"
	fi
else
	lf_result 1 "re-enabled" "$LF_WHY"
fi
exit "$(lf_exit)"
