#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Vet one matrix kernel: read its facts in a boot, then run and record its proof.
#
#   harness/vet.sh KERNEL-ID          (make vet KERNEL=KERNEL-ID)
#   harness/vet.sh --facts KERNEL-ID  only steps 1-3 (no proof run)
#   harness/vet.sh --fix FIX[,FIX...] KERNEL-ID   (make vet KERNEL=... FIXES="...")
#                                     re-prove those fixes only, after their code changed:
#                                     the facts read in step 2 must equal the committed
#                                     ones (else: a full make vet), step 4 runs only their
#                                     rows, and step 5 replaces only their rows in the
#                                     proof, saying so in its header
#
#   1. prepares the kernel (harness/kernel.sh) and builds lockfix against it;
#   2. boots it once and reads, with the modules' own lookup code (harness/facts), every
#      fact the livepatches check: release, uname -v, the build-ids of vmlinux and of each
#      target module, the kallsyms size (or absence) of each symbol in */fingerprint.tsv;
#   3. writes them to fleet/facts/KERNEL-ID.tsv (one reviewed file per kernel);
#   4. runs every expectation row of that kernel, fleet-only ones included (harness/check.sh
#      --fleet --kernels KERNEL-ID),
#      with the modules built as a vetting candidate: KERNEL-ID's `vetted` lines in
#      fleet/vetted.tsv are let in before a proof exists;
#   5. records that run's TAP as fleet/proofs/KERNEL-ID.tap, the build's proof.
# Afterwards the modules patch KERNEL-ID for each fix whose line in fleet/vetted.tsv says
# `vetted` and whose proof row passed; commit fleet/.  Exit status: check.sh's (0 when
# every verdict was expected), 2 on bad arguments or a failed boot.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '3,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
facts_only=0 only=
[ "${1:-}" = --facts ] && { facts_only=1; shift; }
if [ "${1:-}" = --fix ]; then
	[ $# -ge 2 ] || usage
	only=${2//,/ }
	shift 2
fi
[ $# -eq 1 ] || usage
case "$1" in -*) usage ;; esac
kernel=$1
matrix_row "$kernel"
for f in $only; do
	[ -f "$LOCKFIX_ROOT/$f/fingerprint.tsv" ] || die "--fix: unknown fix '$f' (fixes: $(cd "$LOCKFIX_ROOT" && ls -d */fingerprint.tsv | sed 's,/.*,,' | tr '\n' ' '))"
done
if [ -n "$only" ]; then
	[ -f "$LOCKFIX_ROOT/fleet/facts/$kernel.tsv" ] && [ -f "$LOCKFIX_ROOT/fleet/proofs/$kernel.tap" ] ||
		die "--fix needs $kernel's facts and proof from a full vet first: make vet KERNEL=$kernel"
fi

fleet=$LOCKFIX_ROOT/fleet
mkdir -p "$fleet/facts" "$fleet/proofs"

# 1. Kernel and build.
kdir=$("$LOCKFIX_HARNESS/kernel.sh" "$kernel")
"$LOCKFIX_HARNESS/build.sh" "$kernel" >/dev/null

# 2. One boot to read the facts.
objs=vmlinux syms=
for f in "$LOCKFIX_ROOT"/*/fingerprint.tsv; do
	while IFS=$'\t' read -r obj sym _; do
		case "$obj" in '#'*|'') continue ;; esac
		[[ ",$objs," == *",$obj,"* ]] || objs+=",$obj"
		IFS='|' read -r -a alts <<<"$sym"
		for a in "${alts[@]}"; do
			[[ ",$syms," == *",$obj:$a,"* ]] || syms+="${syms:+,}$obj:$a"
		done
	done <"$f"
done
mods=$(tr , '\n' <<<"$objs" | grep -vx vmlinux | tr '\n' ' ')
# A charp module parameter takes at most 1024 bytes: the symbols go in chunks.
chunks=$(tr , '\n' <<<"$syms" | awk '{ if (length(c) + length($0) > 900) { print c; c = "" } c = c (c == "" ? "" : ",") $0 } END { if (c != "") print c }')
job=$(mktemp)
trap 'rm -f "$job"' EXIT
cat >"$job" <<EOS
#!/bin/sh
for m in $mods; do modprobe \$m || echo "lockfix-fact: error \$m: modprobe failed"; done
insmod /lockfix/harness/lockfix_facts.ko objs=$objs syms=$(head -1 <<<"$chunks") 2>/dev/null
for c in $(tail -n +2 <<<"$chunks" | tr '\n' ' '); do
	insmod /lockfix/harness/lockfix_facts.ko objs= syms=\$c 2>/dev/null
done
dmesg | sed -n 's/.*lockfix-fact: /lockfix-fact: /p'
EOS
log=$LOCKFIX_OUT/vet/$kernel-facts.log
mkdir -p "$(dirname "$log")"
log "booting $kernel to read its facts (log $log)"
"$LOCKFIX_HARNESS/vm.sh" -q -t 300 -l "$log" "$kernel" "$job" >/dev/null ||
	die "$kernel: the facts boot failed (see $log)"
facts=$(tr -d '\r' <"$log" | sed -n 's/^lockfix-fact: //p' | awk '!seen[$0]++')
grep -qx done <<<"$facts" || die "$kernel: the facts reader did not finish (see $log)"
if grep '^error ' <<<"$facts" >&2; then
	die "$kernel: facts incomplete (above; see $log)"
fi
[ "$(sed -n 's/^release //p' <<<"$facts")" = "$M_RELEASE" ] ||
	die "$kernel: the guest runs $(sed -n 's/^release //p' <<<"$facts"), matrix.tsv says $M_RELEASE"

# 3. The facts file.  The old proof goes first: it was run on the old facts, and a vet
# interrupted after this step must not leave it admitting a build it never saw.
out=$fleet/facts/$kernel.tsv
if [ -n "$only" ]; then
	# Re-proving some fixes keeps the facts (and the other fixes' proof rows bound to them).
	keep=$out
	out=$LOCKFIX_OUT/vet/$kernel-facts.tsv
else
	rm -f "$fleet/proofs/$kernel.tap"
fi
{
	echo "# lockfix facts of $kernel, read in a boot by harness/vet.sh ($(date -u +%Y-%m-%d))."
	echo "# Generated: do not edit; re-run make vet KERNEL=$kernel.  harness/facts-check.sh"
	echo "# compares them with the binaries on every make check."
	printf 'kernel\t%s\n' "$kernel"
	if [ -f "$kdir/packages" ]; then
		printf 'packages\t%s\n' "$(tr '\n' , <"$kdir/packages" | sed 's/,$//')"
	else
		printf 'packages\t%s\n' "$M_PACKAGES"
	fi
	sed -n 's/^release \(.*\)/release\t\1/p; s/^version \(.*\)/version\t\1/p' <<<"$facts"
	sed -n 's/^build-id \([^ ]*\) \([0-9a-f]*\)$/build-id\t\1\t\2/p' <<<"$facts" | sort
	sed -n 's/^size \([^ ]*\) \([^ ]*\) \([0-9]*\)$/size\t\1\t\2\t\3/p' <<<"$facts" | sort
	sed -n 's/^present \([^ ]*\) \([^ ]*\)$/present\t\1\t\2/p' <<<"$facts" | sort
	sed -n 's/^absent \([^ ]*\) \([^ ]*\)$/absent\t\1\t\2/p' <<<"$facts" | sort
} >"$out.tmp"
mv "$out.tmp" "$out"
if [ -n "$only" ]; then
	if ! diff <(sed 1d "$keep") <(sed 1d "$out") >&2; then
		die "$kernel: its facts changed since the committed $keep (above): re-vet it whole: make vet KERNEL=$kernel"
	fi
	out=$keep
	log "facts of $kernel unchanged ($out)"
else
	log "facts of $kernel: $out ($(grep -c '^build-id' "$out") build-ids, $(grep -c '^size' "$out") sizes)"
fi
[ $facts_only = 1 ] && exit 0

# 4. The proof run, as a vetting candidate, in its own output tree: its candidate-built
# modules never meet a normal make check's, and its TAP is the one check.sh names.
vetout=$LOCKFIX_OUT/vet/$kernel-run
rm -rf "$vetout"
set +e
LOCKFIX_OUT=$vetout LOCKFIX_CANDIDATE=$kernel "$LOCKFIX_HARNESS/check.sh" --fleet --kernels "$kernel" \
	${only:+--tests "$only"} | tee "$vetout.log"
rc=${PIPESTATUS[0]}
set -e
tap=$(sed -n 's/^# results: //p' "$vetout.log" | tail -1)
[ -f "$tap" ] || die "$kernel: the proof run left no results (see $vetout.log)"

# 5. The proof.
proof=$fleet/proofs/$kernel.tap
if [ -n "$only" ]; then
	# The proof keeps: its first two lines; one "re-proved" header line per --fix run still
	# represented; the full run with the re-proved fixes' rows taken out (with the "# "
	# lines that lead a row and the "#   " diagnostics that follow a failed one); earlier
	# --fix sections, less those rows (a section left without rows goes); then this run's
	# rows with a summary of their own.  proof_ok reads rows by name, wherever they are.
	re=$(sed 's/ /|/g' <<<"$only")
	today=$(date -u +%Y-%m-%d)
	merged() { awk -v k="$kernel" -v re="^($re)/" '
		function mine(name) { return index(name, k "/") == 1 && substr(name, length(k) + 2) ~ re }
		function flush() { if (sec_rows) printf "%s", sec; sec = ""; sec_rows = sec_ok = 0 }
		function out(s) { if (insec) sec = sec s "\n"; else print s }
		# "# FIX... MARKER...": the line less the re-proved fixes, "" when none is left.
		function others(s, marker,   p, n, w, i, left) {
			p = index(s, " " marker)
			n = split(substr(s, 3, p - 3), w, " ")
			for (i = 1; i <= n; i++) if ((w[i] "/") !~ re) left = left (left == "" ? "" : " ") w[i]
			return left == "" ? "" : "# " left substr(s, p)
		}
		NR <= 2 { next }
		/^# .* re-proved by harness\/vet\.sh --fix/ {
			h = others($0, "re-proved by")
			if (h != "") headers = headers h "\n"
			next
		}
		/^# .* rows \(harness\/vet\.sh --fix/ { flush(); insec = 1; sec = others($0, "rows (harness") "\n"; next }
		/^#   / { if (keep) out($0); next }
		/^# / && !/^# (results|stage): / { lead = lead $0 "\n"; next }
		/^(not )?ok [0-9]+ / {
			name = ($1 == "not") ? $4 : $3
			keep = !mine(name)
			if (keep) { if (insec) { sec = sec lead $0 "\n"; sec_rows++; sec_ok += ($1 == "ok") } else printf "%s%s\n", lead, $0 }
			lead = ""; next
		}
		/^[0-9]+ (passed|rows ok), / {
			sub(/ \(before .*$/, "")
			if (insec) { sec = sec sec_ok " rows ok, " (sec_rows - sec_ok) " not ok\n"; flush(); insec = 0 }
			else print $0 " (before the re-proofs below)"
			lead = ""; keep = 0; next
		}
		{ keep = 0; out(lead $0); lead = "" }
		END { flush(); printf "%s", headers > "/dev/stderr" }' "$1"; }
	newrows=$(awk -v k="$kernel" -v re="^($re)/" '
		/^#   / { if (keep) print; next }
		/^# / && !/^# (results|stage): / { lead = lead $0 "\n"; next }
		/^(not )?ok [0-9]+ / {
			name = ($1 == "not") ? $4 : $3
			keep = index(name, k "/") == 1 && substr(name, length(k) + 2) ~ re
			if (keep) printf "%s%s\n", lead, $0
			lead = ""; next
		}
		{ keep = 0; lead = "" }' "$tap")
	grep -q '^ok ' <<<"$newrows" || grep -q '^not ok ' <<<"$newrows" ||
		die "$kernel: the proof run has no rows of $only (see $vetout.log): proof left as it was"
	body=$(merged "$proof" 2>"$proof.headers")
	{
		sed -n 1,2p "$proof"
		cat "$proof.headers"
		echo "# $only re-proved by harness/vet.sh --fix, $today, on the same facts: their rows are at the end"
		printf '%s\n' "$body"
		echo "# $only rows (harness/vet.sh --fix, $today, modules built as a vetting candidate):"
		printf '%s\n' "$newrows"
		echo "$(grep -c '^ok ' <<<"$newrows") rows ok, $(grep -c '^not ok ' <<<"$newrows") not ok"
	} >"$proof.tmp"
	rm -f "$proof.headers"
	mv "$proof.tmp" "$proof"
	log "proof of $kernel: $proof ($only rows replaced: $(tail -1 "$tap"))"
	"$LOCKFIX_HARNESS/support-matrix.sh" --update
	log "README.md's support matrix updated; commit fleet/ and README.md"
	exit $rc
fi
{
	echo "# lockfix proof of $kernel: harness/vet.sh, $(date -u +%Y-%m-%d), modules built as a vetting candidate"
	echo "# against fleet/facts/$kernel.tsv (sha256 $(sha256sum "$out" | cut -c1-16))."
	grep -v '^# results: ' "$tap"
} >"$proof.tmp"
mv "$proof.tmp" "$proof"
log "proof of $kernel: $proof ($(tail -1 "$tap"))"
"$LOCKFIX_HARNESS/support-matrix.sh" --update
log "README.md's support matrix updated; commit fleet/ and README.md"
exit $rc
