#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Check the fleet data against itself and against the binaries (make check runs both).
#
#   harness/facts-check.sh --fleet      fleet/vetted.tsv, fleet/proofs, harness/expectations.tsv,
#                                       the generated tables and the README's support matrix
#                                       agree (no kernel needed)
#   harness/facts-check.sh KERNEL-ID    fleet/facts/KERNEL-ID.tsv still describes the kernel in
#                                       the cache: release, uname -v and the GNU build-id of
#                                       vmlinux and of every target module, read from the
#                                       files (no boot)
#
# Exit 0 consistent, 1 not (every problem on its own line), 4 nothing to check (no facts
# and no fix vetted on that kernel), 2 bad arguments.  The last line is a summary.
# LOCKFIX_CANDIDATE (harness/vet.sh) exempts that kernel from needing a proof already.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$LOCKFIX_HARNESS/verdict.sh"	# skip_condition: the may_skip conditions

usage() { sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 1 ] || usage
fleet=$LOCKFIX_ROOT/fleet
vetted=$fleet/vetted.tsv
bad=0
problem() { echo "not ok: $*"; bad=$((bad + 1)); }

fixes=$(cd "$LOCKFIX_ROOT" && for f in */fingerprint.tsv; do dirname "$f"; done)
ids=$(matrix_ids)
known_tests="$(cd "$LOCKFIX_ROOT/selftests" && for d in */settings; do dirname "$d"; done)
install
install-fleet"
in_list() { grep -qxF -- "$1" <<<"$2"; }
# vetted_lines: "fix kernel decision payload" of fleet/vetted.tsv without comments.
vetted_lines() { sed 's/[[:space:]]*#.*//' "$vetted" | awk -F'\t' 'NF >= 3'; }
passing_proof() { proof_passes "$1" "$2"; }	# KERNEL FIX

if [ "$1" = --fleet ]; then
	n=0
	declare -A seen
	while IFS=$'\t' read -r fix kernel decision payload; do
		n=$((n + 1))
		in_list "$fix" "$fixes" || { problem "vetted.tsv: unknown fix '$fix' (known: $(echo $fixes))"; continue; }
		in_list "$kernel" "$ids" || { problem "vetted.tsv: $fix: unknown kernel '$kernel' (not in matrix.tsv)"; continue; }
		[ -z "${seen[$fix/$kernel]:-}" ] || problem "vetted.tsv: $fix on $kernel decided twice"
		seen[$fix/$kernel]=1
		row=$(awk -F'\t' -v k="$kernel" -v f="$fix" '!/^#/ && $1 == k && $2 == f && $3 == f { print $4 }' "$LOCKFIX_EXPECTATIONS")
		case "$decision" in
		vetted)
			[ -f "$fleet/facts/$kernel.tsv" ] || problem "$fix on $kernel is vetted but fleet/facts/$kernel.tsv is missing: make vet KERNEL=$kernel"
			if [ "$kernel" != "${LOCKFIX_CANDIDATE:-}" ] && ! passing_proof "$kernel" "$fix"; then
				problem "$fix on $kernel is vetted but fleet/proofs/$kernel.tap does not prove it on the current facts (hash, '$kernel/$fix/module=$fix' pass row, no failed $fix row): make vet KERNEL=$kernel, or decide otherwise"
			fi
			[ "$row" = pass ] || problem "$fix on $kernel is vetted: expectations.tsv must say '$kernel $fix $fix pass' (says: ${row:-nothing})" ;;
		fixed|unsupported)
			case "$row" in ''|refused+*) ;;
			*) problem "$fix on $kernel is $decision (the module refuses) but expectations.tsv says '$row' with the module" ;;
			esac ;;
		*) problem "vetted.tsv: $fix on $kernel: decision '$decision' is none of vetted, fixed, unsupported" ;;
		esac
	done < <(vetted_lines)
	# Every (fix, kernel) pair of the matrix is decided.
	for fix in $fixes; do
		for kernel in $ids; do
			[ -n "${seen[$fix/$kernel]:-}" ] || problem "vetted.tsv: no decision for $fix on $kernel (vetted, fixed or unsupported)"
		done
	done
	# Every expectation with a module that must patch has a vetted decision, and every id exists.
	while IFS=$'\t' read -r kernel test module expect; do
		in_list "$kernel" "$ids" || problem "expectations.tsv: unknown kernel '$kernel'"
		in_list "$test" "$known_tests" || problem "expectations.tsv: unknown test '$test'"
		[ "$module" = - ] || in_list "$module" "$fixes" || problem "expectations.tsv: unknown module '$module'"
		case "$expect" in bug|pass|refused+pass|refused+bug) ;;
		n/a) [ "$module" = - ] || problem "expectations.tsv: $kernel $test: n/a takes module -, not '$module'" ;;
		*) problem "expectations.tsv: $kernel $test $module: unknown verdict '$expect'" ;;
		esac
		if [ "$module" != - ] && [[ "$expect" != refused+* ]]; then
			d=$(vetted_lines | awk -F'\t' -v f="$module" -v k="$kernel" '$1 == f && $2 == k { print $3 }')
			[ "$d" = vetted ] || problem "expectations.tsv expects $module to patch $kernel, but fleet/vetted.tsv says '${d:-nothing}'"
		fi
	done < <(awk -F'\t' '!/^#/ && NF >= 4 { print $1 "\t" $2 "\t" $3 "\t" $4 }' "$LOCKFIX_EXPECTATIONS")
	# Each may_skip line names an entry script of its test, known conditions, and an ERE
	# for the skip's reason (harness/verdict.sh skip_allowed).
	for t in $known_tests; do
		f=$LOCKFIX_ROOT/selftests/$t/may_skip
		[ -f "$f" ] || continue
		progs=$(sed -n 's/^TEST_PROGS *[:+]\{0,1\}= *//p' "$LOCKFIX_ROOT/selftests/$t/Makefile" 2>/dev/null | tr ' ' '\n')
		while IFS=$'\t' read -r prog conds why; do
			in_list "$prog" "$progs" || problem "selftests/$t/may_skip: '$prog' is not in its TEST_PROGS"
			for c in ${conds//,/ }; do
				src=0
				skip_condition "$c" - || src=$?
				[ $src -le 1 ] || problem "selftests/$t/may_skip: $prog: unknown condition '$c'"
			done
			if [ -z "$why" ]; then
				problem "selftests/$t/may_skip: $prog: no reason ERE (third column): the skip would never be allowed"
			else
				erc=0
				grep -Eq -- "$why" </dev/null 2>/dev/null || erc=$?
				[ $erc -le 1 ] || problem "selftests/$t/may_skip: $prog: bad ERE '$why'"
			fi
		done < <(awk -F'\t' '!/^#/ && NF' "$f")
	done
	# The generated tables take every vetted build (no stale facts, no missing symbol).
	for fix in $fixes; do
		warn=$(sh "$LOCKFIX_ROOT/common/gen-vetted.sh" "$fix" "$LOCKFIX_ROOT" "${LOCKFIX_CANDIDATE:-}" 2>&1 >/dev/null) ||
			problem "gen-vetted.sh $fix failed: $warn"
		while IFS= read -r w; do
			[ -n "$w" ] || continue
			problem "$w"
		done <<<"$warn"
	done
	# The README's support matrix is the one the proofs give.
	if ! "$LOCKFIX_HARNESS/support-matrix.sh" --check >/dev/null 2>&1; then
		problem "README.md's support matrix is stale: harness/support-matrix.sh --update"
	fi
	if [ $bad = 0 ]; then
		echo "fleet data consistent: $n decisions in fleet/vetted.tsv, $(ls "$fleet"/facts/*.tsv 2>/dev/null | wc -l) facts files, $(ls "$fleet"/proofs/*.tap 2>/dev/null | wc -l) proofs"
		exit 0
	fi
	echo "$bad problem(s) in the fleet data"
	exit 1
fi

kernel=$1
matrix_row "$kernel"
facts=$fleet/facts/$kernel.tsv
if [ ! -f "$facts" ]; then
	if vetted_lines | awk -F'\t' -v k="$kernel" '$2 == k && $3 == "vetted"' | grep -q .; then
		echo "no fleet/facts/$kernel.tsv although fleet/vetted.tsv vets fixes on it: make vet KERNEL=$kernel"
		exit 1
	fi
	echo "no facts recorded for $kernel (no fix is vetted on it)"
	exit 4
fi
kdir=$(kernel_dir "$kernel")
[ -e "$kdir/.complete" ] || die "$kernel is not prepared (harness/kernel.sh $kernel)"
command -v readelf >/dev/null || die "readelf missing (binutils)"
fact() { awk -F'\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$facts"; }

[ "$(fact release)" = "$M_RELEASE" ] || problem "release: facts say '$(fact release)', matrix.tsv '$M_RELEASE'"
banner=$(strings -n 20 "$kdir/vmlinux" | grep -m1 "^Linux version $M_RELEASE " || true)
version=$(sed 's/.*) \(#.*\)$/\1/' <<<"$banner")
[ "$version" = "$(fact version)" ] || problem "uname -v: vmlinux says '$version', facts '$(fact version)'"

build_id() { readelf -n "$1" 2>/dev/null | sed -n 's/^ *Build ID: *//p' | head -1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nids=0
while IFS=$'\t' read -r _ obj want; do
	nids=$((nids + 1))
	if [ "$obj" = vmlinux ]; then
		f=$kdir/vmlinux
	else
		f=$(find -L "$kdir/modules/" \( -name "$obj.ko*" -o -name "${obj//_/-}.ko*" \) | head -1)
		[ -n "$f" ] || { problem "$obj: no module file in $kdir/modules"; continue; }
		case "$f" in
		*.xz) xz -dc "$f" >"$tmp/m.ko"; f=$tmp/m.ko ;;
		*.zst) zstd -qdc "$f" >"$tmp/m.ko"; f=$tmp/m.ko ;;
		*.gz) gzip -dc "$f" >"$tmp/m.ko"; f=$tmp/m.ko ;;
		esac
	fi
	got=$(build_id "$f")
	[ "$got" = "$want" ] || problem "$obj: build-id ${got:-unreadable} in the binary, $want in fleet/facts/$kernel.tsv: not the build that was vetted (re-vet: make vet KERNEL=$kernel)"
done < <(awk -F'\t' '$1 == "build-id"' "$facts")
[ $nids -gt 0 ] || problem "fleet/facts/$kernel.tsv has no build-id"
if [ $bad = 0 ]; then
	echo "facts match the binaries: $nids build-ids, release and uname -v"
	exit 0
fi
echo "$bad fact(s) of $kernel no longer match"
exit 1
