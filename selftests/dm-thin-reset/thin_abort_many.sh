#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset, many failed pools: more pools fail their abort under the livepatch than
# its failed-pool table holds (64), then the livepatch is disabled and removed, the pools
# are removed by the original code, and dm_thin_pool, dm_persistent_data and dm_bufio are
# unloaded.  A failed pool the livepatch could not hand back leaks its block manager, and
# dm_bufio's module exit reports "leaked" and BUGs.  Needs lockfix_dm_thin_reset loaded
# (run_tests.sh -m), else SKIP.
#
#   # ./thin_abort_many.sh [POOLS]      default 66
# Each pool: 4 MiB metadata and 24 MiB data slices of the scratch device, a thin device,
# 1 MiB written and flushed; then its metadata slice becomes dm-error and a write + fsync
# makes the commit fail and the abort's re-open fail: the pool goes to Fail mode.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

N=${1:-66}
lf_is_number "$N" && [ "$N" -ge 1 ] && [ "$N" -le 150 ] || { echo "usage: $0 [POOLS 1..150]" >&2; exit 2; }
lf_require_root
lf_livepatch_require lockfix_dm_thin_reset
lf_require_cmd dmsetup dd timeout
export DM_DISABLE_UDEV=1
modprobe dm_thin_pool 2>/dev/null
dmsetup targets 2>/dev/null | grep -q '^thin-pool' || lf_skip "no dm thin-pool target"

META=8192	# sectors: 4 MiB
DATA=49152	# 24 MiB
lf_scratch_dev $(( (META + DATA) * N / 2048 + 64 ))
lf_plan 5
M=/dev/mapper
base=$(dmesg | wc -l)
new_log() { dmesg | sed "1,${base}d"; }
say() { echo "# $*"; }

why=
i=1
while [ $i -le $N ] && [ -z "$why" ]; do
	off=$(( (i - 1) * (META + DATA) ))
	p=lfmany$i
	{ dmsetup create ${p}_meta --table "0 $META linear $LF_DEV $off" &&
	  dmsetup create ${p}_data --table "0 $DATA linear $LF_DEV $((off + META))" &&
	  dd if=/dev/zero of=$M/${p}_meta bs=4096 count=1 conv=fsync 2>/dev/null &&
	  dmsetup create ${p}_pool --table "0 $DATA thin-pool $M/${p}_meta $M/${p}_data 128 0 1 skip_block_zeroing" &&
	  dmsetup message ${p}_pool 0 "create_thin 0" &&
	  dmsetup create ${p}_thin --table "0 $DATA thin $M/${p}_pool 0" &&
	  dd if=/dev/urandom of=$M/${p}_thin bs=1M count=1 conv=fsync 2>/dev/null; } >/dev/null 2>&1 ||
		why="pool $i: setup failed"
	i=$((i + 1))
done
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "setup: $N thin pools, 1 MiB written and flushed in each" "$why"
[ -n "$why" ] && exit "$(lf_exit)"

# Fail every pool: metadata slice to dm-error, then a write that needs a commit.
i=1
while [ $i -le $N ]; do
	p=lfmany$i
	dmsetup suspend ${p}_meta && dmsetup load ${p}_meta --table "0 $META error" && dmsetup resume ${p}_meta
	timeout 60 dd if=/dev/zero of=$M/${p}_thin bs=64k count=1 seek=100 conv=fsync 2>/dev/null
	i=$((i + 1))
done
failed=0
i=1
while [ $i -le $N ]; do
	timeout 20 dmsetup status lfmany${i}_pool 2>/dev/null | grep -q ' Fail' && failed=$((failed + 1))
	i=$((i + 1))
done
aborts=$(cat /sys/module/lockfix_dm_thin_reset/parameters/aborts 2>/dev/null)
if [ "$failed" = "$N" ]; then
	lf_result 0 "all $N pools failed their abort under the livepatch (aborts=$aborts)"
else
	lf_result 1 "all $N pools failed their abort under the livepatch" "$failed in Fail mode, aborts=$aborts"
fi
if [ "$N" -gt 64 ]; then
	if new_log | grep -q 'more than 64 failed thin pools: this one is handed back'; then
		lf_result 0 "pools beyond the 64-entry table are handed back at once"
	else
		new_log | grep lockfix_dm_thin_reset | tail -5 | sed 's/^/# /'
		lf_result 1 "pools beyond the 64-entry table are handed back at once"
	fi
else
	lf_result 4 "pools beyond the 64-entry table are handed back at once" "only $N pools"
fi

# Unpatch, then the original code removes the pools and the modules go.
lf_livepatch_unload || why="unpatch: $LF_WHY"
i=1
while [ $i -le $N ] && [ -z "$why" ]; do
	p=lfmany$i
	for d in ${p}_thin ${p}_pool ${p}_data ${p}_meta; do
		timeout 60 dmsetup remove $d >/dev/null 2>&1 || { why="dmsetup remove $d failed or hung"; break; }
	done
	i=$((i + 1))
done
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "unpatched, the original code removed all $N pools" "$why"

why=
for m in dm_thin_pool dm_persistent_data dm_bufio; do
	[ -z "$why" ] && ! rmmod $m 2>/dev/null && why="rmmod $m failed"
done
new_log | grep -Eq 'leaked|BUG' && why="${why:+$why; }dm-bufio reports leaked clients/buffers: $(new_log | grep -E 'leaked|BUG' | head -2 | tr '\n' ' ')"
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "dm_thin_pool, dm_persistent_data, dm_bufio unload with nothing leaked" "$why"
modprobe dm_thin_pool 2>/dev/null
insmod "$LF_LP_KO" 2>/dev/null && lf_wait_for "[ \$(cat $LF_LP_DIR/transition) = 0 ]" 60
lf_cleanup_scratch
exit "$(lf_exit)"
