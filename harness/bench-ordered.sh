#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# btrfs-ordered figure, in one boot of a pre-fix kernel (default prefix-5.10.262):
# zstd-compressed write throughput (btrfs compress-force=zstd; 64 MiB of compressible
# data, written with fsync, from tmpfs), rounds interleaved: unpatched, insmod, patched,
# disable + rmmod, ...; medians and the patched/unpatched ratio.
#   harness/bench-ordered.sh [KERNEL-ID] [ROUNDS]
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
kernel=${1:-prefix-5.10.262}
rounds=${2:-7}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
matrix_row "$kernel" >/dev/null
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<EOS
#!/bin/bash
set -e
lp=/sys/kernel/livepatch/lockfix_btrfs_ordered
modprobe btrfs
mkfs.btrfs -f -q /dev/vda >/dev/null
mkdir -p /mnt/b && mount -t btrfs -o compress-force=zstd /dev/vda /mnt/b
yes "lockfix compressible line for the zstd write benchmark" | head -c 67108864 >/tmp/src
# MiB/s of one 64 MiB write + fsync of a fresh file.
write_rate() {
	rm -f /mnt/b/f; sync
	t0=\$EPOCHREALTIME
	dd if=/tmp/src of=/mnt/b/f bs=1048576 conv=fsync 2>/dev/null
	t1=\$EPOCHREALTIME
	awk -v a=\$t0 -v b=\$t1 'BEGIN { printf "%.2f", 64 / (b - a) }'
}
write_rate >/dev/null	# warm-up
for r in \$(seq $rounds); do
	echo "bench \$r unpatched zstd-write \$(write_rate)"
	insmod /lockfix/modules/lockfix_btrfs_ordered.ko
	while [ "\$(cat \$lp/transition)" != 0 ]; do sleep 0.2; done
	echo "bench \$r patched zstd-write \$(write_rate)"
	echo 0 > \$lp/enabled
	while [ -d \$lp ]; do sleep 0.2; done
	rmmod lockfix_btrfs_ordered
done
EOS
log=$LOCKFIX_OUT/bench/ordered-$kernel-$(date +%Y%m%d-%H%M%S).log
mkdir -p "$(dirname "$log")"
"$LOCKFIX_HARNESS/vm.sh" -q -t 1800 -l "$log" "$kernel" "$job" || die "benchmark VM failed (log $log)"
bench_medians <"$log" | awk -v kernel="$kernel" '
	{ m[$1] = $3; n = $4 }
	END {
		printf "btrfs-ordered figure on %s (medians of %d rounds, one boot)\n", kernel, n
		printf "  zstd-compressed 64 MiB write+fsync: unpatched %.1f MiB/s, patched %.1f MiB/s, ratio %.3f\n",
			m["unpatched"], m["patched"], m["patched"] / m["unpatched"]
	}'
echo "raw log: $log"
