#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dio-nofault: O_DIRECT reads/writes into/from an mmap of the same btrfs file range.
# Upstream fix: 51bd9563b678 (v5.16).  Vulnerable: every Debian 11 kernel.
#
#   # ./dio_nofault.sh                  all cases of mmap_dio on a fresh btrfs
#   # ./dio_nofault.sh read-self-2m     one case
# Uses $LOCKFIX_SCRATCH_DEV if set (it is overwritten), else a loop device in $TMPDIR.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/lockfix.sh"

lf_require_root
lf_require_cmd mkfs.btrfs losetup truncate
lf_scratch_dev 1024
lf_mount_btrfs "$LF_DEV"
"$here/mmap_dio" -s "${LOCKFIX_HANG_SETTLE:-10}" -l "${LOCKFIX_HANG_LIMIT:-120}" "$LF_MNT" "$@"
rc=$?
lf_umount
exit $rc
