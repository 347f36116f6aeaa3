# SPDX-License-Identifier: GPL-2.0
# What the four benchmarks (harness/bench-{ordered,percpu,dmthin,dio}.sh) share, sourced
# after lib.sh.  The guest side, the A/B rounds with one insmod / disable / rmmod loop,
# is selftests/lib/bench.sh (bench_rounds); BENCH_GUEST_LIBS is the line a guest job
# starts with to have it.  Here: the guest run and the statistics.
BENCH_GUEST_LIBS='here=/lockfix/selftests/lib; . $here/lockfix.sh; . $here/bench.sh'

# bench_vm NAME KERNEL TIMEOUT JOB [JOB-ARG...]: one benchmark boot of KERNEL (3 GiB: the
# dm and btrfs set-ups want room); its serial log in BENCH_LOG
# (out/bench/NAME-KERNEL-TIME.log).  Dies with the guest's "bench-error:" lines when the
# job failed, and when it did not finish its rounds.
bench_vm() {
	local name=$1 kernel=$2 timeout=$3 job=$4 rc=0
	shift 4
	BENCH_LOG=$LOCKFIX_OUT/bench/$name-$kernel-$(date +%Y%m%d-%H%M%S).log
	mkdir -p "$(dirname "$BENCH_LOG")"
	"$LOCKFIX_HARNESS/vm.sh" -q -t "$timeout" -m 3072 -l "$BENCH_LOG" "$kernel" "$job" "$@" || rc=$?
	if [ $rc != 0 ]; then
		tr -d '\r' <"$BENCH_LOG" | grep '^bench-error' >&2 || true
		echo "lockfix: error: $name benchmark VM failed (exit $rc; log $BENCH_LOG)" >&2
		exit 1
	fi
	tr -d '\r' <"$BENCH_LOG" | grep -q '^bench-round [0-9]* done' ||
		{ echo "lockfix: error: $name benchmark: no round finished (log $BENCH_LOG)" >&2; exit 1; }
}

# bench_medians < LINES: the benchmarks' one statistic.  From "bench ROUND VARIANT METRIC
# VALUE" lines, one line "VARIANT METRIC MEDIAN N MIN VALUES" per variant and metric, VALUES
# the round values comma-separated in round order (sorted by variant and metric).
bench_medians() {
	tr -d '\r' | awk '
		/^bench [0-9]+ / { k = $3 " " $4; v[k] = v[k] " " $5; raw[k] = raw[k] (raw[k] == "" ? "" : ",") $5 }
		END {
			for (k in v) {
				n = split(v[k], a, " ")
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
					if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
				print k, (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2), n, a[1], raw[k]
			}
		}' | sort
}

# bench_stat MEDIANS VARIANT METRIC [median|n|min|values]: one field of bench_medians'
# output MEDIANS (a string); empty when that variant and metric have no figures.
bench_stat() {
	awk -v v="$2" -v m="$3" -v f="${4:-median}" '$1 == v && $2 == m {
		print (f == "n" ? $4 : f == "min" ? $5 : f == "values" ? $6 : $3) }' <<<"$1"
}

# bench_ratios < LINES: for every round with both variants of a metric, a line "bench
# ROUND ratio METRIC PATCHED/UNPATCHED" (throughputs; for times take the reciprocal), to
# go through bench_medians as the median of the per-round ratios.
bench_ratios() {
	tr -d '\r' | awk '
		/^bench [0-9]+ (unpatched|patched) / { x[$2 " " $4 " " $3] = $5; k[$2 " " $4] = 1 }
		END { for (rm in k) { u = x[rm " unpatched"]; p = x[rm " patched"]
			if (u != "" && p != "" && u + 0 != 0) { split(rm, a, " "); printf "bench %s ratio %s %.4f\n", a[1], a[2], p / u } } }'
}
