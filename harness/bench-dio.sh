#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dio-nofault benchmark: fio over btrfs on a dm-delay'd disk, patched against unpatched,
# in one boot of a vulnerable kernel (default deb11-5.10.0-46).
#
#   harness/bench-dio.sh [KERNEL-ID] [ROUNDS]        (ROUNDS default 3)
#
# Workloads (fio --direct=1, 256 MiB files written once, --time_based):
#   aio-* / uring-*  libaio and io_uring at QD 1, 8, 32: 4 KiB random reads (IOPS) and
#                    128 KiB sequential writes (MiB/s)
#   sync-*           psync: 4 KiB random reads (IOPS), 1 MiB sequential reads (MiB/s)
#   pins-*           one 1 GiB O_DIRECT read of a 4 KiB file into an untouched anonymous
#                    buffer: the pages it brings in (resident afterwards, by mincore:
#                    selftests/dio-nofault/dio_rss) and, patched, the module's
#                    pinned_pages_peak (its own count of pages held at once) when it has one
# Each round runs every workload unpatched and patched (insmod, transition done ...
# disable, rmmod); odd rounds start unpatched, even rounds patched, to cancel drift.
# Reported: the median of the rounds per variant and the patched/unpatched ratio (TCG:
# only ratios mean anything), against the targets: async QD32 >= 0.95, sync >= 0.98,
# pins <= the original's.  One line per workload on stdout, a markdown table in
# out/bench/dio-<kernel>.md, the serial log in out/bench/dio-<kernel>-<time>.log.
#
# Environment: LOCKFIX_BENCH_RUNTIME seconds measured per fio job (default 5; each job
# also ramps 1 s), LOCKFIX_BENCH_DELAY_MS dm-delay latency (default 4).
# Exit status: 0 when everything was measured, whether or not the targets were met (the
# output says which were missed); 1 when the benchmark itself failed (guest error, fio
# error, module not loadable, missing figures); 2 for bad arguments or host set-up.
# Run with nothing else on the host: TCG guest timing follows host load (../shared/README.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$LOCKFIX_HARNESS/bench-lib.sh"

usage() { awk 'NR >= 3 && !/^#/ { exit } NR >= 3 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }
case "${1:-}" in -h|--help) usage ;; -*) die "unknown option $1 (see $0 --help)" ;; esac
[ $# -le 2 ] || die "too many arguments (usage: $0 [KERNEL-ID] [ROUNDS])"
kernel=${1:-deb11-5.10.0-46}
rounds=${2:-3}
runtime=${LOCKFIX_BENCH_RUNTIME:-5}
delay=${LOCKFIX_BENCH_DELAY_MS:-4}
ramp=1
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, not '$rounds'"
[ "$rounds" -le 15 ] || die "ROUNDS=$rounds: at most 15 (each round takes a few minutes under TCG)"
[[ "$runtime" =~ ^[1-9][0-9]*$ ]] || die "LOCKFIX_BENCH_RUNTIME must be a positive number of seconds, not '$runtime'"
[[ "$delay" =~ ^[0-9]+$ ]] || die "LOCKFIX_BENCH_DELAY_MS must be a number of milliseconds, not '$delay'"
matrix_row "$kernel" >/dev/null
decision=$(fleet_decision dio-nofault "$kernel")
[ "$decision" = vetted ] || die "dio-nofault is '${decision:-not decided}' on $kernel in fleet/vetted.tsv: the module would refuse, nothing to compare (vetted: $(awk -F'\t' '$1 == "dio-nofault" && $3 == "vetted" { printf "%s ", $2 }' "$LOCKFIX_ROOT/fleet/vetted.tsv"))"
[ -x /usr/bin/fio ] || die "/usr/bin/fio missing on the host (the guest gets the host's fio): run harness/setup-host.sh"
command -v python3 >/dev/null || die "python3 missing on the host: run harness/setup-host.sh"

job=$(mktemp)
trap 'rm -f "$job"' EXIT
{ echo '#!/bin/bash'; echo "$BENCH_GUEST_LIBS"; cat <<'EOS'; } >"$job"
# Guest side of harness/bench-dio.sh: ROUNDS RUNTIME RAMP DELAY_MS
set -u
rounds=$1 runtime=$2 ramp=$3 delay=$4
name=lockfix_dio_nofault
par=/sys/module/$name/parameters
rss=/lockfix/selftests/dio-nofault/dio_rss
mnt=/mnt/bench
fail() { bench_fail "$@"; }

command -v fio >/dev/null || fail "no fio in the guest (harness/mkinitramfs.sh copies the host's /usr/bin/fio)"
v=$(fio --version 2>&1) || fail "fio does not run in the guest: $v"
echo "bench-info fio $v"
[ -x $rss ] || fail "$rss missing from the selftests build"
modprobe btrfs || fail "modprobe btrfs failed"
modprobe dm_delay || fail "modprobe dm_delay failed (no dm-delay target in this kernel)"
sz=$(blockdev --getsz /dev/vda) || fail "no scratch disk /dev/vda"
dmsetup create lfslow --table "0 $sz delay /dev/vda 0 $delay" || fail "dmsetup create (delay) failed"
mkfs.btrfs -f -q /dev/mapper/lfslow >/dev/null || fail "mkfs.btrfs failed"
mkdir -p $mnt && mount -t btrfs /dev/mapper/lfslow $mnt || fail "mount failed"
for f in rfile wfile; do
	fio --name=layout-$f --filename=$mnt/$f --size=256M --bs=1M --rw=write --direct=1 \
		--ioengine=psync --output=/dev/null >/dev/null 2>&1 || fail "cannot write $mnt/$f"
done
fio --name=layout-small --filename=$mnt/small --size=4k --bs=4k --rw=write --direct=1 \
	--ioengine=psync --output=/dev/null >/dev/null 2>&1 || fail "cannot write $mnt/small"
sync
echo "bench-info delay ${delay} ms on /dev/vda ($sz sectors), btrfs, files $(ls -l $mnt | awk 'NR > 1 { printf "%s=%s ", $9, $5 }')"

# name engine rw bs iodepth file
workloads="aio-randread-4k-qd1 libaio randread 4k 1 rfile
aio-randread-4k-qd8 libaio randread 4k 8 rfile
aio-randread-4k-qd32 libaio randread 4k 32 rfile
aio-write-128k-qd1 libaio write 128k 1 wfile
aio-write-128k-qd8 libaio write 128k 8 wfile
aio-write-128k-qd32 libaio write 128k 32 wfile
uring-randread-4k-qd1 io_uring randread 4k 1 rfile
uring-randread-4k-qd8 io_uring randread 4k 8 rfile
uring-randread-4k-qd32 io_uring randread 4k 32 rfile
uring-write-128k-qd1 io_uring write 128k 1 wfile
uring-write-128k-qd8 io_uring write 128k 8 wfile
uring-write-128k-qd32 io_uring write 128k 32 wfile
sync-randread-4k psync randread 4k 1 rfile
sync-read-1m psync read 1m 1 rfile"

# fiojob ROUND VARIANT NAME ENGINE RW BS IODEPTH FILE: the terse result line (bench-fio,
# for the record) and the figure: "bench ROUND VARIANT NAME VALUE", IOPS for the random
# reads, MiB/s otherwise (terse v3: read KiB/s and IOPS fields 7, 8; write 48, 49).
fiojob() {
	local out line f err
	out=$(fio --name="$3" --filename="$mnt/$8" --size=256M --direct=1 --ioengine="$4" \
		--rw="$5" --bs="$6" --iodepth="$7" --time_based --runtime="$runtime" \
		--ramp_time="$ramp" --randrepeat=0 --norandommap --thread \
		--output-format=terse 2>&1) ||
		fail "fio $3 ($2, round $1) failed: $(echo "$out" | tail -3 | tr '\n' ' ')"
	line=$(echo "$out" | grep '^3;' | tail -1)
	[ -n "$line" ] || fail "fio $3 ($2, round $1) printed no result: $(echo "$out" | tail -3 | tr '\n' ' ')"
	err=$(echo "$line" | cut -d';' -f5)
	[ "$err" = 0 ] || fail "fio $3 ($2, round $1) reported error $err"
	case "$3" in
	*randread*) f=8 ;;	# read IOPS
	*write*) f=48 ;;	# write KiB/s
	*) f=7 ;;		# read KiB/s
	esac
	echo "bench-fio $1 $2 $3 $line"
	echo "$line" | awk -F';' -v f=$f -v r="$1" -v v="$2" -v n="$3" \
		'{ printf "bench %s %s %s %.2f\n", r, v, n, f == 8 ? $f : $f / 1024 }'
}

# measure ROUND VARIANT: every workload once (bench_rounds loads the livepatch fresh for
# "patched", so the module's counters cover this phase only); the pins figure goes first,
# alone.
measure() {
	local r=$1 v=$2 out peak
	out=$($rss $mnt/small 1024) || fail "dio_rss ($v, round $r) failed: $out"
	peak=n/a
	[ $v = patched ] && [ -r $par/pinned_pages_peak ] && peak=$(cat $par/pinned_pages_peak)
	echo "bench-pins $r $v $out peak=$peak"
	echo "bench $r $v pins-rss $(lf_field pages "$out")"
	lf_is_number "$peak" && echo "bench $r $v pins-peak $peak"
	echo "$workloads" | while read -r n e rw bs qd f; do
		fiojob $r $v $n $e $rw $bs $qd $f || exit 3
	done || exit 3
	if [ $v = patched ]; then
		echo "bench-count $r $v$(for c in pinned_dios buffered_fallbacks pinned_pages_peak; do
			printf ' %s=%s' $c "$(cat $par/$c 2>/dev/null || echo n/a)"; done)"
	fi
}

# Warm-up: the first passes over the files read the host's disk image and btrfs's
# checksum and extent trees (4 ms a block through dm-delay); without it the first phase
# measured up to 2x slower.  One whole sequential read of each file.
for f in rfile wfile; do
	fio --name=warm-$f --filename=$mnt/$f --size=256M --bs=1M --rw=read --direct=1 \
		--ioengine=libaio --iodepth=8 --output=/dev/null >/dev/null 2>&1 || fail "cannot read $mnt/$f"
done
# Then every workload once, unpatched, not reported: in three runs without this the
# boot's first phase still measured 10-60 % low on some workloads (raw values in the logs).
echo "$workloads" | while read -r n e rw bs qd f; do
	fiojob 0 warmup $n $e $rw $bs $qd $f || exit 3
done || exit 3
bench_rounds $rounds $name measure
umount $mnt
dmsetup remove lfslow
echo "bench-done"
EOS

md=$LOCKFIX_OUT/bench/dio-$kernel.md
# Guest watchdog: set-up, then per phase the pins read, 14 fio jobs (runtime + ramp +
# fio start-up under TCG) and a patch transition; generous, a hang is reported anyway.
limit=$((600 + (rounds * 2 + 1) * (14 * (runtime + ramp + 15) + 180)))
log "bench-dio: $kernel, $rounds rounds, ${runtime}+${ramp} s per fio job, ${delay} ms dm-delay (about $(((rounds * 2 + 1) * 14 * (runtime + ramp + 2) / 60 + 2)) min)"
bench_vm dio "$kernel" "$limit" "$job" "$rounds" "$runtime" "$ramp" "$delay"
log=$BENCH_LOG
medians=$(mktemp)
trap 'rm -f "$job" "$medians"' EXIT
bench_medians <"$log" >"$medians"

python3 - "$log" "$md" "$kernel" "$rounds" "$runtime" "$delay" "$medians" <<'EOPY'
import re, sys, datetime
log, md, kernel, rounds, runtime, delay, medians = sys.argv[1:8]
rounds = int(rounds)
lines = open(log, errors="replace").read().replace("\r", "").splitlines()

def die(msg):
    print("lockfix: error: " + msg, file=sys.stderr)
    sys.exit(1)

if "bench-done" not in lines:
    die("the guest did not finish the benchmark (log %s)" % log)
# workload -> unit, what, target kind
WL = []
for eng, label in (("aio", "libaio"), ("uring", "io_uring")):
    for what, unit in (("randread-4k", "IOPS"), ("write-128k", "MiB/s")):
        for qd in (1, 8, 32):
            WL.append(("%s-%s-qd%d" % (eng, what, qd), unit, "async" if qd == 32 else None))
WL += [("sync-randread-4k", "IOPS", "sync"), ("sync-read-1m", "MiB/s", "sync")]
TARGET = {"async": 0.95, "sync": 0.98}

vals = {}  # (workload, variant) -> [values by round]: the guest's "bench R VARIANT METRIC VALUE"
MED = {}   # (workload, variant) -> median, from bench_medians (harness/bench-lib.sh)
fio_ver = "?"
counts = []
for ln in lines:
    if ln.startswith("bench-info fio "):
        fio_ver = ln.split()[2]
    p = ln.split()
    if len(p) == 5 and p[0] == "bench" and p[1].isdigit() and p[2] in ("unpatched", "patched"):
        vals.setdefault((p[3], p[2]), []).append(float(p[4]))
    if ln.startswith("bench-count "):
        counts.append(ln.split(None, 1)[1])
for ln in open(medians):
    p = ln.split()
    MED[(p[1], p[0])] = float(p[2])

for name, _, _ in WL:
    for var in ("unpatched", "patched"):
        n = len(vals.get((name, var), []))
        if n != rounds:
            die("%s %s: %d results, expected %d (log %s)" % (name, var, n, rounds, log))
for var in ("unpatched", "patched"):
    if len(vals.get(("pins-rss", var), [])) != rounds:
        die("pins %s: missing results (log %s)" % (var, log))

def med(name, var):
    return MED[(name, var)]

def fmt(x, unit):
    if x is None or isinstance(x, str):
        return "n/a"
    if unit == "pages":
        return "%d" % x
    return "%.0f" % x if x >= 100 else "%.1f" % x

rows, missed, met = [], [], 0
for name, unit, kind in WL:
    u, p = vals[(name, "unpatched")], vals[(name, "patched")]
    mu, mp = med(name, "unpatched"), med(name, "patched")
    ratio = mp / mu if mu else float("inf")
    if kind:
        t = TARGET[kind]
        ok = ratio >= t
        target, verdict = ">=%.2f" % t, ("met" if ok else "MISSED")
        met += ok
        if not ok:
            missed.append(name)
    else:
        target, verdict = "-", "info"
    rows.append((name, unit, mu, mp, "%.3f" % ratio, target, verdict, u, p))

# Pins: the original's RSS growth is what it holds (at most); the module must not hold more.
u = vals[("pins-rss", "unpatched")]
p = vals[("pins-rss", "patched")]
mu, mp = med("pins-rss", "unpatched"), med("pins-rss", "patched")
ok = mp <= mu
rows.append(("pins-1g-read-4k-file", "pages", mu, mp, "%.3f" % (mp / mu) if mu else ("1.000" if not mp else "inf"),
             "<=1 (<= original)", "met" if ok else "MISSED", u, p))
met += ok
if not ok:
    missed.append("pins-1g-read-4k-file")
pk = vals.get(("pins-peak", "patched"), [])
if len(pk) == rounds:
    mp = med("pins-peak", "patched")
    ok = mp <= mu
    rows.append(("pins-peak-counter", "pages", mu, mp, "%.3f" % (mp / mu) if mu else "inf",
                 "<=1 (<= original)", "met" if ok else "MISSED", u, pk))
    met += ok
    if not ok:
        missed.append("pins-peak-counter")
else:
    rows.append(("pins-peak-counter", "pages", mu, None, "n/a", "<=1 (<= original)",
                 "n/a (no pinned_pages_peak)", u, ["n/a"] * rounds))

def raw(xs, unit):
    return ",".join(fmt(x, unit) for x in xs)

for name, unit, mu, mp, ratio, target, verdict, u, p in rows:
    print("bench dio %s unpatched=%s patched=%s ratio=%s target=%s %s   [%s; rounds unpatched=%s patched=%s]" %
          (name, fmt(mu, unit), fmt(mp, unit), ratio, target.split(" ")[0], verdict.split(" ")[0],
           unit, raw(u, unit), raw(p, unit)))
ntargets = met + len(missed)
summary = "%d of %d targets met" % (met, ntargets) + (("; MISSED: " + ", ".join(missed)) if missed else "")
print("bench dio: " + summary)
for c in counts:
    print("bench dio module counters, round " + c)
zero = [c for c in counts if re.search(r"\bpinned_dios=0\b", c)]
if zero:
    print("bench dio: WARNING: a patched phase never took the pinned path (pinned_dios=0): " + "; ".join(zero))

with open(md, "w") as o:
    o.write("# dio-nofault benchmark, %s\n\n" % kernel)
    o.write("`harness/bench-dio.sh %s %d` on %s: one boot, %d round(s) (odd rounds unpatched first), "
            "fio %s --direct=1 over btrfs on dm-delay (%s ms), %s s + 1 s ramp per job, "
            "medians; under TCG only the ratios mean anything.  Log: `%s`.\n\n" %
            (kernel, rounds, datetime.date.today().isoformat(), rounds, fio_ver, delay, runtime, log))
    o.write("| workload | unit | unpatched | patched | ratio | target | result | rounds unpatched | rounds patched |\n")
    o.write("|---|---|---|---|---|---|---|---|---|\n")
    for name, unit, mu, mp, ratio, target, verdict, u, p in rows:
        v = "**MISSED**" if verdict == "MISSED" else verdict
        o.write("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" %
                (name, unit, fmt(mu, unit), fmt(mp, unit), ratio, target, v,
                 raw(u, unit).replace(",", ", "), raw(p, unit).replace(",", ", ")))
    o.write("\n%s.\n" % summary)
    if counts:
        o.write("\nModule counters at the end of each patched phase: %s.\n" % "; ".join("round " + c for c in counts))
    if zero:
        o.write("\n**Warning**: a patched phase never took the pinned path (pinned_dios=0).\n")
print("bench dio: table %s, log %s" % (md, log))
EOPY
