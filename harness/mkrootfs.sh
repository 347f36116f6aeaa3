#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) a real Debian system disk for a matrix kernel and print its directory.
#
#   harness/mkrootfs.sh deb11-5.10.0-46 [--no-compiler]
#
# A bullseye (5.10 kernels) or bookworm (6.1) system made by mmdebstrap from the Debian
# registry (the mirrors harness/setup-host.sh configures): systemd as init, apt, kmod,
# udev, the matrix kernel's own linux-image package (its /lib/modules, and the initrd its
# initramfs-tools makes) at the exact version of matrix.tsv, and, unless --no-compiler,
# dkms, gcc, make and that kernel's linux-headers: what an admin's host has.  With
# --no-compiler: no gcc, no headers, no dkms (a fleet host; lockfix-modules-* packages).
# Baked in: lockfix-job.service, which runs the harness's job from the second disk
# (/dev/vdb, a tar archive), prints it on the serial console framed like
# harness/guest-init.sh does (lockfix-guest: booted, LOCKFIX-DMESG-*, LOCKFIX-EXIT) and
# powers off (harness/sysvm.sh boots it).
# The directory holds disk.img (ext4, the root fs), initrd.img and packages (what was
# installed).  Cached under $LOCKFIX_CACHE/rootfs, keyed by the kernel's packages, the
# package list and this script.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: $0 KERNEL-ID [--no-compiler]"
compiler=1
[ "${2:-}" = --no-compiler ] && compiler=0
[ -z "${2:-}" ] || [ "$2" = --no-compiler ] || die "unknown option '$2'"
matrix_row "$1"
[ "$M_KIND" = debian ] || die "$1 is not a Debian kernel (kind $M_KIND): a system image needs its packages"
command -v mmdebstrap >/dev/null || die "mmdebstrap missing: run harness/setup-host.sh"
rel=$M_RELEASE
case "$rel" in
5.10.*) suite=bullseye ;;
6.1.*) suite=bookworm ;;
*) die "$1: no Debian suite known for $rel" ;;
esac
image=$(tr , '\n' <<<"$M_PACKAGES" | grep "^linux-image-$rel-unsigned=")
headers=$(tr , '\n' <<<"$M_PACKAGES" | grep "^linux-headers-$rel=")
pkgs="systemd-sysv,udev,kmod,apt,procps,e2fsprogs,btrfs-progs,dmsetup,thin-provisioning-tools,util-linux,initramfs-tools,$image"
[ $compiler = 1 ] && pkgs+=",dkms,gcc,make,$headers"
key=$( { echo "$suite $pkgs"; cat "$0"; } | sha256sum | cut -c1-16)
dest=$LOCKFIX_CACHE/rootfs/$1-$([ $compiler = 1 ] && echo dev || echo fleet)-$key
[ -e "$dest/.complete" ] && { echo "$dest"; exit 0; }

mkdir -p "$LOCKFIX_CACHE/rootfs"
exec 9>"$LOCKFIX_CACHE/rootfs/.lock"
flock 9
rm -rf "$dest"
mkdir -p "$dest"
root=$dest/root
log "mmdebstrap $suite for $1 ($([ $compiler = 1 ] && echo 'with dkms, gcc, headers' || echo 'no compiler, no headers'))"
mirror=http://deb.debian.org/debian
secmirror=http://deb.debian.org/debian-security
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $secmirror $suite-security main")
# The job runner, baked into the image.
cat >"$dest/lockfix-job" <<'EOS'
#!/bin/sh
# lockfix harness: run the job from /dev/vdb (a tar archive) and power off.
exec >/dev/ttyS0 2>&1
echo "lockfix-guest: booted $(uname -r)"
rm -rf /var/tmp/lockfix-job; mkdir -p /var/tmp/lockfix-job  # not /run: initramfs-tools mounts it noexec
[ -b /dev/vdc ] && export LOCKFIX_SCRATCH_DEV=/dev/vdc
rc=0
if tar -xf /dev/vdb -C /var/tmp/lockfix-job && [ -x /var/tmp/lockfix-job/job.sh ]; then
	cd /var/tmp/lockfix-job && ./job.sh || rc=$?
else
	echo "lockfix-guest: no job on /dev/vdb ($(ls -l /dev/vd* 2>&1 | tr '\n' ' '))"
	rc=125
fi
echo "LOCKFIX-DMESG-BEGIN"
dmesg
echo "LOCKFIX-DMESG-END"
echo "LOCKFIX-EXIT $rc"
sync
systemctl poweroff --force --force
EOS
cat >"$dest/lockfix-job.service" <<'EOS'
[Unit]
Description=lockfix harness job (from /dev/vdb)
After=multi-user.target lockfix.service
ConditionPathExists=/dev/vdb

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lockfix-job
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOS
if ! mmdebstrap --variant=minbase --include="$pkgs" \
	--customize-hook="install -m 0755 '$dest/lockfix-job' \"\$1/usr/local/sbin/lockfix-job\"" \
	--customize-hook="install -m 0644 '$dest/lockfix-job.service' \"\$1/etc/systemd/system/lockfix-job.service\"" \
	--customize-hook='chroot "$1" systemctl enable lockfix-job.service' \
	--customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer systemd-timesyncd.service getty@tty1.service serial-getty@ttyS0.service 2>/dev/null || true' \
	--customize-hook='echo "/dev/vda / ext4 defaults 0 1" >"$1/etc/fstab"; echo lockfix-test >"$1/etc/hostname"; passwd --root "$1" -d root' \
	--customize-hook="chroot \"\$1\" dpkg-query -W -f '\${Package}=\${Version}\\n' >'$dest/packages'" \
	"$suite" "$root" "${sources[@]}" >"$dest/mmdebstrap.log" 2>&1; then
	tail -20 "$dest/mmdebstrap.log" >&2
	die "mmdebstrap failed for $1 (log $dest/mmdebstrap.log)"
fi
cp "$root/boot/initrd.img-$rel" "$dest/initrd.img" || die "$1: no initrd.img-$rel in the image"
# Room for DKMS builds and the tests' scratch files.
# (mke2fs says "Creating regular file ..." on stdout when the image does not exist yet, even
# with -q: stdout is this script's answer, so the file is made first and mke2fs talks to
# stderr.)
truncate -s 6G "$dest/disk.img"
mkfs.ext4 -q -F -L lockfix-root -d "$root" "$dest/disk.img" >&2
rm -rf "$root"
touch "$dest/.complete"
# Drop images of this kernel and variant under older keys (16 hex digits after the name).
for old in "${dest%-*}"-????????????????; do
	[ "$old" != "$dest" ] && [ -d "$old" ] && rm -rf "$old"
done
log "system image for $1: $dest ($(du -sh --apparent-size "$dest/disk.img" | cut -f1) disk)"
echo "$dest"
