#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dio-nofault live operation: with O_DIRECT I/O running -- sync preadv/pwritev (mmap_dio
# anon cases) and async libaio and io_uring at queue depth 32 (dio_verify's aio-qd32-* and
# uring-qd32-* cases, every completion and byte checked, looping) -- disable the livepatch,
# rmmod it, insmod it again, three times; then the overlapping cases must pass again.
# Expects no hang, no oops, no data difference; async DIOs in flight at a disable hold
# the module (rmmod is retried) until they complete.  Runs only when the livepatch is loaded (run_tests.sh
# -m lockfix_dio_nofault.ko); otherwise skips.  $LOCKFIX_MODULE_DIR: where the .ko is
# (default /lockfix/modules, the harness's guest).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_livepatch_require lockfix_dio_nofault
lf_require_cmd mkfs.btrfs losetup truncate

lf_scratch_dev 1024
lf_mount_btrfs "$LF_DEV"
lf_plan 6
bg_log=$(mktemp)
"$here/mmap_dio" -r 15 "$LF_MNT" anon-read-1m anon-write-1m >"$bg_log" 2>&1 &
bg=$!
# Async load until the cycles are done (a stop file ends the loop after its pass).
async_log=$(mktemp) stop=$(mktemp -u)
mkdir -p "$LF_MNT/async"
( n=0
  while [ ! -e "$stop" ]; do
	"$here/dio_verify" "$LF_MNT/async" aio-qd32-read4k aio-qd32-write128k uring-qd32-read4k uring-qd32-write128k \
		>>"$async_log" 2>&1 || { echo "ASYNC-FAILED pass $n" >>"$async_log"; break; }
	n=$((n + 1))
  done
  echo "ASYNC-PASSES $n" >>"$async_log" ) &
async=$!

for cycle in 1 2 3; do
	if lf_livepatch_unload && lf_livepatch_load; then
		lf_result 0 "cycle $cycle: disable, rmmod, insmod under I/O"
	else
		lf_result 1 "cycle $cycle: disable, rmmod, insmod under I/O" "$LF_WHY"
	fi
done

touch "$stop"
wait "$async"
passes=$(sed -n 's/^ASYNC-PASSES //p' "$async_log")
if ! grep -q '^ASYNC-FAILED' "$async_log" && [ "${passes:-0}" -ge 1 ]; then
	lf_result 0 "async O_DIRECT (libaio, io_uring, QD32) during the cycles: $passes verified passes"
else
	grep -E '^(not ok|#|ASYNC)' "$async_log" | head -20 | sed 's/^/# /'
	lf_result 1 "async O_DIRECT (libaio, io_uring, QD32) during the cycles" "${passes:-0} passes"
fi
rm -f "$async_log" "$stop"

if wait "$bg"; then
	lf_result 0 "O_DIRECT I/O during the cycles: every byte as buffered I/O gives"
else
	sed 's/^/# /' "$bg_log"
	lf_result 1 "O_DIRECT I/O during the cycles: every byte as buffered I/O gives"
fi
rm -f "$bg_log"

out=$("$here/mmap_dio" "$LF_MNT" read-self-2m write-self-2m 2>&1)
if [ $? = 0 ]; then
	lf_result 0 "overlapping DIO passes after re-enabling"
else
	echo "$out" | sed 's/^/# /'
	lf_result 1 "overlapping DIO passes after re-enabling"
fi
lf_umount
exit "$(lf_exit)"
