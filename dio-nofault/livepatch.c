// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_dio_nofault - live fix for the btrfs mmap + O_DIRECT deadlock on Debian 11.
 *
 * Upstream: 51bd9563b678 "btrfs: fix deadlock due to page faults during direct IO reads
 * and writes" (v5.16; 5.15.37 with the iov_iter nofault series; never in 5.10.y).
 * Considered: ca93e44bfb5f (async DIO across extents falls back to blocking, not short).
 *
 * On 5.10, btrfs_direct_IO() -> iomap_dio_rw() locks the file range and then faults in
 * the user buffer page by page; a buffer mmap'd from the locked range faults into btrfs
 * (btrfs_page_mkwrite / extent_readahead), which waits for the DIO: D state forever.
 * This module makes btrfs DIO take the user pages first, with no lock held, and run on
 * them (no fault can happen any more); async iocbs stay async; a buffer that maps the
 * file itself goes buffered.  Design, races and data semantics: DESIGN.md.
 *
 *   # insmod lockfix_dio_nofault.ko
 *   lockfix_dio_nofault: enabling on 5.10.0-46-amd64 (#1 SMP Debian 5.10.262-1 (2026-07-31)), vetted build deb11-5.10.0-46
 *   livepatch: enabling patch 'lockfix_dio_nofault'
 *   # cat /sys/kernel/livepatch/lockfix_dio_nofault/enabled
 *   1
 *   # echo 0 > /sys/kernel/livepatch/lockfix_dio_nofault/enabled
 *   # rmmod lockfix_dio_nofault
 *
 * Patched (klpp_ = replacement):      Looked up (klpe_ = resolved at btrfs load):
 *   vmlinux  iomap_dio_rw              btrfs  btrfs_dio_iomap_ops
 *   btrfs    (no function; callbacks only, for the lookup's lifetime)
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>

#include "lockfix_features.h"
#include "lockfix_klp.h"

#define FIX "dio-nofault"
#define UPSTREAM "51bd9563b678 (btrfs: fix deadlock due to page faults during direct IO reads and writes)"

#if LOCKFIX_UPSTREAM_HAS_51bd9563b678 || !LOCKFIX_IOMAP_DIO_RW_5_10
/* Built against a kernel that has the fix, or an iomap this module carries no code for. */
static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.fixed_upstream = LOCKFIX_UPSTREAM_HAS_51bd9563b678,
	.not_carried = "lockfix carries the replacement for the 5.10 iomap_dio_rw() only",
};
#else
#include "dio_nofault.h"
/*
 * The builds this module patches (generated from fleet/ by common/gen-vetted.sh): what
 * the code was written against, per build and object (fingerprint.tsv): the function we
 * replace (its body is copied in dio_pinned.c), what we call instead of it, and the btrfs
 * side whose use of iomap_dio_rw() we rely on (btrfs_direct_IO passes
 * &btrfs_dio_iomap_ops, holds the inode and dio_sem locks, turns -ENOTBLK and short
 * results into buffered I/O), and the build-ids of vmlinux and btrfs.
 */
#include "lockfix_vetted.h"

LOCKFIX_COUNTER(pinned_dios, "btrfs direct I/Os run on pages pinned before any extent lock (no fault under the locks)");
LOCKFIX_COUNTER(buffered_fallbacks, "btrfs direct I/Os from a buffer that maps the file itself, done buffered");
LOCKFIX_COUNTER(async_dios, "of the pinned ones, async iocbs (aio, io_uring) left in flight with -EIOCBQUEUED");
LOCKFIX_COUNTER(nowait_eagain, "IOCB_NOWAIT btrfs direct I/Os answered -EAGAIN (pages not present, or the buffer maps the file)");
LOCKFIX_COUNTER(pinned_pages_peak, "most user pages held by this module's direct I/Os at once");

static const struct iomap_ops *btrfs_dio_iomap_ops_addr;
static const struct lockfix_sym btrfs_syms[] = {
	{ "btrfs_dio_iomap_ops", (void **)&btrfs_dio_iomap_ops_addr },
	{ }
};

/* btrfs is (being) loaded: check it is the btrfs we were written for, then resolve. */
static int btrfs_pre_patch(struct klp_object *obj)
{
	int ret = lockfix_prepare_object("btrfs", btrfs_syms);

	if (ret)
		return ret;
	WRITE_ONCE(klpe_btrfs_dio_iomap_ops, btrfs_dio_iomap_ops_addr);
	return 0;
}

/* btrfs is going (or we are unpatched): never keep a pointer into it. */
static void btrfs_post_unpatch(struct klp_object *obj)
{
	WRITE_ONCE(klpe_btrfs_dio_iomap_ops, NULL);
}

static struct klp_func vmlinux_funcs[] = {
	{ .old_name = "iomap_dio_rw", .new_func = klpp_iomap_dio_rw },
	{ }
};

static struct klp_func btrfs_funcs[] = {
	{ }
};

static struct klp_object objs[] = {
	{ .name = NULL, .funcs = vmlinux_funcs },
	{
		.name = "btrfs",
		.funcs = btrfs_funcs,
		.callbacks = {
			.pre_patch = btrfs_pre_patch,
			.post_unpatch = btrfs_post_unpatch,
		},
	},
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.vetted = lockfix_vetted_builds,
	.candidate = LOCKFIX_CANDIDATE,
	.patch = &patch,
	.setup = lockfix_dio_setup,
	.teardown = lockfix_dio_teardown,
};
#endif

LOCKFIX_PATCH_MODULE(fix);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("livepatch: btrfs O_DIRECT into/from an mmap of the same file no longer deadlocks (upstream 51bd9563b678)");
MODULE_INFO(livepatch, "Y");
