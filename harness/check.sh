#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the VM test matrix and compare every verdict with harness/expectations.tsv.
#
#   harness/check.sh                  make check: every matrix kernel is prepared, gets its
#                                     module and DKMS builds and its facts check; kernels of
#                                     CI tier `proof` (matrix.tsv) also run their proof
#   harness/check.sh --fleet          make check-fleet: every kernel runs its proof
#   harness/check.sh --kernels "deb11-5.10.0-46" --tests "dio-nofault"
#                                     the named kernels run their proof, whatever their tier
#   harness/check.sh --build-only [--kernels ...]   builds and facts checks only, no VM
#   harness/check.sh --with-module ...               only the rows that load a module
#   (make check KERNELS=... TESTS=... calls this)
#
# Before any kernel: the fleet data's consistency (harness/facts-check.sh --fleet).  One
# fresh VM per scenario (kernel, test, module or none).  A kernel whose pinned packages
# left the registry is skipped, with the reason, and the run goes on.  Results: TAP 13 on
# stdout and in out/check/<stamp>/results.tap, one serial log per scenario beside it
# (out/check/latest points at the newest run).  The last line is
# "N passed, N failed, N skipped [(skip reasons)]"; exit status 1 when any verdict was
# unexpected, 2 for bad arguments.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '3,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
kernels= tests= fleet=0 build_only=0 with_module=0
while [ $# -gt 0 ]; do
	case "$1" in
	--kernels) [ $# -ge 2 ] && [ -n "$2" ] || usage; kernels=$2; shift 2 ;;
	--tests) [ $# -ge 2 ] && [ -n "$2" ] || usage; tests=$2; shift 2 ;;
	--fleet) fleet=1; shift ;;
	--build-only) build_only=1; shift ;;
	--with-module) with_module=1; shift ;;
	-h|--help) usage ;;
	*) die "unknown argument '$1' (see $0 --help)" ;;
	esac
done
[ $fleet = 1 ] && [ $build_only = 1 ] && die "--fleet and --build-only contradict each other"

exp=$LOCKFIX_EXPECTATIONS
# The selftests, and the harness's system-VM scenarios (harness/test-install.sh): install
# (DKMS in a Debian system with gcc and headers), install-fleet (prebuilt packages from
# the flat apt repository, on a system with no compiler).
known_tests="$(cd "$LOCKFIX_ROOT/selftests" && for d in */settings; do dirname "$d"; done)
install
install-fleet"
for k in $kernels; do matrix_row "$k" >/dev/null; done
for t in $tests; do
	grep -qxF "$t" <<<"$known_tests" || die "unknown test '$t' (known: $(echo $known_tests))"
done
# Which kernels run their proof: the named ones, else the whole fleet or the proof tier.
if [ $build_only = 1 ]; then
	proof_kernels=
elif [ -n "$kernels" ] || [ $fleet = 1 ]; then
	proof_kernels=${kernels:-$(matrix_ids)}
else
	proof_kernels=$(matrix_ids_tier proof)
fi
[ -n "$kernels" ] || kernels=$(matrix_ids)
tests_named=0
[ -n "$tests" ] && tests_named=1
[ -n "$tests" ] || tests=$known_tests

# Scenarios: expectation rows whose kernel and test were selected, in matrix order.
scenarios=()
skipped=()
for k in $proof_kernels; do
	for t in $tests; do
		rows=$(awk -F'\t' -v k="$k" -v t="$t" '!/^#/ && $1 == k && $2 == t { print $3 "\t" $4 "\t" $5 }' "$exp")
		if [ -z "$rows" ]; then
			skipped+=("$k/$t"$'\t'"no expectation: add a row (or an n/a with its reason) to harness/expectations.tsv")
			continue
		fi
		if [ "$(cut -f2 <<<"$rows")" = n/a ]; then
			skipped+=("$k/$t"$'\t'"n/a: $(cut -f3 <<<"$rows")")
			continue
		fi
		while IFS=$'\t' read -r m e scope; do
			[ $with_module = 1 ] && [ "$m" = - ] && continue
			# A fleet-only row (expectations column 5) runs in make check-fleet or
			# when its test is named; plain make check lists it as skipped.
			if [ "$scope" = fleet-only ] && [ $fleet = 0 ] && [ $tests_named = 0 ]; then
				skipped+=("$k/$t/$([ "$m" = - ] && echo no-module || echo "module=$m")"$'\t'"n/a: fleet-only (make check-fleet, or TESTS=$t)")
				continue
			fi
			scenarios+=("$k"$'\t'"$t"$'\t'"$m"$'\t'"$e")
		done <<<"$rows"
	done
done

stamp=$(date +%Y%m%d-%H%M%S)
run=$LOCKFIX_OUT/check/$stamp
mkdir -p "$run"
ln -sfn "$stamp" "$LOCKFIX_OUT/check/latest"
tap=$run/results.tap
emit() { echo "$*" | tee -a "$tap"; }

# Every selected kernel is prepared and gets its build, `dkms build` and facts checks;
# only those with scenarios boot (and need an initramfs).
sel_kernels=($kernels)
declare -A needs_vm
for s in "${scenarios[@]}"; do needs_vm[${s%%$'\t'*}]=1; done

emit "TAP version 13"
self_tests=1
[ -n "${LOCKFIX_NESTED:-}" ] && self_tests=0
emit "1..$((2 * self_tests + 2 * ${#sel_kernels[@]} + ${#scenarios[@]} + ${#skipped[@]}))"

# The fleet data: vetted.tsv, proofs, expectations and the generated tables agree (not
# in the harness's own nested runs, whose matrix is a test double).
n=0 passed=0 failed=0 nskipped=0
t0=$SECONDS
if [ $self_tests = 0 ]; then
	:
elif [ -n "${LOCKFIX_CANDIDATE:-}" ]; then
	n=1
	emit "ok $n fleet/consistency # SKIP vetting $LOCKFIX_CANDIDATE (make vet): the fleet is checked by make check"
	nskipped=$((nskipped + 1))
elif n=1 && "$LOCKFIX_HARNESS/facts-check.sh" --fleet >"$run/fleet-check.log" 2>&1; then
	emit "ok $n fleet/consistency # $(tail -1 "$run/fleet-check.log") ($((SECONDS - t0))s)"
	passed=$((passed + 1))
else
	emit "not ok $n fleet/consistency # see $run/fleet-check.log"
	{ grep -v '^ok' "$run/fleet-check.log" || true; } | head -20 | sed 's/^/#   /' | tee -a "$tap"
	failed=$((failed + 1))
fi
# The harness's own registry-drift test (a vanished pinned version is a skip, not a crash).
if [ $self_tests = 1 ] && [ -n "${LOCKFIX_CANDIDATE:-}" ]; then
	n=$((n + 1))
	emit "ok $n harness/registry-drift # SKIP vetting $LOCKFIX_CANDIDATE (make vet)"
	nskipped=$((nskipped + 1))
elif [ $self_tests = 1 ]; then
	n=$((n + 1))
	t0=$SECONDS
	if "$LOCKFIX_HARNESS/test-drift.sh" >"$run/test-drift.log" 2>&1; then
		emit "ok $n harness/registry-drift # $(tail -1 "$run/test-drift.log" | cut -c13-) ($((SECONDS - t0))s)"
		passed=$((passed + 1))
	else
		emit "not ok $n harness/registry-drift # see $run/test-drift.log"
		head -20 "$run/test-drift.log" | sed 's/^/#   /' | tee -a "$tap"
		failed=$((failed + 1))
	fi
fi

# On a cold cache the pre-fix kernels are built (-j2: ~8 min, ~14 min with lockdep) while
# the other kernels' rows run, at the lowest CPU and I/O priority, so a guest keeps the cores
# it asks for (a module row's single-threaded TCG leaves one idle); their prepare stage waits
# for it just before their first row.  Only when other kernels have rows to overlap.
declare -A deferred
bg_build_pid=
if [ ${#scenarios[@]} -gt 0 ]; then
	overlap=0
	for s in "${scenarios[@]}"; do
		matrix_row "${s%%$'\t'*}"
		[ "$M_KIND" = prefix ] || overlap=1
	done
	cold=()
	for k in "${sel_kernels[@]}"; do
		matrix_row "$k"
		[ "$M_KIND" = prefix ] && [ ! -e "$(kernel_dir "$k")/.complete" ] && cold+=("$k")
	done
	if [ $overlap = 1 ] && [ ${#cold[@]} -gt 0 ]; then
		for k in "${cold[@]}"; do deferred[$k]=1; done
		lowprio=(nice -n 19)
		command -v ionice >/dev/null && lowprio+=(ionice -c 3)
		# Its own session, so an interrupted check takes the whole build down with it.
		setsid "${lowprio[@]}" bash -c 'for k in "${@:3}"; do "$1/kernel.sh" "$k" >"$2/prepare-$k.background.log" 2>&1; done' \
			build-prefix "$LOCKFIX_HARNESS" "$run" "${cold[@]}" </dev/null &
		bg_build_pid=$!
		trap '[ -z "$bg_build_pid" ] || kill -TERM -- "-$bg_build_pid" 2>/dev/null || true' EXIT
		emit "# stage: building ${cold[*]} in the background (cold cache) while the other kernels' rows run"
	fi
fi

# Prepare kernels and builds first (a kernel built in the background: before its first
# row), timing each stage.
declare -A prepared skip_reason
skip_notes=()
prepare_kernel() {	# ID
	local k=$1 krc=0 drc=0 frc=0 t0=$SECONDS
	# For a kernel built in the background, kernel.sh waits for that build's lock, then
	# finds it complete (or builds it here, with the error in this log, when it failed).
	"$LOCKFIX_HARNESS/kernel.sh" "$k" >"$run/prepare-$k.log" 2>&1 || krc=$?
	if [ -n "${deferred[$k]:-}" ]; then
		cat "$run/prepare-$k.background.log" >>"$run/prepare-$k.log" 2>/dev/null || true
		emit "# stage: $k built in the background; waited $((SECONDS - t0)) s for it"
		t0=$SECONDS
	fi
	if [ $krc = 4 ]; then
		# A pinned package vanished from the registry: every scenario of this kernel is
		# skipped, with the reason, and the run goes on.
		prepared[$k]=skipped
		skip_reason[$k]=$(sed -n 's/^lockfix: skip: //p' "$run/prepare-$k.log" | tail -1)
		skip_notes+=("${skip_reason[$k]}")
		emit "# stage: prepare $k: skipped: ${skip_reason[$k]}"
		n=$((n + 1))
		emit "ok $n $k/dkms-build # SKIP ${skip_reason[$k]}"
		n=$((n + 1))
		emit "ok $n $k/facts # SKIP ${skip_reason[$k]}"
		nskipped=$((nskipped + 2))
		return
	fi
	if [ $krc = 0 ] &&
	   { [ -z "${needs_vm[$k]:-}" ] || "$LOCKFIX_HARNESS/mkinitramfs.sh" "$k" >>"$run/prepare-$k.log" 2>&1; } &&
	   "$LOCKFIX_HARNESS/build.sh" "$k" >>"$run/prepare-$k.log" 2>&1; then
		prepared[$k]=ok
	else
		prepared[$k]=failed
		sed 's/^/# /' "$run/prepare-$k.log" | tail -20 | tee -a "$tap"
	fi
	emit "# stage: prepare $k: $((SECONDS - t0)) s (${prepared[$k]})"
	n=$((n + 1))
	t0=$SECONDS
	if [ "${prepared[$k]}" != ok ]; then
		drc=1
	else
		"$LOCKFIX_HARNESS/dkms-check.sh" "$k" >"$run/dkms-$k.log" 2>&1 || drc=$?
	fi
	case $drc in
	0) emit "ok $n $k/dkms-build # $(grep -c 'built ' "$run/dkms-$k.log") module(s) ($((SECONDS - t0))s)"; passed=$((passed + 1)) ;;
	4) emit "ok $n $k/dkms-build # SKIP $(tail -1 "$run/dkms-$k.log")"; nskipped=$((nskipped + 1)) ;;
	*) emit "not ok $n $k/dkms-build # see $run/dkms-$k.log"; failed=$((failed + 1)) ;;
	esac
	# The committed facts still describe the binaries (no boot: build-ids from the files).
	n=$((n + 1))
	if [ "${prepared[$k]}" != ok ]; then
		frc=1
	else
		"$LOCKFIX_HARNESS/facts-check.sh" "$k" >"$run/facts-$k.log" 2>&1 || frc=$?
	fi
	case $frc in
	0) emit "ok $n $k/facts # $(tail -1 "$run/facts-$k.log")"; passed=$((passed + 1)) ;;
	4) emit "ok $n $k/facts # SKIP $(tail -1 "$run/facts-$k.log")"; nskipped=$((nskipped + 1)) ;;
	*) emit "not ok $n $k/facts # $(tail -1 "$run/facts-$k.log" 2>/dev/null)"
	   sed 's/^/#   /' "$run/facts-$k.log" 2>/dev/null | head -20 | tee -a "$tap"
	   failed=$((failed + 1)) ;;
	esac
}
for k in "${sel_kernels[@]}"; do
	if [ -z "${deferred[$k]:-}" ]; then prepare_kernel "$k"; fi
done

# The verdict of each scenario: harness/verdict.sh (per script and per case).
. "$LOCKFIX_HARNESS/verdict.sh"

for s in "${scenarios[@]}"; do
	IFS=$'\t' read -r k t m want <<<"$s"
	if [ -n "${deferred[$k]:-}" ] && [ -z "${prepared[$k]:-}" ]; then prepare_kernel "$k"; fi
	n=$((n + 1))
	name="$k/$t/$([ "$m" = - ] && echo no-module || echo "module=$m")"
	log=$run/${k}_${t}_$([ "$m" = - ] && echo none || echo "$m").log
	if [ "${prepared[$k]}" = skipped ]; then
		emit "ok $n $name # SKIP ${skip_reason[$k]}"
		nskipped=$((nskipped + 1))
		continue
	fi
	if [ "${prepared[$k]}" != ok ]; then
		emit "not ok $n $name # preparing $k failed (see $run/prepare-$k.log)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$t" = install ] || [ "$t" = install-fleet ]; then
		t0=$SECONDS
		irc=0
		"$LOCKFIX_HARNESS/test-install.sh" "$k" "$([ "$t" = install ] && echo dkms || echo modules)" >"$log" 2>&1 || irc=$?
		nbad=$(grep -c '^not ok' "$log" || true) nsteps=$(grep -c '^\(not \)\{0,1\}ok' "$log" || true)
		got=pass
		[ $irc = 0 ] || got="fail($nbad of $nsteps steps failed, exit $irc)"
		dt=$((SECONDS - t0))
		if [ "$got" = "$want" ]; then
			emit "ok $n $name # expected $want, got $got (${dt}s)"
			passed=$((passed + 1))
		else
			emit "not ok $n $name # expected $want, got $got (${dt}s, log $log)"
			# The failed steps; a scenario that stopped without one shows how it ended.
			if [ "$nbad" -gt 0 ]; then
				grep -E '^not ok' "$log" | head -20
			else
				tail -15 "$log"
			fi | sed 's/^/#   /' | tee -a "$tap"
			failed=$((failed + 1))
		fi
		continue
	fi
	# run_tests.sh gives each entry script the settings timeout: the guest watchdog
	# covers all of them, plus boot and module load.
	limit=$(sed -n 's/^timeout=\([0-9]*\)$/\1/p' "$LOCKFIX_ROOT/selftests/$t/settings" | tail -1)
	nprogs=$(wc -w <"$LOCKFIX_OUT/build/$k/selftests/$t/TEST_PROGS" 2>/dev/null || echo 1)
	limit=$(( ${limit:-45} * (nprogs > 0 ? nprogs : 1) ))
	job=$run/job-$n.sh
	{
		echo "cd /lockfix/selftests"
		if [ "$m" = - ]; then
			echo "./run_tests.sh $t"
		else
			echo "./run_tests.sh -m /lockfix/modules/$(fix_module "$m").ko $t"
		fi
	} >"$job"
	# A row that enables and disables a livepatch under load may ask for single-threaded
	# TCG (settings: livepatch_tcg_thread=single): multi-threaded TCG can stall a vCPU on
	# the entry of a function ftrace is rewriting (harness/tcg-textpoke).
	tcg=multi
	[ "$m" = - ] || tcg=$(livepatch_tcg_thread "$t")
	t0=$SECONDS
	vmrc=0
	LOCKFIX_TCG_THREAD=$tcg "$LOCKFIX_HARNESS/vm.sh" -q -t "$(( limit + 120 ))" -l "$log" "$k" "$job" >/dev/null 2>>"$run/vm-errors.log" || vmrc=$?
	clean=$(tr -d '\r' <"$log" 2>/dev/null || true)
	got=$(verdict "$clean" "$vmrc" "$m" "$k")
	dt=$((SECONDS - t0))
	refused=$(grep '^# lockfix: module-refused' <<<"$clean" || true)
	[ -z "$refused" ] || emit "$refused"
	if [ "$got" = "$want" ]; then
		emit "ok $n $name # expected $want, got $got (${dt}s)"
		passed=$((passed + 1))
	else
		emit "not ok $n $name # expected $want, got $got (${dt}s, log $log)"
		{ grep -E '^(not ok|# not ok|# # lockfix|# lockfix|lockfix-)' <<<"$clean" || true; } | head -20 | sed 's/^/#   /' | tee -a "$tap"
		failed=$((failed + 1))
	fi
done
# A kernel built in the background that had no row of its own still gets its checks.
for k in "${sel_kernels[@]}"; do
	if [ -n "${deferred[$k]:-}" ] && [ -z "${prepared[$k]:-}" ]; then prepare_kernel "$k"; fi
done
bg_build_pid=
for s in "${skipped[@]}"; do
	n=$((n + 1))
	IFS=$'\t' read -r pair why <<<"$s"
	if [[ "$why" == n/a:* ]]; then
		emit "ok $n $pair # SKIP $why"
		nskipped=$((nskipped + 1))
	else
		emit "not ok $n $pair # $why"
		failed=$((failed + 1))
	fi
done
emit "# results: $tap"
if [ ${#skip_notes[@]} -gt 0 ]; then
	emit "$passed passed, $failed failed, $nskipped skipped ($(IFS=';'; echo "${skip_notes[*]}" | sed 's/;/; /g'))"
else
	emit "$passed passed, $failed failed, $nskipped skipped"
fi
[ "$failed" = 0 ]
