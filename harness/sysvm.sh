#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a real Debian system (harness/mkrootfs.sh) on a matrix kernel, run a job, return
# its status.  Systemd is init; the job runs from lockfix-job.service after multi-user.
#
#   harness/sysvm.sh [options] KERNEL-ID JOB-DIR
#
# JOB-DIR holds job.sh (run as root in the guest, in a copy of JOB-DIR) and whatever it
# needs (packages, test binaries).  Options:
#   -d DISK       the system disk: a qcow2 overlay on the cached image, created if missing
#                 and kept, so that a scenario can boot the same system again (a reboot);
#                 default: a fresh overlay, deleted afterwards
#   --no-compiler the image without gcc, headers and dkms (mkrootfs.sh --no-compiler)
#   -a ARGS       extra kernel command line (e.g. "lockfix.enable=0 module.sig_enforce=1")
#   -t SECONDS    host-side limit (default 900)     -l FILE  serial log
# In the guest: /dev/vda the system, /dev/vdb the job (tar), /dev/vdc an empty 8 GiB
# scratch disk (LOCKFIX_SCRATCH_DEV is exported to job.sh).  Exit status: the job's; 125
# when the guest ended without reporting one (killed at the limit, panic).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
disk= limit=900 log= extra= imgopt=
while [ $# -gt 0 ]; do
	case "$1" in
	-d) [ $# -ge 2 ] || usage; disk=$2; shift 2 ;;
	-a) [ $# -ge 2 ] || usage; extra=$2; shift 2 ;;
	-t) [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "-t needs a positive number of seconds"; limit=$2; shift 2 ;;
	-l) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
	--no-compiler) imgopt=--no-compiler; shift ;;
	-h|--help) usage ;;
	-*) die "unknown option $1 (see $0 --help)" ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || usage
kernel=$1 job=$2
[ -x "$job/job.sh" ] || die "$job/job.sh missing or not executable"
command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null ||
	die "qemu-system-x86_64 / qemu-img missing: run harness/setup-host.sh"
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$kernel")
img=$("$LOCKFIX_HARNESS/mkrootfs.sh" "$kernel" $imgopt)

mkdir -p "$LOCKFIX_OUT/tmp" "$LOCKFIX_OUT/sysvm"
tmp=$(mktemp -d "$LOCKFIX_OUT/tmp/sysvm.XXXXXX")
qpid=
cleanup() { [ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
[ -n "$log" ] || log=$LOCKFIX_OUT/sysvm/$kernel-$(date +%Y%m%d-%H%M%S)-$$.log
mkdir -p "$(dirname "$log")"
if [ -z "$disk" ]; then
	disk=$tmp/disk.qcow2
fi
if [ ! -f "$disk" ]; then
	mkdir -p "$(dirname "$disk")"
	qemu-img create -q -f qcow2 -F raw -b "$img/disk.img" "$disk"
fi
tar -C "$job" -cf "$tmp/job.tar" .
# A tar on a raw disk must fill whole sectors.
truncate -s %512 "$tmp/job.tar"
truncate -s 8G "$tmp/scratch.img"

# One guest at a time on this host (TCG timing and memory): wait for any other guest.
vm_lock_wait
append="root=/dev/vda rw console=ttyS0 panic=-1 loglevel=4 systemd.show_status=0 $extra"
# Multi-threaded TCG: single-threaded (LOCKFIX_TCG_THREAD=single, against the stall of
# harness/tcg-textpoke while livepatches are enabled) doubled the install scenario here
# (boot 1 with apt and the DKMS build 351 s, boot 2 417 s, against 143 s + 190 s), more
# than the CI budget allows; its livepatches are enabled once per boot, not in loops.
tcg_thread=${LOCKFIX_TCG_THREAD:-multi}
[[ "$tcg_thread" =~ ^(multi|single)$ ]] || die "LOCKFIX_TCG_THREAD=$tcg_thread: multi or single"
qemu=(qemu-system-x86_64 -accel "tcg,thread=$tcg_thread" -cpu max -m 2048 -smp 2 -nographic -no-reboot
	-net none -kernel "$kdir/vmlinux" -initrd "$img/initrd.img" -append "$append"
	-drive "file=$disk,if=virtio,format=qcow2,cache=unsafe"
	-drive "file=$tmp/job.tar,if=virtio,format=raw,readonly=on"
	-drive "file=$tmp/scratch.img,if=virtio,format=raw,cache=unsafe")
echo "lockfix-host: booting the $kernel system ($(cat "$kdir/release")), log $log" >"$log"
start=$SECONDS
"${qemu[@]}" </dev/null >>"$log" 2>&1 &
qpid=$!
while kill -0 "$qpid" 2>/dev/null; do
	if [ $((SECONDS - start)) -ge "$limit" ]; then
		echo "lockfix-host: system VM still running after ${limit}s, killed" >>"$log"
		kill -KILL "$qpid" 2>/dev/null || true
		break
	fi
	sleep 0.5
done
wait "$qpid" 2>/dev/null || true
qpid=
rc=$(tr -d '\r' <"$log" | sed -n 's/^LOCKFIX-EXIT \([0-9][0-9]*\)$/\1/p' | tail -1)
echo "lockfix-host: exit ${rc:-125} after $((SECONDS - start))s" >>"$log"
exit "${rc:-125}"
