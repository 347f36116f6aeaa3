#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The slow tier: many enable/disable cycles of each livepatch under its own load, one boot
# per (kernel, fix), judged on the TAP and on the whole kernel log.
#
#   harness/soak.sh [-n CYCLES] KERNEL [FIX...]     (make soak KERNELS="..." [FIXES=...] [CYCLES=...])
#
# Per fix, in a fresh guest: insmod its livepatch (a refusal is reported as SKIP: not
# vetted there), then its selftests/<fix>/live_toggle.sh with LOCKFIX_CYCLES=CYCLES
# (default 100): disable, rmmod, insmod under the fix's own I/O (dio-nofault: sync and
# libaio/io_uring QD32 O_DIRECT with every byte checked; percpu-nofs: NOFS and GFP_NOWAIT
# allocations; dm-thin-reset: thin writes, commits, snapshots, read-back; btrfs-ordered:
# btrfs writes, fsync, read-back from disk).  On lockdep kernels LOCKFIX_LOCKDEP_OWN_BOOT=1
# lets the scripts that must not share a boot with lock_order.sh run, and percpu-nofs
# also runs transition_window.sh.  A row passes when every TAP case is ok and the kernel
# log has no oops, BUG, WARNING, lockdep report, hung task, soft lockup or RCU stall.
# (Under qemu TCG, ftrace text patching of a hot function can stall a vCPU for about a
# minute without any lockfix code: harness/tcg-textpoke/run.sh; such a row fails and says
# so.)  One TAP line per row; exit 0 when all passed or skipped, 1 otherwise, 2 on bad
# arguments.  Not part of make check (about 5-10 min per row).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cycles=100
while [ $# -gt 0 ]; do
	case "$1" in
	-n) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number of cycles"; cycles=$2; shift 2 ;;
	-*) die "unknown option $1 (usage: $0 [-n CYCLES] KERNEL [FIX...])" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || die "usage: $0 [-n CYCLES] KERNEL [FIX...]"
kernel=$1
shift
matrix_row "$kernel"
all=$(cd "$LOCKFIX_ROOT" && for f in */fingerprint.tsv; do dirname "$f"; done)
fixes=${*:-$all}
for f in $fixes; do
	grep -qxF "$f" <<<"$all" || die "unknown fix '$f' (fixes: $(echo $all))"
	[ -f "$LOCKFIX_ROOT/selftests/$f/live_toggle.sh" ] || die "$f has no selftests/$f/live_toggle.sh"
done

out=$LOCKFIX_OUT/soak/$kernel-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
splats='BUG: |Oops|WARNING: |general protection|possible circular locking|possible recursive locking|inconsistent lock state|KASAN|UBSAN|blocked for more than|soft lockup|self-detected stall|detected stalls'
echo "TAP version 13"
echo "1..$(wc -w <<<"$fixes")"
n=0 bad=0
for f in $fixes; do
	n=$((n + 1))
	mod=lockfix_${f//-/_}
	job=$out/$f.job.sh
	cat >"$job" <<EOS
#!/bin/sh
cd /lockfix/selftests
if ! insmod /lockfix/modules/$mod.ko; then
	echo "SOAK-REFUSED \$(dmesg | grep -m1 'refusing to' | sed 's/^\[[^]]*\] //')"
	exit 0
fi
i=0
while [ "\$(cat /sys/kernel/livepatch/$mod/transition)" != 0 ] && [ \$i -lt 300 ]; do sleep 0.2; i=\$((i + 1)); done
export LOCKFIX_CYCLES=$cycles LOCKFIX_LOCKDEP_OWN_BOOT=1
sh $f/live_toggle.sh
echo "SOAK-SCRIPT live_toggle.sh \$?"
if [ $f = percpu-nofs ] && [ -e /proc/lockdep ]; then
	sh $f/transition_window.sh
	echo "SOAK-SCRIPT transition_window.sh \$?"
fi
EOS
	log=$out/$f.log
	start=$SECONDS
	rc=0
	LOCKFIX_TCG_THREAD=$(livepatch_tcg_thread "$f") "$LOCKFIX_HARNESS/vm.sh" -q -t $((cycles * 12 + 600)) -l "$log" "$kernel" "$job" >/dev/null 2>&1 || rc=$?
	t=$((SECONDS - start))
	clean=$(tr -d '\r' <"$log")
	refused=$(sed -n 's/^SOAK-REFUSED //p' <<<"$clean" | head -1)
	if [ -n "$refused" ]; then
		# A refusal is a skip only where the module row expects one (harness/expectations.tsv);
		# on a build it is vetted for (a lookup or build-id failure), it fails the soak.
		want=$(awk -F'\t' -v k="$kernel" -v f="$f" '!/^#/ && $1 == k && $2 == f && $3 == f { print $4 }' "$LOCKFIX_EXPECTATIONS")
		if [[ "$want" == refused+* ]]; then
			echo "ok $n soak/$kernel/$f # SKIP refused here, as expected: $refused"
		else
			echo "not ok $n soak/$kernel/$f # the module refused where its row expects ${want:-no refusal}: $refused"
			bad=$((bad + 1))
		fi
		continue
	fi
	oks=$(grep -c '^ok [0-9]' <<<"$clean" || true)
	notoks=$(grep '^not ok [0-9]' <<<"$clean" || true)
	scripts_bad=$(grep -E '^SOAK-SCRIPT [^ ]+ [^0]' <<<"$clean" | cut -d' ' -f2 | tr '\n' ' ' || true)
	found=$(sed -n '/^LOCKFIX-DMESG-BEGIN$/,/^LOCKFIX-DMESG-END$/p' <<<"$clean" | grep -E "$splats" || true)
	if [ "$rc" != 0 ]; then
		why="guest exit $rc ($([ "$rc" = 124 ] && echo "watchdog: something hung" || echo "vm died or timed out"))"
	elif [ -n "$notoks" ] || [ -n "$scripts_bad" ]; then
		why="failed: ${scripts_bad:-}$(head -1 <<<"$notoks")"
	elif [ -n "$found" ]; then
		why="kernel log: $(grep -c . <<<"$found") report line(s), first: $(head -1 <<<"$found" | sed 's/^\[[^]]*\] //')"
	elif [ "$oks" -lt "$cycles" ]; then
		why="only $oks TAP cases ok for $cycles cycles"
	else
		echo "ok $n soak/$kernel/$f # $cycles cycles: $oks cases ok, kernel log clean (${t}s)"
		continue
	fi
	echo "not ok $n soak/$kernel/$f # $why (${t}s; log $log)"
	bad=$((bad + 1))
done
echo "# soak of $kernel: $n rows, $bad failed ($out)"
[ $bad = 0 ]
