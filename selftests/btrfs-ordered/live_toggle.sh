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

# One pass: file n % 8 written and fsync'd, caches dropped, read back and compared.
load_pass() {
	_f=$LF_MNT/f$(($1 % 8))
	dd if="$tmp/ref" of="$_f" bs=1M conv=fsync 2>/dev/null || { echo "write of $_f failed"; return 1; }
	echo 1 >/proc/sys/vm/drop_caches
	cmp -s "$tmp/ref" "$_f" || { echo "$_f differs from what was written"; return 1; }
}
lf_load_start load_pass

lf_livepatch_cycles "btrfs writes, fsync and read-back"

if lf_load_stop; then
	lf_result 0 "btrfs I/O during the cycles: $LF_LOAD_PASSES files written, fsync'd and read back from disk, every byte as written"
else
	lf_result 1 "btrfs I/O during the cycles" "$LF_LOAD_WHY"
fi
rm -rf "$tmp"
lf_umount
exit "$(lf_exit)"
