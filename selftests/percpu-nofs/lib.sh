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

# field NAME LINE: the value of NAME=... in LINE.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# The livepatch, when run_tests.sh -m loaded it.
lp_state() {
	lp=/sys/kernel/livepatch/lockfix_percpu_nofs
	if [ -d "$lp" ]; then echo "livepatch lockfix_percpu_nofs enabled=$(cat $lp/enabled) transition=$(cat $lp/transition)"
	else echo "no livepatch"; fi
}
