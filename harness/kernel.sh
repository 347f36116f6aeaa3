#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare a matrix kernel in the cache and print its directory.
#
#   harness/kernel.sh deb11-5.10.0-46
#
# Debian kernels: ABI-named packages at the exact versions in matrix.tsv, shared ones
# (linux-kbuild-*) at the newest served version the headers accept (registry.sh), are
# downloaded (apt-get download) and unpacked (dpkg -x) under $LOCKFIX_CACHE; nothing is
# installed on the host.  The directory then holds vmlinux (PVH ELF), modules/ (with
# modules.dep), build/ (KDIR) and packages (the name=version list actually used).
# Exit 0 prepared, 4 skipped (a pinned package is no longer served: the reason is the
# last line on stderr, "lockfix: skip: ..."), 2 error.
# Pre-fix kernels are built by build-prefix.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"

[ $# -eq 1 ] || die "usage: $0 KERNEL-ID"
matrix_row "$1"
if [ "$M_KIND" = prefix ]; then
	exec "$LOCKFIX_HARNESS/build-prefix.sh" "$1"
fi
[ "$M_KIND" = debian ] || die "matrix.tsv: $1 has unknown kind '$M_KIND'"

dest=$(kernel_dir "$1")
[ -e "$dest/.complete" ] && { echo "$dest"; exit 0; }
rel=$M_RELEASE
dl=$LOCKFIX_CACHE/dl
mkdir -p "$dl"
exec 9>"$dl/.lock"
flock 9
# Another preparer may have finished it while we waited for the lock.
[ -e "$dest/.complete" ] && { echo "$dest"; exit 0; }

rc=0
resolved=$(resolve_packages) || rc=$?
case $rc in
0) ;;
4) echo "lockfix: skip: $1: $resolved" >&2; exit 4 ;;
*) die "$1: $resolved" ;;
esac

debs=()
while read -r p; do
	name=${p%%=*} ver=${p#*=}
	f=$(ls "$dl/${name}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
	if [ -z "$f" ]; then
		log "downloading $name=$ver"
		(cd "$dl" && apt-get download -q "$name=$ver" 2>&1 | grep -v 'unsandboxed' >&2) || true
		f=$(ls "$dl/${name}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
		[ -n "$f" ] || die "$1: apt lists $name=$ver but the download failed (network, or stale lists: apt-get update)"
	fi
	debs+=("$f")
done <<<"$resolved"

rm -rf "$dest"
mkdir -p "$dest/root"
for f in "${debs[@]}"; do dpkg -x "$f" "$dest/root"; done

# Debian's per-flavour header Makefile includes the -common tree by absolute /usr/src path.
hdr=$dest/root/usr/src/linux-headers-$rel
[ -f "$hdr/Makefile" ] || die "$1: headers package did not provide $hdr"
sed -i "s|^include /usr/src/|include $dest/root/usr/src/|" "$hdr/Makefile"
ln -sfn "root/usr/src/linux-headers-$rel" "$dest/build"

"$LOCKFIX_HARNESS/extract-vmlinux.sh" "$dest/root/boot/vmlinuz-$rel" "$dest/vmlinux"

depmod -b "$dest/root" -F "$dest/root/boot/System.map-$rel" "$rel"
ln -sfn "root/lib/modules/$rel" "$dest/modules"
echo "$rel" >"$dest/release"
echo "$resolved" >"$dest/packages"
touch "$dest/.complete"
log "prepared $1 in $dest"
echo "$dest"
