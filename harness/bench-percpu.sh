#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# percpu-nofs figure, in one boot of a vulnerable kernel (default deb11-5.10.0-46):
# __alloc_percpu(SIZE) + free_percpu() ns/op from kernel context (the selftest helper's
# "bench" command), A/B rounds (bench_rounds: insmod / disable + rmmod around each patched run).
# Each figure is the fastest of RUNS runs of OPS operations; medians and minima over
# rounds, and the patched/unpatched throughput ratio (unpatched ns / patched ns; the goal
# is >= 0.95).
#   harness/bench-percpu.sh [KERNEL-ID] [ROUNDS] [OPS] [SIZE] [RUNS]
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$LOCKFIX_HARNESS/bench-lib.sh"
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
$BENCH_GUEST_LIBS
t=/proc/lockfix_percpu_test
insmod /lockfix/selftests/percpu-nofs/lockfix_percpu_test.ko || bench_fail "cannot load the test helper"
# One figure = the fastest of RUNS back-to-back runs (host interference only adds time).
b1() { echo "bench $ops $size" > \$t && cut -d= -f2 < \$t; }
b() { m=; for k in \$(seq $runs); do x=\$(b1) || return 1; lf_is_number "\$x" || return 1; [ -z "\$m" ] || [ "\$x" -lt "\$m" ] && m=\$x; done; echo \$m; }
measure() { x=\$(b) || bench_fail "the helper's bench failed (\$2, round \$1)"; echo "bench \$1 \$2 ns \$x"; }
b >/dev/null; b >/dev/null	# warm-up
sleep 2
BENCH_SETTLE=2	# let each insmod's/rmmod's deferred work (RCU, kprobe/ftrace) settle
bench_rounds $rounds lockfix_percpu_nofs measure
EOS
bench_vm percpu "$kernel" 1200 "$job"
# ns/op: lower is better, so the throughput ratio is unpatched / patched.
m=$(bench_medians <"$BENCH_LOG")
r=$(bench_ratios <"$BENCH_LOG" | bench_medians)
u=$(bench_stat "$m" unpatched ns) p=$(bench_stat "$m" patched ns)
umin=$(bench_stat "$m" unpatched ns min) pmin=$(bench_stat "$m" patched ns min) pr=$(bench_stat "$r" ratio ns)
echo "percpu-nofs figures on $kernel (medians of $(bench_stat "$m" patched ns n) rounds of $ops ops, $size-byte areas, one boot, odd rounds unpatched first)"
awk -v u="$u" -v p="$p" -v umin="$umin" -v pmin="$pmin" -v pr="$pr" 'BEGIN {
	printf "  __alloc_percpu + free_percpu: unpatched %d ns/op, patched %d ns/op, ratio %.3f\n", u, p, u / p
	printf "  fastest over all rounds: unpatched %d ns/op, patched %d ns/op, ratio %.3f\n", umin, pmin, umin / pmin
	printf "  median of the per-round ratios (each round: both variants, seconds apart): %.3f\n", 1 / pr }'
echo "  rounds (ns/op): unpatched $(bench_stat "$m" unpatched ns values), patched $(bench_stat "$m" patched ns values)"
echo "raw log: $BENCH_LOG"
