#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset, unpatch under a busy shrinker: the livepatch is disabled while one pool
# has already failed under it (pool A) and shrink_slab() holds shrinker_rwsem waiting on
# I/O to another pool (B) whose worker is failing its abort.  Needs lockfix_dm_thin_reset
# loaded (run_tests.sh -m), else SKIP.
#
# The hang this guards against (review of the module before 2026-12-01): pre_unpatch, under
# klp_mutex and its own mutex, destroyed A's block manager -> unregister_shrinker() ->
# down_write(shrinker_rwsem), which waits for the reader; the reader waits for B's I/O;
# B's worker, its abort failed, waits for the module's mutex.  Expected now: the disable
# returns at once, B's pool hands itself back, the reader's write fails, the transition
# finishes, and after the pools are removed dm_thin_pool, dm_persistent_data and dm_bufio
# unload with nothing leaked.
#
# Pool B's metadata is dm-delay over dm-error: writes fail at once, reads fail after 8 s,
# so B's worker sits in the re-open of its abort while the livepatch is disabled.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/thin_lib.sh"

lf_require_root
thin_skip_if_deadlocked	# one deadlock per boot: the pool cannot be set up after one
lf_livepatch_require lockfix_dm_thin_reset
lf_require_cmd dmsetup dd timeout
export DM_DISABLE_UDEV=1
helper=$here/lockfix_thin_shrinker.ko
hp=/sys/module/lockfix_thin_shrinker/parameters
[ -f "$helper" ] || lf_skip "test helper $(basename "$helper") not built for $(uname -r)"
modprobe dm_thin_pool 2>/dev/null
modprobe dm_delay 2>/dev/null
dmsetup targets 2>/dev/null | grep -q '^thin-pool' || lf_skip "no dm thin-pool target"
dmsetup targets 2>/dev/null | grep -q '^delay' || lf_skip "no dm delay target in this kernel"

META=8192	# sectors: 4 MiB
DATA=262144	# 128 MiB
M=/dev/mapper
lf_scratch_dev 512
lf_plan 5
lf_log_mark
stack_has() { grep -q "$2" "/proc/$1/stack" 2>/dev/null; }
state_of() { sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null; }
dump() { echo "# $2 (pid $1, state $(state_of "$1")):"; sed 's/^/#     /' "/proc/$1/stack" 2>/dev/null; }

why=
{ thin_mkpool lfbusyA 0 && thin_mkpool lfbusyB $((META + DATA)); } >/dev/null 2>&1 || why="pool setup failed"
# A fails under the patch: its metadata becomes dm-error, a write needs a commit.
if [ -z "$why" ]; then
	{ dmsetup suspend lfbusyA_meta && dmsetup load lfbusyA_meta --table "0 $META error" &&
	  dmsetup resume lfbusyA_meta; } >/dev/null 2>&1
	timeout 60 dd if=/dev/zero of=$M/lfbusyA_thin bs=64k count=1 seek=100 conv=fsync 2>/dev/null
	lf_wait_for "timeout 10 dmsetup status lfbusyA_pool | grep -q ' Fail'" 30 || why="pool A did not fail"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "pool A failed its abort under the livepatch; pool B healthy" "$why"
[ -n "$why" ] && exit "$(lf_exit)"

# B: metadata writes fail now, reads after 8 s; the shrinker's write under shrink_slab
# needs a new block, so B's worker commits, fails, aborts, and re-opens for 8 s.
{ dmsetup create lfbusyB_err --table "0 $META error" &&
  dmsetup suspend lfbusyB_meta &&
  dmsetup load lfbusyB_meta --table "0 $META delay $M/lfbusyB_err 0 8000 $M/lfbusyB_err 0 0" &&
  dmsetup resume lfbusyB_meta; } >/dev/null 2>&1 || why="cannot put dm-delay over dm-error under B's metadata"
insmod "$helper" 2>/dev/null || why="${why:-insmod $helper failed}"
[ -z "$why" ] && { echo "$M/lfbusyB_thin" >$hp/target && echo 131072 >$hp/sector && echo 1 >$hp/arm; } ||
	why="${why:-cannot arm the test shrinker on B}"
sh -c 'echo 2 > /proc/sys/vm/drop_caches' &
dc=$!
worker=
if [ -z "$why" ]; then
	lf_wait_for "grep -l dm_pool_abort_metadata /proc/[0-9]*/stack 2>/dev/null | grep -q ." 30 ||
		why="B's worker never entered its abort"
	worker=$(grep -l dm_pool_abort_metadata /proc/[0-9]*/stack 2>/dev/null | head -1 | cut -d/ -f3)
	[ -z "$why" ] && ! stack_has $dc shrink_slab && why="drop_caches is not in shrink_slab ($(cat $hp/state))"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "shrink_slab waits on pool B, whose worker is in its abort" "$why"
[ -n "$why" ] && exit "$(lf_exit)"

# Disable now: pre_unpatch runs in this writer, under klp_mutex.
sh -c "echo 0 > $LF_LP_DIR/enabled" &
dis=$!
if lf_wait_for "! kill -0 $dis" 30; then
	lf_result 0 "the disable returns while shrink_slab and B's abort are in flight"
else
	dump $dis "disable (pre_unpatch)"
	[ -n "$worker" ] && dump "$worker" "pool B worker"
	dump $dc "drop_caches"
	lf_result 1 "the disable returns while shrink_slab and B's abort are in flight" "deadlock: the disable is stuck (klp_mutex held: no livepatch can change any more)"
	exit "$(lf_exit)"
fi

why=
lf_wait_for "! kill -0 $dc" 60 || why="drop_caches (shrink_slab) still waiting"
[ -z "$why" ] && { lf_wait_for "[ ! -d $LF_LP_DIR ]" 90 || why="the unpatch transition did not finish"; }
[ -z "$why" ] && case "$(cat $hp/state)" in "done err=0"*) why="the write to the failed pool B succeeded" ;; done*) ;; *) why="shrinker state $(cat $hp/state)" ;; esac
[ -z "$why" ] && ! lf_log_since | grep -q 'handed back in the unpatched failed-abort state' && why="pool A was not handed back at unpatch"
[ -z "$why" ] && ! lf_log_since | grep -q 'handed back during the unpatch transition' && why="pool B was not handed back during the transition"
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "shrink_slab gets its error, both failed pools handed back, transition finished" "$why"

echo none >$hp/target 2>/dev/null
rmmod lockfix_thin_shrinker 2>/dev/null
lf_wait_for "rmmod $LF_LP_NAME" 30 || why="${why:+$why; }rmmod $LF_LP_NAME failed"
THIN_WHY=$why
thin_rmpool lfbusyA
thin_rmpool lfbusyB
timeout 60 dmsetup remove lfbusyB_err >/dev/null 2>&1
thin_unload_stack
lf_result "$([ -z "$THIN_WHY" ] && echo 0 || echo 1)" "pools removed by the original code; dm-thin modules unload with nothing leaked; the livepatch reloads" "$THIN_WHY"
lf_cleanup_scratch
exit "$(lf_exit)"
