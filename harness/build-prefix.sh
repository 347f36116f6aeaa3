#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build a pre-fix guest kernel of the matrix (kind=prefix) into the cache.
#
#   harness/build-prefix.sh prefix-5.10.262
#
# Exit 0 built (or cached), 4 skipped (the source version left the registry: reason on
# stderr as "lockfix: skip: ..."), 2 error.
# Source: Debian's linux-source-<series> package at the exact version in matrix.tsv, with
# harness/prefix/*.patch applied (the project's own reverts of c495dcd6fbe1 and 28307d938fb2),
# configured as x86_64_defconfig + kvm_guest.config + the tests' selftests/*/config + the
# row's fragments.  The result is keyed
# by all of those inputs (lib.sh prefix_key): a changed revert or fragment rebuilds, an
# unchanged one never does.  One patched source tree serves every variant (O= build dirs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"

# Part of the cache key (lib.sh prefix_key): bump when this recipe builds differently.
PREFIX_RECIPE=5

[ $# -eq 1 ] || die "usage: $0 KERNEL-ID"
matrix_row "$1"
[ "$M_KIND" = prefix ] || die "$1 is not a pre-fix kernel (kind=$M_KIND)"
dest=$(kernel_dir "$1")
[ -e "$dest/.complete" ] && { echo "$dest"; exit 0; }
# One build of a kernel at a time (two make checks, or make vet beside make check): the
# second waits, then finds it complete.
mkdir -p "$LOCKFIX_CACHE/kernels"
exec 8>"$dest.lock"
flock 8
[ -e "$dest/.complete" ] && { echo "$dest"; exit 0; }

srcpkg=${M_PACKAGES%%=*} srcver=${M_PACKAGES#*=}
series=${srcpkg#linux-source-}
upstream=${srcver%%-*}
localversion=${M_RELEASE#"$upstream"}
[ "$localversion" != "$M_RELEASE" ] || die "release $M_RELEASE does not start with $upstream"

mkdir -p "$LOCKFIX_CACHE/dl" "$LOCKFIX_CACHE/src"
exec 9>"$LOCKFIX_CACHE/src/.lock"
flock 9

# 1. Source package, by exact version.
deb=$LOCKFIX_CACHE/dl/${srcpkg}_${srcver}_all.deb
if [ ! -s "$deb" ]; then
	vers=$(served_versions "$srcpkg")
	if ! grep -qxF -- "$srcver" <<<"$vers"; then
		newest=$(sed -n 1p <<<"$vers")
		if [ -z "$newest" ] && ! have_bullseye_sources; then
			die "apt knows no version of $srcpkg: the Debian 11 suites are not in apt's sources (run harness/setup-host.sh)"
		fi
		echo "lockfix: skip: $1: $srcpkg=$srcver is no longer served (newest served: ${newest:-none})" >&2
		exit 4
	fi
	log "downloading $srcpkg=$srcver"
	(cd "$LOCKFIX_CACHE/dl" && apt-get download -q "$srcpkg=$srcver" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) ||
		die "apt lists $srcpkg=$srcver but the download failed (network, or stale lists: apt-get update)"
	mv "$LOCKFIX_CACHE/dl/${srcpkg}_${srcver//:/%3a}_all.deb" "$deb" 2>/dev/null || true
	[ -s "$deb" ] || die "apt lists $srcpkg=$srcver but the download left no file"
fi

# 2. Patched tree, keyed by source version and patches.
patchkey=$( { echo "$srcver"; cat "$LOCKFIX_HARNESS"/prefix/*.patch; } | sha256sum | cut -c1-16)
src=$LOCKFIX_CACHE/src/linux-$series-$srcver-$patchkey
if [ ! -e "$src/.complete" ]; then
	log "extracting and patching $srcpkg $srcver into $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp/deb"
	dpkg -x "$deb" "$src.tmp/deb"
	tar -C "$src.tmp" -xf "$src.tmp/deb/usr/src/linux-source-$series.tar.xz"
	mv "$src.tmp/linux-source-$series" "$src"
	rm -rf "$src.tmp"
	for p in "$LOCKFIX_HARNESS"/prefix/*.patch; do
		log "applying $(basename "$p")"
		patch -d "$src" -p1 --forward --quiet <"$p" || die "patch $(basename "$p") does not apply to $srcpkg $srcver"
	done
	touch "$src/.complete"
fi
# Every revert must be in effect in the tree we build (it reverse-applies cleanly).
reverts=()
for p in "$LOCKFIX_HARNESS"/prefix/*.patch; do
	patch -d "$src" -p1 -R --dry-run --quiet <"$p" >/dev/null ||
		die "$src does not carry $(basename "$p"): delete it and rerun"
	c=$(basename "$p" | sed -n 's/^[0-9]*-revert-\([0-9a-f]\{12\}\)-.*/\1/p')
	[ -n "$c" ] && reverts+=("$c")
done
flock -u 9
# Shown in the guest's /proc/version ("#1-lockfix-reverts-c495dcd6fbe1-28307d938fb2 SMP ..."),
# so a test can check it runs on a kernel that carries the reverts.
build_version="1-lockfix-reverts$(printf -- '-%s' "${reverts[@]}")"
# The build time would otherwise end up in utsname()->version, which the livepatches check
# against their vetted builds: a rebuild from the same inputs (a cold CI cache) must give
# the same string.  It reads "... SMP 2026-01-01 00:00 UTC (recipe-5)": a date that GNU
# date parses (the parenthesised recipe is a comment to it), because usr/gen_initramfs.sh
# also takes the built-in initramfs's file mtimes from KBUILD_BUILD_TIMESTAMP; with an
# unparsable one they are the build time, and vmlinux differs on every build (seen with
# recipe 4).  User and host are fixed too: /proc/version is part of vmlinux, whose GNU
# build-id the livepatches check (fleet/facts), so a rebuild on another machine from the
# same inputs and toolchain must give the same binary.
build_timestamp="2026-01-01 00:00 UTC (recipe-$PREFIX_RECIPE)"
date -d "$build_timestamp" +%s >/dev/null 2>&1 || die "KBUILD_BUILD_TIMESTAMP '$build_timestamp' is not a date GNU date parses"

# 3. Configure.
# Built in place (paths in a kbuild O= dir are absolute); .complete marks a finished build.
rm -rf "$dest"
mkdir -p "$dest/build"
obj=$dest/build
log "configuring $1 in $obj"
make -s -C "$src" O="$obj" x86_64_defconfig >/dev/null
make -s -C "$src" O="$obj" kvm_guest.config >/dev/null
frags=()
for f in $(prefix_test_configs); do frags+=("$f"); done
IFS=, read -r -a names <<<"$M_EXTRA"
for f in "${names[@]}"; do frags+=("$LOCKFIX_HARNESS/prefix/$f"); done
echo "CONFIG_LOCALVERSION=\"$localversion\"" >"$dest/localversion.fragment"
(cd "$obj" && "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" .config "${frags[@]}" "$dest/localversion.fragment" >/dev/null)
make -s -C "$src" O="$obj" olddefconfig >/dev/null
# Every option the fragments ask for must have survived olddefconfig.
bad=0
while IFS= read -r opt; do
	name=${opt%%=*} val=${opt#*=}
	if [ "$val" = n ]; then
		grep -qx "$name=[ym]" "$obj/.config" && { log "config: $name wanted n, is set"; bad=1; }
	else
		grep -qxF "$opt" "$obj/.config" || { log "config: $opt not honoured ($(grep "^$name=\|# $name is" "$obj/.config" || echo absent))"; bad=1; }
	fi
done < <(cat "${frags[@]}" | grep -E '^CONFIG_')
[ $bad = 0 ] || die "config fragments not honoured for $1"

# 4. Build.
log "building $1 (vmlinux + modules, -j$(nproc)); log: $dest/build.log"
start=$SECONDS
if ! make -C "$src" O="$obj" -j"$(nproc)" KBUILD_BUILD_VERSION="$build_version" \
	KBUILD_BUILD_TIMESTAMP="$build_timestamp" KBUILD_BUILD_USER=lockfix KBUILD_BUILD_HOST=lockfix \
	vmlinux modules >"$dest/build.log" 2>&1; then
	tail -30 "$dest/build.log" >&2
	die "kernel build failed for $1"
fi
rel=$(make -s -C "$src" O="$obj" kernelrelease)
[ "$rel" = "$M_RELEASE" ] || die "built release $rel, matrix says $M_RELEASE"
make -s -C "$src" O="$obj" INSTALL_MOD_PATH="$dest/modroot" modules_install >>"$dest/build.log" 2>&1
rm -f "$dest/modroot/lib/modules/$rel/source"
log "built $1 in $((SECONDS - start)) s"
ln -sfn "$dest/build" "$dest/modroot/lib/modules/$rel/build"
ln -sfn build/vmlinux "$dest/vmlinux"
ln -sfn modroot/lib/modules/$rel "$dest/modules"
echo "$rel" >"$dest/release"
touch "$dest/.complete"
# Drop builds of this id under older keys (16 hex digits after the id, so
# prefix-5.10.262 never matches prefix-5.10.262-lockdep-*).
for old in "$LOCKFIX_CACHE/kernels/$M_ID-"????????????????; do
	[ "$old" != "$dest" ] && [ -d "$old" ] && rm -rf "$old"
done
echo "$dest"
