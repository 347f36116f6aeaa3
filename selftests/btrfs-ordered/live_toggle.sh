#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# btrfs-ordered live operation under btrfs's own work: with buffered writes of a known
# random pattern running on btrfs, each file fsync'd (ordered extents, finished by btrfs
# work items through btrfs_work_helper(), the replaced function), caches dropped and the
# file read back and compared, disable the livepatch, rmmod it, insmod it again, three
# times (LOCKFIX_CYCLES=N: N; harness/soak.sh runs 100).  Every transition must finish
# (a worker inside btrfs_work_helper() holds it only until its item is done) and no byte
# may differ.  Needs lockfix_btrfs_ordered loaded (run_tests.sh -m), else SKIP.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_livepatch_require lockfix_btrfs_ordered
lf_require_cmd mkfs.btrfs dd cmp sync
lf_cycles

lf_scratch_dev 1024
lf_mount_btrfs "$LF_DEV"
lf_plan $((LF_CYCLES + 1))
tmp=$(mktemp -d)
dd if=/dev/urandom of="$tmp/ref" bs=1M count=4 2>/dev/null || lf_fail "no reference pattern"

stop=$tmp/stop
( n=0
  while [ ! -e "$stop" ]; do
	f=$LF_MNT/f$((n % 8))
	dd if="$tmp/ref" of="$f" bs=1M conv=fsync 2>/dev/null || { echo "WRITE-FAILED pass $n"; break; }
	echo 1 >/proc/sys/vm/drop_caches
	cmp -s "$tmp/ref" "$f" || { echo "DIFFERS pass $n $f"; break; }
	n=$((n + 1))
  done
  echo "PASSES $n" ) >"$tmp/load.log" 2>&1 &
load=$!

lf_livepatch_cycles "btrfs writes, fsync and read-back"

touch "$stop"
wait "$load"
passes=$(sed -n 's/^PASSES //p' "$tmp/load.log")
if ! grep -Eq '^(WRITE-FAILED|DIFFERS)' "$tmp/load.log" && [ "${passes:-0}" -ge 1 ]; then
	lf_result 0 "btrfs I/O during the cycles: $passes files written, fsync'd and read back from disk, every byte as written"
else
	sed 's/^/# /' "$tmp/load.log" | tail -5
	lf_result 1 "btrfs I/O during the cycles" "$(grep -E '^(WRITE|DIFF)' "$tmp/load.log" | head -1)${passes:+ after $passes passes}"
fi
rm -rf "$tmp"
lf_umount
exit "$(lf_exit)"
