#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The admin's path, in a real Debian system VM (harness/sysvm.sh): install the package,
# reboot, and check that lockfix.service applied what the kernel needs and `lockfix
# status` tells the truth.  Run by `make check TESTS=install` (one scenario per kernel
# with an `install` row in harness/expectations.tsv) or by hand:
#
#   harness/test-install.sh KERNEL-ID [dkms|modules]
#
# dkms (default): the guest has gcc-10, dkms and the kernel's headers (mkrootfs.sh);
#   boot 1: apt install ./lockfix_*.deb ./lockfix-dkms_*.deb (DKMS builds in the guest);
#   boot 2: lockfix.service has run; lockfix status --json: on a kernel where fixes 2-4
#     are vetted, they are applied and btrfs-ordered is not needed (naming c495dcd6fbe1);
#     where every fix is upstream, every fix is not needed; the shipped reproducers pass;
#     a second kernel's headers installed -> DKMS builds lockfix for it too; apt remove
#     leaves the running patches as they are, and says so.
# modules: the guest has no gcc, no headers, no dkms; lockfix and
#   lockfix-modules-<release> are installed from the flat apt repository of `make debs`.
# TAP on stdout; exit 0 when every step held, 1 otherwise, 2 on bad arguments.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 KERNEL-ID [dkms|modules]"
kernel=$1 path=${2:-dkms}
case "$path" in dkms|modules) ;; *) die "path must be dkms or modules, not '$path'" ;; esac
matrix_row "$kernel"
[ "$M_KIND" = debian ] || die "$kernel: the install scenario needs a Debian kernel"
rel=$M_RELEASE
# What status must say per fix, from the reviewed decisions (vetted + proof = applied).
expected_state() {
	local d
	d=$(fleet_decision "$1" "$kernel")
	case "$d" in
	vetted) echo applied ;;
	fixed) echo not-needed ;;
	*) echo unsupported ;;
	esac
}

out=$LOCKFIX_OUT/install/$kernel-$path
rm -rf "$out"
mkdir -p "$out"
n=0 failed=0
step() {	# STATUS NAME [DETAIL]
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2${3:+ # $3}"; failed=$((failed + 1)); fi
}

echo "TAP version 13"
# The packages, and the reproducers built for this kernel.
if [ "$path" = dkms ]; then
	make -s -C "$LOCKFIX_ROOT" deb >"$out/make-deb.log" 2>&1 || { cat "$out/make-deb.log" >&2; die "make deb failed"; }
else
	make -s -C "$LOCKFIX_ROOT" debs >"$out/make-debs.log" 2>&1 || { cat "$out/make-debs.log" >&2; die "make debs failed"; }
fi
build=$("$LOCKFIX_HARNESS/build.sh" "$kernel")
job=$out/job
mkdir -p "$job/debs"
cp "$LOCKFIX_OUT"/deb/lockfix_*_all.deb "$job/debs/"
if [ "$path" = dkms ]; then
	cp "$LOCKFIX_OUT"/deb/lockfix-dkms_*_all.deb "$job/debs/"
else
	cp -a "$LOCKFIX_OUT/apt" "$job/apt"
fi
cp -a "$build/selftests" "$job/selftests"
# A second kernel's headers (DKMS must build for it on install): the newest other 5.10.
second=
if [ "$path" = dkms ] && [[ "$rel" == 5.10.* ]]; then
	for k in $(matrix_ids); do
		matrix_row "$k"
		[ "$M_KIND" = debian ] && [[ "$M_RELEASE" == 5.10.* ]] && [ "$M_RELEASE" != "$rel" ] && second=$k
	done
	matrix_row "$kernel"
fi
if [ -n "$second" ]; then
	sdir=$("$LOCKFIX_HARNESS/kernel.sh" "$second")
	mkdir -p "$job/debs/second"
	while read -r p; do
		case "$p" in linux-headers-*) ;; *) continue ;; esac
		cp "$LOCKFIX_CACHE"/dl/"${p%%=*}"_"${p#*=}"_*.deb "$job/debs/second/"
	done <"$sdir/packages"
	matrix_row "$second"; second_rel=$M_RELEASE; matrix_row "$kernel"
fi

# Boot 1: install.
cat >"$job/job.sh" <<'EOS'
#!/bin/bash
# boot 1: install lockfix as an admin would
set -u
export DEBIAN_FRONTEND=noninteractive
echo "install: $(uname -r) $(cat /proc/sys/kernel/version)"
if [ -d apt ]; then
	echo "deb [trusted=yes] file:$PWD/apt ./" >/etc/apt/sources.list.d/lockfix.list
	cp -a apt /var/lib/lockfix-apt 2>/dev/null
	echo "deb [trusted=yes] file:/var/lib/lockfix-apt ./" >/etc/apt/sources.list.d/lockfix.list
	apt-get -o Dir::Etc::sourcelist=/dev/null update -q 2>&1 | tail -3
	apt-get install -y -q "lockfix-modules-$(uname -r)" 2>&1 | tail -15; rc=${PIPESTATUS[0]}
else
	apt-get install -y -q ./debs/lockfix_*_all.deb ./debs/lockfix-dkms_*_all.deb 2>&1 | tail -25; rc=${PIPESTATUS[0]}
	dkms status 2>&1 | sed 's/^/install: dkms: /'
fi
echo "install: apt exit $rc"
systemctl is-enabled lockfix.service 2>&1 | sed 's/^/install: lockfix.service /'
command -v gcc >/dev/null && echo "install: gcc present" || echo "install: no gcc"
exit $rc
EOS
chmod +x "$job/job.sh"
disk=$out/disk.qcow2
imgopt=
[ "$path" = modules ] && imgopt=--no-compiler
rc=0
"$LOCKFIX_HARNESS/sysvm.sh" $imgopt -t 1500 -d "$disk" -l "$out/boot1.log" "$kernel" "$job" >"$out/sysvm1.out" 2>&1 || rc=$?
[ -f "$out/boot1.log" ] || { cat "$out/sysvm1.out" >&2; die "the system VM did not start (above)"; }
log1=$(tr -d '\r' <"$out/boot1.log")
grep '^install: ' <<<"$log1" | sed 's/^/# /'
step "$rc" "boot 1: apt install of the lockfix packages on $kernel ($path)" "exit $rc, log $out/boot1.log"
if [ "$path" = dkms ]; then
	grep -q "^install: dkms: lockfix.*$rel.*installed" <<<"$log1" && r=0 || r=1; step $r "DKMS built and installed lockfix for $rel in the guest"
else
	grep -q '^install: no gcc' <<<"$log1" && r=0 || r=1; step $r "the fleet host has no compiler"
fi
grep -q '^install: lockfix.service enabled' <<<"$log1" && r=0 || r=1; step $r "lockfix.service is enabled by the package"

# Boot 2: the service applied the fixes at boot; status; reproducers; second kernel; remove.
cat >"$job/job.sh" <<EOS
#!/bin/bash
# boot 2: after the reboot
set -u
export DEBIAN_FRONTEND=noninteractive
journalctl -b -u lockfix.service --no-pager 2>&1 | tail -20 | sed 's/^/status: journal: /'
lockfix status --json >status.json; echo "status: exit \$?"
sed 's/^/status: json: /' status.json
lockfix status 2>&1 | sed 's/^/status: text: /'
# The shipped reproducers, with the fixes as the service left them.
for t in dio-nofault percpu-nofs dm-thin-reset; do
	case "\$t" in
	dio-nofault) p=dio_nofault.sh ;;
	percpu-nofs) p=nofs_fail.sh ;;
	dm-thin-reset) p=thin_abort.sh ;;
	esac
	(cd selftests/\$t && timeout 600 ./\$p >../../repro-\$t.log 2>&1); echo "repro: \$t \$p exit \$?"
	grep -E '^(not ok|ok|# lockfix)' repro-\$t.log | sed "s/^/repro: \$t: /" | head -20
done
if [ -d debs/second ]; then
	apt-get install -y -q ./debs/second/*.deb 2>&1 | tail -8 | sed 's/^/second: /'
	dkms status 2>&1 | sed 's/^/second: dkms: /'
fi
before=\$(cat /sys/kernel/livepatch/*/enabled 2>/dev/null | tr -d '\n')
pkgs=\$(dpkg-query -W -f '\${Package} \${Status}\n' 'lockfix*' 2>/dev/null | awk '/ installed\$/ { print \$1 }')
echo "remove: packages: \$pkgs"
apt-get remove -y -q \$pkgs 2>&1 | grep -Ev '^(Reading|Building)' | tail -12 | sed 's/^/remove: apt: /'
after=\$(cat /sys/kernel/livepatch/*/enabled 2>/dev/null | tr -d '\n')
ls /sys/kernel/livepatch/ | sed 's/^/remove: still live: /'
echo "remove: enabled before=\$before after=\$after"
exit 0
EOS
rc=0
"$LOCKFIX_HARNESS/sysvm.sh" $imgopt -t 2400 -d "$disk" -l "$out/boot2.log" "$kernel" "$job" >"$out/sysvm2.out" 2>&1 || rc=$?
[ -f "$out/boot2.log" ] || { cat "$out/sysvm2.out" >&2; die "the system VM did not start (above)"; }
log2=$(tr -d '\r' <"$out/boot2.log")
grep -E '^(status|repro|second|remove): ' <<<"$log2" | sed 's/^/# /' | head -80
step "$rc" "boot 2: the system came up and ran the checks" "exit $rc, log $out/boot2.log"
json=$(sed -n 's/^status: json: //p' <<<"$log2")
echo "$json" >"$out/status.json"
if python3 -m json.tool "$out/status.json" >/dev/null 2>&1; then step 0 "lockfix status --json is valid JSON"; else step 1 "lockfix status --json is valid JSON"; fi
for f in dio-nofault percpu-nofs dm-thin-reset btrfs-ordered; do
	want=$(expected_state "$f")
	got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next((x["state"] for x in d["fixes"] if x["fix"] == sys.argv[2]), "missing"))' "$out/status.json" "$f" 2>/dev/null || echo unreadable)
	[ "$got" = "$want" ] && r=0 || r=1; step $r "status: $f is $want" "got $got"
done
if [ "$(expected_state btrfs-ordered)" = not-needed ]; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); x=[f for f in d["fixes"] if f["fix"] == "btrfs-ordered"][0]; sys.exit(0 if "c495dcd6fbe1" in (x.get("upstream","") + x.get("reason","")) else 1)' "$out/status.json" 2>/dev/null && r=0 || r=1
	step $r "status names c495dcd6fbe1 for btrfs-ordered"
fi
# What the shipped reproducer must show follows from the state: applied or not needed, it
# passes; unsupported (the bug is there and lockfix does not patch it), it reproduces the bug.
for t in dio-nofault percpu-nofs dm-thin-reset; do
	if [ "$(expected_state "$t")" = unsupported ]; then
		! grep -q "^repro: $t [^ ]* exit 0$" <<<"$log2" && grep -q "^repro: $t: # lockfix: bug-reproduced" <<<"$log2" && r=0 || r=1
		step $r "the shipped $t reproducer still shows the bug ($t is unsupported here, so not applied)"
	else
		grep -q "^repro: $t [^ ]* exit 0$" <<<"$log2" && r=0 || r=1
		step $r "the shipped $t reproducer passes with the fixes as the service applied them"
	fi
done
if [ -n "$second" ]; then
	grep -q "^second: dkms: lockfix.*$second_rel.*installed" <<<"$log2" && r=0 || r=1; step $r "installing $second_rel's headers built lockfix for it (DKMS autoinstall)"
fi
b=$(sed -n 's/^remove: enabled before=\([01]*\) after=.*/\1/p' <<<"$log2") a=$(sed -n 's/^remove: enabled before=[01]* after=\([01]*\)$/\1/p' <<<"$log2")
[ -n "$b" ] && [ "$a" = "$b" ] && r=0 || r=1; step $r "apt remove leaves the running patches as they are (enabled before '$b', after '$a')"
grep -qi '^remove: apt: .*lockfix.*\(still\|remain\|live\|loaded\)' <<<"$log2" && r=0 || r=1; step $r "apt remove says the patches stay live"
echo "1..$n"
echo "# install scenario on $kernel ($path): $((n - failed)) of $n held; logs in $out"
[ "$failed" = 0 ]
