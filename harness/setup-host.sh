#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare a Debian 12 host (root) to build lockfix and run its VM tests:
#   - adds the Debian 11 suites (bullseye, bullseye-updates, bullseye-security) to apt,
#     pinned at priority 1 so nothing from them is ever installed: they are only for
#     `apt-get download` of Debian 11 kernels into the cache;
#   - installs qemu, busybox-static, btrfs-progs, dmsetup, thin-provisioning-tools,
#     kernel build dependencies, dkms.
# Idempotent.  Never installs a kernel: kernels are unpacked into $LOCKFIX_CACHE.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup-host.sh: must run as root (apt)" >&2; exit 2; }

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { echo "setup-host.sh: $keyring missing (not a Debian host?)" >&2; exit 2; }
cat >/etc/apt/sources.list.d/lockfix-bullseye.sources <<EOS
# Added by lockfix harness/setup-host.sh: Debian 11 kernels for VM tests (download only).
Types: deb
URIs: http://deb.debian.org/debian
Suites: bullseye bullseye-updates
Components: main
Signed-By: $keyring

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bullseye-security
Components: main
Signed-By: $keyring
EOS
cat >/etc/apt/preferences.d/lockfix-bullseye <<'EOS'
# Added by lockfix harness/setup-host.sh: never install from Debian 11 on this host.
Package: *
Pin: release n=bullseye
Pin-Priority: 1

Package: *
Pin: release n=bullseye-security
Pin-Priority: 1

Package: *
Pin: release n=bullseye-updates
Pin-Priority: 1
EOS
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	qemu-system-x86 qemu-utils busybox-static btrfs-progs dmsetup thin-provisioning-tools e2fsprogs \
	util-linux kmod cpio gzip xz-utils zstd rsync bash \
	gcc make bc flex bison libelf-dev libssl-dev dwarves patch perl python3 \
	libc6-dev dkms liburing-dev \
	debhelper dh-dkms lintian dpkg-dev apt-utils fakeroot mmdebstrap \
	fio
