#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset live operation: with I/O running on a thin device -- 4 MiB direct writes of
# a known random pattern at rotating offsets, each fsync'd (a metadata commit) and read
# back direct and compared, and a snapshot created and deleted every pass (more
# commits) -- disable the livepatch, rmmod it, insmod it again, three times
# (LOCKFIX_CYCLES=N: N; harness/soak.sh runs 100).  Every transition must finish, no byte
# may differ, and the pool must come down with nothing leaked.  Needs
# lockfix_dm_thin_reset loaded (run_tests.sh -m), else SKIP.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"
. "$here/thin_lib.sh"

lf_require_root
thin_skip_if_deadlocked	# one deadlock per boot: the pool cannot be set up after one
lf_livepatch_require lockfix_dm_thin_reset
lf_require_cmd dmsetup dd cmp timeout
export DM_DISABLE_UDEV=1
modprobe dm_thin_pool 2>/dev/null
dmsetup targets 2>/dev/null | grep -q '^thin-pool' || lf_skip "no dm thin-pool target"
lf_cycles

META=8192	# sectors: 4 MiB
DATA=131072	# 64 MiB
lf_scratch_dev $(( (META + DATA) / 2048 + 16 ))
lf_plan $((LF_CYCLES + 3))
M=/dev/mapper
tmp=$(mktemp -d)
lf_log_mark
if thin_mkpool lftog 0 >/dev/null 2>&1 &&
	dd if=/dev/urandom of="$tmp/ref" bs=1M count=4 2>/dev/null; then
	lf_result 0 "setup: a thin pool, a thin device, a 4 MiB reference pattern"
else
	lf_result 1 "setup" "thin pool setup failed"
	exit "$(lf_exit)"
fi

# One pass: slot n % 8 (4 MiB) written direct and fsync'd, read back direct and compared,
# a snapshot created and deleted.
load_pass() {
	_slot=$(($1 % 8))
	dd if="$tmp/ref" of=$M/lftog_thin bs=1M seek=$((_slot * 4)) oflag=direct conv=fsync,notrunc 2>/dev/null ||
		{ echo "write of slot $_slot failed"; return 1; }
	dd if=$M/lftog_thin of="$tmp/back" bs=1M skip=$((_slot * 4)) count=4 iflag=direct 2>/dev/null &&
		cmp -s "$tmp/ref" "$tmp/back" || { echo "slot $_slot differs from what was written"; return 1; }
	dmsetup message lftog_pool 0 "create_snap 1 0" >/dev/null && dmsetup message lftog_pool 0 "delete 1" >/dev/null ||
		{ echo "snapshot create/delete failed"; return 1; }
}
lf_load_start load_pass

lf_livepatch_cycles "thin-pool I/O and metadata commits"

if lf_load_stop && timeout 20 dmsetup status lftog_pool | grep -qv ' Fail'; then
	lf_result 0 "I/O during the cycles: $LF_LOAD_PASSES passes written, committed, read back and compared; pool healthy"
else
	lf_result 1 "I/O during the cycles" "${LF_LOAD_WHY:-pool not healthy: $(timeout 20 dmsetup status lftog_pool 2>&1)}${LF_LOAD_PASSES:+ after $LF_LOAD_PASSES passes}"
fi

THIN_WHY=
thin_rmpool lftog
lf_log_since | grep -Eq 'leaked|BUG|WARNING' &&
	THIN_WHY="${THIN_WHY:+$THIN_WHY; }$(lf_log_since | grep -E 'leaked|BUG|WARNING' | head -2 | tr '\n' ' ')"
lf_result "$([ -z "$THIN_WHY" ] && echo 0 || echo 1)" "pool removed, nothing reported in the kernel log" "$THIN_WHY"
rm -rf "$tmp"
lf_cleanup_scratch
exit "$(lf_exit)"
