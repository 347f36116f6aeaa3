#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest job of harness/tcg-textpoke/run.sh: a task calls lockfix_tcg_target_fn() in a loop
# while lockfix_tcg_lp.ko is enabled, disabled and removed CYCLES times; every cycle
# prints its time and the running count of RCU stall / soft-lockup reports.
n=${1:-60}
cd /lockfix/user || exit 1
insmod ./lockfix_tcg_target.ko || exit 1
stop=/tmp/stop
touch $stop
( while [ -e $stop ]; do echo 200000 >/proc/lockfix_tcg_target; done ) &
lp=/sys/kernel/livepatch/lockfix_tcg_lp
wait_for() { i=0; while ! sh -c "$1"; do sleep 0.2; i=$((i + 1)); [ $i -ge 900 ] && return 1; done; return 0; }
stalls() { dmesg | grep -c -E 'self-detected stall|soft lockup'; }
c=0
while [ $c -lt "$n" ]; do
	c=$((c + 1))
	t0=$(cut -d' ' -f1 /proc/uptime)
	insmod ./lockfix_tcg_lp.ko || { echo "cycle $c: insmod failed"; break; }
	wait_for "[ \$(cat $lp/transition) = 0 ]" || echo "cycle $c: enable transition not done after 180 s"
	echo 0 >$lp/enabled
	wait_for "[ ! -d $lp ]" || echo "cycle $c: disable transition not done after 180 s"
	rmmod lockfix_tcg_lp
	echo "cycle $c: $t0 -> $(cut -d' ' -f1 /proc/uptime) s, stall reports so far: $(stalls)"
done
rm -f $stop
wait
echo "target calls: $(cat /proc/lockfix_tcg_target)"
echo "tcg-textpoke: $c cycles, $(stalls) stall reports"
dmesg | grep -E 'self-detected stall|soft lockup|RIP: 0010' | head -20
