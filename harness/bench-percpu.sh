#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs figure, in one boot of a vulnerable kernel (default deb11-5.10.0-46):
# __alloc_percpu(SIZE) + free_percpu() ns/op from kernel context (the selftest helper's
# "bench" command), rounds interleaved: unpatched, insmod, patched, disable + rmmod, ...
# Each figure is the fastest of RUNS runs of OPS operations; medians and minima over
# rounds, and the patched/unpatched throughput ratio (unpatched ns / patched ns; the goal
# is >= 0.95).
#   harness/bench-percpu.sh [KERNEL-ID] [ROUNDS] [OPS] [SIZE] [RUNS]
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
kernel=${1:-deb11-5.10.0-46}
rounds=${2:-15}
ops=${3:-10000}
size=${4:-64}
runs=${5:-10}
for n in "$rounds" "$ops" "$size" "$runs"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS, OPS, SIZE and RUNS must be positive numbers"; done
matrix_row "$kernel" >/dev/null
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<EOS
#!/bin/sh
set -e
t=/proc/lockfix_percpu_test
lp=/sys/kernel/livepatch/lockfix_percpu_nofs
insmod /lockfix/selftests/percpu-nofs/lockfix_percpu_test.ko
# One figure = the fastest of RUNS back-to-back runs (host interference only adds time).
b1() { echo "bench $ops $size" > \$t; cut -d= -f2 < \$t; }
b() { m=; for k in \$(seq $runs); do x=\$(b1); [ -z "\$m" ] || [ "\$x" -lt "\$m" ] && m=\$x; done; echo \$m; }
b >/dev/null; b >/dev/null	# warm-up
for r in \$(seq $rounds); do
	sleep 2	# let the previous rmmod's/insmod's deferred work (RCU, kprobe/ftrace) settle
	echo "bench \$r unpatched \$(b)"
	insmod /lockfix/modules/lockfix_percpu_nofs.ko
	while [ "\$(cat \$lp/transition)" != 0 ]; do sleep 0.2; done
	sleep 2
	echo "bench \$r patched \$(b)"
	echo 0 > \$lp/enabled
	while [ -d \$lp ]; do sleep 0.2; done
	rmmod lockfix_percpu_nofs
done
EOS
log=$LOCKFIX_OUT/bench/percpu-$kernel-$(date +%Y%m%d-%H%M%S).log
mkdir -p "$(dirname "$log")"
"$LOCKFIX_HARNESS/vm.sh" -q -t 1200 -l "$log" "$kernel" "$job" || die "benchmark VM failed (log $log)"
tr -d '\r' <"$log" | awk -v kernel="$kernel" -v ops="$ops" -v size="$size" '
	/^bench [0-9]+ / { v[$3] = v[$3] " " $4; raw = raw " " $3 "=" $4; r[$2 " " $3] = $4; n = $2 }
	function min(s,   a, n, i, m) {
		n = split(s, a, " "); m = a[1]
		for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]
		return m
	}
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		u = median(v["unpatched"]); p = median(v["patched"])
		for (i = 1; i <= n; i++) if (r[i " patched"] > 0) pr = pr " " r[i " unpatched"] / r[i " patched"]
		printf "percpu-nofs figures on %s (medians of %d rounds of %d ops, %d-byte areas, one boot)\n", kernel, split(v["patched"], x, " "), ops, size
		printf "  __alloc_percpu + free_percpu: unpatched %d ns/op, patched %d ns/op, ratio %.3f\n", u, p, u / p
		printf "  fastest over all rounds: unpatched %d ns/op, patched %d ns/op, ratio %.3f\n", min(v["unpatched"]), min(v["patched"]), min(v["unpatched"]) / min(v["patched"])
		printf "  median of the per-round ratios (each round: unpatched then patched, seconds apart): %.3f\n", median(pr)
		printf "  raw:%s\n", raw
	}'
echo "raw log: $log"
