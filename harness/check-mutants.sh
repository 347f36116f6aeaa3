#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The suite's own mutation check: each mutant of harness/mutants.tsv is a build of one fix
# that does a wrong thing on purpose (the old, buggy thing: LOCKFIX_MUTANT=<fix>, #ifdef
# LOCKFIX_MUTANT; or another wrong variant: LOCKFIX_MUTANT=<fix>:<name>, #ifdef
# LOCKFIX_MUTANT_<name>), and it must turn its proof red on a vulnerable kernel.
#
#   harness/check-mutants.sh [FIX...]        (make check-mutants): every mutant of FIX
#
# Per mutant: the with-module rows of its fix's test on one kernel where it is vetted (the
# first of the proof tier), with modules built into their own out/mutants/<mutant>/ tree.
# A mutant is caught when a row that expects pass gets the verdict the table names (bug:
# the old deadlock is back; fail: a test saw wrong results), and the mutant did load (its
# "MUTANT build" line is in the guest's log): a refusal would prove nothing.
# The last line is "N mutants, N caught"; exit 1 when one escapes, 2 on bad arguments.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

all=$(cd "$LOCKFIX_ROOT" && for f in */fingerprint.tsv; do dirname "$f"; done)
fixes=${*:-$all}
for f in $fixes; do grep -qxF "$f" <<<"$all" || die "unknown fix '$f' (known: $(echo $all))"; done

# The kernel a fix's mutant runs on: a proof-tier kernel where it is vetted.
mutant_kernel() {
	local k
	for k in $(matrix_ids_tier proof); do
		awk -F'\t' -v f="$1" -v k="$k" '!/^#/ && $1 == f && $2 == k && $3 == "vetted" { found = 1 } END { exit !found }' \
			"$LOCKFIX_ROOT/fleet/vetted.tsv" && { echo "$k"; return; }
	done
}

# The mutants of the selected fixes: "fix name caught" (name - for the old-code mutant).
mutants=$(awk -F'\t' -v sel=" $(echo $fixes) " '!/^#/ && NF >= 3 && index(sel, " " $1 " ") {
	sub(/[ \t]*#.*/, "", $3); print $1, $2, $3 }' "$LOCKFIX_HARNESS/mutants.tsv")
for f in $fixes; do
	grep -q "^$f " <<<"$mutants" || die "harness/mutants.tsv has no mutant of $f"
done

n=0 caught=0
echo "TAP version 13"
echo "1..$(grep -c . <<<"$mutants")"
while read -r f name want; do
	n=$((n + 1))
	id=$f value=$f
	[ "$name" = - ] || { id=$f:$name; value=$f:$name; }
	k=$(mutant_kernel "$f")
	if [ -z "$k" ]; then
		echo "not ok $n mutant/$id # no proof-tier kernel vets $f"
		continue
	fi
	out=$LOCKFIX_OUT/mutants/${id/:/-}
	mkdir -p "$out"
	rc=0
	LOCKFIX_OUT=$out LOCKFIX_MUTANT=$value LOCKFIX_NESTED=1 \
		"$LOCKFIX_HARNESS/check.sh" --with-module --kernels "$k" --tests "$f" >"$out/check.log" 2>&1 </dev/null || rc=$?
	run=$out/check/latest
	rows=$(awk -v r="$k/$f/module=$f" '($1 == "ok" && $3 == r) || ($1 == "not" && $4 == r)' "$out/check.log")
	loaded=$(cat "$run"/*_"$f"_"$f".log 2>/dev/null | tr -d '\r' | grep -c 'MUTANT build' || true)
	if [ -z "$rows" ]; then
		echo "not ok $n mutant/$id on $k # no with-module row expecting pass ran (see $out/check.log)"
	elif [ "$loaded" = 0 ]; then
		echo "not ok $n mutant/$id on $k # the mutant never loaded: nothing proven (see $out/check.log)"
	elif grep -Eq "^not ok .* # expected pass, got $want([( ]|\$)" <<<"$rows"; then
		# Caught only by the named verdict: a timeout or a dead VM proves nothing.
		echo "ok $n mutant/$id on $k # caught: $(grep -m1 '^not ok' <<<"$rows" | sed 's/.*# //')"
		caught=$((caught + 1))
	elif grep -q '^not ok' <<<"$rows"; then
		echo "not ok $n mutant/$id on $k # the proof failed, but not with '$want': $(grep -m1 '^not ok' <<<"$rows" | sed 's/.*# //')"
	else
		echo "not ok $n mutant/$id on $k # ESCAPED: the proof passed with the mutant"
	fi
done <<<"$mutants"
echo "$n mutants, $caught caught"
[ "$caught" = "$n" ]
