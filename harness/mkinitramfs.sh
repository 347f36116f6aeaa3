#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the base initramfs of a matrix kernel and print its path.
#
#   harness/mkinitramfs.sh deb11-5.10.0-46
#
# Contents: busybox, btrfs-progs, dmsetup, thin-provisioning-tools, util-linux losetup,
# e2fsprogs, kmod, bash, fio (for harness/bench-dio.sh, when installed), with the host
# libraries they need; the kernel's module closure for
# what the tests use; harness/guest-init.sh as /init.  The lockfix build (modules,
# selftests) and the job go in a second cpio appended per run (harness/vm.sh).
# Cached under the kernel's directory, keyed by this script, the init and the host tools
# with their libraries (contents).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 KERNEL-ID"
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$1")
rel=$(cat "$kdir/release")

# Guest userland, from the host's Debian packages (installed by harness/setup-host.sh).
tools=(/bin/busybox /sbin/mkfs.btrfs /bin/btrfs /sbin/dmsetup /usr/sbin/pdata_tools
	/sbin/losetup /sbin/mkfs.ext4 /sbin/e2fsck /bin/kmod /usr/bin/fio /bin/bash)
# Modules the tests use; their dependencies and soft dependencies come along.
mods=(virtio_pci virtio_blk loop btrfs ext4 dm_mod dm_thin_pool dm_flakey dm_delay dm_bufio dm_persistent_data
	crc32c_generic blake2b_generic xxhash_generic sha256_generic)

have=()
for t in "${tools[@]}"; do
	[ -x "$t" ] && have+=("$t")
done
for t in /bin/busybox /sbin/mkfs.btrfs /sbin/dmsetup /usr/sbin/pdata_tools /bin/kmod; do
	[ -x "$t" ] || die "$t missing on the host: run harness/setup-host.sh"
done

# The libraries each tool loads (ldd: the whole closure, ld.so included).
libs_of() { ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true; }
# Cache key: this script (the tool and module lists), the init, and the content of every
# file copied in -- each tool *and* each library it loads, so a library upgrade or a tool
# installed since (fio) rebuilds the image instead of reusing one without it.
key=$( {
	cat "$0" "$LOCKFIX_HARNESS/guest-init.sh"
	for t in "${have[@]}"; do echo "$t"; libs_of "$t"; done | sort -u | xargs -r sha256sum
} | sha256sum | cut -c1-16)
out=$kdir/initramfs-$key.cpio.gz
[ -s "$out" ] && { echo "$out"; exit 0; }
# One builder per kernel at a time (two at once once left a corrupt image in the cache);
# whoever waited finds the other's image.
exec 8>"$kdir/.initramfs.lock"
flock 8
[ -s "$out" ] && { echo "$out"; exit 0; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/sbin,lib,lib64,etc,lockfix}
install -m 0755 "$LOCKFIX_HARNESS/guest-init.sh" "$stage/init"

copy_with_libs() {
	local f=$1 lib
	cp -aL "$f" "$stage$f"
	for lib in $(libs_of "$f"); do
		[ -e "$stage$lib" ] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -aL "$lib" "$stage$lib"
	done
}
for t in "${have[@]}"; do copy_with_libs "$t"; done
for n in thin_check thin_repair thin_dump thin_restore thin_ls thin_rmap thin_metadata_size; do
	ln -s pdata_tools "$stage/usr/sbin/$n"
done
# kmod, not busybox, for module tools (first in the guest PATH): xz/zstd modules, real errors.
for n in modprobe insmod rmmod lsmod modinfo depmod; do ln -s /bin/kmod "$stage/usr/local/sbin/$n"; done
ln -s ../bin/btrfs "$stage/sbin/btrfs"
# /bin/sh is bash, not busybox ash: Debian's busybox prefers its own applets over PATH,
# which would shadow kmod's insmod/modprobe for every script.
ln -s bash "$stage/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"

# Kernel module closure.
mdir=lib/modules/$rel
mkdir -p "$stage/$mdir"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -f "$kdir/modules/$f" ] && cp "$kdir/modules/$f" "$stage/$mdir/"
done
root=$(cd -P "$kdir/modules/../../.." && pwd)
for m in "${mods[@]}"; do
	modprobe -d "$root" -S "$rel" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }' |
	while read -r ko; do
		relpath=${ko#"$root/"}
		mkdir -p "$stage/$(dirname "$relpath")"
		cp -n "$ko" "$stage/$relpath"
	done || true
done
depmod -b "$stage" "$rel"
for m in btrfs dm_thin_pool loop; do
	modprobe -d "$stage" -S "$rel" --show-depends "$m" >/dev/null 2>&1 ||
		die "$1: module $m is neither built in nor in the closure"
done

# Every dynamic tool must find all its libraries inside the image (ld.so run in the staged root).
if [ "$(id -u)" = 0 ]; then
	for t in "${have[@]}"; do
		[ -n "$(libs_of "$t")" ] || continue	# static (busybox)
		why=$(chroot "$stage" /lib64/ld-linux-x86-64.so.2 --list "$t" 2>&1 >/dev/null) ||
			die "$1: $t cannot load in the initramfs: ${why:-ld.so failed}"
	done
fi

(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
log "initramfs for $1: $out ($(du -h "$out" | cut -f1))"
echo "$out"
