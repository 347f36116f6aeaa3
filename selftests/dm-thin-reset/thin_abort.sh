#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset: a thin-pool metadata operation fails while shrink_slab() holds
# shrinker_rwsem and waits on I/O to a thin device of that pool.
# Upstream fix: d48300120627 (v6.5; 6.1.70) + cb65b282c964.  Vulnerable: Debian 11 (5.10).
#
#   # ./thin_abort.sh [error|flakey]
#     error   the metadata slice becomes dm-error: the abort's re-open fails too (pool Fail)
#     flakey  dm-flakey error_writes: the commit fails, the abort re-opens the metadata from
#             the reset block manager and the pool goes read-only; the committed data must
#             read back through the re-opened metadata while the pool is still up
#     preabort  (only with lockfix_dm_thin_reset loaded) disable and unload the livepatch,
#             fail an abort the old way (no shrinker: no deadlock, the pool is left with
#             pmd->bm == NULL and dangling tm/sm pointers), load the livepatch again, then
#             remove the pool: the patched close must recognise that state
#     unpatch   (only with lockfix_dm_thin_reset loaded) fail an abort under the patch
#             (no shrinker), disable and unload the livepatch, remove the pool with the
#             original code, then unload dm_thin_pool, dm_persistent_data and dm_bufio: a
#             leaked block manager would make dm_bufio's exit report (and BUG on) it
#     unpatchlate  (only with the livepatch loaded) the same, but the abort fails while the
#             unpatch transition is running: metadata writes fail at once and reads fail
#             after 8 s (dm-delay over dm-error), so the pool worker sits in the patched
#             abort when the livepatch is disabled
# Uses $LOCKFIX_SCRATCH_DEV if set (it is overwritten), else a loop device in $TMPDIR.
#
# A thin pool on two dm-linear slices of the scratch device; 8 MiB written to a thin
# device and flushed (committed); the metadata slice is then swapped to dm-error; the
# test-only shrinker (lockfix_thin_shrinker.ko) is armed and drop_caches run: its scan
# callback, under shrinker_rwsem, writes to an unprovisioned thin block with
# PREFLUSH|FUA and waits.  The pool worker's commit fails and it aborts the transaction.
# Unpatched 5.10: the abort calls register_shrinker() -> down_write(&shrinker_rwsem) and
# waits for the reader, which waits for the worker: deadlock (reported as bug-reproduced
# once hangwatch sees the worker in that wait, thin_lib.sh THIN_WORKER_FRAMES, stable).
# Fixed: the pool fails cleanly, the write returns an error, drop_caches returns, the
# devices can be removed, and with the metadata slice restored thin_check is clean (a
# repair does not count) and the data written before the failure reads back intact.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/thin_lib.sh"

SETTLE=${LOCKFIX_HANG_SETTLE:-30}	# seconds before a blocked worker may count as hung
LIMIT=${LOCKFIX_HANG_LIMIT:-180}	# give up (plain failure, never "bug") after this
MODE=${1:-error}
case "$MODE" in error|flakey|preabort|unpatch|unpatchlate) ;; *) echo "usage: $0 [error|flakey|preabort|unpatch|unpatchlate]" >&2; exit 2 ;; esac
lpname=lockfix_dm_thin_reset
lp=/sys/kernel/livepatch/$lpname
lpko=${LOCKFIX_MODULE_DIR:-/lockfix/modules}/$lpname.ko
P=lfthin
META=32768		# 16 MiB metadata slice
DATA=2097152		# 1 GiB data slice
THIN=1048576		# 512 MiB thin device
helper=$here/lockfix_thin_shrinker.ko
hp=/sys/module/lockfix_thin_shrinker/parameters
M=/dev/mapper

lf_require_root
lf_require_cmd dmsetup thin_check thin_repair dd md5sum insmod rmmod timeout
[ -f "$helper" ] || lf_skip "test helper $(basename "$helper") not built for $(uname -r)"
if [ $MODE = preabort ] || [ $MODE = unpatch ] || [ $MODE = unpatchlate ]; then
	[ -d $lp ] || lf_skip "$lpname is not loaded"
	[ -f "$lpko" ] || lf_skip "$lpko not found (set LOCKFIX_MODULE_DIR)"
fi
modprobe dm_thin_pool 2>/dev/null
dmsetup targets 2>/dev/null | grep -q '^thin-pool' || lf_skip "no dm thin-pool target"
if [ $MODE = unpatchlate ]; then
	modprobe dm_delay 2>/dev/null
	dmsetup targets 2>/dev/null | grep -q '^delay' || lf_skip "no dm delay target in this kernel"
fi

say() { echo "# $*"; }
run() { out=$("$@" 2>&1) || { say "command failed: $*"; echo "$out" | sed 's/^/#   /'; return 1; }; }
meta_table() { thin_meta $P 0 "$1"; }
thin_skip_if_deadlocked

lf_scratch_dev 2048
lf_plan 6
pat=$(mktemp)
dd if=/dev/urandom of="$pat" bs=1M count=8 2>/dev/null
want=$(md5sum <"$pat" | cut -d' ' -f1)

# 1. pool, thin device, data written and flushed (a committed transaction)
why=
run thin_mkpool_empty $P 0 $THIN &&
run dd if="$pat" of=$M/${P}_thin bs=1M conv=fsync || why="setup failed"
sleep 2
[ -z "$why" ] && [ "$(thin_mode $P)" != rw ] && why="pool not rw: $(dmsetup status ${P}_pool 2>&1)"
if [ -n "$why" ]; then
	lf_result 1 "setup: thin pool, 8 MiB written and flushed" "$why"
	exit "$(lf_exit)"
fi
lf_result 0 "setup: thin pool, 8 MiB written and flushed"

# 2 (preabort). an abort fails under the unpatched code, then the livepatch comes back
if [ $MODE = preabort ]; then
	case=preabort-close
	why=
	echo 0 >$lp/enabled || why="cannot disable $lpname"
	[ -z "$why" ] && { lf_wait_for "[ ! -d $lp ]" 60 || why="unpatching did not finish"; }
	[ -z "$why" ] && { lf_wait_for "rmmod $lpname" 30 || why="rmmod $lpname failed"; }
	[ -z "$why" ] && { meta_table error || why="cannot switch the metadata slice to dm-error"; }
	dmesg_before=$(dmesg | wc -l)
	[ -z "$why" ] && dd if=/dev/zero of=$M/${P}_thin bs=4096 count=1 seek=16384 conv=fsync 2>/dev/null &&
		why="a write + fsync on the failed pool succeeded"
	[ -z "$why" ] && { lf_wait_for "dmsetup status ${P}_pool | grep -q Fail" 30 || why="pool not in Fail mode"; }
	[ -z "$why" ] && { dmesg | tail -n +"$((dmesg_before + 1))" | grep -q 'failed to abort metadata transaction' ||
		why="the unpatched abort did not fail"; }
	[ -z "$why" ] && { insmod "$lpko" || why="insmod $lpko failed"; }
	[ -z "$why" ] && { lf_wait_for "[ \$(cat $lp/transition) = 0 ]" 60 || why="patching transition did not finish"; }
	lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "$case: abort failed unpatched, livepatch loaded again" "$why"
	[ -z "$why" ] || exit "$(lf_exit)"
# 2 (unpatchlate). the abort fails while the unpatch transition waits for it
elif [ $MODE = unpatchlate ]; then
	case=unpatch-late
	why=
	modprobe dm_delay 2>/dev/null
	run dmsetup create ${P}_err --table "0 $META error" || why="cannot create ${P}_err"
	r=1
	[ -z "$why" ] && { run dmsetup suspend ${P}_meta &&
		{ run dmsetup load ${P}_meta --table "0 $META delay $M/${P}_err 0 8000 $M/${P}_err 0 0"; r=$?; } ;
		run dmsetup resume ${P}_meta && [ $r = 0 ] || why="cannot switch the metadata slice to dm-delay over dm-error"; }
	dmesg_before=$(dmesg | wc -l)
	dd if=/dev/zero of=$M/${P}_thin bs=4096 count=1 seek=16384 conv=fsync 2>/dev/null &
	ddp=$!
	[ -z "$why" ] && { lf_wait_for "[ -n \"\$(grep -l dm_pool_abort_metadata /proc/[0-9]*/stack 2>/dev/null)\" ]" 30 ||
		why="the pool worker never entered the abort"; }
	[ -z "$why" ] && { echo 0 >$lp/enabled || why="cannot disable $lpname"; }
	[ -z "$why" ] && { lf_wait_for "[ ! -d $lp ]" 90 || why="unpatching did not finish"; }
	wait $ddp 2>/dev/null
	log=$(dmesg | tail -n +"$((dmesg_before + 1))")
	[ -z "$why" ] && ! echo "$log" | grep -q 'failed to abort metadata transaction' && why="the abort did not fail"
	[ -z "$why" ] && ! echo "$log" | grep -q 'handed back during the unpatch transition' &&
		why="the late failed pool was not handed back"
	[ -z "$why" ] && { lf_wait_for "rmmod $lpname" 30 || why="rmmod $lpname failed"; }
	lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "$case: abort failed during the unpatch transition, livepatch unloaded" "$why"
	[ -z "$why" ] || exit "$(lf_exit)"
# 2 (unpatch). an abort fails under the patch, then the livepatch goes away
elif [ $MODE = unpatch ]; then
	case=unpatch-close
	why=
	meta_table error || why="cannot switch the metadata slice to dm-error"
	dmesg_before=$(dmesg | wc -l)
	[ -z "$why" ] && dd if=/dev/zero of=$M/${P}_thin bs=4096 count=1 seek=16384 conv=fsync 2>/dev/null &&
		why="a write + fsync on the failed pool succeeded"
	[ -z "$why" ] && { lf_wait_for "dmsetup status ${P}_pool | grep -q Fail" 30 || why="pool not in Fail mode"; }
	[ -z "$why" ] && [ "$(cat /sys/module/$lpname/parameters/aborts)" -lt 1 ] && why="the abort did not go through the livepatch"
	[ -z "$why" ] && { echo 0 >$lp/enabled || why="cannot disable $lpname"; }
	[ -z "$why" ] && { lf_wait_for "[ ! -d $lp ]" 60 || why="unpatching did not finish"; }
	[ -z "$why" ] && { dmesg | tail -n +"$((dmesg_before + 1))" | grep -q 'handed back in the unpatched' ||
		why="the failed pool was not handed back at unpatch"; }
	[ -z "$why" ] && { lf_wait_for "rmmod $lpname" 30 || why="rmmod $lpname failed"; }
	lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "$case: abort failed patched, livepatch disabled and unloaded" "$why"
	[ -z "$why" ] || exit "$(lf_exit)"
else
# 2. metadata fails while shrink_slab waits on the pool
	case=shrinker-abort-$MODE
	modprobe dm_flakey 2>/dev/null
	meta_table $MODE || lf_fail "cannot switch the metadata slice to $MODE"
	insmod "$helper" || lf_fail "insmod $helper failed"
	echo "$M/${P}_thin" >$hp/target || lf_fail "helper cannot open $M/${P}_thin"
	echo 131072 >$hp/sector
	dmesg_before=$(dmesg | wc -l)
	echo 1 >$hp/arm
	t0=$(thin_now_ms)
	sh -c 'echo 2 > /proc/sys/vm/drop_caches' &
	dc=$!
	hung=
	thin_watch "grep -q '^done' $hp/state" $dc 'lockfix_thin_shrink_scan' 'shrink_slab'
	[ $? = 1 ] && hung=1 w=$THIN_W
	st=$(cat $hp/state)
	el=$(( $(thin_now_ms) - t0 ))
	if [ -n "$hung" ]; then	# hangwatch printed the pool worker's and drop_caches' stacks
		say "lockfix: bug-reproduced dm-thin-reset/$case: pool worker blocked in (un)register_shrinker under dm_pool_abort_metadata while shrink_slab waits on thin I/O (stable for $((el / 1000)) s)"
		thin_mark_deadlocked "$case: pool worker $w, drop_caches $dc"
		lf_result 1 "$case: metadata failure under shrink_slab, no hang" "deadlock"
		for c in "teardown: dmsetup remove" "metadata restored: thin_check clean" "metadata maps the flushed 8 MiB (thin_dump)" "data flushed before the failure reads back"; do
			lf_result 4 "$c" "pool deadlocked"
		done
		exit "$(lf_exit)"
	fi
	case "$st" in
	done*) ;;
	*)
		w=$(thin_abort_task)
		[ -n "$w" ] && thin_show_stack "$w" "abort task"
		lf_result 1 "$case: metadata failure under shrink_slab, no hang" "no completion after $((el / 1000)) s, state '$st' (no deadlock signature)"
		exit "$(lf_exit)"
		;;
	esac
	why=
	# the drop_caches writer returns once its scan did
	i=0
	while kill -0 $dc 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
	kill -0 $dc 2>/dev/null && why="drop_caches still running after its scan finished"
	wait $dc 2>/dev/null
	mode= i=0
	while [ $i -lt 60 ]; do
		mode=$(thin_mode $P)
		[ "$mode" = Fail ] && break
		[ $MODE = flakey ] && [ "$mode" = ro ] && break
		sleep 0.5
		i=$((i + 1))
	done
	fail_ms=$(( $(thin_now_ms) - t0 ))
	err=$(echo "$st" | sed -n 's/.*err=\(-*[0-9]*\).*/\1/p')
	bio_ms=$(echo "$st" | sed -n 's/.*ms=\([0-9]*\).*/\1/p')
	log=$(dmesg | tail -n +"$((dmesg_before + 1))")
	echo "$log" | grep -i 'thin' | sed 's/^/#   dmesg: /' | head -8
	[ -z "$why" ] && ! echo "$log" | grep -q 'aborting current metadata transaction' &&
		why="the pool never aborted a transaction (metadata failure not hit)"
	# Patched: the abort must have gone through the livepatch's reset (its counter).
	if [ -z "$why" ] && [ -d "$lp" ]; then
		n=$(cat /sys/module/$lpname/parameters/aborts 2>/dev/null || echo 0)
		[ "$n" -ge 1 ] 2>/dev/null || why="the abort did not go through the livepatch (aborts=$n)"
	fi
	[ -z "$why" ] && [ "$err" = 0 ] && why="the write under shrink_slab succeeded: the pool did not fail it"
	if [ $MODE = error ]; then
		[ -z "$why" ] && [ "$mode" != Fail ] && why="pool mode '$mode', not Fail"
		[ -z "$why" ] && ! echo "$log" | grep -q 'failed to abort metadata transaction' &&
			why="the abort's re-open did not fail on dm-error metadata?"
	else
		[ -z "$why" ] && [ "$mode" != ro ] && why="pool mode '$mode', not ro (read-only after a successful abort)"
		[ -z "$why" ] && echo "$log" | grep -q 'failed to abort metadata transaction' &&
			why="the abort failed although the metadata is readable"
		if [ -z "$why" ]; then
			got=$(dd if=$M/${P}_thin bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
			[ "$got" = "$want" ] || why="read-only pool after the abort: data md5 $got, written $want"
		fi
	fi
	say "figure: metadata failure -> pool $mode: write under shrink_slab failed (err=$err) after ${bio_ms} ms, pool status $mode seen at ${fail_ms} ms (provisional, TCG)"
	if [ -n "$why" ]; then
		lf_result 1 "$case: metadata failure under shrink_slab, no hang" "$why"
	else
		lf_result 0 "$case: metadata failure under shrink_slab, no hang"
	fi
	echo none >$hp/target
	rmmod lockfix_thin_shrinker 2>/dev/null

fi

# 3. teardown
why=
timeout 60 dmsetup remove ${P}_thin >/dev/null 2>&1 || why="dmsetup remove ${P}_thin failed or hung"
[ -z "$why" ] && { timeout 60 dmsetup remove ${P}_pool >/dev/null 2>&1 || why="dmsetup remove ${P}_pool failed or hung"; }
if [ -z "$why" ] && { [ $MODE = unpatch ] || [ $MODE = unpatchlate ]; }; then
	# the original close ran; nothing of the pool may be left in dm-bufio
	dmesg_before=$(dmesg | wc -l)
	for m in dm_thin_pool dm_persistent_data dm_bufio; do
		[ -z "$why" ] && ! rmmod $m 2>/dev/null && why="rmmod $m failed"
	done
	dmesg | tail -n +"$((dmesg_before + 1))" | grep -q 'leaked' && why="dm-bufio reports leaked clients/buffers"
	# Reload for the scripts after (checked: see thin_lib.sh thin_unload_stack).
	modprobe dm_thin_pool 2>/dev/null || why=${why:-"modprobe dm_thin_pool failed"}
	{ insmod "$lpko" 2>/dev/null && lf_wait_for "[ \$(cat $lp/transition) = 0 ]" 60; } ||
		why=${why:-"reloading $lpname failed (insmod, or its transition did not finish)"}
fi
if [ -z "$why" ] && [ $MODE = preabort ]; then
	n=$(cat /sys/module/$lpname/parameters/preabort_closes 2>/dev/null)
	[ "$n" = 1 ] || why="the patched close did not see the pre-patch abort state (preabort_closes=$n)"
fi
if [ -n "$why" ]; then
	lf_result 1 "teardown: dmsetup remove" "$why"
	lf_result 4 "metadata restored: thin_check clean" "teardown failed"
	lf_result 4 "metadata maps the flushed 8 MiB (thin_dump)" "teardown failed"
	lf_result 4 "data flushed before the failure reads back" "teardown failed"
	exit "$(lf_exit)"
fi
lf_result 0 "teardown: dmsetup remove"

# 4. restore the metadata slice; thin_check must be clean (a metadata that needs
# thin_repair is a failure, whatever the repair recovers), and thin_dump must show the
# flushed 8 MiB mapped: 128 blocks of 64 KiB at the start of thin device 0.
why=
meta_table linear || why="cannot restore the metadata slice"
if [ -z "$why" ]; then
	if out=$(thin_check $M/${P}_meta 2>&1); then
		say "thin_check clean"
	else
		echo "$out" | sed 's/^/#   thin_check: /'
		why="thin_check reports damage (a repair would not count)"
	fi
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "metadata restored: thin_check clean" "$why"
mapped=
if [ -z "$why" ]; then
	mapped=$(thin_mapped $M/${P}_meta 0 128)
	[ "$mapped" = 128 ] || why="thin device 0 maps $mapped of the 128 flushed blocks"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "metadata maps the flushed 8 MiB (thin_dump)" "$why"

# 5. the committed data reads back
why=
if run dmsetup create ${P}_pool --table "$(thin_pool_table $P)" &&
   run dmsetup create ${P}_thin --table "0 $THIN thin $M/${P}_pool 0"; then
	got=$(dd if=$M/${P}_thin bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || why="md5 $got, written $want"
	timeout 60 dmsetup remove ${P}_thin >/dev/null 2>&1
	timeout 60 dmsetup remove ${P}_pool >/dev/null 2>&1
else
	why="pool does not activate on the restored metadata"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "data flushed before the failure reads back" "$why"
dmsetup remove ${P}_meta >/dev/null 2>&1
dmsetup remove ${P}_data >/dev/null 2>&1
dmsetup remove ${P}_err >/dev/null 2>&1
rm -f "$pat"
lf_cleanup_scratch
exit "$(lf_exit)"
