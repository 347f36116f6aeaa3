#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dio-nofault, the pinned path: byte-exact O_DIRECT into/from user memory that does NOT
# map the file being read or written (anonymous buffers of 4 KiB..64 MiB, a mapping of
# another file, holes, unaligned, EOF, extending writes, nodatacow / compressed /
# preallocated files, munmap/mremap/truncate races, libaio and io_uring at QD 32,
# RWF_NOWAIT, zero-page writes).  Must behave exactly as the stock 5.10 kernel does.
# Two cases (nowait-self-untouched-read, abba) use buffers mapping files of the same
# filesystem and may deadlock the stock kernel: they run on a second, small btrfs on a
# loop device in $TMPDIR, so a reproduced deadlock leaves the scratch disk usable for
# the scripts after this one.  See dio_verify.c.
#
#   # ./pinned_io.sh                    every case
#   # ./pinned_io.sh anon-read-64m abba   some cases
# Uses $LOCKFIX_SCRATCH_DEV if set and not mounted (it is overwritten), else a loop
# device in $TMPDIR.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_require_cmd mkfs.btrfs losetup truncate mount umount
if [ -n "${LOCKFIX_SCRATCH_DEV:-}" ] && grep -q "^$LOCKFIX_SCRATCH_DEV " /proc/mounts; then
	echo "# $LOCKFIX_SCRATCH_DEV is still mounted (a test before this one left it busy): using a loop device in ${TMPDIR:-/tmp}"
	LOCKFIX_SCRATCH_DEV=
fi
lf_scratch_dev 2048
lf_mount_btrfs "$LF_DEV"

# The second filesystem (dir2 cases).
modprobe loop 2>/dev/null
f2=$(mktemp "${TMPDIR:-/tmp}/lockfix-dir2.XXXXXX") || lf_fail "mktemp"
truncate -s 256M "$f2" || lf_fail "cannot size $f2"
loop2=$(losetup -f --show "$f2") || lf_fail "losetup failed (loop module?)"
mkfs.btrfs -f -q "$loop2" >/dev/null || lf_fail "mkfs.btrfs $loop2 failed"
mnt2=$(mktemp -d "${TMPDIR:-/tmp}/lockfix-mnt2.XXXXXX") || lf_fail "mktemp -d"
mount -t btrfs "$loop2" "$mnt2" || lf_fail "mount btrfs $loop2 failed"

"$here/dio_verify" -s "${LOCKFIX_HANG_SETTLE:-10}" -l "${LOCKFIX_HANG_LIMIT:-120}" \
	-A "$mnt2" "$LF_MNT" "$@"
rc=$?

if umount "$mnt2" 2>/dev/null; then
	rmdir "$mnt2"
	losetup -d "$loop2" 2>/dev/null
	rm -f "$f2"
else
	echo "# second filesystem left mounted at $mnt2 (busy: hung tasks hold it)"
fi
lf_umount
exit $rc
