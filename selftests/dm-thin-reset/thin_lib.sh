# SPDX-License-Identifier: GPL-2.0
# Shell helpers shared by the dm-thin-reset entry scripts that build their own pools
# (thin_abort_many.sh, thin_abort_unpatchbusy.sh); sourced after ../lib/lockfix.sh.
# Pools live on slices of $LF_DEV: $META metadata sectors, then $DATA data sectors.

# thin_mkpool NAME OFFSET: NAME_meta, NAME_data (dm-linear at sector OFFSET of $LF_DEV),
# NAME_pool (64 KiB blocks) and thin device 0 as NAME_thin with 1 MiB written and flushed
# (a committed transaction).  Status 1 when any step fails.
thin_mkpool() {
	dmsetup create $1_meta --table "0 $META linear $LF_DEV $2" &&
	dmsetup create $1_data --table "0 $DATA linear $LF_DEV $(($2 + META))" &&
	dd if=/dev/zero of=/dev/mapper/$1_meta bs=4096 count=1 conv=fsync 2>/dev/null &&
	dmsetup create $1_pool --table "0 $DATA thin-pool /dev/mapper/$1_meta /dev/mapper/$1_data 128 0 1 skip_block_zeroing" &&
	dmsetup message $1_pool 0 "create_thin 0" &&
	dmsetup create $1_thin --table "0 $DATA thin /dev/mapper/$1_pool 0" &&
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
