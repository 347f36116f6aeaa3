#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `dkms add` + `dkms build` of the lockfix package against a matrix kernel, in a private
# DKMS tree (nothing is installed on the host), and check every fix module was built.
#
#   harness/dkms-check.sh deb11-5.10.0-46
#
# Exit 0 built, 1 failed, 4 nothing to build yet (no fix directory has a Kbuild file).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 KERNEL-ID"
command -v dkms >/dev/null || die "dkms missing: run harness/setup-host.sh"
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$1")
rel=$(cat "$kdir/release")
name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' "$LOCKFIX_ROOT/dkms.conf")
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$LOCKFIX_ROOT/dkms.conf")
fixes=$(cd "$LOCKFIX_ROOT" && ls -d */Kbuild 2>/dev/null | xargs -rn1 dirname || true)
if [ -z "$fixes" ]; then
	echo "dkms-check: no fix module has landed yet: nothing to build"
	exit 4
fi

mkdir -p "$LOCKFIX_OUT/tmp"
tmp=$(mktemp -d "$LOCKFIX_OUT/tmp/dkms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src" "$tmp/tree"
rsync -a --exclude=/out --exclude=/.git --exclude=/selftests "$LOCKFIX_ROOT/" "$tmp/src/$name-$ver/"
dk=(dkms --dkmstree "$tmp/tree" --sourcetree "$tmp/src")
"${dk[@]}" add -m "$name" -v "$ver" >"$tmp/dkms.log" 2>&1 || { cat "$tmp/dkms.log"; exit 1; }
if ! "${dk[@]}" build -m "$name" -v "$ver" -k "$rel" --kernelsourcedir "$kdir/build" >>"$tmp/dkms.log" 2>&1; then
	cat "$tmp/dkms.log"
	cat "$tmp/tree/$name/$ver/build/make.log" 2>/dev/null | tail -30
	exit 1
fi
rc=0
for f in $fixes; do
	mod=$(fix_module "$f")
	ko=$(find "$tmp/tree/$name/$ver/$rel" -name "$mod.ko*" | head -1)
	if [ -n "$ko" ]; then
		echo "dkms-check: $rel: built $(basename "$ko")"
	else
		echo "dkms-check: $rel: $mod.ko missing after dkms build"
		rc=1
	fi
done
exit $rc
