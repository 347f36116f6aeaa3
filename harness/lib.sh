# SPDX-License-Identifier: GPL-2.0
# lockfix harness: shared shell helpers.  Sourced, never run.
#
# Everything downloaded or built lives under $LOCKFIX_CACHE (default ~/.cache/lockfix),
# keyed by its inputs; everything a run produces lives under $LOCKFIX_OUT (default
# <repo>/out, git-ignored).

LOCKFIX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCKFIX_HARNESS=$LOCKFIX_ROOT/harness
: "${LOCKFIX_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/lockfix}"
: "${LOCKFIX_OUT:=$LOCKFIX_ROOT/out}"
# The kernel matrix and the expectation table (overridable for the harness's own tests).
: "${LOCKFIX_MATRIX:=$LOCKFIX_HARNESS/matrix.tsv}"
: "${LOCKFIX_EXPECTATIONS:=$LOCKFIX_HARNESS/expectations.tsv}"
export LOCKFIX_CACHE LOCKFIX_OUT LOCKFIX_MATRIX LOCKFIX_EXPECTATIONS

die() { echo "lockfix: error: $*" >&2; exit 2; }
log() { echo "lockfix: $*" >&2; }

# matrix_row ID -> sets M_ID M_KIND M_RELEASE M_PACKAGES M_EXTRA M_CI, or dies naming the
# valid ids.  M_CI is the kernel's CI tier: proof (make check runs its proof) or build.
matrix_row() {
	local line
	line=$(awk -F'\t' -v id="$1" '!/^#/ && $1 == id' "$LOCKFIX_MATRIX")
	[ -n "$line" ] || die "unknown kernel id '$1' (known: $(matrix_ids | tr '\n' ' '))"
	IFS=$'\t' read -r M_ID M_KIND M_RELEASE M_PACKAGES M_EXTRA M_CI <<<"$line"
	case "${M_CI:=proof}" in
	proof|build) ;;
	*) die "matrix.tsv: $1: ci tier '$M_CI' is neither proof nor build" ;;
	esac
}

matrix_ids() { awk -F'\t' '!/^#/ && NF { print $1 }' "$LOCKFIX_MATRIX"; }
# matrix_ids_tier TIER: the ids of one CI tier (proof or build).
matrix_ids_tier() { awk -F'\t' -v t="$1" '!/^#/ && NF { if (($6 == "" ? "proof" : $6) == t) print $1 }' "$LOCKFIX_MATRIX"; }

# hash_inputs FILE... : short content hash, the cache key of whatever those files produce.
hash_inputs() { cat "$@" | sha256sum | cut -c1-16; }

# kernel_dir ID: where the prepared kernel for ID lives.  After harness/kernel.sh ID it holds:
#   vmlinux         PVH-bootable ELF
#   modules/        lib/modules/<release>/ tree with modules.dep
#   build -> ...    KDIR for external modules
#   release         uname -r
kernel_dir() {
	matrix_row "$1"
	local key
	if [ "$M_KIND" = debian ]; then
		key=$(echo "$M_PACKAGES" | sha256sum | cut -c1-16)
	else
		key=$(prefix_key)
	fi
	echo "$LOCKFIX_CACHE/kernels/$M_ID-$key"
}

# host_toolchain: the compiler and binutils that build pre-fix kernels (part of their key:
# another gcc gives another vmlinux, whose fingerprints the committed facts would no longer match).
host_toolchain() {
	{ gcc --version | head -1; ld --version | head -1; } 2>/dev/null | tr '\n' ';'
}

# Inputs of a pre-fix kernel build: source version, patches, config fragments, the host
# toolchain (host_toolchain), and the build recipe's version (PREFIX_RECIPE in build-prefix.sh: bump it when a change to that
# script changes what gets built; comment or message edits then do not cost a rebuild).
# prefix_test_configs: the tests' kernel requirements (selftests/<test>/config, kselftest
# style), merged into every pre-fix kernel before the row's own fragments.
prefix_test_configs() { ls "$LOCKFIX_ROOT"/selftests/*/config 2>/dev/null || true; }

prefix_key() {
	local frags=() f recipe
	IFS=, read -r -a frags <<<"$M_EXTRA"
	recipe=$(sed -n 's/^PREFIX_RECIPE=//p' "$LOCKFIX_HARNESS/build-prefix.sh")
	{
		echo "$M_PACKAGES $M_RELEASE recipe=$recipe"
		echo "toolchain=$(host_toolchain)"
		for f in $(prefix_test_configs); do echo "${f#"$LOCKFIX_ROOT"/}"; cat "$f"; done
		cat "$LOCKFIX_HARNESS"/prefix/*.patch
		for f in "${frags[@]}"; do cat "$LOCKFIX_HARNESS/prefix/$f"; done
	} | sha256sum | cut -c1-16
}

# proof_passes KERNEL FIX: does fleet/proofs/KERNEL.tap admit FIX (the rule of
# common/gen-vetted.sh, which builds the tables: one implementation)?
proof_passes() { sh "$LOCKFIX_ROOT/common/gen-vetted.sh" --proof "$2" "$LOCKFIX_ROOT" "$1" 2>/dev/null; }

# fix_module FIX-DIR: the livepatch module a fix directory builds (dkms.conf, which cannot
# source this file, spells the same rule out).
fix_module() { echo "lockfix_${1//-/_}"; }

# kbuild_make_args ID: extra make arguments for building external modules against ID.
# Debian 11 headers set CC=gcc-10 in .kernelvariables; bookworm has gcc 12 only, which
# builds 5.10 cleanly (see ../shared/README.md).
kbuild_make_args() {
	matrix_row "$1"
	case "$M_RELEASE" in
	5.10.*-amd64) echo "CC=gcc" ;;
	*) echo "" ;;
	esac
}

# livepatch_tcg_thread TEST: the TCG threading (multi, single) selftests/TEST/settings asks
# for rows that load a livepatch (default multi); check.sh and soak.sh read it.
livepatch_tcg_thread() {
	local v
	v=$(sed -n 's/^livepatch_tcg_thread=\(single\|multi\)$/\1/p' "$LOCKFIX_ROOT/selftests/$1/settings" | tail -1)
	echo "${v:-multi}"
}

# fleet_decision FIX KERNEL: that pair's decision in fleet/vetted.tsv (vetted, fixed,
# unsupported), empty when it has none.
fleet_decision() {
	awk -F'\t' -v f="$1" -v k="$2" '!/^#/ && $1 == f && $2 == k { print $3 }' "$LOCKFIX_ROOT/fleet/vetted.tsv"
}

# Guests run one at a time on a host (../shared/README.md: concurrent TCG guests distort
# timing and starve each other): every qemu launch holds this lock until it exits.
vm_lock_wait() {
	mkdir -p "$LOCKFIX_CACHE"
	exec 7>"$LOCKFIX_CACHE/vm.lock"
	if ! flock -n 7; then
		echo "lockfix: waiting for another guest on this host to finish ($LOCKFIX_CACHE/vm.lock)" >&2
		flock 7
	fi
}
