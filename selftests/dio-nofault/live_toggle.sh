#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dio-nofault live operation: with O_DIRECT I/O running -- sync preadv/pwritev (mmap_dio
# anon cases) and async libaio and io_uring at queue depth 32 (dio_verify's aio-qd32-* and
# uring-qd32-* cases, every completion and byte checked, looping) -- disable the livepatch,
# rmmod it, insmod it again, three times; then the overlapping cases must pass again.
# Expects no hang, no oops, no data difference; async DIOs in flight at a disable hold
# the module (rmmod is retried) until they complete.  LOCKFIX_CYCLES=N: N cycles instead
# of three (harness/soak.sh runs 100); the sync load then loops until the cycles end.  Runs only when the livepatch is loaded (run_tests.sh
# -m lockfix_dio_nofault.ko); otherwise skips.  $LOCKFIX_MODULE_DIR: where the .ko is
# (default /lockfix/modules, the harness's guest).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_skip_after_bug	# a reproduced deadlock holds the scratch disk and the transition
lf_livepatch_require lockfix_dio_nofault
lf_require_cmd mkfs.btrfs losetup truncate

lf_scratch_dev 1024
lf_mount_btrfs "$LF_DEV"
lf_cycles
lf_plan $((LF_CYCLES + 3))
# The loads, pass after pass until the cycles are done: sync DIO through mmap_dio, and
# async DIO at QD32 through dio_verify (every completion and byte checked).
mkdir -p "$LF_MNT/async"
sync_pass() {
	_out=$("$here/mmap_dio" -r 15 "$LF_MNT" anon-read-1m anon-write-1m 2>&1) || { echo "$_out" | tail -20; return 1; }
}
async_pass() {
	_out=$("$here/dio_verify" "$LF_MNT/async" aio-qd32-read4k aio-qd32-write128k uring-qd32-read4k uring-qd32-write128k 2>&1) ||
		{ echo "$_out" | grep -E '^(not ok|#)' | head -20; return 1; }
}
lf_load_start async_pass sync_pass

lf_livepatch_cycles "I/O"

lf_load_stop
case "$LF_LOAD_WHY" in
*async_pass:*) lf_result 1 "async O_DIRECT (libaio, io_uring, QD32) during the cycles" "$LF_LOAD_PASSES_async_pass passes: $LF_LOAD_WHY" ;;
*) lf_result 0 "async O_DIRECT (libaio, io_uring, QD32) during the cycles: $LF_LOAD_PASSES_async_pass verified passes" ;;
esac
case "$LF_LOAD_WHY" in
*sync_pass:*) lf_result 1 "O_DIRECT I/O during the cycles: every byte as buffered I/O gives" "$LF_LOAD_PASSES_sync_pass passes: $LF_LOAD_WHY" ;;
*) lf_result 0 "O_DIRECT I/O during the cycles: every byte as buffered I/O gives ($LF_LOAD_PASSES_sync_pass passes)" ;;
esac

out=$("$here/mmap_dio" "$LF_MNT" read-self-2m write-self-2m 2>&1)
if [ $? = 0 ]; then
	lf_result 0 "overlapping DIO passes after re-enabling"
else
	echo "$out" | sed 's/^/# /'
	lf_result 1 "overlapping DIO passes after re-enabling"
fi
lf_umount
exit "$(lf_exit)"
