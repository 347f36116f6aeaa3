#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Decompress the ELF vmlinux out of a bzImage (vmlinuz), for qemu's PVH boot path.
#
#   harness/extract-vmlinux.sh VMLINUZ OUT
#
# A bzImage carries its payload as one compressed stream after the real-mode setup code;
# we find each candidate stream by its magic and keep the first that inflates to an ELF
# with a PVH entry note (Xen ELF note type 18, XEN_ELFNOTE_PHYS32_ENTRY).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 VMLINUZ OUT" >&2; exit 2; }
in=$1 out=$2
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

try() { # try MAGIC-as-grep-pattern DECOMPRESSOR...
	local magic=$1 off
	shift
	for off in $(LC_ALL=C grep -aboP "$magic" "$in" | cut -d: -f1 | head -20); do
		tail -c +"$((off + 1))" "$in" | "$@" >"$tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
			mv "$tmp" "$out"
			return 0
		fi
	done
	return 1
}

try '\xfd\x37\x7a\x58\x5a\x00' xz -dc ||
try '\x28\xb5\x2f\xfd' zstd -dcq ||
try '\x1f\x8b\x08' gzip -dc ||
try '\x02\x21\x4c\x18' lz4 -dc ||
try '\x89\x4c\x5a' lzop -dc ||
try 'BZh' bzip2 -dc ||
{ echo "extract-vmlinux: no ELF payload found in $in" >&2; exit 1; }

# Refuse an image qemu could only boot the slow way.
if ! readelf -n "$out" 2>/dev/null | grep -qF '(0x00000012)'; then
	echo "extract-vmlinux: $in has no PVH entry note (CONFIG_PVH=n?)" >&2
	rm -f "$out"
	exit 1
fi
