# SPDX-License-Identifier: GPL-2.0
# Sourced by the btrfs-ordered tests: drive lockfix_ordered_test.ko (see ordered_test.c).
OT_PARAM=/sys/module/lockfix_ordered_test/parameters

# ot_load: btrfs + the test module (fails the test if they cannot be had).
ot_load() {
	modprobe btrfs 2>/dev/null || lf_skip "btrfs module not available"
	[ -d "$OT_PARAM" ] && lf_fail "lockfix_ordered_test already loaded (left over from another run?)"
	insmod "$here/lockfix_ordered_test.ko" || lf_fail "cannot load lockfix_ordered_test.ko"
}
ot_unload() { rmmod lockfix_ordered_test; }

# ot_round: run one round; sets OT_RESULT (the module's line) and OT_EARLY, OT_ZSLOT,
# OT_ZWAIT, OT_SAME, OT_XTO from it.  Status 1 when the round could not run.
ot_field() { lf_field "$1" "$OT_RESULT"; }
ot_round() {
	OT_RESULT=
	echo 1 >"$OT_PARAM/run" || return 1
	OT_RESULT=$(cat "$OT_PARAM/result")
	echo "# $OT_RESULT"
	OT_EARLY=$(ot_field x_freed_in_loop) OT_ZSLOT=$(ot_field z_slot) OT_ZWAIT=$(ot_field z_wait_ms)
	OT_SAME=$(ot_field ordered_on_x_worker) OT_XTO=$(ot_field x_fn_timeout)
}

# ot_conclusive: the round did what it is meant to (Y's ordered part on X's worker).
ot_conclusive() { [ "$OT_XTO" = 0 ] && [ "$OT_SAME" = 1 ]; }

# ot_deadlock: the round showed the upstream deadlock, all three parts: X freed inside
# its worker's ordered loop, Z given X's address, and Z held >= 4 s behind X's worker (the
# workqueue's non-reentrancy; the module bounds the wait at 5 s).  The early free alone
# is not the deadlock.
ot_deadlock() { [ "$OT_EARLY" = 1 ] && [ "$OT_ZSLOT" = X ] && lf_is_number "$OT_ZWAIT" && [ "$OT_ZWAIT" -ge 4000 ]; }
