# SPDX-License-Identifier: GPL-2.0
# Shell helpers shared by the dm-thin-reset entry scripts; sourced after ../lib/lockfix.sh.
# Pools live on slices of $LF_DEV: $META metadata sectors, then $DATA data sectors.

# thin_pool_table NAME: the table of NAME_pool (64 KiB blocks, no zeroing) over its slices.
thin_pool_table() { echo "0 $DATA thin-pool /dev/mapper/$1_meta /dev/mapper/$1_data 128 0 1 skip_block_zeroing"; }

# thin_mkpool_empty NAME OFFSET [SECTORS]: NAME_meta, NAME_data (dm-linear at sector OFFSET
# of $LF_DEV), NAME_pool and thin device 0 as NAME_thin (SECTORS long, default $DATA),
# nothing written to it.  thin_mkpool NAME OFFSET: the same with 1 MiB written and flushed
# (a committed transaction).  Status 1 when any step fails.
thin_mkpool_empty() {
	dmsetup create $1_meta --table "0 $META linear $LF_DEV $2" &&
	dmsetup create $1_data --table "0 $DATA linear $LF_DEV $(($2 + META))" &&
	dd if=/dev/zero of=/dev/mapper/$1_meta bs=4096 count=1 conv=fsync 2>/dev/null &&
	dmsetup create $1_pool --table "$(thin_pool_table $1)" &&
	dmsetup message $1_pool 0 "create_thin 0" &&
	dmsetup create $1_thin --table "0 ${3:-$DATA} thin /dev/mapper/$1_pool 0"
}
thin_mkpool() {
	thin_mkpool_empty $1 $2 &&
	dd if=/dev/urandom of=/dev/mapper/$1_thin bs=1M count=1 conv=fsync 2>/dev/null
}

# thin_rmpool NAME: remove what thin_mkpool made; the failure in THIN_WHY (appended).
thin_rmpool() {
	for _d in $1_thin $1_pool $1_data $1_meta; do
		timeout 60 dmsetup remove $_d >/dev/null 2>&1 ||
			THIN_WHY="${THIN_WHY:+$THIN_WHY; }dmsetup remove $_d failed or hung"
	done
}

# thin_unload_stack: with the pools gone, unload dm_thin_pool, dm_persistent_data and
# dm_bufio; a block manager leaked by anyone makes dm_bufio's exit report "leaked" (and
# BUG) in the kernel log since lf_log_mark.  Failures appended to THIN_WHY.  Then
# dm_thin_pool and the livepatch ($LF_LP_KO) are loaded again for the scripts after.
thin_unload_stack() {
	for _m in dm_thin_pool dm_persistent_data dm_bufio; do
		rmmod $_m 2>/dev/null || THIN_WHY="${THIN_WHY:+$THIN_WHY; }rmmod $_m failed"
	done
	lf_log_since | grep -Eq 'leaked|BUG' &&
		THIN_WHY="${THIN_WHY:+$THIN_WHY; }dm-bufio reports leaked clients/buffers: $(lf_log_since | grep -E 'leaked|BUG' | head -2 | tr '\n' ' ')"
	# The reload is checked: a later script that found the livepatch gone would skip, and
	# its skip is not one may_skip allows in a module row.
	modprobe dm_thin_pool 2>/dev/null || THIN_WHY="${THIN_WHY:+$THIN_WHY; }modprobe dm_thin_pool failed"
	{ insmod "$LF_LP_KO" 2>/dev/null && lf_wait_for "[ \$(cat $LF_LP_DIR/transition) = 0 ]" 60; } ||
		THIN_WHY="${THIN_WHY:+$THIN_WHY; }reloading $LF_LP_NAME failed (insmod, or its transition did not finish)"
}

# thin_meta NAME OFFSET linear|error|flakey: NAME_meta (the metadata slice at sector OFFSET
# of $LF_DEV, $META sectors) becomes that table (flakey: reads work, writes fail).
thin_meta() {
	dmsetup suspend $1_meta || return 1
	case "$3" in
	error) dmsetup load $1_meta --table "0 $META error" ;;
	flakey) dmsetup load $1_meta --table "0 $META flakey $LF_DEV $2 0 3600 1 error_writes" ;;
	*) dmsetup load $1_meta --table "0 $META linear $LF_DEV $2" ;;
	esac
	_r=$?
	dmsetup resume $1_meta && [ $_r = 0 ]
}

# thin_mode NAME: NAME_pool's mode (rw, ro, out_of_data_space, Fail).
thin_mode() { timeout 20 dmsetup status $1_pool 2>/dev/null | awk '{ print ($4 == "Fail") ? "Fail" : $8 }'; }

# thin_mapped META DEV [LIMIT]: how many blocks thin_dump of metadata device META maps for
# thin device DEV (only virtual blocks below LIMIT, when given).
# thin_maps META DEV: its mappings, one "virtual data" line per block.
thin_maps() {
	thin_dump "$1" 2>/dev/null | awk -v want="dev_id=\"$2\"" '
		function v(k) { match($0, k "=\"[0-9]+\""); return substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 3) + 0 }
		/<device / { dev = index($0, want) > 0 }
		dev && /<range_mapping / { for (i = 0; i < v("length"); i++) print v("origin_begin") + i, v("data_begin") + i }
		dev && /<single_mapping / { print v("origin_block"), v("data_block") }'
}
thin_mapped() { thin_maps "$1" "$2" | awk -v lim="${3:--1}" 'lim < 0 || $1 < lim { n++ } END { print n + 0 }'; }

# Hang detection, for the scripts that provoke the deadlock: lib/hangwatch, the tests' one
# detector.  The pool worker of the deadlock waits for shrinker_rwsem to (un)register
# dm-bufio's shrinker, creating or destroying a bufio client inside the metadata abort
# that metadata_operation_failed() started.  Exact frames, none of them a function the
# livepatch replaces: the fix never re-creates the client there (d48300120627 resets it),
# while a replacement that did (the old code, e.g. a mutant) still matches.
[ -x "$LF_HANGWATCH" ] || lf_fail "$LF_HANGWATCH missing (built and installed by selftests/Makefile)"
THIN_WORKER_FRAMES='rwsem_down_write_slowpath,register_shrinker|unregister_shrinker,dm_bufio_client_create|dm_bufio_client_destroy,metadata_operation_failed'
thin_now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
thin_state() { sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null; }
# thin_abort_task: a task in a metadata abort, the original's or the livepatch's (reports);
# thin_deadlocked_task: one in the deadlock's wait.
thin_abort_task() { "$LF_HANGWATCH" find 'dm_pool_abort_metadata|klpp_dm_pool_abort_metadata' | head -1; }
thin_deadlocked_task() { "$LF_HANGWATCH" find "$THIN_WORKER_FRAMES" | head -1; }
thin_show_workers() {	# every task in dm-thin's worker or a pool metadata operation
	for _d in /proc/[0-9]*; do
		grep -Eq 'do_worker|dm_pool_' "$_d/stack" 2>/dev/null && thin_show_stack "${_d#/proc/}" "pool task"
	done
}
thin_show_stack() { echo "# $2 (pid $1, state $(thin_state "$1")):"; sed 's/^/#     /' "/proc/$1/stack" 2>/dev/null; }

# One reproduced deadlock per boot: it keeps shrinker_rwsem (and so every later pool
# creation or mount, which registers a shrinker) blocked for good.
# thin_skip_if_deadlocked: SKIP when an earlier script left it; thin_mark_deadlocked TEXT.
THIN_MARKER=${TMPDIR:-/tmp}/lockfix-dm-thin-deadlocked
thin_skip_if_deadlocked() {
	_w=$(thin_deadlocked_task)
	[ -f "$THIN_MARKER" ] || [ -n "$_w" ] &&
		lf_skip "an earlier case left this kernel deadlocked ($(cat "$THIN_MARKER" 2>/dev/null || echo "pid $_w waits for shrinker_rwsem in a metadata abort"))"
	return 0
}
thin_mark_deadlocked() { echo "$*" >"$THIN_MARKER"; }

# thin_watch DONE READER FRAME...: hangwatch until the shell condition DONE holds (status
# 0), or the deadlock is seen (status 1): after $SETTLE s the pool worker (its pid in
# THIN_W) is in D state with THIN_WORKER_FRAMES and task READER in D state with every
# FRAME, both stacks unchanged for 3 more one-second samples; their stacks are printed.
# Status 2 after $LIMIT s without either (a plain failure, never "bug"; READER's stack is
# printed).  THIN_EL: seconds waited; THIN_SEEN=1 when a sample found READER's stack with
# every FRAME (it was in the dangerous wait: a run that never got there proves nothing
# either way).
thin_watch() {
	_done=$1 _rd=$2
	shift 2
	_frames=$(echo "$*" | tr ' ' ',')
	_hw=$("$LF_HANGWATCH" -s "$SETTLE" -l "$LIMIT" -u "$_done" "reader=$_rd:$_frames" "worker=any:$THIN_WORKER_FRAMES")
	_r=$?
	echo "$_hw" | grep '^#'
	_last=$(echo "$_hw" | grep '^hangwatch: ' | tail -1)
	THIN_EL=$(lf_field waited "$_last") THIN_W=$(lf_field worker "$_last") THIN_SEEN=
	case ",$(lf_field seen "$_last")," in *,reader,*) THIN_SEEN=1 ;; esac
	[ "$THIN_W" = 0 ] && THIN_W=
	case $_r in 0|1|2) return $_r ;; esac
	lf_fail "hangwatch failed (status $_r): $_hw"
}
