# SPDX-License-Identifier: GPL-2.0
# percpu-nofs test helpers (POSIX sh), sourced after ../lib/lockfix.sh.
PT=/proc/lockfix_percpu_test

# pt_load: insmod the test-only helper module once per boot (it stays loaded).
pt_load() {
	[ -e "$PT" ] && return 0
	insmod "$here/lockfix_percpu_test.ko" || lf_fail "cannot load the test helper module"
	[ -e "$PT" ] || lf_fail "$PT missing after insmod"
}

# pt CMD...: run one helper command, print its result line.
pt() {
	echo "$*" >"$PT" || { echo "error"; return 1; }
	cat "$PT"
}

# pt_wait_worker: keep 1024 GFP_NOWAIT allocations of 4 KiB (they eat populated space, so
# the balance worker is queued to populate more) until the worker has allocated pages, at
# most 10 times; leaves the last hold result in PT_HOLD and the worker stats in PT_STATS.
pt_wait_worker() {
	_i=0
	while :; do
		PT_HOLD=$(pt hold 1024 4096)
		sleep 1
		PT_STATS=$(pt stats)
		[ "$(lf_field worker_allocs "$PT_STATS")" -gt 0 ] && break
		_i=$((_i + 1))
		[ $_i -ge 10 ] && break
	done
	pt release >/dev/null
}

# The livepatch, when run_tests.sh -m loaded it.
lp_state() {
	lp=/sys/kernel/livepatch/lockfix_percpu_nofs
	if [ -d "$lp" ]; then echo "livepatch lockfix_percpu_nofs enabled=$(cat $lp/enabled) transition=$(cat $lp/transition)"
	else echo "no livepatch"; fi
}
