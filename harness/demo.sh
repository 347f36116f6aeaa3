#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The main job, shown end to end: a real Debian 11 kernel (deb11-5.10.0-46) hangs on an
# O_DIRECT read into an mmap of the same btrfs file (upstream 51bd9563b678 missing);
# with the dio-nofault livepatch loaded (once it exists) the same read completes;
# Debian 12 (deb12-6.1.0-56, fixed upstream) completes it without help.
#
#   make demo            (or harness/demo.sh [KERNEL-ID])
set -euo pipefail
. "$(dirname "$0")/lib.sh"

vulnerable=${1:-deb11-5.10.0-46}
fixed=deb12-6.1.0-56
matrix_row "$vulnerable" >/dev/null
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<'EOS'
#!/bin/sh
cd /lockfix/selftests/dio-nofault
if [ "$1" = with-module ]; then
	insmod /lockfix/modules/lockfix_dio_nofault.ko || exit 3
	echo "demo: $(dmesg | grep -i lockfix | tail -1)"
fi
echo "demo: O_DIRECT pread of 2 MiB into a MAP_SHARED mapping of the same range, on btrfs"
./dio_nofault.sh read-self-2m
EOS

step() { echo; echo "=== $* ==="; }
show() { tr -d '\r' <"$1" | grep -E '^(# |demo:|ok|not ok|LOCKFIX-EXIT)' | grep -v '^# *$' || true; }

mkdir -p "$LOCKFIX_OUT/demo"
step "$vulnerable without lockfix: expect the reader stuck in D state"
rc=0; "$LOCKFIX_HARNESS/vm.sh" -q -t 200 -l "$LOCKFIX_OUT/demo/1.log" "$vulnerable" "$job" || rc=$?
show "$LOCKFIX_OUT/demo/1.log"
echo "exit status $rc (1 = reproduced; log $LOCKFIX_OUT/demo/1.log)"

build=$("$LOCKFIX_HARNESS/build.sh" "$vulnerable")
if [ -f "$build/modules/lockfix_dio_nofault.ko" ]; then
	step "$vulnerable with the dio-nofault livepatch: expect the read to complete"
	rc=0; "$LOCKFIX_HARNESS/vm.sh" -q -t 200 -l "$LOCKFIX_OUT/demo/2.log" "$vulnerable" "$job" with-module || rc=$?
	show "$LOCKFIX_OUT/demo/2.log"
	echo "exit status $rc (0 = survived)"
else
	step "dio-nofault livepatch not built yet (issue 3): skipping the patched run"
fi

step "$fixed (fix upstream): expect the read to complete"
rc=0; "$LOCKFIX_HARNESS/vm.sh" -q -t 200 -l "$LOCKFIX_OUT/demo/3.log" "$fixed" "$job" || rc=$?
show "$LOCKFIX_OUT/demo/3.log"
echo "exit status $rc"
