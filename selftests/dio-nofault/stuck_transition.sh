#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A transition held back by a task sleeping in the replaced function is reported by the
# module, with the task and what the admin can do, and finishes once the task leaves.
#
# An O_DIRECT write to btrfs on a suspended dm device sleeps inside the original
# iomap_dio_rw() until the device is resumed.  insmod then cannot switch that task: the
# enable transition stays pending.  Expects in the kernel log, within 50 s:
#   lockfix_dio_nofault: transition to enabled has not finished after 30 s; tasks still to switch:
#   lockfix_dio_nofault:   dd[PID]
# (with its stack and the revert/force advice), then after `dmsetup resume`:
#   lockfix_dio_nofault: transition finished after N s
# and the written data intact on disk.  Runs only when the livepatch is loaded (run_tests.sh
# -m lockfix_dio_nofault.ko; it is unloaded first and reloaded by the test).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_skip_after_bug	# a reproduced deadlock holds the scratch disk and the transition
lf_livepatch_require lockfix_dio_nofault
lf_require_cmd dmsetup mkfs.btrfs dd blockdev cmp
export DM_DISABLE_UDEV=1

lf_scratch_dev 512
lf_plan 6
lf_livepatch_unload || lf_fail "cannot unload the livepatch to start: $LF_WHY"

dm=lf_stuck_transition
sectors=$(blockdev --getsz "$LF_DEV")
dmsetup create "$dm" --table "0 $sectors linear $LF_DEV 0" || lf_fail "dmsetup create failed"
lf_mount_btrfs "/dev/mapper/$dm"
pat=$(mktemp)
dd if=/dev/urandom of="$pat" bs=1M count=4 2>/dev/null
dd if=/dev/zero of="$LF_MNT/f" bs=1M count=4 2>/dev/null && sync

# Only what the kernel logs from here on counts.
lf_log_mark
dmsetup suspend --nolockfs "$dm"
dd if="$pat" of="$LF_MNT/f" bs=1M count=4 oflag=direct conv=notrunc 2>/dev/null &
writer=$!
lf_wait_for "[ \"\$(cut -d' ' -f3 /proc/$writer/stat)\" = D ]" 20
state=$(cut -d' ' -f3 "/proc/$writer/stat" 2>/dev/null)
if [ "$state" = D ] && grep -q iomap_dio_rw "/proc/$writer/stack" 2>/dev/null; then
	lf_result 0 "the writer sleeps in iomap_dio_rw on the suspended device"
else
	lf_result 1 "the writer sleeps in iomap_dio_rw on the suspended device" "state '$state'"
	sed 's/^/# /' "/proc/$writer/stack" 2>/dev/null
fi

insmod "$LF_LP_KO"
if [ "$(cat "$LF_LP_DIR/transition" 2>/dev/null)" = 1 ]; then
	lf_result 0 "the enable transition is held back by the writer"
else
	lf_result 1 "the enable transition is held back by the writer" "transition=$(cat "$LF_LP_DIR/transition" 2>&1)"
fi

if lf_wait_for "dmesg | sed '1,${LF_LOG_BASE}d' | grep -q '$LF_LP_NAME: transition to enabled has not finished after'" 50 &&
   lf_log_since | grep -q "$LF_LP_NAME:   dd\[$writer\]" &&
   lf_log_since | grep -q "$LF_LP_NAME: until it finishes no other livepatch.*echo 0 > /sys/kernel/livepatch/$LF_LP_NAME/enabled.*force"; then
	lf_result 0 "the module reports the stuck transition, names dd[$writer], says how to revert or force"
else
	lf_log_since | grep "$LF_LP_NAME" | sed 's/^/# /'
	lf_result 1 "the module reports the stuck transition, names dd[$writer], says how to revert or force"
fi

dmsetup resume "$dm"
wait "$writer"
wrc=$?
if lf_wait_for "[ \"\$(cat $LF_LP_DIR/transition)\" = 0 ]" 60 &&
   lf_wait_for "dmesg | sed '1,${LF_LOG_BASE}d' | grep -q '$LF_LP_NAME: transition finished after'" 15; then
	lf_result 0 "after resume the transition finishes and the module says so"
else
	lf_result 1 "after resume the transition finishes and the module says so" "transition=$(cat "$LF_LP_DIR/transition" 2>&1)"
fi

echo 3 >/proc/sys/vm/drop_caches
back=$(mktemp)
dd if="$LF_MNT/f" of="$back" bs=1M count=4 iflag=direct 2>/dev/null
if [ "$wrc" = 0 ] && cmp -s "$pat" "$back"; then
	lf_result 0 "the held-back direct write completed and reads back from disk"
else
	lf_result 1 "the held-back direct write completed and reads back from disk" "dd exit $wrc"
fi
rm -f "$pat" "$back"

# The patched path works once enabled (a direct write through the replacement).
if dd if=/dev/urandom of="$LF_MNT/g" bs=1M count=2 oflag=direct 2>/dev/null &&
   [ "$(cat /sys/module/$LF_LP_NAME/parameters/pinned_dios)" -gt 0 ]; then
	lf_result 0 "a direct write after the transition runs through the replacement"
else
	lf_result 1 "a direct write after the transition runs through the replacement" "pinned_dios=$(cat /sys/module/$LF_LP_NAME/parameters/pinned_dios 2>&1)"
fi
umount "$LF_MNT" && rmdir "$LF_MNT"
dmsetup remove "$dm"
lf_cleanup_scratch
exit "$(lf_exit)"
