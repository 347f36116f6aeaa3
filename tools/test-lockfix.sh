#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Tests of tools/lockfix without a kernel: fake sysroots (sysfs livepatch and module
# directories, /proc/sys/kernel/*, /sys/kernel/notes with a GNU build-id note, tasks'
# patch_state), fake uname, a fake kernel log, and stand-ins for modprobe, rmmod, modinfo
# and logger.  Nothing outside a temporary directory is touched; nothing needs root.
#
#   tools/test-lockfix.sh [-v]        TAP 13 on stdout; exit 1 on any failure
#
# Data: tools/testdata/fleet (frozen); one case also reads the real fleet/.
# shellcheck disable=SC2016,SC2059 # checks are eval'd strings; printf builds binary notes
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
LF=$here/lockfix
FIXTURE=$here/testdata/fleet
VERBOSE=0
[ "${1:-}" = -v ] && VERBOSE=1

T=$(mktemp -d "${TMPDIR:-/tmp}/lockfix-test.XXXXXX")
BGPIDS=()
cleanup() {
	local p
	for p in "${BGPIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

REL46=5.10.0-46-amd64
VER46=$(awk -F'\t' '$1 == "version" { print $2 }' "$FIXTURE/facts/deb11-5.10.0-46.tsv")
BID46=$(awk -F'\t' '$1 == "build-id" && $2 == "vmlinux" { print $3 }' "$FIXTURE/facts/deb11-5.10.0-46.tsv")
# The real facts, when recorded, must still describe the same build as the fixture.
if [ -f "$top/fleet/facts/deb11-5.10.0-46.tsv" ]; then
	real=$(awk -F'\t' '$1 == "build-id" && $2 == "vmlinux" { print $3 }' "$top/fleet/facts/deb11-5.10.0-46.tsv")
	[ "$real" = "$BID46" ] || echo "# note: fleet/facts/deb11-5.10.0-46.tsv has vmlinux build-id $real, the fixture $BID46"
fi

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
	return 0
}
# check DESC CONDITION...: the condition is a command
check() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d" "rc=$RC; output:
$OUT"; fi; }

# ---------------------------------------------------------------- stand-ins

mkdir -p "$T/bin"
# modprobe MODULE: behaves as FAKE_MODPROBE_MODE says: ok (patch applied at once), slow
# (transition finishes after 1 s), stuck (transition never finishes; a blocking task),
# refuse, keyreject, busy.
cat >"$T/bin/modprobe" <<'EOF'
#!/bin/bash
echo "modprobe $*" >>"$FAKE_CALLS"
mod=${!#}
lp=$LOCKFIX_SYSROOT/sys/kernel/livepatch/$mod
case ${FAKE_MODPROBE_MODE:-ok} in
ok|slow|stuck)
	mkdir -p "$lp" "$LOCKFIX_SYSROOT/sys/module/$mod/parameters"
	echo 1 >"$lp/enabled"
	echo "$mod: enabling on $LOCKFIX_UNAME_R ($LOCKFIX_UNAME_V), vetted build deb11-5.10.0-46" >>"$LOCKFIX_KLOG"
	case ${FAKE_MODPROBE_MODE:-ok} in
	ok) echo 0 >"$lp/transition" ;;
	slow) echo 1 >"$lp/transition"; (sleep 1; echo 0 >"$lp/transition") >/dev/null 2>&1 & ;;
	stuck)
		echo 1 >"$lp/transition"
		mkdir -p "$LOCKFIX_SYSROOT/proc/4242/task/4243"
		echo 0 >"$LOCKFIX_SYSROOT/proc/4242/task/4243/patch_state"
		echo stuckd >"$LOCKFIX_SYSROOT/proc/4242/task/4243/comm" ;;
	esac ;;
refuse)
	echo "[   12.000001] $mod: refusing to load: kernel $LOCKFIX_UNAME_R ($LOCKFIX_UNAME_V) is not a build x was vetted on" >>"$LOCKFIX_KLOG"
	echo "[   12.000002] $mod:   vetted: 5.10.0-45-amd64 (#1 SMP Debian 5.10.259-1)" >>"$LOCKFIX_KLOG"
	echo "modprobe: ERROR: could not insert '$mod': Operation not supported" >&2
	exit 1 ;;
keyreject)
	echo "[   12.5] Loading of unsigned module is rejected" >>"$LOCKFIX_KLOG"
	echo "modprobe: ERROR: could not insert '$mod': Key was rejected by service" >&2
	exit 1 ;;
busy)
	echo "modprobe: ERROR: could not insert '$mod': Device or resource busy" >&2
	exit 1 ;;
esac
EOF
cat >"$T/bin/rmmod" <<'EOF'
#!/bin/bash
echo "rmmod $*" >>"$FAKE_CALLS"
[ -d "$LOCKFIX_SYSROOT/sys/kernel/livepatch/$1" ] && { echo "rmmod: ERROR: Module $1 is in use" >&2; exit 1; }
rm -rf "$LOCKFIX_SYSROOT/sys/module/$1"
EOF
# modinfo -k RELEASE -n MODULE: found unless MODULE is in FAKE_NOT_BUILT.
cat >"$T/bin/modinfo" <<'EOF'
#!/bin/bash
echo "modinfo $*" >>"$FAKE_CALLS"
mod=${!#}
case " ${FAKE_NOT_BUILT:-} " in
*" $mod "*) echo "modinfo: ERROR: Module $mod not found." >&2; exit 1 ;;
esac
echo "/lib/modules/$2/updates/lockfix/$mod.ko"
EOF
cat >"$T/bin/logger" <<'EOF'
#!/bin/bash
echo "logger $*" >>"$FAKE_LOG"
EOF
# fake-kernel ROOT MODE: the livepatch core's side of enabled writes, for a few seconds:
# enabled 1 -> 0 starts the unpatch transition, which completes after 0.3 s (the patch's
# directory goes away) unless MODE is stuck-unpatch; writing 1 back reverses it.
cat >"$T/bin/fake-kernel" <<'EOF'
#!/bin/bash
root=$1 mode=$2
declare -A seen
for ((i = 0; i < 150; i++)); do
	for d in "$root"/sys/kernel/livepatch/*/; do
		[ -d "$d" ] || continue
		en=$(cat "$d/enabled" 2>/dev/null) || continue
		prev=${seen[$d]:-$en}
		seen[$d]=$en
		if [ "$en" = 0 ]; then
			echo 1 >"$d/transition"
			if [ "$mode" != stuck-unpatch ] && [ "$prev" = 0 ]; then
				rm -rf "$d"
				unset "seen[$d]"
			fi
		elif [ "$prev" = 0 ] && [ "$en" = 1 ]; then
			echo 0 >"$d/transition"	# reversed back to patched
		fi
	done
	sleep 0.15
done
EOF
chmod +x "$T/bin"/*

# ---------------------------------------------------------------- sysroots

le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x00\\x00"; }
# notes FILE BUILD-ID: a Xen-style note first (skipped), then the GNU build-id note.
mk_notes() {
	local hex=$2 i
	{
		le32 4; le32 4; le32 1; printf 'Xen\0'; printf '\x01\x02\x03\x04'
		le32 4; le32 $((${#hex} / 2)); le32 3; printf 'GNU\0'
		for ((i = 0; i < ${#hex}; i += 2)); do printf "\\x${hex:i:2}"; done
	} >"$1"
}

# mkroot NAME [RELEASE VERSION BUILD-ID]: a fresh sysroot; sets R.
mkroot() {
	R=$T/$1
	rm -rf "$R"
	mkdir -p "$R/sys/kernel/livepatch" "$R/sys/module/module/parameters" "$R/proc/sys/kernel" \
		"$R/sys/kernel/security" "$R/run"
	echo "${2:-$REL46}" >"$R/proc/sys/kernel/osrelease"
	echo "${3:-$VER46}" >"$R/proc/sys/kernel/version"
	echo 0 >"$R/proc/sys/kernel/tainted"
	echo N >"$R/sys/module/module/parameters/sig_enforce"
	echo "[none] integrity confidentiality" >"$R/sys/kernel/security/lockdown"
	echo "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet" >"$R/proc/cmdline"
	mk_notes "$R/sys/kernel/notes" "${4:-$BID46}"
	: >"$R/klog"
	mkdir -p "$R/proc/1/task/1"
	echo 1 >"$R/proc/1/task/1/patch_state"
	echo systemd >"$R/proc/1/task/1/comm"
	UNAME_R=${2:-$REL46} UNAME_V=${3:-$VER46}
	: >"$T/calls"
	: >"$T/logged"
}
# patch ROOT MODULE ENABLED TRANSITION: a livepatch in sysfs (and its module)
patch() {
	mkdir -p "$1/sys/kernel/livepatch/$2" "$1/sys/module/$2/parameters"
	echo "$3" >"$1/sys/kernel/livepatch/$2/enabled"
	echo "$4" >"$1/sys/kernel/livepatch/$2/transition"
}

# lf ARGS...: run the CLI against $R; sets OUT (stdout+stderr) and RC.
lf() {
	OUT=$(env LOCKFIX_SYSROOT="$R" LOCKFIX_DATA="${DATA:-$FIXTURE}" \
		LOCKFIX_UNAME_R="$UNAME_R" LOCKFIX_UNAME_V="$UNAME_V" LOCKFIX_KLOG="$R/klog" \
		LOCKFIX_MODPROBE="$T/bin/modprobe" LOCKFIX_RMMOD="$T/bin/rmmod" \
		LOCKFIX_MODINFO="$T/bin/modinfo" LOCKFIX_LOGGER="$T/bin/logger" \
		FAKE_CALLS="$T/calls" FAKE_LOG="$T/logged" "$LF" "$@" 2>&1)
	RC=$?
	[ $VERBOSE = 1 ] && { echo "# lockfix $*  -> $RC"; printf '%s\n' "$OUT" | sed 's/^/#   /'; }
	return 0
}
# jget EXPR: evaluate a Python expression on the JSON in $OUT (d = the object).
# The system python3 if there is one (a pyenv shim costs ~100 ms a call).
PY=$(command -v /usr/bin/python3 || command -v python3) || { echo "Bail out! python3 is needed (JSON checks)"; exit 1; }
jget() { printf '%s' "$OUT" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>&1; }
jstate() { jget "{f['fix']: f['state'] for f in d['fixes']}['$1']"; }
json_valid() { printf '%s' "$OUT" | "$PY" -m json.tool >/dev/null 2>&1; }
is() { [ "$1" = "$2" ]; }
has() { [[ $1 == *"$2"* ]]; }
rc_is() { [ "$RC" = "$1" ]; }
# expect_states DESC RC btrfs-ordered percpu-nofs dm-thin-reset dio-nofault
expect_states() {
	local d=$1 want=$2 got
	shift 2
	lf status --json
	if ! json_valid; then notok "$d: status --json is valid JSON" "$OUT"; return; fi
	got="$(jstate btrfs-ordered) $(jstate percpu-nofs) $(jstate dm-thin-reset) $(jstate dio-nofault)"
	if [ "$got" = "$*" ] && [ "$RC" = "$want" ] && [ "$(jget "d['exit']")" = "$want" ]; then
		ok "$d: $got, exit $want"
	else
		notok "$d: want '$*' exit $want" "got '$got' exit $RC (json exit $(jget "d['exit']"))
$OUT"
	fi
}
snapshot() { (cd "$R" && find . -printf '%p %s %m\n' | sort; cat "$T/calls"; find . -type f -exec cat {} + 2>/dev/null) | md5sum; }
calls() { cat "$T/calls"; }
# with_kernel MODE COMMAND...: run COMMAND with the fake kernel side running.
with_kernel() {
	"$T/bin/fake-kernel" "$R" "$1" &
	local p=$!
	BGPIDS+=("$p")
	shift
	"$@"
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
}

echo "TAP version 13"

# ---------------------------------------------------------------- arguments

mkroot args
lf --version; check "--version" eval 'rc_is 0 && is "$OUT" "lockfix 0.1.0"'
lf --help; check "--help documents the exit codes" eval 'rc_is 0 && has "$OUT" "Exit status" && has "$OUT" "signature-rejected"'
lf status --help; check "status --help" rc_is 0
before=$(snapshot)
for args in "" "frobnicate" "--bogus" "status --bogus" "status dio-nofault" "list --json" \
	"load nosuchfix" "load --bogus" "load --timeout" "load --timeout abc" "load --timeout 0" \
	"load dio-nofault --timeout=-3" "unload nosuchfix" "unload --force" "load -- nosuch"; do
	# shellcheck disable=SC2086 # word splitting is the point
	lf $args
	check "usage error: 'lockfix $args' exits 2 with a message" eval 'rc_is 2 && [ -n "$OUT" ]'
done
check "usage errors changed nothing (no modprobe, no files)" eval '[ "$(snapshot)" = "$before" ] && [ ! -s "$T/calls" ]'
lf load dio_nofault --timeout=5 --bogus
check "an unknown option after valid ones still changes nothing" eval 'rc_is 2 && [ ! -s "$T/calls" ]'

# ---------------------------------------------------------------- states

mkroot notloaded
expect_states "vetted build, nothing loaded" 1 not-needed not-loaded not-loaded not-loaded
lf status --json
check "JSON: kernel fields" eval 'is "$(jget "d[\"kernel\"][\"release\"], d[\"kernel\"][\"build_id\"], d[\"kernel\"][\"fleet_kernel\"]")" "$REL46 $BID46 deb11-5.10.0-46"'
check "JSON: upstream commits and modules" eval 'is "$(jget "[f[\"upstream\"] for f in d[\"fixes\"] if f[\"fix\"] == \"dm-thin-reset\"][0]")" "d48300120627 cb65b282c964"'
check "JSON: not-needed names the upstream commit" eval 'has "$(jget "d[\"fixes\"][0][\"reason\"]")" "c495dcd6fbe1"'
lf status
check "text status: release, uname -v, build-id, not-loaded hint" eval 'rc_is 1 && has "$OUT" "$REL46 $VER46" && has "$OUT" "$BID46" && has "$OUT" "lockfix load dio-nofault"'
check "status answered without modprobe" eval '! grep -q modprobe "$T/calls"'

mkroot notbuilt
FAKE_NOT_BUILT="lockfix_percpu_nofs" expect_states "no module file for one fix" 1 not-needed not-built not-loaded not-loaded
export FAKE_NOT_BUILT="lockfix_percpu_nofs"; lf status; unset FAKE_NOT_BUILT
check "not-built says what to install" eval 'has "$OUT" "lockfix-modules-$REL46"'

mkroot applied
for m in lockfix_percpu_nofs lockfix_dm_thin_reset lockfix_dio_nofault; do patch "$R" $m 1 0; done
echo 3 >"$R/sys/module/lockfix_dm_thin_reset/parameters/aborts"
echo 0 >"$R/sys/module/lockfix_dm_thin_reset/parameters/preabort_closes"
echo 45056 >"$R/proc/sys/kernel/tainted"
expect_states "every needed fix applied" 0 not-needed applied applied applied
lf status --json
check "JSON: counters as numbers" eval 'is "$(jget "[f[\"counters\"] for f in d[\"fixes\"] if f[\"fix\"] == \"dm-thin-reset\"][0]")" "{'"'"'aborts'"'"': 3, '"'"'preabort_closes'"'"': 0}"'
check "JSON: taint decoded (O E K)" eval 'is "$(jget "d[\"kernel\"][\"taint\"], d[\"kernel\"][\"taint_flags\"]")" "45056 OEK"'
lf status
check "text: counters name=value and taint letters" eval 'rc_is 0 && has "$OUT" "aborts=3 preabort_closes=0" && has "$OUT" "OEK (O out-of-tree module, E unsigned module, K livepatched)"'

mkroot transitioning
patch "$R" lockfix_dio_nofault 1 1
mkdir -p "$R/run/lockfix" "$R/proc/77/task/78" "$R/proc/77/task/77"
echo $(( $(date +%s) - 42 )) >"$R/run/lockfix/dio-nofault.since"
echo 0 >"$R/proc/77/task/78/patch_state"; echo "kworker/u4:2" >"$R/proc/77/task/78/comm"
echo 1 >"$R/proc/77/task/77/patch_state"; echo "kworker/u4:2" >"$R/proc/77/task/77/comm"
printf '[<0>] btrfs_direct_IO+0x40/0x80 [btrfs]\n[<0>] "quoted"\\path\n' >"$R/proc/77/task/78/stack"
expect_states "a transition in progress" 1 not-needed not-loaded not-loaded transitioning
lf status
check "text: since and the blocking task" eval 'has "$OUT" "s ago" && has "$OUT" "blocked by pid 77 (tid 78, kworker/u4:2)" && ! has "$OUT" "tid 77"'
lf status --verbose
check "--verbose: the blocking task's stack" eval 'has "$OUT" "btrfs_direct_IO+0x40/0x80"'
lf status --json --verbose
check "JSON --verbose: blocking tasks with stacks, since" eval 'json_valid && is "$(jget "[(b[\"pid\"], b[\"tid\"], b[\"comm\"], \"btrfs_direct_IO\" in b[\"stack\"]) for f in d[\"fixes\"] if f[\"fix\"] == \"dio-nofault\" for b in f[\"blocking\"]]")" "[(77, 78, '"'"'kworker/u4:2'"'"', True)]"'

mkroot unpatch-in-callback
patch "$R" lockfix_dio_nofault 1 1
echo unpatched >"$R/sys/module/lockfix_dio_nofault/parameters/transition_target"
mkdir -p "$R/proc/77/task/77"
echo 1 >"$R/proc/77/task/77/patch_state"; echo "kworker/u4:2" >"$R/proc/77/task/77/comm"
expect_states "an unpatch waiting in pre_unpatch (enabled still 1)" 1 not-needed not-loaded not-loaded transitioning
lf status
check "text: an unpatch in its callback is unpatching, not patching, and no task blocks it" eval 'has "$OUT" "unpatching: it waits in the module'"'"'s pre_unpatch callback, before any task switches" && ! has "$OUT" "blocked by" && ! has "$OUT" "transition_target"'
mkroot unpatch-blocked
patch "$R" lockfix_dio_nofault 0 1
echo unpatched >"$R/sys/module/lockfix_dio_nofault/parameters/transition_target"
mkdir -p "$R/proc/77/task/78"
echo 0 >"$R/proc/77/task/78/patch_state"; echo "dio-reader" >"$R/proc/77/task/78/comm"
echo 1 >"$R/proc/1/task/1/patch_state"
lf status
check "text: an unpatch (transition_target unpatched): tasks still on the patched code block it" eval 'has "$OUT" "unpatching: tasks still run the patched code" && has "$OUT" "blocked by pid 1 (tid 1, systemd)" && ! has "$OUT" "dio-reader"'

mkroot disabled
mkdir -p "$R/sys/module/lockfix_dio_nofault"
expect_states "module loaded, patch disabled" 1 not-needed not-loaded not-loaded disabled
mkroot disabled2
patch "$R" lockfix_dio_nofault 0 0
expect_states "livepatch enabled=0" 1 not-needed not-loaded not-loaded disabled

mkroot refused
echo "[    5.1] lockfix_dio_nofault: refusing to load: kernel $REL46 ($VER46) is not a build dio-nofault was vetted on" >>"$R/klog"
echo "[    5.1] lockfix_dio_nofault:   vetted: 5.10.0-45-amd64 (#1 SMP Debian 5.10.259-1 (2026-05-01))" >>"$R/klog"
expect_states "the module refused (kernel log)" 4 not-needed not-loaded not-loaded refused
lf status --json
check "refused: the module's own reason" eval 'has "$(jget "d[\"fixes\"][3][\"reason\"]")" "refusing to load: kernel $REL46"'

mkroot refused-after-enable
patch "$R" lockfix_dio_nofault 1 0
echo "[    5.1] lockfix_dio_nofault: enabling on $REL46 ($VER46), vetted build deb11-5.10.0-46" >>"$R/klog"
echo "[    9.3] lockfix_dio_nofault: refusing to patch btrfs: build-id 00ff, btrfs was vetted on x (y): not the same binary" >>"$R/klog"
expect_states "applied, but refused to patch a target module" 4 not-needed not-loaded not-loaded refused

mkroot refused-then-enabled
patch "$R" lockfix_dio_nofault 1 0
echo "[    5.1] lockfix_dio_nofault: refusing to load: old table" >>"$R/klog"
echo "[    7.1] lockfix_dio_nofault: enabling on $REL46 ($VER46), vetted build deb11-5.10.0-46" >>"$R/klog"
expect_states "a refusal before a later successful load does not count" 1 not-needed not-loaded not-loaded applied

mkroot runtime-messages
echo "[    5.1] lockfix_dm_thin_reset: enabling on $REL46 ($VER46), vetted build deb11-5.10.0-46" >>"$R/klog"
echo "[   95.1] lockfix_dm_thin_reset: failed pool handed back during the unpatch transition" >>"$R/klog"
echo "[   95.2] lockfix_dm_thin_reset: dm_thin_pool unpatched: 2 abort(s) by reset, 0 pool(s) closed in pre-patch abort state" >>"$R/klog"
expect_states "a fix's run-time messages after unloading are no failure" 1 not-needed not-loaded not-loaded not-loaded

mkroot failed
echo "[    5.1] lockfix_percpu_nofs: cannot locate kallsyms_lookup_name (kprobe: -22)" >>"$R/klog"
expect_states "load failed (symbol resolution)" 4 not-needed failed not-loaded not-loaded

mkroot mismatch "$REL46" "$VER46" 1111111111111111111111111111111111111111
expect_states "same release and uname -v, other build-id" 3 not-needed unsupported unsupported unsupported
lf status --json
check "mismatch: reason names both build-ids" eval 'has "$(jget "d[\"fixes\"][3][\"reason\"]")" "1111111111111111111111111111111111111111 is not the vetted $BID46"'

mkroot nonotes
rm "$R/sys/kernel/notes"
expect_states "no /sys/kernel/notes: release+version decide" 1 not-needed not-loaded not-loaded not-loaded

mkroot unknown 5.10.0-99-amd64 "#1 SMP Debian 5.10.300-1 (2027-01-01)" 2222222222222222222222222222222222222222
expect_states "an unknown Debian 11 build" 3 not-needed unsupported unsupported unsupported
lf status --json
check "unknown build: 'not a vetted build'" eval 'has "$(jget "d[\"fixes\"][3][\"reason\"]")" "not a vetted build"'

mkroot samerel "$REL46" "#1 SMP Debian 5.10.262-2 (2026-09-01)" 3333333333333333333333333333333333333333
expect_states "same ABI, another upload" 3 not-needed unsupported unsupported unsupported
lf status --json
check "same ABI: says the uname -v differs" eval 'has "$(jget "d[\"fixes\"][3][\"reason\"]")" "was vetted as deb11-5.10.0-46, but this build"'

mkroot nofacts 5.10.0-30-amd64 "#1 SMP Debian 5.10.218-1 (2024-06-01)" 4444444444444444444444444444444444444444
expect_states "vetted in the matrix, facts not recorded" 3 not-needed unsupported unsupported unsupported
lf status --json
check "no facts: says so" eval 'has "$(jget "d[\"fixes\"][3][\"reason\"]")" "deb11-5.10.0-30 is vetted in fleet/vetted.tsv, but its facts and proof are not recorded"'

mkroot prefix 5.10.262-lockfix-prefix "#1-lockfix-reverts-c495dcd6fbe1-28307d938fb2 SMP recipe-4" 00112233445566778899aabbccddeeff00112233
expect_states "pre-fix kernel: vetted, proof pending; dio unsupported by decision" 3 unsupported unsupported unsupported unsupported
lf status --json
check "proof pending: says so" eval 'has "$(jget "d[\"fixes\"][0][\"reason\"]")" "no proof is recorded yet"'
check "unsupported decision: the fleet's comment" eval 'has "$(jget "d[\"fixes\"][3][\"reason\"]")" "proofs run on Debian"'

# version predicates for builds the fleet does not know
pred() {	# DESC RELEASE VERSION WANT(btrfs percpu dm dio)
	local d=$1 rel=$2 ver=$3 rc=$4
	shift 4
	mkroot pred "$rel" "$ver" 5555555555555555555555555555555555555555
	expect_states "predicates: $d" "$rc" "$@"
}
pred "Debian 12 6.12" 6.12.117+deb12-amd64 "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2025-12-01)" 0 not-needed not-needed not-needed not-needed
pred "6.1.159 (percpu stable), 6.1.70+ (dm)" 6.1.0-99-amd64 "#1 SMP PREEMPT_DYNAMIC Debian 6.1.159-1 (2025-12-01)" 0 not-needed not-needed not-needed not-needed
pred "6.1.158: percpu not yet" 6.1.0-98-amd64 "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-01)" 3 not-needed unsupported not-needed not-needed
pred "6.1.69: dm-thin not yet" 6.1.0-17-amd64 "#1 SMP PREEMPT_DYNAMIC Debian 6.1.69-1 (2023-12-30)" 3 not-needed unsupported unsupported not-needed
pred "6.5 (dm-thin mainline)" 6.5.0 "#1 SMP" 3 not-needed unsupported not-needed not-needed
pred "6.15 (percpu mainline)" 6.15.2 "#1 SMP" 0 not-needed not-needed not-needed not-needed
pred "6.12.59 / 6.12.58" 6.12.59 "#1 SMP" 0 not-needed not-needed not-needed not-needed
pred "6.12.58" 6.12.58 "#1 SMP" 3 not-needed unsupported not-needed not-needed
pred "6.6.117 / 6.6.116" 6.6.117 "#1 SMP" 0 not-needed not-needed not-needed not-needed
pred "6.6.116" 6.6.116 "#1 SMP" 3 not-needed unsupported not-needed not-needed
pred "5.15.37 (dio stable)" 5.15.37 "#1 SMP" 3 not-needed unsupported unsupported not-needed
pred "5.15.36" 5.15.36 "#1 SMP" 3 not-needed unsupported unsupported unsupported
pred "5.16" 5.16.0 "#1 SMP" 3 not-needed unsupported unsupported not-needed
pred "5.4.7 (btrfs stable)" 5.4.7 "#1 SMP" 3 not-needed unsupported unsupported unsupported
pred "5.4.6" 5.4.6 "#1 SMP" 3 unsupported unsupported unsupported unsupported
pred "reverted c495dcd6fbe1" 5.10.262-custom "#1-lockfix-reverts-c495dcd6fbe1 SMP" 3 unsupported unsupported unsupported unsupported
pred "'-lockfix-reverts-' naming another commit" 5.10.262-custom "#1-lockfix-reverts-28307d938fb2 SMP" 3 not-needed unsupported unsupported unsupported
mkroot ubuntu 5.15.0-100-generic "#110-Ubuntu SMP Wed Feb 7 13:27:48 UTC 2024" 6666666666666666666666666666666666666666
echo "Ubuntu 5.15.0-100.110-generic 5.15.143" >"$R/proc/version_signature"
expect_states "predicates: /proc/version_signature's upstream version" 3 not-needed unsupported unsupported not-needed

# JSON escaping
mkroot escape "$REL46" $'#1 SMP "quoted" back\\slash\ttab' 7777777777777777777777777777777777777777
echo "[ 1.0] lockfix_dio_nofault: refusing to load: a \"quoted\" \\ reason" >>"$R/klog"
lf status --json
check "JSON stays valid with quotes, backslashes, tabs" eval 'json_valid && is "$(jget "d[\"kernel\"][\"version\"]")" "$(printf "#1 SMP \"quoted\" back\\\\slash\ttab")"'

# the real fleet/ (whatever it says today): valid JSON, btrfs-ordered as vetted.tsv decides
mkroot realfleet
DATA=$top/fleet lf status --json
check "real fleet/: valid JSON and a state for every fix" eval 'json_valid && is "$(jget "len([f for f in d[\"fixes\"] if f[\"state\"]])")" 4'
want=$(awk -F'\t' '$1 == "btrfs-ordered" && $2 == "deb11-5.10.0-46" { print $3 }' "$top/fleet/vetted.tsv")
if [ "$want" = fixed ]; then
	check "real fleet/: btrfs-ordered not needed on deb11-5.10.0-46" eval 'is "$(jstate btrfs-ordered)" not-needed'
fi

# list
mkroot list
lf list
check "list: every fix, upstream, needed/supported" eval 'rc_is 0 && has "$OUT" "c495dcd6fbe1" && has "$OUT" "d48300120627+cb65b282c964" && has "$OUT" "lockfix_dio_nofault" && grep -Eq "^dio-nofault +lockfix_dio_nofault +51bd9563b678 +yes +yes" <<<"$OUT"'

# ---------------------------------------------------------------- load

mkroot load
lf load
check "load: every needed and supported fix, exit 0" eval 'rc_is 0 && is "$(grep modprobe "$T/calls" | paste -sd,)" "modprobe lockfix_percpu_nofs,modprobe lockfix_dm_thin_reset,modprobe lockfix_dio_nofault"'
check "load: each result on stdout and to logger -t lockfix" eval 'has "$OUT" "lockfix: dio-nofault: applied" && grep -q "^logger -t lockfix -- dio-nofault: applied" "$T/logged"'
check "load: btrfs-ordered skipped as not needed" eval 'has "$OUT" "btrfs-ordered: not-needed"'
expect_states "after load" 0 not-needed applied applied applied
lf load dio-nofault
check "load of an applied fix: nothing to do" eval 'rc_is 0 && has "$OUT" "already applied" && [ "$(grep -c modprobe "$T/calls")" = 3 ]'

mkroot load-slow
FAKE_MODPROBE_MODE=slow lf load --timeout 10 dio-nofault
check "load: waits for a slow transition" eval 'rc_is 0 && has "$OUT" "dio-nofault: applied"'

mkroot load-stuck
export FAKE_MODPROBE_MODE=stuck
with_kernel normal lf load --timeout 1 dio-nofault
unset FAKE_MODPROBE_MODE
check "load: a stuck transition is backed out, exit 4" eval 'rc_is 4 && has "$OUT" "backing out" && has "$OUT" "stuckd[4242/4243]" && grep -q "rmmod lockfix_dio_nofault" "$T/calls" && [ ! -d "$R/sys/kernel/livepatch/lockfix_dio_nofault" ]'
expect_states "after a backed-out load" 4 not-needed not-loaded not-loaded failed
lf status
check "status: the failed load's reason" eval 'has "$OUT" "transition did not finish within 1 s"'

mkroot load-stuck2
export FAKE_MODPROBE_MODE=stuck
with_kernel stuck-unpatch lf load --timeout 1 dio-nofault
unset FAKE_MODPROBE_MODE
check "load: backing out stuck too: exit 4, no rmmod, says so" eval 'rc_is 4 && has "$OUT" "backing it out is stuck too" && ! grep -q rmmod "$T/calls"'

mkroot load-refuse
FAKE_MODPROBE_MODE=refuse lf load dio-nofault
check "load: the module refuses: exit 4 with its reason" eval 'rc_is 4 && has "$OUT" "dio-nofault: refused: refusing to load: kernel"'
expect_states "after a refused load" 4 not-needed not-loaded not-loaded refused

mkroot load-key
echo Y >"$R/sys/module/module/parameters/sig_enforce"
FAKE_MODPROBE_MODE=keyreject lf load dio-nofault
check "load: signature rejected: exit 4, says what to do" eval 'rc_is 4 && has "$OUT" "signature-rejected" && has "$OUT" "mokutil --import"'
expect_states "after a rejected signature" 4 not-needed not-loaded not-loaded signature-rejected

mkroot load-busy
FAKE_MODPROBE_MODE=busy lf load dio-nofault
check "load: -EBUSY (another transition) is a failure with the reason" eval 'rc_is 4 && has "$OUT" "another livepatch transition"'

mkroot load-other-transition
patch "$R" other_livepatch 1 1
lf load --timeout 1 dio-nofault
check "load: waits for, then gives up on, another patch's transition" eval 'rc_is 4 && has "$OUT" "other_livepatch" && ! grep -q modprobe "$T/calls"'

mkroot load-notneeded
lf load btrfs-ordered
check "load of a not-needed fix: refused with the reason, no modprobe" eval 'rc_is 0 && has "$OUT" "not loading: not-needed" && has "$OUT" "--force" && ! grep -q modprobe "$T/calls"'
FAKE_MODPROBE_MODE=refuse lf load --force btrfs-ordered
check "load --force tries it (and reports the module's refusal)" eval 'rc_is 4 && grep -q "modprobe lockfix_btrfs_ordered" "$T/calls"'

mkroot load-unsupported "$REL46" "$VER46" 1111111111111111111111111111111111111111
lf load
check "load on an unsupported build: exit 3, no modprobe" eval 'rc_is 3 && has "$OUT" "unsupported" && ! grep -q modprobe "$T/calls"'

mkroot load-notbuilt
FAKE_NOT_BUILT="lockfix_dio_nofault" lf load dio-nofault
check "load of a fix without a module: exit 1, says what to install" eval 'rc_is 1 && has "$OUT" "not built" && ! grep -q modprobe "$T/calls"'

mkroot load-disabled
mkdir -p "$R/sys/module/lockfix_dio_nofault"
lf load dio-nofault
check "load of a disabled module: rmmod, then modprobe" eval 'rc_is 0 && is "$(paste -sd, "$T/calls" | sed "s/modinfo[^,]*,//g")" "rmmod lockfix_dio_nofault,modprobe lockfix_dio_nofault"'

mkroot boot-off
echo "BOOT_IMAGE=/vmlinuz root=/dev/vda ro lockfix.enable=0 quiet" >"$R/proc/cmdline"
# shellcheck disable=SC2034 # used in the eval below
before=$(snapshot)
lf load --boot
check "load --boot with lockfix.enable=0: exit 0, nothing loaded or written" eval 'rc_is 0 && has "$OUT" "lockfix.enable=0" && [ "$(snapshot)" = "$before" ]'
mkroot boot-on
lf load --boot
check "load --boot without lockfix.enable=0 loads" eval 'rc_is 0 && grep -q "modprobe lockfix_dio_nofault" "$T/calls"'

mkroot guard
OUT=$(env LOCKFIX_SYSROOT="$R" LOCKFIX_DATA="$FIXTURE" LOCKFIX_UNAME_R="$UNAME_R" \
	LOCKFIX_UNAME_V="$UNAME_V" LOCKFIX_KLOG="$R/klog" "$LF" load 2>&1)
RC=$?
check "a test sysroot without stand-in modprobe/rmmod is an error (never the real kernel)" eval 'rc_is 4 && has "$OUT" "LOCKFIX_MODPROBE"'

# ---------------------------------------------------------------- unload

mkroot unload
for m in lockfix_percpu_nofs lockfix_dio_nofault; do patch "$R" $m 1 0; done
with_kernel normal lf unload --timeout 5
check "unload: disable, wait, rmmod every loaded fix" eval 'rc_is 0 && is "$(grep rmmod "$T/calls" | sort | paste -sd,)" "rmmod lockfix_dio_nofault,rmmod lockfix_percpu_nofs" && has "$OUT" "dio-nofault: unloaded"'
expect_states "after unload" 1 not-needed not-loaded not-loaded not-loaded
lf unload dio-nofault
check "unload of a fix that is not loaded: exit 0, says so" eval 'rc_is 0 && has "$OUT" "not loaded"'

mkroot unload-after-refusal
patch "$R" lockfix_dio_nofault 1 0
echo "[    5.1] lockfix_dio_nofault: enabling on $REL46 ($VER46), vetted build deb11-5.10.0-46" >>"$R/klog"
echo "[    9.3] lockfix_dio_nofault: refusing to patch btrfs: build-id 00ff, btrfs was vetted on x (y): not the same binary" >>"$R/klog"
with_kernel normal lf unload --timeout 5 dio-nofault
expect_states "after lockfix unload, an earlier refusal is history" 1 not-needed not-loaded not-loaded not-loaded
FAKE_MODPROBE_MODE=refuse lf load dio-nofault
expect_states "a new refusal after that counts again" 4 not-needed not-loaded not-loaded refused

mkroot unload-stuck
patch "$R" lockfix_dio_nofault 1 0
mkdir -p "$R/proc/300/task/300"
echo 1 >"$R/proc/300/task/300/patch_state"; echo "fio" >"$R/proc/300/task/300/comm"
with_kernel stuck-unpatch lf unload --timeout 1 dio-nofault
check "unload stuck: refused, patch re-enabled, no rmmod, exit 1" eval 'rc_is 1 && has "$OUT" "unload refused" && is "$(cat "$R/sys/kernel/livepatch/lockfix_dio_nofault/enabled")" 1 && ! grep -q rmmod "$T/calls"'
check "unload stuck: names the blocking task, signals, and the dangerous force" eval 'has "$OUT" "fio[300/300]" && has "$OUT" "signal them" && has "$OUT" "/sys/kernel/livepatch/lockfix_dio_nofault/force" && has "$OUT" "dangerous"'

mkroot unload-disabled
mkdir -p "$R/sys/module/lockfix_dio_nofault"
lf unload dio-nofault
check "unload of a loaded module with its patch disabled: rmmod" eval 'rc_is 0 && grep -q "rmmod lockfix_dio_nofault" "$T/calls"'

echo "1..$n"
[ $failed = 0 ] || { echo "# $failed of $n failed"; exit 1; }
echo "# all $n passed"
