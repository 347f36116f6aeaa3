#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset figures, in one boot of a vulnerable kernel (default deb11-5.10.0-46):
#   - thin-device throughput, patched / unpatched (A/B rounds, bench_rounds: insmod /
#     disable + rmmod around each patched run), medians of: 1 MiB O_DIRECT sequential read and
#     overwrite of provisioned blocks (256 MiB), and provisioning writes (64 MiB into a
#     fresh thin device, flushed: allocation, mapping insert and commit in the worker);
#   - the time from a metadata failure (metadata slice swapped to dm-error, then a flushed
#     write) to the pool's failure mode, patched.
#   harness/bench-dmthin.sh [KERNEL-ID] [ROUNDS]
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$LOCKFIX_HARNESS/bench-lib.sh"
kernel=${1:-deb11-5.10.0-46}
rounds=${2:-5}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
matrix_row "$kernel" >/dev/null
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<EOS
#!/bin/sh
$BENCH_GUEST_LIBS
M=/dev/mapper
ms() { awk '{ printf "%d\n", \$1 * 1000 }' /proc/uptime; }
# mb_s MIB COMMAND...: MiB/s of one run
mb_s() { n=\$1; shift; t0=\$(ms); "\$@" 2>/dev/null || return 1; t1=\$(ms); echo \$((n * 1000 / (t1 - t0 + 1))); }
modprobe dm_thin_pool || bench_fail "modprobe dm_thin_pool failed"
dmsetup create bmeta --table "0 32768 linear /dev/vda 0" &&
dmsetup create bdata --table "0 4194304 linear /dev/vda 32768" &&
dd if=/dev/zero of=\$M/bmeta bs=4096 count=1 conv=fsync 2>/dev/null &&
dmsetup create bpool --table "0 4194304 thin-pool \$M/bmeta \$M/bdata 128 0 1 skip_block_zeroing" &&
dmsetup message bpool 0 "create_thin 0" &&
dmsetup create bthin --table "0 2097152 thin \$M/bpool 0" &&
dd if=/dev/urandom of=\$M/bthin bs=1M count=256 oflag=direct conv=fsync 2>/dev/null || bench_fail "pool set-up failed"
id=1
# warm-up
dd if=\$M/bthin of=/dev/null bs=1M count=256 iflag=direct 2>/dev/null
measure() {	# one round of every figure: ROUND VARIANT
	x=\$(mb_s 256 dd if=\$M/bthin of=/dev/null bs=1M count=256 iflag=direct) || bench_fail "seqread failed"
	echo "bench \$1 \$2 seqread \$x"
	x=\$(mb_s 256 dd if=/dev/zero of=\$M/bthin bs=1M count=256 oflag=direct conv=fsync) || bench_fail "overwrite failed"
	echo "bench \$1 \$2 overwrite \$x"
	dmsetup message bpool 0 "create_thin \$id" && dmsetup create bnew --table "0 2097152 thin \$M/bpool \$id" ||
		bench_fail "cannot create thin device \$id"
	x=\$(mb_s 64 dd if=/dev/zero of=\$M/bnew bs=1M count=64 oflag=direct conv=fsync) || bench_fail "provision failed"
	echo "bench \$1 \$2 provision \$x"
	dmsetup remove bnew && dmsetup message bpool 0 "delete \$id" || bench_fail "cannot delete thin device \$id"
	id=\$((id + 1))
}
bench_rounds $rounds lockfix_dm_thin_reset measure
# metadata failure -> failure mode, patched
lf_livepatch_load || bench_fail "lockfix_dm_thin_reset: \$LF_WHY"
dmsetup suspend bmeta; dmsetup load bmeta --table "0 32768 error"; dmsetup resume bmeta
t0=\$(ms)
dd if=/dev/zero of=\$M/bthin bs=4096 count=1 seek=100000 oflag=direct conv=fsync 2>/dev/null || true
i=0
while ! dmsetup status bpool | grep -q Fail; do
	[ \$i -lt 3000 ] || bench_fail "the pool did not fail within 30 s of its metadata"
	sleep 0.01; i=\$((i + 1))
done
echo "failmode \$((\$(ms) - t0))"
dmsetup remove bthin; dmsetup remove bpool
EOS
bench_vm dmthin "$kernel" 1800 "$job"
m=$(bench_medians <"$BENCH_LOG")
echo "dm-thin-reset figures on $kernel (medians of $(bench_stat "$m" patched seqread n) rounds, one boot, odd rounds unpatched first)"
for f in seqread overwrite provision; do
	awk -v f=$f -v u="$(bench_stat "$m" unpatched $f)" -v p="$(bench_stat "$m" patched $f)" \
		'BEGIN { printf "  %-10s unpatched %d MiB/s, patched %d MiB/s, ratio %.3f\n", f, u, p, p / u }'
	echo "             rounds: unpatched $(bench_stat "$m" unpatched $f values), patched $(bench_stat "$m" patched $f values)"
done
fm=$(tr -d '\r' <"$BENCH_LOG" | sed -n 's/^failmode //p')
echo "  metadata failure -> pool Fail (patched): ${fm:?no failmode figure in $BENCH_LOG} ms"
echo "raw log: $BENCH_LOG"
