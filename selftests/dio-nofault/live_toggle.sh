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
lf_livepatch_require lockfix_dio_nofault
lf_require_cmd mkfs.btrfs losetup truncate

lf_scratch_dev 1024
lf_mount_btrfs "$LF_DEV"
lf_cycles
lf_plan $((LF_CYCLES + 3))
# Sync and async load until the cycles are done (a stop file ends each loop after its pass).
stop=$(mktemp -u)
bg_log=$(mktemp)
( rc=0
  while [ $rc = 0 ]; do
	"$here/mmap_dio" -r 15 "$LF_MNT" anon-read-1m anon-write-1m || rc=$?
	[ -e "$stop" ] && break
  done
  exit $rc ) >"$bg_log" 2>&1 &
bg=$!
async_log=$(mktemp)
mkdir -p "$LF_MNT/async"
( n=0
  while [ ! -e "$stop" ]; do
	"$here/dio_verify" "$LF_MNT/async" aio-qd32-read4k aio-qd32-write128k uring-qd32-read4k uring-qd32-write128k \
		>>"$async_log" 2>&1 || { echo "ASYNC-FAILED pass $n" >>"$async_log"; break; }
	n=$((n + 1))
  done
  echo "ASYNC-PASSES $n" >>"$async_log" ) &
async=$!

lf_livepatch_cycles "I/O"

touch "$stop"
wait "$async"
passes=$(sed -n 's/^ASYNC-PASSES //p' "$async_log")
if ! grep -q '^ASYNC-FAILED' "$async_log" && [ "${passes:-0}" -ge 1 ]; then
	lf_result 0 "async O_DIRECT (libaio, io_uring, QD32) during the cycles: $passes verified passes"
else
	grep -E '^(not ok|#|ASYNC)' "$async_log" | head -20 | sed 's/^/# /'
	lf_result 1 "async O_DIRECT (libaio, io_uring, QD32) during the cycles" "${passes:-0} passes"
fi
rm -f "$async_log"

if wait "$bg"; then
	lf_result 0 "O_DIRECT I/O during the cycles: every byte as buffered I/O gives"
else
	sed 's/^/# /' "$bg_log"
	lf_result 1 "O_DIRECT I/O during the cycles: every byte as buffered I/O gives"
fi
rm -f "$bg_log" "$stop"

out=$("$here/mmap_dio" "$LF_MNT" read-self-2m write-self-2m 2>&1)
if [ $? = 0 ]; then
	lf_result 0 "overlapping DIO passes after re-enabling"
else
	echo "$out" | sed 's/^/# /'
	lf_result 1 "overlapping DIO passes after re-enabling"
fi
lf_umount
exit "$(lf_exit)"
