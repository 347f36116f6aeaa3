#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Control experiment for the stalls seen while livepatches were enabled or disabled under
# load (percpu-nofs/README.md): a livepatch with nothing of lockfix in it (the style of
# samples/livepatch/livepatch-sample.c) replaces a trivial function that a task calls in
# a loop, CYCLES times, in a qemu TCG guest.  The same RCU stall / soft lockup at the
# patched function's first instruction there means the stall comes from ftrace text
# patching of a hot function under TCG, not from a fix's code.
#
#   harness/tcg-textpoke/run.sh [-L] [-s] KERNEL [CYCLES]     (default 60 cycles)
#     -L   load the host meanwhile (two busy loops at nice 19): the stalls were seen on a
#          busy host, and are rarer on an idle one
#     -s   single-threaded TCG (LOCKFIX_TCG_THREAD=single) instead of one thread per vCPU
# Prints the guest's per-cycle lines and "tcg-textpoke: N cycles, M stall reports".
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
load=0
while [ $# -gt 0 ]; do
	case "$1" in
	-L) load=1; shift ;;
	-s) export LOCKFIX_TCG_THREAD=single; shift ;;
	-*) die "unknown option $1 (see $0)" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 [-L] [-s] KERNEL [CYCLES]"
kernel=$1 cycles=${2:-60}
[[ "$cycles" =~ ^[1-9][0-9]*$ ]] || die "CYCLES must be a positive number"
matrix_row "$kernel"
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$kernel")
out=$LOCKFIX_OUT/tcg-textpoke/$kernel
rm -rf "$out"
mkdir -p "$out/mod"
cp "$LOCKFIX_HARNESS"/tcg-textpoke/{Kbuild,lockfix_tcg_target.c,lockfix_tcg_lp.c} "$out/mod/"
make -s -C "$kdir/build" M="$out/mod" $(kbuild_make_args "$kernel") modules >"$out/build.log" 2>&1 ||
	{ cat "$out/build.log" >&2; die "control modules do not build against $kernel"; }
mkdir -p "$out/carry"
cp "$out"/mod/*.ko "$out/carry/"
log=$out/guest.log
"$LOCKFIX_HARNESS/vm.sh" -q -t $((cycles * 30 + 300)) -C "$out/carry" -l "$log" "$kernel" \
	"$LOCKFIX_HARNESS/tcg-textpoke/guest-toggle.sh" "$cycles" &
vm=$!
pids=
if [ $load = 1 ]; then
	until grep -q 'lockfix-guest: booted' "$log" 2>/dev/null || ! kill -0 $vm 2>/dev/null; do sleep 1; done
	for _ in 1 2; do nice -n 19 sh -c 'while :; do :; done' & pids+=" $!"; done
fi
rc=0
wait $vm || rc=$?
[ -n "$pids" ] && kill $pids
tr -d '\r' <"$log" | grep -E '^(cycle [0-9]+:|target calls|tcg-textpoke:)' || true
tr -d '\r' <"$log" | sed -n '/^LOCKFIX-DMESG-BEGIN$/,/^LOCKFIX-DMESG-END$/p' |
	grep -E 'self-detected stall|soft lockup|RIP: 0010' | head -12 || true
echo "tcg-textpoke: guest log $log (vm exit $rc)"
exit $rc
