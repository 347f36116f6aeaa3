# SPDX-License-Identifier: GPL-2.0
# lockfix harness: what the Debian registry serves (apt's package lists).  Sourced after
# lib.sh, never run.
#
# The registry moves under pinned versions: packages named after one kernel ABI
# (linux-image-5.10.0-46-amd64-unsigned, linux-headers-6.1.0-56-common,
# linux-kbuild-6.12.117+deb12) persist while that ABI is served, but packages shared by a
# series (linux-kbuild-6.1) are replaced by each upload: linux-kbuild-6.1 6.1.192-2 vanished
# when 6.1.192-3 came with ABI 6.1.0-57.  So matrix.tsv pins ABI-named packages exactly and
# names shared ones bare; they float to the newest served version that satisfies the
# Depends of the pinned packages (resolve_packages).

# abi_of RELEASE: "5.10.0-46-amd64" -> "5.10.0-46", "6.12.117+deb12-amd64" -> "6.12.117+deb12".
abi_of() { echo "${1%-amd64}"; }

# abi_named NAME ABI: is package NAME specific to ABI?
abi_named() {
	case "$1" in
	*-"$2"|*-"$2"-*) return 0 ;;
	*) return 1 ;;
	esac
}

# served_versions NAME: the versions apt's lists offer, newest first (empty if none).
served_versions() {
	apt-cache madison "$1" 2>/dev/null |
		awk -F'|' -v n="$1" '{ gsub(/ /, "", $1); gsub(/ /, "", $2); if ($1 == n) print $2 }' |
		sort -u | sort_debian_versions
}

# sort_debian_versions: stdin versions, newest first, by dpkg's ordering.
sort_debian_versions() {
	local vs=() v i j t
	while read -r v; do [ -n "$v" ] && vs+=("$v"); done
	for ((i = 0; i < ${#vs[@]}; i++)); do
		for ((j = i + 1; j < ${#vs[@]}; j++)); do
			if dpkg --compare-versions "${vs[j]}" gt "${vs[i]}"; then
				t=${vs[i]} vs[i]=${vs[j]} vs[j]=$t
			fi
		done
	done
	for v in "${vs[@]}"; do echo "$v"; done
}

# depends_constraint NAME VERSION DEP: the version constraint NAME=VERSION's Depends puts
# on package DEP, as "OP VERSION" (e.g. ">= 6.1.192-2"), or empty.
depends_constraint() {
	apt-cache show "$1=$2" 2>/dev/null | sed -n 's/^Depends: //p' | head -1 | tr ',' '\n' |
		sed -n "s/^ *$3 (\\([<>=]*\\) \\([^)]*\\)).*/\\1 \\2/p" | head -1
}

# satisfies VERSION "OP REF": does VERSION meet the Debian constraint?
satisfies() {
	local op=${2%% *} ref=${2#* }
	case "$op" in
	'>=') dpkg --compare-versions "$1" ge "$ref" ;;
	'<=') dpkg --compare-versions "$1" le "$ref" ;;
	'>>') dpkg --compare-versions "$1" gt "$ref" ;;
	'<<') dpkg --compare-versions "$1" lt "$ref" ;;
	'=') dpkg --compare-versions "$1" eq "$ref" ;;
	*) return 0 ;;
	esac
}

# have_bullseye_sources: are the Debian 11 suites in apt's sources (harness/setup-host.sh)?
have_bullseye_sources() {
	apt-cache policy 2>/dev/null | grep -q 'n=bullseye'
}

# resolve_packages: for the matrix row loaded by matrix_row (kind debian), print the
# "name=version" list to download, one per line.  ABI-named packages: the exact pinned
# version, which must still be served.  Shared packages (named bare in the matrix): the
# newest served version satisfying every pinned package's Depends on them.
# Returns 0, or 4 printing only the reason (a pinned version is gone), or 2 printing only
# the error (the matrix row itself is wrong, or apt knows nothing).  It runs in $(...):
# the reason is its output.
resolve_packages() {
	local abi p name ver vers newest pinned=() shared=() out=() c cons v ok
	abi=$(abi_of "$M_RELEASE")
	IFS=, read -r -a pkgs <<<"$M_PACKAGES"
	for p in "${pkgs[@]}"; do
		name=${p%%=*}
		if abi_named "$name" "$abi"; then
			if [ "$name" = "$p" ]; then
				echo "matrix.tsv: $M_ID: $name is specific to ABI $abi: pin it as $name=<version>"
				return 2
			fi
			pinned+=("$p")
		else
			if [ "$name" != "$p" ]; then
				echo "matrix.tsv: $M_ID: $name is shared by a series (not named after $abi): write it without a version, it floats to the newest served version the headers accept"
				return 2
			fi
			shared+=("$name")
		fi
	done
	for p in "${pinned[@]}"; do
		name=${p%%=*} ver=${p#*=}
		# Captured first: grep -q closing the pipe early would make pipefail see SIGPIPE.
		vers=$(served_versions "$name")
		if ! grep -qxF -- "$ver" <<<"$vers"; then
			newest=$(sed -n 1p <<<"$vers")
			if [ -z "$newest" ] && ! have_bullseye_sources && [[ "$M_RELEASE" == 5.10.* ]]; then
				echo "apt knows no version of $name: the Debian 11 suites are not in apt's sources (run harness/setup-host.sh)"
				return 2
			fi
			echo "$name=$ver is no longer served (newest served: ${newest:-none})"
			return 4
		fi
		out+=("$p")
	done
	for name in "${shared[@]}"; do
		cons=()
		for p in "${pinned[@]}"; do
			c=$(depends_constraint "${p%%=*}" "${p#*=}" "$name")
			[ -n "$c" ] && cons+=("$c")
		done
		v=
		while read -r cand; do
			[ -n "$cand" ] || continue
			ok=1
			for c in "${cons[@]}"; do satisfies "$cand" "$c" || { ok=0; break; }; done
			[ $ok = 1 ] && { v=$cand; break; }
		done < <(served_versions "$name")
		if [ -z "$v" ]; then
			newest=$(served_versions "$name" | sed -n 1p)
			echo "no served $name satisfies ${cons[*]:-its dependants} (newest served: ${newest:-none})"
			return 4
		fi
		out+=("$name=$v")
	done
	printf '%s\n' "${out[@]}"
}
