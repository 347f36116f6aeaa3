#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dio-nofault figures, in one boot of a vulnerable kernel (default deb11-5.10.0-46):
#   - O_DIRECT 4 KiB random and 1 MiB sequential read throughput, patched / unpatched
#     (rounds interleaved: unpatched, insmod, patched, disable + rmmod, ...), medians;
#   - 64 MiB O_DIRECT read into a mapping of the same range (patched: buffered fallback)
#     against the same transfer done buffered.
#   harness/bench-dio.sh [KERNEL-ID] [ROUNDS]
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
b=/lockfix/selftests/dio-nofault/dio_bench
lp=/sys/kernel/livepatch/lockfix_dio_nofault
modprobe btrfs
mkfs.btrfs -f -q /dev/vda >/dev/null
mkdir -p /mnt/b && mount -t btrfs /dev/vda /mnt/b
dd if=/dev/urandom of=/mnt/b/f bs=1M count=128 status=none
sync
# Warm-up: the first O_DIRECT pass reads the host's disk, later ones its page cache.
\$b /mnt/b/f seq1m 8 >/dev/null
\$b /mnt/b/f rand4k 3 >/dev/null
for r in \$(seq $rounds); do
	echo "bench \$r unpatched rand4k \$(\$b /mnt/b/f rand4k 2 | cut -d' ' -f2)"
	echo "bench \$r unpatched seq1m \$(\$b /mnt/b/f seq1m 2 | cut -d' ' -f2)"
	insmod /lockfix/modules/lockfix_dio_nofault.ko
	while [ "\$(cat \$lp/transition)" != 0 ]; do sleep 0.2; done
	echo "bench \$r patched rand4k \$(\$b /mnt/b/f rand4k 2 | cut -d' ' -f2)"
	echo "bench \$r patched seq1m \$(\$b /mnt/b/f seq1m 2 | cut -d' ' -f2)"
	echo "bench \$r patched overlap64m \$(\$b /mnt/b/f overlap64m | cut -d' ' -f2)"
	echo "bench \$r patched buffered64m \$(\$b /mnt/b/f buffered64m | cut -d' ' -f2)"
	echo 0 > \$lp/enabled
	while [ -d \$lp ]; do sleep 0.2; done
	rmmod lockfix_dio_nofault
done
EOS
log=$LOCKFIX_OUT/bench/dio-$kernel-$(date +%Y%m%d-%H%M%S).log
mkdir -p "$(dirname "$log")"
"$LOCKFIX_HARNESS/vm.sh" -q -t 1800 -m 2048 -l "$log" "$kernel" "$job" || die "benchmark VM failed (log $log)"
tr -d '\r' <"$log" | awk -v kernel="$kernel" '
	/^bench [0-9]+ / { v[$3 " " $4] = v[$3 " " $4] " " $5 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		r4u = median(v["unpatched rand4k"]); r4p = median(v["patched rand4k"])
		s1u = median(v["unpatched seq1m"]); s1p = median(v["patched seq1m"])
		ov = median(v["patched overlap64m"]); bu = median(v["patched buffered64m"])
		printf "dio-nofault figures on %s (medians of %d rounds, one boot)\n", kernel, split(v["patched rand4k"], x, " ")
		printf "  4 KiB random O_DIRECT read: unpatched %.0f ops/s, patched %.0f ops/s, ratio %.3f\n", r4u, r4p, r4p / r4u
		printf "  1 MiB sequential O_DIRECT read: unpatched %.1f ops/s, patched %.1f ops/s, ratio %.3f\n", s1u, s1p, s1p / s1u
		printf "  64 MiB O_DIRECT read into own mapping (patched) %.3f s vs buffered %.3f s: %.2fx\n", ov, bu, ov / bu
	}'
echo "raw log: $log"
