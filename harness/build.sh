#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build lockfix's modules and selftests against a matrix kernel and print the output dir.
#
#   harness/build.sh deb11-5.10.0-46      -> out/build/deb11-5.10.0-46/{modules,selftests}
#
# The tree is copied first (kbuild builds in place; one copy per kernel keeps builds for
# different kernels apart and the checkout clean).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 KERNEL-ID"
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$1")
ccarg=$(kbuild_make_args "$1")
out=$LOCKFIX_OUT/build/$1
mkdir -p "$out"
rsync -a --delete --exclude=/out --exclude=/.git --exclude=/selftests/install \
	"$LOCKFIX_ROOT/" "$out/src/"

rm -rf "$out/modules" "$out/selftests"
mkdir -p "$out/modules"
if grep -q . <(cd "$out/src" && ls -d */Kbuild 2>/dev/null); then
	# LOCKFIX_CANDIDATE (harness/vet.sh): the kernel let into the vetted tables before its
	# proof exists (common/vetted.mk).
	# LOCKFIX_MUTANT (harness/check-mutants.sh): that fix built doing the old, buggy thing.
	make -s -C "$kdir/build" M="$out/src" $ccarg LOCKFIX_CANDIDATE="${LOCKFIX_CANDIDATE:-}" \
		LOCKFIX_MUTANT="${LOCKFIX_MUTANT:-}" \
		modules >"$out/kbuild.log" 2>&1 ||
		{ cat "$out/kbuild.log" >&2; die "module build against $1 failed"; }
	find "$out/src" \( -path "$out/src/selftests" -o -path "$out/src/harness" \) -prune -o \
		-name '*.ko' -print | xargs -r cp -t "$out/modules/"
fi
# The harness's facts reader (harness/facts, make vet), never shipped: /lockfix/harness/.
rm -rf "$out/harness"
mkdir -p "$out/harness"
make -s -C "$kdir/build" M="$out/src/harness/facts" $ccarg modules >"$out/facts.log" 2>&1 ||
	{ cat "$out/facts.log" >&2; die "facts module build against $1 failed"; }
cp "$out/src/harness/facts/lockfix_facts.ko" "$out/harness/"
make -s -C "$out/src/selftests" install INSTALL_PATH="$out/selftests" \
	KDIR="$kdir/build" KBUILD_CC="$ccarg" >"$out/selftests.log" 2>&1 ||
	{ cat "$out/selftests.log" >&2; die "selftests build for $1 failed"; }
echo "$out"
