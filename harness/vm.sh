#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a matrix kernel under qemu with lockfix's modules and test tools inside, run a
# script (or an interactive shell), and return its output and exit status.
#
#   harness/vm.sh deb11-5.10.0-46 my-test.sh [ARGS...]   run my-test.sh as root in the guest
#   harness/vm.sh deb11-5.10.0-46                       interactive shell (exit N to leave)
#   harness/vm.sh -t 120 -l out/my.log deb12-6.1.0-56 -- dmesg
#
# Options:
#   -t SECONDS  guest watchdog (default 600): after it, D-state tasks and their stacks are
#               printed and the guest is powered off
#   -l FILE     serial log (default out/vm/<kernel>-<time>.log)
#   -m MIB      guest memory (default 2048)      -c CPUS  guest CPUs (default 2)
#   -q          do not echo the serial console to stdout (the log still has it)
#   -C DIR      copy DIR's contents beside the script into the guest (/lockfix/user): a
#               test binary, data files (repeatable)
#   --          run the rest of the line as a command instead of a script file
#
# In the guest: /lockfix/modules/*.ko (lockfix livepatches built for this kernel),
# /lockfix/selftests/run_tests.sh, busybox, bash, btrfs-progs, dmsetup, thin tools,
# kmod, /dev/vda = empty 8 GiB scratch disk (also $LOCKFIX_SCRATCH_DEV), DM_DISABLE_UDEV=1.
#
# Exit status: the script's; 124 when the guest watchdog fired (something hung);
# 125 when the VM died or was killed without reporting (panic, host-side timeout);
# 2 for bad arguments.  Every VM is fresh and its scratch disk is deleted afterwards.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

timeout=600 log= mem=2048 cpus=2 quiet=0 cmdmode=0 carry=()
while [ $# -gt 0 ]; do
	case "$1" in
	-t) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "-t needs a positive number of seconds"; timeout=$2; shift 2 ;;
	-l) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
	-m) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "-m needs MiB"; mem=$2; shift 2 ;;
	-c) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "-c needs a CPU count"; cpus=$2; shift 2 ;;
	-q) quiet=1; shift ;;
	-C) [ $# -ge 2 ] && [ -d "$2" ] || die "-C needs a directory"; carry+=("$2"); shift 2 ;;
	-h|--help) usage ;;
	-*) die "unknown option $1 (see $0 --help)" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
kernel=$1
shift
matrix_row "$kernel"
script=
if [ $# -ge 1 ] && [ "$1" = -- ]; then
	shift
	[ $# -ge 1 ] || die "-- needs a command"
	cmdmode=1
elif [ $# -ge 1 ]; then
	script=$1
	shift
	[ -f "$script" ] || die "script '$script' not found"
fi
interactive=0
[ -z "$script" ] && [ $cmdmode = 0 ] && interactive=1
[ $interactive = 1 ] && [ ! -t 0 ] && die "no script given and stdin is not a terminal (interactive shell needs one)"

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run harness/setup-host.sh"
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$kernel")
base=$("$LOCKFIX_HARNESS/mkinitramfs.sh" "$kernel")
build=$("$LOCKFIX_HARNESS/build.sh" "$kernel")

mkdir -p "$LOCKFIX_OUT/tmp" "$LOCKFIX_OUT/vm"
tmp=$(mktemp -d "$LOCKFIX_OUT/tmp/vm.XXXXXX")
qpid=
cleanup() {
	[ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -n "$log" ] || log=$LOCKFIX_OUT/vm/$kernel-$(date +%Y%m%d-%H%M%S)-$$.log
mkdir -p "$(dirname "$log")"

# Per-run overlay: lockfix build + the job.
ov=$tmp/overlay/lockfix
mkdir -p "$ov/user"
for d in "${carry[@]}"; do cp -a "$d/." "$ov/user/"; done
cp -a "$build/modules" "$build/selftests" "$ov/"
[ -d "$build/harness" ] && cp -a "$build/harness" "$ov/"
{
	echo "cd /lockfix/user"
	if [ $cmdmode = 1 ]; then
		printf '%q ' "$@"
		echo
	elif [ -n "$script" ]; then
		cp "$script" "$ov/user/$(basename "$script")"
		chmod +x "$ov/user/$(basename "$script")"
		printf '%q ' "./$(basename "$script")" "$@"
		echo
	fi
} >"$ov/job.sh"
(cd "$tmp/overlay" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$tmp/overlay.cpio.gz"
cat "$base" "$tmp/overlay.cpio.gz" >"$tmp/initrd"
truncate -s 8G "$tmp/scratch.img"

# Two serial ports: the job's output on ttyS0 (stdio), the kernel's console on ttyS1 (a
# file) at loglevel=5, so warnings and the stacks of soft-lockup, hung-task and oops
# reports are kept even when the guest wedges and never prints its dmesg (they would
# interleave mid-line with the TAP on a shared port).  An interactive shell keeps one
# port for both.  $LOCKFIX_KERNEL_ARGS is appended to the kernel command line (e.g.
# softlockup_all_cpu_backtrace=1 while chasing a lockup).
kconsole=$tmp/kconsole
if [ $interactive = 1 ]; then
	append="console=ttyS0 panic=-1 loglevel=5 lockfix.timeout=$timeout lockfix.interactive=1"
	serial=(-serial mon:stdio)
else
	# log_buf_len: the dmesg printed at the end must hold a long run whole (a soak's 100
	# cycles log ~100 KB; Debian's default ring is 128 KiB).
	append="console=ttyS1 panic=-1 loglevel=5 log_buf_len=4M lockfix.timeout=$timeout lockfix.out=ttyS0"
	serial=(-serial mon:stdio -serial "file:$kconsole")
fi
append="$append ${LOCKFIX_KERNEL_ARGS:-}"
# LOCKFIX_TCG_THREAD=single: one host thread for all vCPUs (harness/tcg-textpoke).
tcg_thread=${LOCKFIX_TCG_THREAD:-multi}
[[ "$tcg_thread" =~ ^(multi|single)$ ]] || die "LOCKFIX_TCG_THREAD=$tcg_thread: multi or single"
qemu=(qemu-system-x86_64 -accel "tcg,thread=$tcg_thread" -cpu max -m "$mem" -smp "$cpus"
	-nographic "${serial[@]}" -no-reboot -net none -kernel "$kdir/vmlinux" -initrd "$tmp/initrd"
	-drive "file=$tmp/scratch.img,if=virtio,format=raw,cache=unsafe"
	-append "$append")

# One guest at a time on this host (TCG timing and memory): wait for any other guest.
vm_lock_wait
echo "lockfix-host: booting $kernel ($(cat "$kdir/release")), log $log" >"$log"
if [ $interactive = 1 ]; then
	"${qemu[@]}" | tee -a "$log"
	rc=$(tr -d '\r' <"$log" | sed -n 's/^LOCKFIX-EXIT \([0-9]*\)$/\1/p' | tail -1)
	exit "${rc:-125}"
fi

# Host-side last resort: the guest watchdog should always fire first.
host_limit=$((timeout + 180))
start=$SECONDS
if [ $quiet = 1 ]; then
	"${qemu[@]}" </dev/null >>"$log" 2>&1 &
else
	"${qemu[@]}" </dev/null 2>&1 | tee -a "$log" &
fi
qpid=$!
while kill -0 "$qpid" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge $host_limit ]; then
		echo "lockfix-host: VM unresponsive after ${host_limit}s, killed" | tee -a "$log" >&2
		pkill -KILL -P "$qpid" 2>/dev/null || true
		kill -KILL "$qpid" 2>/dev/null || true
		break
	fi
	sleep 0.2
done
wait "$qpid" 2>/dev/null || true
qpid=
elapsed=$((SECONDS - start))

# A guest that never printed its dmesg (wedged, panicked, killed): its kernel console is
# the only record of why, so it goes into the log where verdicts look for splats.
if ! tr -d '\r' <"$log" | grep -q '^LOCKFIX-DMESG-BEGIN$' && [ -s "$kconsole" ]; then
	{
		echo "lockfix-host: the guest printed no dmesg; its kernel console (ttyS1) follows"
		echo "LOCKFIX-DMESG-BEGIN"
		tr -d '\r' <"$kconsole"
		echo "LOCKFIX-DMESG-END"
	} >>"$log"
fi

clean=$(tr -d '\r' <"$log")
if grep -q '^LOCKFIX-WATCHDOG$' <<<"$clean"; then
	echo "lockfix-host: guest watchdog fired after ${timeout}s (${elapsed}s wall)" >>"$log"
	exit 124
fi
rc=$(sed -n 's/^LOCKFIX-EXIT \([0-9][0-9]*\)$/\1/p' <<<"$clean" | tail -1)
if [ -z "$rc" ]; then
	echo "lockfix-host: guest ended without reporting an exit status (${elapsed}s)" | tee -a "$log" >&2
	exit 125
fi
echo "lockfix-host: exit $rc after ${elapsed}s" >>"$log"
exit "$rc"
