#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Compile a fix's vetted-build table (lockfix_vetted.h) from the fleet data.
#
#   common/gen-vetted.sh FIX ROOT [CANDIDATE-KERNEL] > lockfix_vetted.h
#
# Run by each fix's Kbuild (so DKMS builds do it too); needs only sh and awk.
# Inputs, all under ROOT:
#   fleet/vetted.tsv           the reviewed decision: "fix kernel decision payload", one
#                              line per (fix, kernel); decision vetted | fixed | unsupported
#   fleet/facts/KERNEL.tsv     what `make vet KERNEL=...` read in a boot of that kernel
#   fleet/proofs/KERNEL.tap    that kernel's proof run (harness/check.sh TAP)
#   FIX/fingerprint.tsv        the objects and symbols the fix's code was written against:
#                              "object symbol[|alternative...] code|data"
# A `vetted` line makes the build patchable only when its facts exist and its proof has
# "ok N KERNEL/FIX/module=FIX # expected pass, got pass".  CANDIDATE (make vet) is the one
# kernel let in without that proof, so that the proof can be run at all.
# A vetted line without facts, with facts that lack a fingerprinted symbol or build-id, or
# without a passing proof, is left out with a warning on stderr: the build is refused at
# load ("not a build ... was vetted on"); harness/facts-check.sh (make check) fails on it.
#
#   common/gen-vetted.sh --proof FIX ROOT KERNEL   exit 0 when KERNEL's proof admits FIX
#                                                  (the harness asks this; one rule)
set -eu
proof_only=
if [ "${1:-}" = --proof ]; then
	proof_only=$4
	shift
fi
fix=$1 root=$2 cand=${3:-}
vetted=$root/fleet/vetted.tsv
fps=$root/$fix/fingerprint.tsv
[ -f "$vetted" ] || { echo "gen-vetted: $vetted missing" >&2; exit 1; }
[ -f "$fps" ] || { echo "gen-vetted: $fps missing" >&2; exit 1; }

# proof_ok KERNEL: fleet/proofs/KERNEL.tap proves FIX on the facts as they are now: its
# header names the sha256 of fleet/facts/KERNEL.tsv, it has the row
# "ok N KERNEL/FIX/module=FIX # expected pass, got pass", and every row of FIX on KERNEL
# in it is ok (the no-module row included: where it must reproduce the bug, it did).
proof_ok() {
	proof=$root/fleet/proofs/$1.tap
	[ -f "$proof" ] || return 1
	hash=$(sha256sum "$root/fleet/facts/$1.tsv" | cut -c1-16)
	awk -v k="$1" -v f="$fix" -v h="$hash" '
		NR <= 3 && index($0, "(sha256 " h ")") { hashed = 1 }
		/^(not )?ok [0-9]+ / {
			name = ($1 == "not") ? $4 : $3
			if (index(name, k "/" f "/") != 1) next
			if ($1 == "not") bad = 1
			else if (name == k "/" f "/module=" f && index($0, " # expected pass, got pass ")) pass = 1
		}
		END { exit !(hashed && pass && !bad) }' "$proof"
}

if [ -n "$proof_only" ]; then
	[ -f "$root/fleet/facts/$proof_only.tsv" ] && proof_ok "$proof_only"
	exit
fi

# The vetted lines of this fix: "kernel payload" (comments stripped as harness/facts-check.sh does).
out=$(sed 's/[[:space:]]*#.*//' "$vetted" | awk -F'\t' -v fix="$fix" 'NF >= 3 && $1 == fix && $3 == "vetted" { print $2 "\t" ($4 == "" ? "-" : $4) }' |
while IFS='	' read -r kernel payload; do
	facts=$root/fleet/facts/$kernel.tsv
	case "$payload" in
	-|[A-Za-z_]*) ;;
	*) payload=invalid ;;
	esac
	if [ "$payload" != - ] && ! printf '%s\n' "$payload" | grep -Eqx '[A-Za-z_][A-Za-z0-9_]*'; then
		echo "gen-vetted: $fix: $kernel: payload '$payload' in fleet/vetted.tsv is not a C identifier: left out" >&2
		echo "/* $kernel: invalid payload: left out */"
		continue
	fi
	if [ ! -f "$facts" ]; then
		echo "gen-vetted: $fix: $kernel is vetted in fleet/vetted.tsv but fleet/facts/$kernel.tsv is missing: not patched (make vet KERNEL=$kernel)" >&2
		echo "/* $kernel: vetted in fleet/vetted.tsv but no facts recorded: left out */"
		continue
	fi
	if [ "$kernel" != "$cand" ] && ! proof_ok "$kernel"; then
		echo "gen-vetted: $fix: $kernel has no passing proof on its current facts in fleet/proofs/$kernel.tap: not patched (make vet KERNEL=$kernel)" >&2
		echo "/* $kernel: vetted in fleet/vetted.tsv but no passing proof on these facts: left out */"
		continue
	fi
	awk -F'\t' -v kernel="$kernel" -v payload="$payload" -v fix="$fix" -v factsfile="$facts" '
		# A C string literal body (mawk, gawk and busybox awk alike: "&&" doubles the match).
		function cstr(s) { gsub(/\\/, "&&", s); gsub(/"/, "\\\"", s); return s }
		FNR == NR {
			if ($1 == "release") release = $2
			else if ($1 == "version") version = $2
			else if ($1 == "build-id") bid[$2] = $3
			else if ($1 == "size") size[$2 SUBSEP $3] = $4
			else if ($1 == "present") size[$2 SUBSEP $3] = "present"
			next
		}
		/^#/ || NF < 3 { next }
		{
			n = split($2, alt, "|"); name = ""
			for (i = 1; i <= n; i++) if (($1 SUBSEP alt[i]) in size) { name = alt[i]; break }
			if (name == "") {
				printf "gen-vetted: %s: %s lacks %s in %s (re-vet: make vet KERNEL=%s)\n", fix, factsfile, $2, $1, kernel > "/dev/stderr"
				bad = 1; next
			}
			if ($3 != "data" && size[$1 SUBSEP name] == "present") {
				printf "gen-vetted: %s: %s has no size of code symbol %s\n", fix, factsfile, name > "/dev/stderr"
				bad = 1; next
			}
			fp[++nfp] = sprintf("\t{ \"%s\", \"%s\", %s },", cstr($1), cstr(name), $3 == "data" ? "LOCKFIX_ANY_SIZE" : size[$1 SUBSEP name])
			if (!($1 in seen)) { seen[$1] = 1; objs[++nobj] = $1 }
		}
		END {
			if (!bad && (release == "" || version == "")) {
				printf "gen-vetted: %s: %s has no release or version\n", fix, factsfile > "/dev/stderr"
				bad = 1
			}
			for (i = 1; i <= nobj; i++) if (!(objs[i] in bid)) {
				printf "gen-vetted: %s: %s has no build-id of %s\n", fix, factsfile, objs[i] > "/dev/stderr"
				bad = 1
			}
			if (!("vmlinux" in bid)) {
				printf "gen-vetted: %s: %s has no build-id of vmlinux\n", fix, factsfile > "/dev/stderr"
				bad = 1
			}
			if (bad) { printf "/* %s: facts incomplete for this fix: left out (make vet KERNEL=%s) */\n", kernel, kernel; exit }
			id = kernel; gsub(/[^A-Za-z0-9]/, "_", id)
			printf "static const struct lockfix_fingerprint lockfix_fp_%s[] = {\n", id
			for (i = 1; i <= nfp; i++) print fp[i]
			print "\t{ }\n};"
			printf "static const struct lockfix_build_id lockfix_ids_%s[] = {\n", id
			if (!("vmlinux" in seen)) objs[++nobj] = "vmlinux"
			for (i = 1; i <= nobj; i++) {
				printf "\t{ \"%s\", \"%s\" },\n", cstr(objs[i]), cstr(bid[objs[i]])
			}
			print "\t{ }\n};"
			printf "#define LOCKFIX_BUILD_%s { \"%s\", \"%s\", \"%s\", lockfix_ids_%s, lockfix_fp_%s, %s },\n",
				id, cstr(kernel), cstr(release), cstr(version), id, id, payload == "-" ? "NULL" : "&" payload
			print "LOCKFIX_BUILD_LIST_" id
		}' "$facts" "$fps"
done)

echo "/* Generated by common/gen-vetted.sh $fix from fleet/ (vetted.tsv, facts/, proofs/): do not edit. */"
printf '%s\n' "$out" | grep -v '^LOCKFIX_BUILD_LIST_'
echo "static const struct lockfix_build lockfix_vetted_builds[] = {"
printf '%s\n' "$out" | sed -n 's/^LOCKFIX_BUILD_LIST_\(.*\)/\tLOCKFIX_BUILD_\1/p'
echo "	{ }"
echo "};"
if [ -n "$cand" ]; then
	echo "#define LOCKFIX_CANDIDATE \"$cand\""
else
	echo "#define LOCKFIX_CANDIDATE NULL"
fi
