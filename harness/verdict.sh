# SPDX-License-Identifier: GPL-2.0
# lockfix harness: the verdict of one scenario from its serial log.  Sourced (after
# lib.sh) by check.sh, never run; `harness/verdict.sh`'s functions can also be used to
# re-judge a kept log:  . harness/lib.sh; . harness/verdict.sh; verdict "$(tr -d '\r' <LOG)" RC MODULE KERNEL
#
# Verdicts: pass, bug, skip, refused+<tests part>, and the failures hang-unreported (guest
# watchdog), vm-died, wrong-kernel(<release>), module-load-error, module-not-live,
# module-not-run, refused-for-another-reason, pass-with-kernel-splat, timeout(<scripts>),
# fail(<scripts>), no-tests.

# refusal_pattern FIX KERNEL: what the module's refusal must say there (ERE), from the
# decision in fleet/vetted.tsv: `fixed` -> the kernel has the fix's own upstream commit (the
# first one of UPSTREAM in FIX/livepatch.c); anything else -> this fix is not vetted on /
# not supported by the build.  Any other refusal (a target fingerprint mismatch, "refusing
# to patch ...", another fix's commit) is refused-for-another-reason.
refusal_pattern() {
	local d commit
	d=$(fleet_decision "$1" "$2")
	case "$d" in
	fixed)
		commit=$(sed -n 's/^#define UPSTREAM "\([0-9a-f]\{12\}\) .*/\1/p' "$LOCKFIX_ROOT/$1/livepatch.c" | head -1)
		echo "refusing to load: kernel .* already has upstream ${commit:-no-UPSTREAM-in-$1/livepatch.c}"
		;;
	*) echo "refusing to load: kernel .* is not (a build $1 was vetted on|supported by $1)" ;;
	esac
}

# script_results CLEAN-LOG: one line per selftest entry script, "RESULT TEST/PROG", from
# run_tests.sh's TAP: RESULT is pass, skip, bug (it failed, and every failing case it
# reported printed "lockfix: bug-reproduced", at least one), timeout or fail.  A skip's
# line goes on with the script's last "SKIP: <reason>" (lf_skip), or "(no reason)".
script_results() {
	awk '
		/^# selftests: [^ ]+: [^ ]+$/ { cur = $3 $4; notok[cur] = 0; bug[cur] = 0; why[cur] = ""; next }
		/^# # SKIP: / { why[cur] = substr($0, 11); next }
		/^# not ok [0-9]/ { notok[cur]++; next }
		/^# # lockfix: bug-reproduced / { bug[cur]++; next }
		/^(not )?ok [0-9]+ selftests: / {
			i = ($1 == "not") ? 5 : 4	# "[not] ok N selftests: TEST: PROG [# ...]"
			name = $(i) $(i + 1)
			if ($1 == "ok") r = ($0 ~ /# SKIP/) ? "skip" : "pass"
			else if ($0 ~ /# TIMEOUT/) r = "timeout"
			else if (bug[name] >= 1 && (notok[name] == 0 || bug[name] == notok[name])) r = "bug"
			else r = "fail"
			if (r == "skip") print r, name, (why[name] == "" ? "(no reason)" : why[name])
			else print r, name
		}' <<<"$1" | sed 's/:/\//'
}

# skip_condition COND MODULE-EFFECTIVE BUG-BEFORE: does may_skip condition COND hold for
# the row (matrix_row already read; BUG-BEFORE 1 when an earlier script of the row
# reproduced the bug)?  Status 0 yes, 1 no, 2 COND is not a condition (facts-check --fleet
# reports those).
skip_condition() {
	case "$1" in
	no-module) [ "$2" = - ] ;;
	after-bug) [ "${3:-0}" = 1 ] ;;
	lockdep) [[ "${M_RELEASE:-}" == *lockdep* ]] ;;
	not-lockdep) [[ "${M_RELEASE:-}" != *lockdep* ]] ;;
	prefix) [ "${M_KIND:-}" = prefix ] ;;
	not-prefix) [ "${M_KIND:-}" != prefix ] ;;
	*) return 2 ;;
	esac
}

# skip_allowed TEST PROG MODULE-EFFECTIVE KERNEL REASON BUG-BEFORE: may this script skip here, for
# that reason?  selftests/TEST/may_skip: a line "PROG<TAB>CONDITIONS<TAB>REASON-ERE" allows
# it when one of its conditions holds and the skip's reason matches its ERE; a line without
# an ERE allows nothing (a skip for another reason, e.g. after a failed reload, fails the
# row).  MODULE-EFFECTIVE is - when no module is loaded or it refused; BUG-BEFORE as for
# skip_condition.
skip_allowed() {
	local conds why c
	matrix_row "$4"
	while IFS=$'\t' read -r conds why; do
		[ -n "$why" ] && grep -Eq -- "$why" <<<"$5" || continue
		for c in ${conds//,/ }; do
			skip_condition "$c" "$3" "${6:-0}" && return 0
		done
	done < <(awk -F'\t' -v p="$2" '!/^#/ && $1 == p { print $2 "\t" $3 }' "$LOCKFIX_ROOT/selftests/$1/may_skip" 2>/dev/null)
	return 1
}

# verdict CLEAN-LOG VMRC MODULE KERNEL: the observed verdict of one scenario, from its
# serial log with carriage returns removed.
verdict() {
	local clean=$1 vmrc=$2 module=$3 kernel=$4 prefix= refusal booted results bad splat
	case "$vmrc" in
	124) echo "hang-unreported"; return ;;
	125) echo "vm-died"; return ;;
	esac
	matrix_row "$kernel"
	booted=$(sed -n 's/.*lockfix-guest: booted //p' <<<"$clean" | head -1)
	[ "$booted" = "$M_RELEASE" ] || { echo "wrong-kernel(${booted:-none})"; return; }
	if [ "$module" != - ]; then
		refusal=$(grep -m1 "^# lockfix: module-refused " <<<"$clean" || true)
		if [ -n "$refusal" ]; then
			if grep -Eq "$(refusal_pattern "$module" "$kernel")" <<<"$refusal"; then
				prefix="refused+"
			elif grep -q "refusing to" <<<"$refusal"; then
				echo "refused-for-another-reason"; return
			else
				echo "module-load-error"; return
			fi
		elif grep -q "^# lockfix: module-not-live " <<<"$clean"; then
			echo "module-not-live"; return
		elif ! grep -q "^# lockfix: module-loaded " <<<"$clean"; then
			echo "module-not-run"; return
		fi
	fi
	results=$(script_results "$clean")
	[ -n "$results" ] || { echo "${prefix}no-tests"; return; }
	bad=$(awk '$1 == "timeout" { print $2 }' <<<"$results" | tr '\n' ' ')
	[ -z "$bad" ] || { echo "${prefix}timeout(${bad% })"; return; }
	bad=$(awk '$1 == "fail" { print $2 }' <<<"$results" | tr '\n' ' ')
	[ -z "$bad" ] || { echo "${prefix}fail(${bad% })"; return; }
	# A skip counts only where the test declares it may happen (selftests/*/may_skip).
	# A deadlock stays for the rest of the boot: the scripts after one that reproduced the
	# bug may skip for that reason where their may_skip says after-bug.
	bad= effective=$module bug_before=0
	[ -n "$prefix" ] && effective=-
	while read -r r name why; do
		[ "$r" = bug ] && bug_before=1
		[ "$r" = skip ] || continue
		skip_allowed "${name%%/*}" "${name#*/}" "$effective" "$kernel" "$why" "$bug_before" || bad+="$name: $why, "
	done <<<"$results"
	[ -z "$bad" ] || { echo "${prefix}skipped-required(${bad%, })"; return; }
	if grep -q '^bug ' <<<"$results"; then
		echo "${prefix}bug"; return
	fi
	if ! grep -q '^pass ' <<<"$results"; then
		echo "${prefix}skip"; return
	fi
	[ "$vmrc" = 0 ] || { echo "${prefix}fail(exit-$vmrc)"; return; }
	# A kernel splat in the guest's dmesg fails a pass.  Hung-task reports alone are not
	# splats (a slow sync under TCG can trip them); their "Call Trace" is not matched.
	splat=$(sed -n '/^LOCKFIX-DMESG-BEGIN$/,/^LOCKFIX-DMESG-END$/p' <<<"$clean" |
		grep -E -c 'BUG: |Oops|WARNING: |general protection|possible circular locking|possible recursive locking|inconsistent lock state|KASAN|UBSAN' || true)
	if [ "$splat" != 0 ]; then
		echo "${prefix}pass-with-kernel-splat"
	else
		echo "${prefix}pass"
	fi
}
