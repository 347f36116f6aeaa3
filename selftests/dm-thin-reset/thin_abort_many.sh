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
. "$here/thin_lib.sh"

N=${1:-66}
lf_is_number "$N" && [ "$N" -ge 1 ] && [ "$N" -le 150 ] || { echo "usage: $0 [POOLS 1..150]" >&2; exit 2; }
lf_require_root
thin_skip_if_deadlocked	# one deadlock per boot: the pool cannot be set up after one
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
lf_log_mark

why=
i=1
while [ $i -le $N ] && [ -z "$why" ]; do
	thin_mkpool lfmany$i $(( (i - 1) * (META + DATA) )) >/dev/null 2>&1 || why="pool $i: setup failed"
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
	if lf_log_since | grep -q 'more than 64 failed thin pools: this one is handed back'; then
		lf_result 0 "pools beyond the 64-entry table are handed back at once"
	else
		lf_log_since | grep lockfix_dm_thin_reset | tail -5 | sed 's/^/# /'
		lf_result 1 "pools beyond the 64-entry table are handed back at once"
	fi
else
	lf_result 4 "pools beyond the 64-entry table are handed back at once" "only $N pools"
fi

# Unpatch, then the original code removes the pools and the modules go.
lf_livepatch_unload || why="unpatch: $LF_WHY"
i=1
while [ $i -le $N ] && [ -z "$why" ]; do
	THIN_WHY=
	thin_rmpool lfmany$i
	why=$THIN_WHY
	i=$((i + 1))
done
lf_result "$([ -z "$why" ] && echo 0 || echo 1)" "unpatched, the original code removed all $N pools" "$why"

THIN_WHY=
thin_unload_stack
lf_result "$([ -z "$THIN_WHY" ] && echo 0 || echo 1)" "dm_thin_pool, dm_persistent_data, dm_bufio unload with nothing leaked; the livepatch reloads" "$THIN_WHY"
lf_cleanup_scratch
exit "$(lf_exit)"
