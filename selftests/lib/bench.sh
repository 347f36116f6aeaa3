# SPDX-License-Identifier: GPL-2.0
# Guest side of the harness's benchmarks (harness/bench-*.sh), sourced by their guest job
# after lockfix.sh:
#   here=/lockfix/selftests/lib; . $here/lockfix.sh; . $here/bench.sh
#
# bench_rounds ROUNDS LIVEPATCH FN: the benchmarks' one A/B loop.  ROUNDS times, FN ROUND
# unpatched and FN ROUND patched, odd rounds unpatched first, even rounds patched first (to
# cancel drift within the boot).  Before "patched" the livepatch is inserted and its
# transition finished (enabled=1); after it, disabled, its transition finished, rmmod'ed:
# FN's patched figures cover one fresh load each.  BENCH_SETTLE seconds (default 0) are
# slept after each insmod and each rmmod (deferred work: RCU, ftrace).  FN prints its
# figures as "bench ROUND VARIANT METRIC VALUE" lines (the host's bench_medians reads them)
# and returns non-zero on an error (a message on stdout, "bench-error: ..." best).
# bench_fail MESSAGE: "bench-error: MESSAGE" and exit 3 (the host reports it and fails).
bench_fail() { echo "bench-error: $*"; exit 3; }

bench_rounds() {
	_rounds=$1 _bench_fn=$3
	lf_is_number "$_rounds" && [ "$_rounds" -ge 1 ] || bench_fail "bench_rounds: ROUNDS '$_rounds' is not a positive number"
	lf_livepatch_name "$2"
	[ -f "$LF_LP_KO" ] || bench_fail "$LF_LP_KO was not built for this kernel"
	[ -d "$LF_LP_DIR" ] && bench_fail "$2 is already loaded: the unpatched figures would be patched"
	_r=1
	while [ "$_r" -le "$_rounds" ]; do
		if [ $((_r % 2)) = 1 ]; then
			bench_variant "$_r" unpatched && bench_variant "$_r" patched
		else
			bench_variant "$_r" patched && bench_variant "$_r" unpatched
		fi || bench_fail "round $_r failed"
		echo "bench-round $_r done"
		_r=$((_r + 1))
	done
}

# bench_variant ROUND unpatched|patched: one FN call, the livepatch loaded around it.
bench_variant() {
	if [ "$2" = patched ]; then
		lf_livepatch_load || bench_fail "$LF_LP_NAME: $LF_WHY ($(dmesg | tail -3 | tr '\n' ' '))"
		[ "$(cat "$LF_LP_DIR/enabled")" = 1 ] || bench_fail "$LF_LP_NAME loaded but not enabled"
		sleep "${BENCH_SETTLE:-0}"
	fi
	"$_bench_fn" "$1" "$2" || bench_fail "$_bench_fn $1 $2 failed"
	if [ "$2" = patched ]; then
		lf_livepatch_unload || bench_fail "$LF_LP_NAME: $LF_WHY"
		sleep "${BENCH_SETTLE:-0}"
	fi
}
