#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset on a real filesystem: ext4 (fast_commit) on a thin device; inode
# eviction under drop_caches (shrink_slab holds shrinker_rwsem) waits for an fsync's
# writes to the thin device while the pool's metadata fails.  Scenario 2/3 of upstream
# d48300120627 with a wait ext4 itself has; no test-only module.
#
#   # ./thin_ext4.sh
# Uses $LOCKFIX_SCRATCH_DEV if set (it is overwritten), else a loop device in $TMPDIR.
#
# ext4 with fast commits (mkfs -O fast_commit; commit=600 so no full commit runs by
# itself; journal not zeroed by mkfs, so its fast-commit area is not provisioned) on a
# 128 MiB thin device.  An 8 MiB file and 1 MiB "fsynced" are written and synced (a full
# commit).  Then the file "evictee" is written and left to the flusher (dirty_expire 1 s): its pages
# and its inode become clean, but it stays on the fast-commit queue (created and
# allocated since the last commit).  The metadata slice becomes a failing disk: dm-delay
# over dm-error, every read and write fails after $DELAY ms.  `dd conv=fsync` overwriting
# "fsynced" (its data goes straight to provisioned blocks) starts a fast commit:
# ext4_fc_submit_inode_data_all() marks every queued inode, evictee included,
# EXT4_STATE_FC_COMMITTING until the fast-commit tail block (REQ_FUA | REQ_PREFLUSH) is
# written; dm-thin sends it to the pool worker, which provisions its (never written)
# block and, for the FUA, commits: the commit's writes fail after $DELAY ms.
# Meanwhile `echo 3 > drop_caches`:
#
#   drop_caches -> shrink_slab (shrinker_rwsem held for read) -> super_cache_scan
#     -> prune_icache_sb -> evict(evictee) -> ext4_evict_inode -> ext4_clear_inode
#     -> ext4_fc_del: waits for EXT4_STATE_FC_COMMITTING (the fast commit's thin I/O)
#   pool worker: commit fails -> metadata_operation_failed -> abort_transaction
#     -> dm_pool_abort_metadata -> dm_block_manager_create -> dm_bufio_client_create
#     -> register_shrinker -> down_write(&shrinker_rwsem): waits for drop_caches
#
# Unpatched 5.10: that deadlock, reported as bug-reproduced once both stacks show it,
# stable.  Fixed (the livepatch resets the block manager, registers no shrinker): the
# abort fails the pool, the fast commit's writes error, ext4 falls back and clears the
# flag, drop_caches returns, the filesystem unmounts and the devices are removed; with
# the metadata slice restored thin_check is clean (no repair), thin_dump maps exactly
# what was mapped before the failure (the fsync's provisioning rolled back), and the
# synced file reads back intact.  A patched run counts only if drop_caches was seen
# waiting in ext4_fc_del and the abort went through the livepatch.
# Not the preallocation route of d48300120627's message (ext4_discard_preallocations
# re-reading a block bitmap at eviction): on 5.10 the last writer's close and delalloc
# writeback with no writer left both discard an inode's preallocations, so an inode the
# shrinker evicts has none outside races.  One deadlock per boot: in a no-module run
# after thin_abort.sh this script SKIPs (may_skip); run it alone to see it reproduce.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/thin_lib.sh"

SETTLE=${LOCKFIX_HANG_SETTLE:-30}	# seconds before a blocked worker may count as hung
LIMIT=${LOCKFIX_HANG_LIMIT:-180}	# give up (plain failure, never "bug") after this
DELAY=${LOCKFIX_THIN_EXT4_DELAY:-15000}	# ms the failing metadata disk takes per I/O
lpname=lockfix_dm_thin_reset
lp=/sys/kernel/livepatch/$lpname
aborts=/sys/module/$lpname/parameters/aborts
P=lfext4
META=16384		# 8 MiB metadata slice
DATA=1048576		# 512 MiB data slice
THIN=262144		# 128 MiB thin device
M=/dev/mapper
VM=/proc/sys/vm
export DM_DISABLE_UDEV=1

lf_require_root
lf_require_cmd dmsetup thin_check thin_dump mkfs.ext4 mount umount dd md5sum timeout
modprobe dm_thin_pool 2>/dev/null
modprobe dm_delay 2>/dev/null
modprobe ext4 2>/dev/null
dmsetup targets 2>/dev/null | grep -q '^thin-pool' || lf_skip "no dm thin-pool target"
dmsetup targets 2>/dev/null | grep -q '^delay' || lf_skip "no dm delay target in this kernel"
grep -qw ext4 /proc/filesystems || lf_skip "no ext4 in this kernel"
thin_skip_if_deadlocked

case=ext4-fc-evict
say() { echo "# $*"; }
run() { out=$("$@" 2>&1) || { say "command failed: $*"; echo "$out" | sed 's/^/#   /'; return 1; }; }
md5() { md5sum <"$1" | cut -d' ' -f1; }
dirty_kb() { awk '/^(Dirty|Writeback):/ { n += $2 } END { print n + 0 }' /proc/meminfo; }

lf_scratch_dev 1024
lf_plan 6
mnt=$(mktemp -d "${TMPDIR:-/tmp}/lockfix-mnt.XXXXXX")
t_start=$(thin_now_ms)

# 1. pool, thin device with ext4 (fast_commit), a synced file, and a file written since
# that the flusher cleaned (pages and inode) without a journal commit
why=
run dmsetup create ${P}_err --table "0 $META error" &&
run thin_mkpool_empty $P 0 $THIN &&
run mkfs.ext4 -q -F -b 4096 -O fast_commit -E lazy_itable_init=0,lazy_journal_init=1,nodiscard $M/${P}_thin &&
run mount -t ext4 -o commit=600,noatime,noinit_itable $M/${P}_thin "$mnt" || why="setup failed"
[ -z "$why" ] && { run dd if=/dev/urandom of="$mnt/data" bs=1M count=8 &&
	run dd if=/dev/urandom of="$mnt/fsynced" bs=64k count=16 && sync || why="writing the synced files failed"; }
want_data=$(md5 "$mnt/data" 2>/dev/null)
expire=$(cat $VM/dirty_expire_centisecs) interval=$(cat $VM/dirty_writeback_centisecs)
if [ -z "$why" ]; then
	echo 100 >$VM/dirty_expire_centisecs
	echo 100 >$VM/dirty_writeback_centisecs
	run dd if=/dev/urandom of="$mnt/evictee" bs=64k count=16 || why="writing evictee failed"
	sleep 3
	lf_wait_for "[ \$(awk '/^(Dirty|Writeback):/ { n += \$2 } END { print n + 0 }' /proc/meminfo) -lt 64 ]" 30 ||
		why="the flusher did not write evictee back ($(dirty_kb) kB dirty)"
	sleep 3		# its inode too, and the pool's periodic commit of what it provisioned
	echo "$expire" >$VM/dirty_expire_centisecs
	echo "$interval" >$VM/dirty_writeback_centisecs
fi
# nothing may be left for the pool to commit when its metadata fails: flush the thin
# device (a flush commits what changed; ext4's journal keeps its own buffers)
[ -z "$why" ] && { run dd if=/dev/null of=$M/${P}_thin conv=notrunc,fsync || why="flushing the thin device failed"; }
[ -z "$why" ] && [ "$(thin_mode $P)" != rw ] && why="pool not rw: $(dmsetup status ${P}_pool 2>&1)"
[ -z "$why" ] && mapped=$(( $(dmsetup status ${P}_thin | awk '{ print $4 }') / 128 ))
if [ -n "$why" ]; then
	lf_result 1 "setup: ext4 (fast_commit) on a thin device, a synced file, one cleaned by the flusher" "$why"
	exit "$(lf_exit)"
fi
say "thin device maps $mapped blocks"
lf_result 0 "setup: ext4 (fast_commit) on a thin device, a synced file, one cleaned by the flusher"

# 2. the metadata disk fails slowly; an fsync's fast commit waits on the pool; drop_caches
# evicts evictee meanwhile
why=
run dmsetup suspend ${P}_meta &&
run dmsetup load ${P}_meta --table "0 $META delay $M/${P}_err 0 $DELAY $M/${P}_err 0 $DELAY" &&
run dmsetup resume ${P}_meta || lf_fail "cannot switch the metadata slice to dm-delay over dm-error"
lf_log_mark
n0=$(cat $aborts 2>/dev/null || echo 0)
dd if=/dev/urandom of="$mnt/fsynced" bs=64k count=16 conv=notrunc,fsync 2>/dev/null &
fs=$!
lf_wait_for "grep -Eq 'ext4_fc_(commit|perform_commit|submit_inode_data_all|wait_inode_data_all)|jbd2_fc_wait_bufs' /proc/$fs/stack" $((DELAY / 2000)) ||
	{ thin_show_stack $fs "fsync"; thin_show_workers; lf_fail "the fsync did not start a fast commit within $((DELAY / 2000)) s"; }
dcrc=$(mktemp -u)
t0=$(thin_now_ms)
sh -c "echo 3 >/proc/sys/vm/drop_caches; echo \$? >$dcrc" &
dc=$!
thin_watch "[ -s $dcrc ]" $dc 'shrink_slab' 'super_cache_scan' 'ext4_evict_inode' 'ext4_fc_del'
r=$?
if [ $r = 1 ]; then	# hangwatch printed the pool worker's and drop_caches' stacks
	thin_show_stack $fs "fsync"
	say "lockfix: bug-reproduced dm-thin-reset/$case: pool worker blocked in register_shrinker under dm_pool_abort_metadata while shrink_slab (ext4 inode eviction, ext4_fc_del) waits for the fast commit's writes to the thin device (stable for $THIN_EL s)"
	thin_mark_deadlocked "$case: pool worker $THIN_W, drop_caches $dc"
	lf_result 1 "$case: metadata failure under ext4 eviction in shrink_slab, no hang" "deadlock"
	for c in "teardown: umount, dmsetup remove" "metadata restored: thin_check clean" \
	         "thin_dump maps what was mapped before the failure" "synced file reads back"; do
		lf_result 4 "$c" "pool deadlocked"
	done
	exit "$(lf_exit)"
fi
if [ $r = 2 ]; then
	w=$(thin_abort_task)
	[ -n "$w" ] && thin_show_stack "$w" "abort task"
	thin_show_stack $fs "fsync"
	lf_result 1 "$case: metadata failure under ext4 eviction in shrink_slab, no hang" \
		"drop_caches not done after $THIN_EL s (no deadlock signature)"
	exit "$(lf_exit)"
fi
dc_ms=$(( $(thin_now_ms) - t0 ))
seen=$THIN_SEEN
wait $dc 2>/dev/null
i=0
while kill -0 $fs 2>/dev/null && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
kill -0 $fs 2>/dev/null && why="the fsync still runs $((i / 2)) s after drop_caches returned"
wait $fs 2>/dev/null
mode= i=0
while [ -z "$why" ] && [ $i -lt 60 ]; do
	mode=$(thin_mode $P)
	[ "$mode" = Fail ] && break
	sleep 0.5
	i=$((i + 1))
done
log=$(lf_log_since)
echo "$log" | grep -Ei 'thin|EXT4-fs|JBD2|journal' | sed 's/^/#   dmesg: /' | head -12
[ -z "$why" ] && [ "$(cat $dcrc)" != 0 ] && why="drop_caches failed (status $(cat $dcrc))"
# the path must really have been taken: drop_caches waited in ext4_fc_del under
# shrink_slab, the worker aborted a transaction, and (patched) through the livepatch
[ -z "$why" ] && [ -z "$seen" ] && why="drop_caches was never seen waiting in ext4_fc_del under shrink_slab (returned after ${dc_ms} ms)"
[ -z "$why" ] && ! echo "$log" | grep -q 'aborting current metadata transaction' &&
	why="the pool never aborted a transaction"
if [ -z "$why" ] && [ -d "$lp" ]; then
	n=$(cat $aborts 2>/dev/null || echo 0)
	[ "$n" -gt "$n0" ] 2>/dev/null || why="the abort did not go through the livepatch (aborts $n0 -> $n)"
fi
[ -z "$why" ] && [ "$mode" != Fail ] && why="pool mode '$mode', not Fail"
[ -z "$why" ] && ! echo "$log" | grep -q 'failed to abort metadata transaction' &&
	why="the abort's re-open did not fail on the failed metadata disk?"
say "figure: drop_caches waited in ext4_fc_del, returned after ${dc_ms} ms with the pool $mode (metadata I/O fails after ${DELAY} ms; provisional, TCG)"
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "$case: metadata failure under ext4 eviction in shrink_slab, no hang" "$why"

# 3. teardown
why=
timeout 60 umount "$mnt" || why="umount failed or hung"
for d in ${P}_thin ${P}_pool; do
	[ -z "$why" ] && { timeout 60 dmsetup remove $d >/dev/null 2>&1 || why="dmsetup remove $d failed or hung"; }
done
if [ -n "$why" ]; then
	lf_result 1 "teardown: umount, dmsetup remove" "$why"
	for c in "metadata restored: thin_check clean" "thin_dump maps what was mapped before the failure" \
	         "synced file reads back"; do
		lf_result 4 "$c" "teardown failed"
	done
	exit "$(lf_exit)"
fi
lf_result 0 "teardown: umount, dmsetup remove"

# 4. restore the metadata slice: thin_check must be clean (needing thin_repair is a failure)
why=
thin_meta $P 0 linear || why="cannot restore the metadata slice"
if [ -z "$why" ] && ! out=$(thin_check $M/${P}_meta 2>&1); then
	echo "$out" | sed 's/^/#   thin_check: /'
	why="thin_check reports damage (a repair would not count)"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "metadata restored: thin_check clean" "$why"

# 5. the device maps exactly the $mapped blocks it did before the failure: what the
# fsync provisioned was in the aborted transaction
if [ -z "$why" ]; then
	got=$(thin_mapped $M/${P}_meta 0)
	[ "$got" = "$mapped" ] || why="thin device 0 maps $got blocks, $mapped before the failure"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "thin_dump maps what was mapped before the failure" "$why"

# 6. the synced file reads back (mounted read-only, journal not replayed)
why=
if run dmsetup create ${P}_pool --table "$(thin_pool_table $P)" &&
   run dmsetup create ${P}_thin --table "0 $THIN thin $M/${P}_pool 0"; then
	if run mount -t ext4 -o ro,noload $M/${P}_thin "$mnt"; then
		got=$(md5 "$mnt/data")
		[ "$got" = "$want_data" ] || why="md5 $got, written $want_data"
		umount "$mnt"
	else
		why="the filesystem does not mount read-only"
	fi
	timeout 60 dmsetup remove ${P}_thin >/dev/null 2>&1
	timeout 60 dmsetup remove ${P}_pool >/dev/null 2>&1
else
	why="pool does not activate on the restored metadata"
fi
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "synced file reads back" "$why"
for d in meta data err; do dmsetup remove ${P}_$d >/dev/null 2>&1; done
rmdir "$mnt"
rm -f "$dcrc"
say "figure: thin_ext4.sh ran $(( ($(thin_now_ms) - t_start) / 1000 )) s"
lf_cleanup_scratch
exit "$(lf_exit)"
