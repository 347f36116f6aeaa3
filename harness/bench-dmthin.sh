#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset figures, in one boot of a vulnerable kernel (default deb11-5.10.0-46):
#   - thin-device throughput, patched / unpatched (rounds interleaved: unpatched, insmod,
#     patched, disable + rmmod, ...), medians of: 1 MiB O_DIRECT sequential read and
#     overwrite of provisioned blocks (256 MiB), and provisioning writes (64 MiB into a
#     fresh thin device, flushed: allocation, mapping insert and commit in the worker);
#   - the time from a metadata failure (metadata slice swapped to dm-error, then a flushed
#     write) to the pool's failure mode, patched.
#   harness/bench-dmthin.sh [KERNEL-ID] [ROUNDS]
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
kernel=${1:-deb11-5.10.0-46}
rounds=${2:-5}
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
matrix_row "$kernel" >/dev/null
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<EOS
#!/bin/sh
set -e
lp=/sys/kernel/livepatch/lockfix_dm_thin_reset
ko=/lockfix/modules/lockfix_dm_thin_reset.ko
M=/dev/mapper
ms() { awk '{ printf "%d\n", \$1 * 1000 }' /proc/uptime; }
# mb_s MIB COMMAND...: MiB/s of one run
mb_s() { n=\$1; shift; t0=\$(ms); "\$@" 2>/dev/null; t1=\$(ms); echo \$((n * 1000 / (t1 - t0 + 1))); }
modprobe dm_thin_pool
dmsetup create bmeta --table "0 32768 linear /dev/vda 0"
dmsetup create bdata --table "0 4194304 linear /dev/vda 32768"
dd if=/dev/zero of=\$M/bmeta bs=4096 count=1 conv=fsync 2>/dev/null
dmsetup create bpool --table "0 4194304 thin-pool \$M/bmeta \$M/bdata 128 0 1 skip_block_zeroing"
dmsetup message bpool 0 "create_thin 0"
dmsetup create bthin --table "0 2097152 thin \$M/bpool 0"
dd if=/dev/urandom of=\$M/bthin bs=1M count=256 oflag=direct conv=fsync 2>/dev/null
id=1
# warm-up
dd if=\$M/bthin of=/dev/null bs=1M count=256 iflag=direct 2>/dev/null
one() {	# one round of every figure, variant \$1
	echo "bench \$r \$1 seqread \$(mb_s 256 dd if=\$M/bthin of=/dev/null bs=1M count=256 iflag=direct)"
	echo "bench \$r \$1 overwrite \$(mb_s 256 dd if=/dev/zero of=\$M/bthin bs=1M count=256 oflag=direct conv=fsync)"
	dmsetup message bpool 0 "create_thin \$id"
	dmsetup create bnew --table "0 2097152 thin \$M/bpool \$id"
	echo "bench \$r \$1 provision \$(mb_s 64 dd if=/dev/zero of=\$M/bnew bs=1M count=64 oflag=direct conv=fsync)"
	dmsetup remove bnew
	dmsetup message bpool 0 "delete \$id"
	id=\$((id + 1))
}
for r in \$(seq $rounds); do
	one unpatched
	insmod \$ko
	while [ "\$(cat \$lp/transition)" != 0 ]; do sleep 0.2; done
	one patched
	echo 0 > \$lp/enabled
	while [ -d \$lp ]; do sleep 0.2; done
	rmmod lockfix_dm_thin_reset
done
# metadata failure -> failure mode, patched
insmod \$ko
while [ "\$(cat \$lp/transition)" != 0 ]; do sleep 0.2; done
dmsetup suspend bmeta; dmsetup load bmeta --table "0 32768 error"; dmsetup resume bmeta
t0=\$(ms)
dd if=/dev/zero of=\$M/bthin bs=4096 count=1 seek=100000 oflag=direct conv=fsync 2>/dev/null || true
while ! dmsetup status bpool | grep -q Fail; do sleep 0.01; done
echo "failmode \$((\$(ms) - t0))"
dmsetup remove bthin; dmsetup remove bpool
EOS
log=$LOCKFIX_OUT/bench/dmthin-$kernel-$(date +%Y%m%d-%H%M%S).log
mkdir -p "$(dirname "$log")"
"$LOCKFIX_HARNESS/vm.sh" -q -t 1800 -m 2048 -l "$log" "$kernel" "$job" || die "benchmark VM failed (log $log)"
tr -d '\r' <"$log" | awk -v kernel="$kernel" '
	/^bench [0-9]+ / { v[$3 " " $4] = v[$3 " " $4] " " $5 }
	/^failmode / { fm = $2 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		printf "dm-thin-reset figures on %s (medians of %d rounds, one boot)\n", kernel, split(v["patched seqread"], x, " ")
		split("seqread overwrite provision", f, " ")
		for (i = 1; i <= 3; i++) {
			u = median(v["unpatched " f[i]]); p = median(v["patched " f[i]])
			printf "  %-10s unpatched %d MiB/s, patched %d MiB/s, ratio %.3f\n", f[i], u, p, p / u
		}
		printf "  metadata failure -> pool Fail (patched): %d ms\n", fm
	}'
echo "raw log: $log"
