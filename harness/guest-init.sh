#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of lockfix test guests (see harness/mkinitramfs.sh, harness/vm.sh).
#
# Runs /lockfix/job.sh (or an interactive shell with lockfix.interactive=1), prints
# "LOCKFIX-EXIT <status>" and powers off at once (poweroff -n -f: after a deadlock a
# sync would hang).  A watchdog (lockfix.timeout=SECONDS) that fires while the job is
# still running prints every D-state task with its /proc/PID/stack, then
# "LOCKFIX-WATCHDOG", and powers off: the host sees the hang in the serial log.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /mnt /usr/bin /usr/sbin /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs tmpfs /tmp
/bin/busybox mount -t tmpfs tmpfs /run
/bin/busybox --install -s
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null

# lockfix.out=ttyS0 (harness/vm.sh): the kernel's console is on another port, the job
# writes here.
out=$(sed -n 's/.*\blockfix.out=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$out" ] && [ -c "/dev/$out" ] && exec </dev/null >"/dev/$out" 2>&1

export PATH=/lockfix/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp DM_DISABLE_UDEV=1
export LOCKFIX_SCRATCH_DEV=/dev/vda

arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
timeout=$(arg lockfix.timeout)
timeout=${timeout:-600}
interactive=$(arg lockfix.interactive)

# Hung tasks are also reported by the kernel itself, sooner than the 120 s default.
echo 30 >/proc/sys/kernel/hung_task_timeout_secs 2>/dev/null
echo 1 >/proc/sys/kernel/sysrq

for m in virtio_pci virtio_blk; do modprobe -q "$m" 2>/dev/null; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || echo "lockfix-guest: warning: no scratch disk /dev/vda"

dump_blocked() {
	for d in /proc/[0-9]*; do
		st=$(sed 's/.*) \(.\).*/\1/' "$d/stat" 2>/dev/null)
		[ "$st" = D ] || continue
		echo "lockfix-guest: blocked task ${d#/proc/} ($(cat "$d/comm" 2>/dev/null)) state D:"
		sed 's/^/lockfix-guest:   /' "$d/stack" 2>/dev/null
	done
}

# The whole kernel log goes out at the end.  When the kernel's console shares the job's
# port (no lockfix.out), its messages would interleave mid-line with the TAP: keep only
# emergencies (panics) there.
dump_dmesg() {
	echo "LOCKFIX-DMESG-BEGIN"
	dmesg
	echo "LOCKFIX-DMESG-END"
}
[ "$interactive" = 1 ] || [ -n "$out" ] || dmesg -n 1

echo "lockfix-guest: booted $(uname -r)"
if [ "$interactive" = 1 ]; then
	echo "lockfix-guest: interactive shell; 'exit N' powers off with status N"
	setsid cttyhack sh -l
	rc=$?
else
	(
		sleep "$timeout"
		echo "lockfix-guest: WATCHDOG: job still running after ${timeout}s"
		dump_blocked
		echo w >/proc/sysrq-trigger
		sleep 1
		dump_dmesg
		echo "LOCKFIX-WATCHDOG"
		poweroff -n -f
	) &
	watchdog=$!
	sh /lockfix/job.sh </dev/null
	rc=$?
	kill "$watchdog" 2>/dev/null
	dump_dmesg
fi
echo "LOCKFIX-EXIT $rc"
poweroff -n -f
