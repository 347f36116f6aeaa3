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
# decision in fleet/vetted.tsv: `fixed` -> the upstream commit is in; anything else -> the
# build is not vetted / not supported.
refusal_pattern() {
	local d
	d=$(awk -F'\t' -v f="$1" -v k="$2" '!/^#/ && $1 == f && $2 == k { print $3 }' "$LOCKFIX_ROOT/fleet/vetted.tsv")
	case "$d" in
	fixed) echo 'refusing to load: kernel .* already has upstream [0-9a-f]{12}' ;;
	*) echo 'refusing to (load: kernel .* is not (a build .* was vetted on|supported by)|patch )' ;;
	esac
}

# script_results CLEAN-LOG: one line per selftest entry script, "RESULT TEST/PROG", from
# run_tests.sh's TAP: RESULT is pass, skip, bug (it failed, and every failing case it
# reported printed "lockfix: bug-reproduced", at least one), timeout or fail.
script_results() {
	awk '
		/^# selftests: [^ ]+: [^ ]+$/ { cur = $3 $4; notok[cur] = 0; bug[cur] = 0; next }
		/^# not ok [0-9]/ { notok[cur]++; next }
		/^# # lockfix: bug-reproduced / { bug[cur]++; next }
		/^(not )?ok [0-9]+ selftests: / {
			i = ($1 == "not") ? 5 : 4	# "[not] ok N selftests: TEST: PROG [# ...]"
			name = $(i) $(i + 1)
			if ($1 == "ok") r = ($0 ~ /# SKIP/) ? "skip" : "pass"
			else if ($0 ~ /# TIMEOUT/) r = "timeout"
			else if (bug[name] >= 1 && (notok[name] == 0 || bug[name] == notok[name])) r = "bug"
			else r = "fail"
			print r, name
		}' <<<"$1" | sed 's/:/\//'
}

# skip_allowed TEST PROG MODULE-EFFECTIVE KERNEL: may this script skip here?
# (selftests/TEST/may_skip; MODULE-EFFECTIVE is - when no module is loaded or it refused)
skip_allowed() {
	local conds c lockdep=0
	conds=$(awk -F'\t' -v p="$2" '!/^#/ && $1 == p { print $2 }' "$LOCKFIX_ROOT/selftests/$1/may_skip" 2>/dev/null)
	matrix_row "$4"
	[[ "$M_RELEASE" == *lockdep* ]] && lockdep=1
	for c in ${conds//,/ }; do
		case "$c" in
		no-module) [ "$3" = - ] && return 0 ;;
		lockdep) [ $lockdep = 1 ] && return 0 ;;
		not-lockdep) [ $lockdep = 0 ] && return 0 ;;
		prefix) [ "$M_KIND" = prefix ] && return 0 ;;
		not-prefix) [ "$M_KIND" != prefix ] && return 0 ;;
		esac
	done
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
	bad= effective=$module
	[ -n "$prefix" ] && effective=-
	while read -r r name; do
		[ "$r" = skip ] || continue
		skip_allowed "${name%%/*}" "${name#*/}" "$effective" "$kernel" || bad+="$name "
	done <<<"$results"
	[ -z "$bad" ] || { echo "${prefix}skipped-required(${bad% })"; return; }
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
