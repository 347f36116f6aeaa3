#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# lockfix Debian packages, out of tree (packaging.mk runs this; see tools/README.md).
#
#   debian/packaging.sh version-check     dkms.conf, debian/changelog, the CLI and its
#                                         manual agree on the version
#   debian/packaging.sh deb               out/deb/lockfix_<v>_all.deb, lockfix-dkms_<v>_all.deb
#                                         (the tree is copied to out/pkg/lockfix-<v> first)
#   debian/packaging.sh abis              the kernel ids that get a lockfix-modules package
#   debian/packaging.sh modules ID...     out/deb/lockfix-modules-<release>_<v>_amd64.deb
#   debian/packaging.sh apt               out/apt/: a flat apt repository of out/deb/*.deb
#   debian/packaging.sh apt-check         apt resolves out/apt as an admin would (simulated)
#   debian/packaging.sh lintian           lintian on every out/deb/*.deb
#
# Which ABIs (abis): Debian kernels of harness/matrix.tsv with a `vetted` line in
# fleet/vetted.tsv whose proof passed (fleet/proofs/<id>.tap has the module=<fix> pass
# row), i.e. the builds the modules' own tables let in; each package carries exactly
# those fixes' modules.  DEBS_KERNELS="id ..." restricts the set; DEBS_UNPROVEN=1 also
# takes vetted lines whose proof is not recorded yet (their modules refuse those builds
# until `make vet`: for trying the packaging only).
# Signing: LOCKFIX_SIGN_KEY (PEM private key) and LOCKFIX_SIGN_CERT (X.509, PEM or DER,
# e.g. DKMS's /var/lib/dkms/mok.priv and mok.pub) sign every module with a sign-file that
# works on this host (LOCKFIX_SIGN_FILE, then linux-kbuild-6.1's, then the kernel's own).
set -euo pipefail
export LC_ALL=C

top=$(cd "$(dirname "$0")/.." && pwd)
out=${LOCKFIX_OUT:-$top/out}
cache=${LOCKFIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lockfix}
debdir=$out/deb
die() { echo "packaging: error: $*" >&2; exit 1; }
say() { echo "packaging: $*" >&2; }

version() { sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/dkms.conf"; }
maintainer() { sed -n 's/^Maintainer: //p' "$top/debian/control"; }

version_check() {
	local v c cli man
	v=$(version)
	c=$(cd "$top" && dpkg-parsechangelog -S Version)
	cli=$(sed -n 's/^LOCKFIX_VERSION=//p' "$top/tools/lockfix")
	man=$(sed -n 's/^\.TH .*"lockfix \([^"]*\)".*/\1/p' "$top/tools/lockfix.8")
	[ -n "$v" ] || die "dkms.conf has no PACKAGE_VERSION"
	# A native package: the Debian version is the upstream one (a -N revision is dropped).
	[ "${c%-*}" = "$v" ] && [ "$cli" = "$v" ] && [ "$man" = "$v" ] ||
		die "versions disagree: dkms.conf PACKAGE_VERSION=$v, debian/changelog $c, tools/lockfix $cli, tools/lockfix.8 $man (bump them together: dch -v, dkms.conf, tools/lockfix, tools/lockfix.8)"
	say "version $v (dkms.conf, debian/changelog, tools/lockfix, tools/lockfix.8)"
}

# ---------------------------------------------------------------- lockfix, lockfix-dkms

cmd_deb() {
	local v src
	version_check
	v=$(version)
	src=$out/pkg/lockfix-$v
	mkdir -p "$out/pkg" "$debdir"
	# The working tree (what is being developed, committed or not), without build output.
	rsync -a --delete --delete-excluded --exclude=/out --exclude=/.git \
		--exclude-from="$top/.gitignore" \
		--exclude=/debian/lockfix/ --exclude=/debian/lockfix-dkms/ --exclude=/debian/tmp/ \
		--exclude=/debian/.debhelper/ --exclude=/debian/files --exclude='/debian/*.substvars' \
		--exclude='/debian/*.debhelper' --exclude='/debian/*.debhelper.log' \
		--exclude=lockfix_vetted.h "$top/" "$src/"
	rm -f "$out/pkg/lockfix_${v}_"* "$out/pkg/lockfix-dkms_${v}_"*
	say "dpkg-buildpackage in $src"
	(cd "$src" && dpkg-buildpackage -A --no-sign) >"$out/pkg/build.log" 2>&1 ||
		{ tail -40 "$out/pkg/build.log" >&2; die "dpkg-buildpackage failed (log: $out/pkg/build.log)"; }
	(cd "$src" && debian/rules clean) >>"$out/pkg/build.log" 2>&1
	mv -f "$out/pkg/lockfix_${v}_all.deb" "$out/pkg/lockfix-dkms_${v}_all.deb" "$debdir/"
	verify_unit "$debdir/lockfix_${v}_all.deb"
	echo "$debdir/lockfix_${v}_all.deb"
	echo "$debdir/lockfix-dkms_${v}_all.deb"
}

# verify_unit DEB: systemd-analyze verify of lockfix.service as installed by DEB (its root).
verify_unit() {
	local root
	command -v systemd-analyze >/dev/null || { say "systemd-analyze missing: lockfix.service not verified"; return 0; }
	root=$(mktemp -d "$out/pkg/unit.XXXXXX")
	dpkg-deb -x "$1" "$root"
	if ! systemd-analyze verify --man=no --root="$root" /lib/systemd/system/lockfix.service; then
		rm -rf "$root"
		die "systemd-analyze verify failed on lockfix.service"
	fi
	rm -rf "$root"
	say "systemd-analyze verify: lockfix.service as installed by $(basename "$1"): ok"
}

# ---------------------------------------------------------------- lockfix-modules-<release>

matrix_field() {	# ID COLUMN
	awk -F'\t' -v id="$1" -v c="$2" '!/^#/ && $1 == id { print $c; exit }' "$top/harness/matrix.tsv"
}
proof_passed() {	# FIX ID
	grep -Eq "^ok [0-9]+ $2/$1/module=$1 # expected pass, got pass" "$top/fleet/proofs/$2.tap" 2>/dev/null
}
# abi_fixes ID: the fixes a lockfix-modules package for ID carries
abi_fixes() {
	local f
	for f in $(awk -F'\t' -v k="$1" '!/^#/ && $2 == k && $3 == "vetted" { print $1 }' "$top/fleet/vetted.tsv"); do
		if proof_passed "$f" "$1"; then
			echo "$f"
		elif [ "${DEBS_UNPROVEN:-0}" = 1 ]; then
			say "warning: $1: $f is vetted but has no passing proof: its module refuses this build until make vet KERNEL=$1 (DEBS_UNPROVEN=1)"
			echo "$f"
		fi
	done
}
cmd_abis() {
	local id want=${DEBS_KERNELS:-}
	for id in $want; do
		[ -n "$(matrix_field "$id" 1)" ] || die "DEBS_KERNELS: unknown kernel id $id"
		[ "$(matrix_field "$id" 2)" = debian ] || die "DEBS_KERNELS: $id is not a Debian kernel (no linux-image package to depend on)"
		[ -n "$(abi_fixes "$id" 2>/dev/null)" ] || say "DEBS_KERNELS: $id has no vetted fix with a passing proof: no package for it"
	done
	for id in $(awk -F'\t' '!/^#/ && NF && $2 == "debian" { print $1 }' "$top/harness/matrix.tsv"); do
		[ -z "$want" ] || [[ " $want " == *" $id "* ]] || continue
		[ -n "$(abi_fixes "$id" 2>/dev/null)" ] && echo "$id"
	done
	return 0
}

# sign_tool KDIR: print a sign-file that works here (5.10's needs libcrypto.so.1.1, which
# bookworm lacks), or fail naming what was tried.
sign_tool() {
	local kdir=$1 c tried=() tmp
	tmp=$(mktemp -d)
	printf 'not a module\n' >"$tmp/probe"
	for c in ${LOCKFIX_SIGN_FILE:-} /usr/lib/linux-kbuild-6.1/scripts/sign-file \
		"$cache"/kernels/*/root/usr/lib/linux-kbuild-6.1/scripts/sign-file \
		"$kdir/build/scripts/sign-file" /usr/src/linux-headers-*/scripts/sign-file \
		/usr/lib/linux-kbuild-*/scripts/sign-file; do
		[ -x "$c" ] || continue
		cp "$tmp/probe" "$tmp/p.ko"
		if "$c" sha256 "$LOCKFIX_SIGN_KEY" "$LOCKFIX_SIGN_CERT" "$tmp/p.ko" >"$tmp/err" 2>&1 &&
		   tail -c 28 "$tmp/p.ko" | grep -q 'Module signature appended'; then
			rm -rf "$tmp"
			echo "$c"
			return 0
		fi
		tried+=("$c: $(head -1 "$tmp/err")")
	done
	rm -rf "$tmp"
	echo "no working sign-file; tried:" >&2
	[ ${#tried[@]} -gt 0 ] && printf '  %s\n' "${tried[@]}" >&2
	echo "  (install linux-kbuild-6.1, or set LOCKFIX_SIGN_FILE; 5.10's sign-file needs libcrypto.so.1.1)" >&2
	return 1
}

cmd_modules() {
	local id rc skipped=()
	[ $# -gt 0 ] || die "modules: no kernel id"
	for id in "$@"; do
		rc=0
		(modules_deb "$id") || rc=$?
		case $rc in
		0) ;;
		4) skipped+=("$id") ;;
		*) exit "$rc" ;;
		esac
	done
	[ ${#skipped[@]} = 0 ] || say "skipped (kernel packages no longer served): ${skipped[*]}"
}

modules_deb() {
	local id=$1 v rel kver kdir fixes f mod ko stage pkg doc hash tool signer size epoch deb desc
	v=$(version)
	[ "$(matrix_field "$id" 2)" = debian ] || die "$id: not a Debian kernel of harness/matrix.tsv"
	rel=$(matrix_field "$id" 3)
	fixes=$(abi_fixes "$id")
	[ -n "$fixes" ] || die "$id: no vetted fix with a passing proof (fleet/): nothing to package"
	kver=$(awk -F'\t' '$1 == "version" { print $2; exit }' "$top/fleet/facts/$id.tsv" 2>/dev/null || true)
	say "$id: building modules (harness/build.sh from $out/pkg/lockfix-$v)"
	[ -x "$out/pkg/lockfix-$v/harness/build.sh" ] || die "run debian/packaging.sh deb first (no $out/pkg/lockfix-$v)"
	local rc=0
	env -u LOCKFIX_CANDIDATE LOCKFIX_OUT="$out" "$out/pkg/lockfix-$v/harness/build.sh" "$id" >/dev/null || rc=$?
	# 4: the kernel's pinned packages are no longer served (harness/kernel.sh said why).
	[ $rc = 4 ] && { say "skip: $id: its kernel cannot be prepared (above): no $id package"; return 4; }
	[ $rc = 0 ] || die "$id: harness/build.sh failed"
	kdir=$(env LOCKFIX_OUT="$out" "$top/harness/kernel.sh" "$id")
	pkg=lockfix-modules-$rel
	stage=$out/pkg/modules/$pkg
	doc=$stage/usr/share/doc/$pkg
	rm -rf "$stage"
	mkdir -p "$stage/DEBIAN" "$stage/lib/modules/$rel/updates/lockfix" "$doc"
	for f in $fixes; do
		mod=lockfix_${f//-/_}
		ko=$out/build/$id/modules/$mod.ko
		[ -f "$ko" ] || die "$id: $ko was not built"
		[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$rel" ] || die "$ko: vermagic is not $rel"
		install -m644 "$ko" "$stage/lib/modules/$rel/updates/lockfix/"
	done
	signer="unsigned"
	if [ -n "${LOCKFIX_SIGN_KEY:-}" ] || [ -n "${LOCKFIX_SIGN_CERT:-}" ]; then
		[ -r "${LOCKFIX_SIGN_KEY:-}" ] && [ -r "${LOCKFIX_SIGN_CERT:-}" ] ||
			die "LOCKFIX_SIGN_KEY and LOCKFIX_SIGN_CERT must both name readable files"
		tool=$(sign_tool "$kdir") || die "$id: cannot sign: no sign-file works on this host (see above)"
		hash=$(sed -n 's/^CONFIG_MODULE_SIG_HASH="\(.*\)"/\1/p' "$kdir/build/.config" 2>/dev/null)
		for ko in "$stage/lib/modules/$rel/updates/lockfix"/*.ko; do
			"$tool" "${hash:-sha256}" "$LOCKFIX_SIGN_KEY" "$LOCKFIX_SIGN_CERT" "$ko" ||
				die "$ko: sign-file failed"
		done
		signer=$(modinfo -F signer "$ko")
		say "$id: signed with $tool (${hash:-sha256}, signer: $signer)"
		signer="signed (${hash:-sha256}) by \"$signer\""
	fi
	install -m644 "$top/debian/copyright" "$doc/copyright"
	gzip -9n <"$top/debian/changelog" >"$doc/changelog.gz"
	chmod 644 "$doc/changelog.gz"

	cat >"$stage/DEBIAN/postinst" <<-EOF
	#!/bin/sh
	# $pkg: make the modules known to modprobe for $rel.
	# Nothing is loaded here: lockfix.service or \`lockfix load\` does that.
	set -e
	if [ "\$1" = configure ] && [ -d /lib/modules/$rel/kernel ]; then
	 	if [ -e /boot/System.map-$rel ]; then
	 		depmod -a -F /boot/System.map-$rel $rel
	 	else
	 		depmod -a $rel
	 	fi
	fi
	EOF
	cat >"$stage/DEBIAN/postrm" <<-EOF
	#!/bin/sh
	# $pkg: forget the removed modules.
	# A loaded module stays loaded (and applied): removing the package never
	# unloads a fix (\`lockfix unload\` does).
	set -e
	case "\$1" in
	remove|purge)
	 	if [ -d /lib/modules/$rel/kernel ] && command -v depmod >/dev/null; then
	 		depmod -a $rel
	 	fi ;;
	esac
	if [ "\$1" = remove ]; then
	 	live=
	 	for d in /sys/kernel/livepatch/lockfix_*; do
	 		if [ -d "\$d" ]; then live="\$live \${d##*/}"; fi
	 	done
	 	if [ -n "\$live" ]; then
	 		echo "lockfix:\$live: still loaded and live until reboot (removing a package never unloads a fix; lockfix unload removes them)"
	 	fi
	fi
	EOF
	sed -i 's/^ \t/\t/' "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
	chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"

	# Reproducible: every mtime is the changelog's date.
	epoch=$(cd "$top" && dpkg-parsechangelog -S Timestamp)
	find "$stage" -exec touch -h -d "@$epoch" {} +
	(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
	chmod 644 "$stage/DEBIAN/md5sums"
	size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
	desc=""
	for f in $fixes; do desc+=" $f,"; done
	desc=${desc%,}
	para1="Prebuilt lockfix livepatch modules for the Debian kernel ABI $rel, built from lockfix $v against the vetted build $id (uname -v: ${kver:-not recorded}):$desc.  Modules $signer."
	para2="Each module patches only the kernel builds it was vetted on (release, uname -v and GNU build-ids) and refuses every other one, naming the reason; lockfix status shows what applies.  They are installed in /lib/modules/$rel/updates/lockfix and loaded by lockfix.service at boot or by lockfix load, never by this package."
	{
		cat <<-EOF
		Package: $pkg
		Source: lockfix
		Version: $v
		Architecture: amd64
		Maintainer: $(maintainer)
		Installed-Size: $size
		Depends: lockfix (= $v), linux-image-$rel | linux-image-$rel-unsigned
		Provides: lockfix-modules
		Section: kernel
		Priority: optional
		Description: lockfix livepatch modules for Linux $rel
		EOF
		fmt -w 76 <<<"$para1" | sed 's/^/ /'
		echo " ."
		fmt -w 76 <<<"$para2" | sed 's/^/ /'
	} >"$stage/DEBIAN/control"
	touch -d "@$epoch" "$stage/DEBIAN"/*
	mkdir -p "$debdir"
	deb=$debdir/${pkg}_${v}_amd64.deb
	SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
	echo "$deb"
}

# ---------------------------------------------------------------- apt repository, lintian

cmd_apt() {
	local apt=$out/apt
	ls "$debdir"/*.deb >/dev/null 2>&1 || die "no packages in $debdir (make deb / make debs)"
	rm -rf "$apt"
	mkdir -p "$apt"
	cp "$debdir"/*.deb "$apt/"
	(
		cd "$apt"
		apt-ftparchive packages . >Packages
		gzip -9nk Packages
		apt-ftparchive \
			-o APT::FTPArchive::Release::Origin=lockfix \
			-o APT::FTPArchive::Release::Label=lockfix \
			-o APT::FTPArchive::Release::Suite=lockfix \
			-o APT::FTPArchive::Release::Codename=lockfix \
			-o APT::FTPArchive::Release::Architectures="amd64 all" \
			-o APT::FTPArchive::Release::Description="lockfix $(version) (make debs)" \
			release . >../Release.tmp
		mv ../Release.tmp Release
	)
	say "apt repository: $apt ($(grep -c '^Package:' "$apt/Packages") packages)"
	echo "  echo \"deb [trusted=yes] file:$apt ./\" > /etc/apt/sources.list.d/lockfix.list"
	echo "  apt update && apt install lockfix-modules-\$(uname -r)"
}

# apt-check: apt resolves the repository as an admin would (simulated, private apt state;
# stand-ins for the Debian packages the lockfix ones depend on): lockfix-modules-<release>
# pulls lockfix and the kernel but no DKMS/compiler; lockfix-dkms pulls dkms and headers.
cmd_apt_check() {
	local t=$out/pkg/apt-check p rel sim rc=0 aptopts
	[ -f "$out/apt/Release" ] || die "no $out/apt (debian/packaging.sh apt)"
	rm -rf "$t"
	mkdir -p "$t/stub" "$t/lists/partial" "$t/cache/archives/partial" "$t/etc"
	stub() {	# NAME
		mkdir -p "$t/stub/$1/DEBIAN"
		printf 'Package: %s\nVersion: 99\nArchitecture: all\nMaintainer: stub <stub@localhost>\nDescription: apt-check stand-in\n' "$1" >"$t/stub/$1/DEBIAN/control"
		dpkg-deb --root-owner-group -b "$t/stub/$1" "$t/stub/$1.deb" >/dev/null
	}
	stub kmod; stub dkms; stub linux-headers-amd64
	for p in "$out/apt"/lockfix-modules-*.deb; do
		[ -f "$p" ] || continue
		rel=$(dpkg-deb -f "$p" Package); rel=${rel#lockfix-modules-}
		stub "linux-image-$rel"
	done
	(cd "$t/stub" && apt-ftparchive packages . >Packages)
	printf 'deb [trusted=yes] file:%s ./\ndeb [trusted=yes] file:%s ./\n' "$out/apt" "$t/stub" >"$t/etc/sources.list"
	: >"$t/status"
	aptopts=(-o Dir::State::status="$t/status" -o Dir::Etc::SourceList="$t/etc/sources.list"
		-o Dir::Etc::SourceParts=/nonexistent -o Dir::Etc::PreferencesParts=/nonexistent
		-o Dir::Etc::Preferences=/nonexistent -o Dir::State::Lists="$t/lists"
		-o Dir::Cache="$t/cache" -o Debug::NoLocking=1 -o APT::Architecture=amd64
		-o APT::Install-Recommends=1 -o APT::Sandbox::User=root)
	apt-get -q "${aptopts[@]}" update >"$t/update.log" 2>&1 || { cat "$t/update.log" >&2; die "apt-get update of $out/apt failed"; }
	check_sim() {	# DESC PACKAGE "MUST-INSTALL..." "MUST-NOT-INSTALL..."
		local names n bad=
		sim=$(apt-get -s -q "${aptopts[@]}" install "$2" 2>&1) || { printf '%s\n' "$sim" >&2; say "apt-check: $1: apt-get -s install $2 failed"; rc=1; return; }
		names=" $(sed -n 's/^Inst \([^ ]*\).*/\1/p' <<<"$sim" | paste -sd' ') "
		for n in $3; do [[ $names == *" $n "* ]] || bad+=" missing $n"; done
		for n in $4; do [[ $names != *" $n "* ]] || bad+=" unwanted $n"; done
		if [ -n "$bad" ]; then say "apt-check: $1: FAILED:$bad (installs:$names)"; rc=1; return; fi
		say "apt-check: $1: ok (installs:$names)"
	}
	for p in "$out/apt"/lockfix-modules-*.deb; do
		[ -f "$p" ] || continue
		p=$(dpkg-deb -f "$p" Package)
		check_sim "$p pulls lockfix and the kernel, not DKMS" "$p" "lockfix linux-image-${p#lockfix-modules-}" "lockfix-dkms dkms linux-headers-amd64"
	done
	check_sim "lockfix-dkms pulls dkms and headers" lockfix-dkms "lockfix dkms linux-headers-amd64" ""
	check_sim "lockfix alone recommends the DKMS path" lockfix "lockfix-dkms" ""
	return $rc
}

cmd_lintian() {
	local rc=0
	ls "$debdir"/*.deb >/dev/null 2>&1 || die "no packages in $debdir"
	lintian --display-info --pedantic --fail-on error,warning "$debdir"/*.deb || rc=$?
	[ $rc = 0 ] && say "lintian: no error or warning (remaining info/pedantic tags: debian/README.lintian)"
	return $rc
}

case ${1:-} in
version-check) version_check ;;
deb) cmd_deb ;;
abis) cmd_abis ;;
modules) shift; cmd_modules "$@" ;;
apt) cmd_apt ;;
apt-check) cmd_apt_check ;;
lintian) cmd_lintian ;;
*) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
