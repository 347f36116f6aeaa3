#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The harness's own test of registry drift: a matrix row whose pinned package version the
# registry does not serve must give a clear skip line naming the package, the version
# wanted and the newest served, be counted as skipped on the summary line, and let the
# run go on with the next kernel.  No VM: check.sh --build-only.
#
#   harness/test-drift.sh [KERNEL-ID]   (default deb12-6.1.0-56: copied with a bogus
#                                        headers version as kernel drift-test)
# Exit 0 when all of that holds, 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

base=${1:-deb12-6.1.0-56}
matrix_row "$base"
[ "$M_KIND" = debian ] || die "$base is not a Debian kernel"
hdr=linux-headers-$M_RELEASE
cur=$(tr , '\n' <<<"$M_PACKAGES" | sed -n "s/^$hdr=//p")
[ -n "$cur" ] || die "$base pins no $hdr"
bogus=$cur.lockfix-drift-test
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lockfix-drift.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$LOCKFIX_MATRIX" "$tmp/matrix.tsv"
printf 'drift-test\tdebian\t%s\t%s\t-\tbuild\n' "$M_RELEASE" "${M_PACKAGES/$hdr=$cur/$hdr=$bogus}" >>"$tmp/matrix.tsv"

rc=0
LOCKFIX_MATRIX=$tmp/matrix.tsv LOCKFIX_OUT=$tmp/out LOCKFIX_NESTED=1 \
	"$LOCKFIX_HARNESS/check.sh" --build-only --kernels "drift-test $base" >"$tmp/check.log" 2>&1 || rc=$?
fail() { echo "test-drift: FAIL: $*"; sed 's/^/test-drift:   /' "$tmp/check.log"; exit 1; }
want="$hdr=$bogus is no longer served (newest served: $cur)"
grep -qE "^ok [0-9]+ drift-test/dkms-build # SKIP drift-test: $(sed 's/[][().+*?^$|]/\\&/g' <<<"$want")$" "$tmp/check.log" ||
	fail "no skip line naming $hdr=$bogus and the newest served $cur"
summary=$(tail -1 "$tmp/check.log")
[[ "$summary" == *" skipped (drift-test: $want)" ]] || fail "summary line '$summary' does not count the skip with its reason"
grep -q "^ok [0-9]* $base/dkms-build" "$tmp/check.log" || fail "the run did not go on with $base"
[ $rc = 0 ] || fail "check.sh exited $rc"
echo "test-drift: drift-test skipped ($want), $base built after it: $summary"
