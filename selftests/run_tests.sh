#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# lockfix selftest runner (kselftest style, TAP 13).  Used inside the harness's guests
# and by hand, as root, on a real test VM:
#
#   # ./run_tests.sh                          every installed test
#   # ./run_tests.sh dio-nofault              one test
#   # ./run_tests.sh -m ../dio-nofault.ko dio-nofault
#                                             load a lockfix livepatch first
# Each test directory has a `settings` file (timeout=SECONDS) and a `TEST_PROGS` file
# (written at install from its Makefile's TEST_PROGS): the entry scripts, in order.
# A script's exit status is read as kselftest defines it: 0 pass, 4 skip, anything else (bash's 2 for a syntax error included) fail.  Exit: 0 when every test
# passed or skipped, 1 otherwise.
#
# Lines the harness reads (besides TAP):
#   # lockfix: module-loaded NAME            /sys/kernel/livepatch/NAME exists, enabled=1,
#                                            transition=0 (within 60 s of insmod)
#   # lockfix: module-functions NAME: F...   its patched functions in tracing's
#                                            enabled_functions (objects loaded so far)
#   # lockfix: module-not-live NAME: WHY     insmod worked but the patch is not live
#   # lockfix: module-refused NAME: REASON   insmod failed; REASON is the kernel's message
#   # lockfix: bug-reproduced TEST/CASE: ... printed by a test that saw the bug happen
here=$(cd "$(dirname "$0")" && pwd)

usage() {
	echo "usage: $0 [-m MODULE.ko]... [TEST...]" >&2
	echo "tests: $(cat "$here/TARGETS" 2>/dev/null)" >&2
	exit 2
}

modules=
while [ $# -gt 0 ]; do
	case "$1" in
	-m) [ $# -ge 2 ] || usage; modules="$modules $2"; shift 2 ;;
	-h|--help) usage ;;
	-*) echo "run_tests.sh: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
tests="$*"
[ -n "$tests" ] || tests=$(cat "$here/TARGETS")
for t in $tests; do
	[ -f "$here/$t/settings" ] || { echo "run_tests.sh: no such test '$t' in $here" >&2; usage; }
done
for m in $modules; do
	[ -f "$m" ] || { echo "run_tests.sh: module file '$m' not found" >&2; exit 2; }
done

prefix() { while IFS= read -r line; do echo "# $line"; done; }

# load_module KO: insmod a livepatch and wait for its transition to finish.
load_module() {
	name=$(basename "$1" .ko | tr - _)
	before=$(dmesg | wc -l)
	if ! err=$(insmod "$1" 2>&1); then
		# The module's own refusal line(s) first (a long "vetted:" list must not push
		# them out), else its last messages.
		msgs=$(dmesg | tail -n +"$((before + 1))" | grep -i "$name\|livepatch" |
			grep -v -i 'taint\|verification failed' | sed 's/^\[[ 0-9.]*\] //')
		reason=$(echo "$msgs" | grep -i 'refusing' | head -3 | tr '\n' ' ')
		[ -n "$reason" ] || reason=$(echo "$msgs" | tail -3 | tr '\n' ' ')
		echo "# lockfix: module-refused $name: ${reason:-$err}"
		return 1
	fi
	lp=/sys/kernel/livepatch/$name
	i=0
	while [ -f "$lp/transition" ] && [ "$(cat "$lp/transition")" != 0 ] && [ $i -lt 120 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	if [ ! -d "$lp" ]; then
		echo "# lockfix: module-not-live $name: insmod succeeded but $lp does not exist"
		return 1
	fi
	if [ "$(cat "$lp/enabled")" != 1 ] || [ "$(cat "$lp/transition")" != 0 ]; then
		echo "# lockfix: module-not-live $name: enabled=$(cat "$lp/enabled") transition=$(cat "$lp/transition") after 60 s"
		return 1
	fi
	echo "# lockfix: module-loaded $name"
	# Its functions (the klp sysfs dirs OBJECT/FUNC,SYMPOS) as tracing's enabled_functions
	# shows them; an object module not loaded yet gets patched when it loads.
	ef=
	for f in /sys/kernel/tracing/enabled_functions /sys/kernel/debug/tracing/enabled_functions; do
		[ -r "$f" ] && { ef=$f; break; }
	done
	fns=
	for fd in "$lp"/*/*,*/; do
		[ -d "$fd" ] || continue
		obj=$(basename "$(dirname "$fd")") fn=$(basename "$fd")
		fn=${fn%,*}
		if [ "$obj" != vmlinux ] && [ ! -d "/sys/module/$obj" ]; then
			fns="$fns $fn(when $obj loads)"
		elif [ -n "$ef" ] && awk -v f="$fn" '$1 == f { n++ } END { exit !n }' "$ef"; then
			fns="$fns $fn"
		else
			fns="$fns $fn(not in ${ef:-enabled_functions})"
		fi
	done
	echo "# lockfix: module-functions $name:$fns"
}

timeout_of() {
	sed -n 's/^timeout=\([0-9][0-9]*\)$/\1/p' "$1/settings" | tail -1
}

# run_prog DIR PROG TIMEOUT: run one entry script, output prefixed; its exit status
# (or "timeout") is left in RC.  A test stuck in D state cannot be killed: after the timeout we stop
# waiting for it, report it, and go on.
run_prog() {
	dir=$1 prog=$2 limit=$3
	rcfile=$(mktemp) pidfile=$(mktemp) outfile=$(mktemp)
	# Its own session and process group (setsid): on timeout the whole group is killed,
	# children included (tasks in D state stay, and are reported).
	( setsid sh -c 'echo $$ >"$1"; cd "$2" && exec "./$3"' _ "$pidfile" "$dir" "$prog"
	  echo $? >"$rcfile" ) 2>&1 | tee "$outfile" | prefix &
	waited=0
	while [ ! -s "$rcfile" ] && [ $waited -lt $((limit * 2)) ]; do
		sleep 0.5
		waited=$((waited + 1))
	done
	if [ ! -s "$rcfile" ]; then
		pg=$(cat "$pidfile")
		[ -n "$pg" ] && kill -KILL -- "-$pg" 2>/dev/null || true
		echo "# lockfix: test-timeout $prog after ${limit}s"
		rc=timeout
	else
		sleep 0.2	# let the prefixer drain
		rc=$(cat "$rcfile")
	fi
	# The bug reproduced: its deadlocked tasks stay for the rest of the boot, and the
	# test's later scripts may skip for it (lf_skip_after_bug; may_skip: after-bug).
	bug=$(grep -m1 'lockfix: bug-reproduced ' "$outfile" | sed 's/.*lockfix: bug-reproduced \([^ :]*\).*/\1/')
	[ -n "$bug" ] && [ -z "${LOCKFIX_BUG_SEEN:-}" ] && LOCKFIX_BUG_SEEN="$prog: $bug"
	rm -f "$rcfile" "$pidfile" "$outfile"
	RC=$rc
}

echo "TAP version 13"
for m in $modules; do load_module "$m"; done

n=0
total=0
for t in $tests; do
	[ -f "$here/$t/TEST_PROGS" ] || { echo "run_tests.sh: $here/$t has no TEST_PROGS (make install writes it)" >&2; exit 2; }
	total=$((total + $(wc -w <"$here/$t/TEST_PROGS")))
done
echo "1..$total"
failed=0
for t in $tests; do
	LOCKFIX_BUG_SEEN=	# per test: what its scripts reproduced so far in this boot
	export LOCKFIX_BUG_SEEN
	limit=$(timeout_of "$here/$t")
	limit=${limit:-45}
	for prog in $(cat "$here/$t/TEST_PROGS"); do
		n=$((n + 1))
		echo "# selftests: $t: $prog"
		run_prog "$here/$t" "$prog" "$limit"
		case "$RC" in
		0) echo "ok $n selftests: $t: $prog" ;;
		4) echo "ok $n selftests: $t: $prog # SKIP" ;;
		timeout) echo "not ok $n selftests: $t: $prog # TIMEOUT $limit seconds"; failed=1 ;;
		*) echo "not ok $n selftests: $t: $prog # exit=$RC"; failed=1 ;;
		esac
	done
done
exit $failed
