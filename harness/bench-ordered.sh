#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# btrfs-ordered figure, in one boot of a pre-fix kernel (default prefix-5.10.262):
# zstd-compressed write throughput (btrfs compress-force=zstd; 64 MiB of compressible
# data, written with fsync, from tmpfs), A/B rounds (bench_rounds: insmod / disable +
# rmmod around each patched run); medians and the patched/unpatched ratio.
#   harness/bench-ordered.sh [KERNEL-ID] [ROUNDS]
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$LOCKFIX_HARNESS/bench-lib.sh"
kernel=${1:-prefix-5.10.262}
rounds=${2:-7}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
matrix_row "$kernel" >/dev/null
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<EOS
#!/bin/bash
$BENCH_GUEST_LIBS
modprobe btrfs || bench_fail "modprobe btrfs failed"
mkfs.btrfs -f -q /dev/vda >/dev/null || bench_fail "mkfs.btrfs failed"
mkdir -p /mnt/b && mount -t btrfs -o compress-force=zstd /dev/vda /mnt/b || bench_fail "mount failed"
yes "lockfix compressible line for the zstd write benchmark" | head -c 67108864 >/tmp/src
# MiB/s of one 64 MiB write + fsync of a fresh file.
write_rate() {
	rm -f /mnt/b/f; sync
	t0=\$EPOCHREALTIME
	dd if=/tmp/src of=/mnt/b/f bs=1048576 conv=fsync 2>/dev/null || return 1
	t1=\$EPOCHREALTIME
	awk -v a=\$t0 -v b=\$t1 'BEGIN { printf "%.2f", 64 / (b - a) }'
}
measure() { r=\$(write_rate) || bench_fail "write failed (\$2, round \$1)"; echo "bench \$1 \$2 zstd-write \$r"; }
write_rate >/dev/null	# warm-up
bench_rounds $rounds lockfix_btrfs_ordered measure
EOS
bench_vm ordered "$kernel" 1800 "$job"
m=$(bench_medians <"$BENCH_LOG")
u=$(bench_stat "$m" unpatched zstd-write) p=$(bench_stat "$m" patched zstd-write)
echo "btrfs-ordered figure on $kernel (medians of $(bench_stat "$m" patched zstd-write n) rounds, one boot, odd rounds unpatched first)"
awk -v u="$u" -v p="$p" 'BEGIN { printf "  zstd-compressed 64 MiB write+fsync: unpatched %.1f MiB/s, patched %.1f MiB/s, ratio %.3f\n", u, p, p / u }'
echo "  rounds: unpatched $(bench_stat "$m" unpatched zstd-write values), patched $(bench_stat "$m" patched zstd-write values)"
echo "raw log: $BENCH_LOG"
