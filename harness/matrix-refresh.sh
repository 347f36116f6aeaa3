#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Compare harness/matrix.tsv with what the Debian registry serves today (apt's lists:
# run `apt-get update` first, as harness/setup-host.sh does).
#
#   harness/matrix-refresh.sh        (make matrix-refresh)
#
# Prints, for amd64 Debian kernels (generic flavour only: the -cloud-amd64 and -rt-amd64
# images are in the index but their files answer 404 here):
#   - served ABIs the matrix lacks, each with the matrix row to add (the id, the release,
#     the ABI-named packages pinned, the shared ones bare);
#   - matrix rows whose pinned packages moved (no longer served, or a newer upload of the
#     same ABI), and what each shared package resolves to today.
# Debian 11's own series (5.10) is lockfix's target and is listed first; Debian 11's 6.1
# backports (6.1.0-0.deb11.N) and Debian 12's ABIs carry every fix upstream (the modules
# refuse there), so they are informational.
# Exit 0; 1 when a Debian 11 5.10 ABI is missing or a pinned package vanished; 2 on error.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"

[ $# -eq 0 ] || { sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
command -v apt-cache >/dev/null || die "apt-cache missing (not a Debian host?)"
have_bullseye_sources || die "the Debian 11 suites are not in apt's sources: run harness/setup-host.sh"

# series_of ABI: a label for the grouping and the id prefix.
series_of() {
	case "$1" in
	5.10.*) echo "deb11" ;;
	*.deb11.*) echo "deb11-bpo" ;;
	*) echo "deb12" ;;
	esac
}

# row_for ABI VERSION: the matrix row for generic-flavour ABI at its image VERSION.
row_for() {
	local abi=$1 ver=$2 rel="$1-amd64" series kb
	series=$(series_of "$abi")
	case "$abi" in
	5.10.*) kb=linux-kbuild-5.10 ;;
	6.1.*) kb=linux-kbuild-6.1 ;;
	*+deb12) kb="linux-kbuild-$abi=$ver" ;;
	*) kb=linux-kbuild-${abi%%.*}.${abi#*.}; kb=${kb%%.[0-9]*-*} ;;
	esac
	local id="$series-$abi"
	[ "$series" = deb11-bpo ] && id="deb11-$abi"
	printf '%s\tdebian\t%s\tlinux-image-%s-unsigned=%s,linux-headers-%s=%s,linux-headers-%s-common=%s,%s\t-\tbuild\n' \
		"$id" "$rel" "$rel" "$ver" "$rel" "$ver" "$abi" "$ver" "$kb"
}

known_releases=$(awk -F'\t' '!/^#/ && NF && $2 == "debian" { print $3 }' "$LOCKFIX_MATRIX")
missing_d11=0 vanished=0
declare -A missing
for img in $(apt-cache pkgnames linux-image- | grep -E '^linux-image-[0-9][^ ]*-amd64-unsigned$' |
		grep -v -e '-cloud-amd64' -e '-rt-amd64' | sort -V); do
	rel=${img#linux-image-}; rel=${rel%-unsigned}
	abi=$(abi_of "$rel")
	grep -qxF "$rel" <<<"$known_releases" && continue
	ver=$(served_versions "$img" | sed -n 1p)
	[ -n "$ver" ] || continue
	s=$(series_of "$abi")
	missing[$s]+="$(row_for "$abi" "$ver")"$'\n'
	[ "$s" = deb11 ] && missing_d11=$((missing_d11 + 1))
done

echo "== Debian 11 (5.10) ABIs served but not in the matrix: $([ $missing_d11 = 0 ] && echo none || echo "$missing_d11, rows to add:")"
printf '%s' "${missing[deb11]:-}"
for s in deb11-bpo deb12; do
	n=$(printf '%s' "${missing[$s]:-}" | grep -c . || true)
	case $s in
	deb11-bpo) what="Debian 11 6.1 backports" ;;
	deb12) what="Debian 12" ;;
	esac
	echo "== $what ABIs served but not in the matrix (every fix is upstream there; optional): $([ "$n" = 0 ] && echo none || echo "$n")"
	printf '%s' "${missing[$s]:-}"
done

echo "== matrix rows against today's registry"
while IFS=$'\t' read -r id kind rel pkgs extra; do
	case "$id" in '#'*|'') continue ;; esac
	case "$kind" in
	prefix)
		name=${pkgs%%=*} ver=${pkgs#*=}
		vers=$(served_versions "$name")
		if grep -qxF -- "$ver" <<<"$vers"; then
			echo "$id: ok ($pkgs served)"
		else
			echo "$id: MOVED: $pkgs is no longer served (newest served: $(sed -n 1p <<<"$vers"))"
			vanished=$((vanished + 1))
		fi
		continue ;;
	debian) ;;
	*) echo "$id: unknown kind '$kind'"; vanished=$((vanished + 1)); continue ;;
	esac
	matrix_row "$id"
	rc=0
	resolved=$(resolve_packages) || rc=$?
	case $rc in
	0)
		notes=
		IFS=, read -r -a ps <<<"$pkgs"
		for p in "${ps[@]}"; do
			[ "${p%%=*}" = "$p" ] && continue
			newest=$(served_versions "${p%%=*}" | sed -n 1p)
			[ "$newest" = "${p#*=}" ] || notes+="; newer upload of ${p%%=*}: $newest"
		done
		shared=$(tr , '\n' <<<"$pkgs" | { grep -v = || true; } | while read -r b; do grep "^$b=" <<<"$resolved" || true; done | tr '\n' ' ')
		echo "$id: ok (pins served${shared:+; shared today: ${shared% }}$notes)" ;;
	4) echo "$id: MOVED: $resolved"; vanished=$((vanished + 1)) ;;
	*) echo "$id: ERROR: $resolved"; vanished=$((vanished + 1)) ;;
	esac
done <"$LOCKFIX_MATRIX"

[ $missing_d11 = 0 ] && [ $vanished = 0 ]
