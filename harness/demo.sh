#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The admin's story, in a real Debian 11 system VM (harness/sysvm.sh: systemd, dkms,
# gcc-10, the kernel's headers), on one disk across three boots:
#   1. stock Debian 11, lockfix not installed: the reproducers of fixes 2-4 (one case
#      each) show the bugs: NOFS-scoped percpu allocations fail, an O_DIRECT read into an
#      mmap of the same btrfs file hangs, ext4 on a thin pool deadlocks when drop_caches
#      evicts an inode in a fast commit while the pool's metadata disk fails;
#   2. apt install ./lockfix_*.deb ./lockfix-dkms_*.deb: DKMS builds in the guest;
#   3. reboot: lockfix.service applied the fixes, `lockfix status` says so, and the same
#      reproducers pass.
# Each step's outcome is printed plainly; exit 0 when the whole story held, 1 when a step
# did not, 2 on bad arguments.  ~7 min on a warm cache (rootfs and kernel cached).
#
#   make demo            (or harness/demo.sh [KERNEL-ID], a Debian 11 kernel of the matrix
#                         where fixes 2-4 are vetted; default deb11-5.10.0-46)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -le 1 ] || die "usage: $0 [KERNEL-ID]"
case "${1:-}" in -h|--help) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
kernel=${1:-deb11-5.10.0-46}
matrix_row "$kernel"
[ "$M_KIND" = debian ] || die "$kernel: the demo needs a Debian kernel (it is kind $M_KIND)"
fixes="percpu-nofs dio-nofault dm-thin-reset"
for f in $fixes; do
	d=$(fleet_decision "$f" "$kernel")
	[ "$d" = vetted ] || die "$kernel: $f is '${d:-not listed}' in fleet/vetted.tsv, not vetted: the demo shows fixes 2-4 on a kernel where all three are vetted (e.g. deb11-5.10.0-46)"
done
rel=$M_RELEASE

out=$LOCKFIX_OUT/demo/$kernel
rm -rf "$out"
mkdir -p "$out/job/debs"
t_start=$SECONDS
say() { echo "$*"; }
step() { echo; echo "=== $* ==="; }
held=0 missed=0
outcome() {	# OK|MISS TEXT
	if [ "$1" = OK ]; then held=$((held + 1)); echo "  ok    $2"; else missed=$((missed + 1)); echo "  MISS  $2"; fi
}

say "lockfix demo on $kernel ($rel), in a Debian 11 system VM; logs in $out"
make -s -C "$LOCKFIX_ROOT" deb >"$out/make-deb.log" 2>&1 || { cat "$out/make-deb.log" >&2; die "make deb failed"; }
cp "$LOCKFIX_OUT"/deb/lockfix_*_all.deb "$LOCKFIX_OUT"/deb/lockfix-dkms_*_all.deb "$out/job/debs/"
build=$("$LOCKFIX_HARNESS/build.sh" "$kernel")
cp -a "$build/selftests" "$out/job/selftests"

# The reproducers, in the guest: percpu (no disk), dio (btrfs on a loop file), then
# dm-thin (ext4 on a thin pool on the scratch disk, thin_ext4.sh) last: its deadlock
# leaves shrinker_rwsem wanted for write, so a later mount would block on register_shrinker.
repro_job() {	# PHASE
	local status= end='exit 0'
	[ "$1" = stock ] || status='lockfix status 2>&1 | sed "s/^/demo: status: /"; echo "demo: status exit ${PIPESTATUS[0]}"'
	# After the stock deadlocks a full sync would hang on the wedged devices (as in
	# guest-init.sh): sync the system disk alone, then power off at once.
	[ "$1" = patched ] || end='sync -f /; echo "demo: powering off (hung tasks left)"; echo o >/proc/sysrq-trigger; sleep 60'
	cat <<EOS
#!/bin/bash
# demo boot: the reproducers of fixes 2-4 ($1)
set -u
repro() {	# FIX SCRIPT [ARGS...]
	local fix=\$1 start=\$(date +%s) rc=0
	shift
	(cd selftests/\$fix && timeout 300 "\$@" >../../repro-\$fix.log 2>&1) || rc=\$?
	echo "demo: repro \$fix exit \$rc after \$((\$(date +%s) - start)) s"
	grep -E '^(not ok|ok) |lockfix: bug-reproduced' repro-\$fix.log | sed "s/^/demo: \$fix: /" | head -8
}
$status
repro percpu-nofs ./nofs_fail.sh
repro dio-nofault env -u LOCKFIX_SCRATCH_DEV ./dio_nofault.sh read-self-2m
repro dm-thin-reset ./thin_ext4.sh
$end
EOS
}
# What a boot's reproducers showed: FIX PHASE LOG -> OK|MISS and a line.
judge() {
	local fix=$1 phase=$2 log=$3 rc what
	rc=$(sed -n "s/^demo: repro $fix exit \([0-9]*\) .*/\1/p" "$log")
	case $fix in
	percpu-nofs) what="GFP_KERNEL percpu allocations in a NOFS/NOIO scope, past the populated chunks (9a5b183941b5)" ;;
	dio-nofault) what="O_DIRECT read of 2 MiB into an mmap of the same btrfs range (51bd9563b678)" ;;
	dm-thin-reset) what="ext4 on a thin pool: drop_caches evicts an inode in a fast commit while the metadata disk fails (d48300120627)" ;;
	esac
	if [ -z "$rc" ]; then
		echo "MISS $fix: $what: did not report (log $log)"
	elif [ "$phase" = stock ]; then
		if grep -q "^demo: $fix: .*lockfix: bug-reproduced" "$log"; then
			echo "OK $fix: $what: the bug, as expected on stock $rel: $(grep -m1 "^demo: $fix: .*lockfix: bug-reproduced" "$log" | sed 's/.*lockfix: bug-reproduced //' | cut -c1-110)"
		else
			echo "MISS $fix: $what: the bug did not reproduce (exit $rc)"
		fi
	elif [ "$rc" = 0 ] && ! grep -q "^demo: $fix: not ok" "$log"; then
		echo "OK $fix: $what: passes ($(grep -c "^demo: $fix: ok " "$log") case(s) ok)"
	else
		echo "MISS $fix: $what: exit $rc, $(grep "^demo: $fix: not ok" "$log" | head -1 | cut -c1-120)"
	fi
}
boot() {	# N LIMIT [sysvm options]
	local n=$1 limit=$2 rc=0
	shift 2
	"$LOCKFIX_HARNESS/sysvm.sh" "$@" -t "$limit" -d "$out/disk.qcow2" -l "$out/boot$n.raw" "$kernel" "$out/job" >"$out/sysvm$n.out" 2>&1 || rc=$?
	[ -f "$out/boot$n.raw" ] || { cat "$out/sysvm$n.out" >&2; die "the system VM did not start (above)"; }
	tr -d '\r' <"$out/boot$n.raw" >"$out/boot$n.log"
	return $rc
}

step "1/3 stock $rel, lockfix not installed: the reproducers of fixes 2-4"
repro_job stock >"$out/job/job.sh"
chmod +x "$out/job/job.sh"
t0=$SECONDS
boot 1 900 || true
for f in $fixes; do r=$(judge "$f" stock "$out/boot1.log"); outcome "${r%% *}" "${r#* }"; done
say "  ($((SECONDS - t0)) s; the hung tasks stay in D state: the boot ends with a forced power-off)"

step "2/3 apt install ./lockfix_*.deb ./lockfix-dkms_*.deb (DKMS builds with the guest's gcc)"
cat >"$out/job/job.sh" <<'EOS'
#!/bin/bash
# demo boot 2: install lockfix as an admin would
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q ./debs/lockfix_*_all.deb ./debs/lockfix-dkms_*_all.deb >apt.log 2>&1; rc=$?
echo "demo: apt exit $rc"
tail -4 apt.log | sed 's/^/demo: apt: /'
dkms status 2>&1 | sed 's/^/demo: dkms: /'
echo "demo: lockfix.service $(systemctl is-enabled lockfix.service 2>&1)"
exit $rc
EOS
t0=$SECONDS
rc=0; boot 2 1200 || rc=$?
[ "$rc" = 0 ] && outcome OK "apt install: exit 0" || outcome MISS "apt install: exit $rc (log $out/boot2.log)"
if grep -q "^demo: dkms: lockfix.*$rel.*installed" "$out/boot2.log"; then
	outcome OK "DKMS built and installed lockfix for $rel: $(grep -m1 "^demo: dkms: lockfix" "$out/boot2.log" | cut -c13-)"
else
	outcome MISS "DKMS did not install lockfix for $rel ($(grep "^demo: dkms: " "$out/boot2.log" | head -1 | cut -c13-))"
fi
grep -q '^demo: lockfix.service enabled' "$out/boot2.log" && outcome OK "lockfix.service enabled by the package" ||
	outcome MISS "lockfix.service not enabled ($(sed -n 's/^demo: lockfix.service //p' "$out/boot2.log"))"
say "  ($((SECONDS - t0)) s)"

step "3/3 reboot: lockfix.service applies the fixes; lockfix status; the same reproducers"
repro_job patched >"$out/job/job.sh"
t0=$SECONDS
boot 3 900 || true
sed -n 's/^demo: status: /  | /p' "$out/boot3.log"
st=$(sed -n 's/^demo: status exit //p' "$out/boot3.log")
[ "$st" = 0 ] && outcome OK "lockfix status: exit 0 (every needed fix applied)" || outcome MISS "lockfix status: exit ${st:-none}"
for f in $fixes; do
	if grep -qE "^demo: status: +$f +applied" "$out/boot3.log"; then outcome OK "status: $f applied"; else outcome MISS "status: $f not shown as applied"; fi
done
for f in $fixes; do r=$(judge "$f" patched "$out/boot3.log"); outcome "${r%% *}" "${r#* }"; done
say "  ($((SECONDS - t0)) s)"

echo
if [ $missed = 0 ]; then
	say "demo: the story held ($held steps) in $((SECONDS - t_start)) s: stock $rel shows the bugs of fixes 2-4; with the lockfix package installed and the machine rebooted, they are applied and the same reproducers pass"
else
	say "demo: $missed of $((held + missed)) steps did not hold (logs in $out)"
fi
[ $missed = 0 ]
