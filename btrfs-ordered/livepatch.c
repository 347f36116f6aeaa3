// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_btrfs_ordered - live fix for btrfs freeing the work item its worker is still
 * executing, on kernels that lack upstream c495dcd6fbe1.
 *
 * Upstream: c495dcd6fbe1 "btrfs: don't prematurely free work in run_ordered_work()" (v5.5;
 * stable 4.9.208, 4.14.161, 4.19.92, 5.4.7).  Kept: 45da9c1767ac "btrfs: fix memory ordering
 * between normal and ordered work functions" (5.10.82), which the targets carry.
 *
 * run_ordered_work() called ->ordered_free() on every finished item, including the one its
 * own worker was executing, and then went on to run later items' ordered work, which can
 * block.  The freed item could be recycled and queued again; the workqueue, seeing an item
 * at the same address with the same function still "executing", queued it behind the
 * blocked worker: deadlock (btrfs on a loop device on btrfs, both compress-force=zstd).
 * The fix frees the executing item only after the loop.  Every kernel that can be
 * downloaded has it: this module is for the harness's pre-fix kernels, and refuses on any
 * kernel that has the fix, naming the commit.
 *
 *   # insmod lockfix_btrfs_ordered.ko          (before or after btrfs is loaded)
 *   lockfix_btrfs_ordered: enabling on 5.10.262-lockfix-prefix (#1-lockfix-reverts-... SMP 2026-01-01 00:00 UTC (recipe-5)), vetted build prefix-5.10.262
 *   livepatch: enabling patch 'lockfix_btrfs_ordered'
 *   livepatch: applying patch 'lockfix_btrfs_ordered' to loading module 'btrfs'  (btrfs later)
 *   # echo 0 > /sys/kernel/livepatch/lockfix_btrfs_ordered/enabled; rmmod lockfix_btrfs_ordered
 *
 * Patched (klpp_ = replacement):        Looked up (klpe_, while btrfs is patched):
 *   btrfs  btrfs_work_helper              btrfs  __tracepoint_btrfs_work_sched
 *          (run_ordered_work is inlined          __tracepoint_btrfs_ordered_sched
 *           into it; ordered_work.c)             __tracepoint_btrfs_all_work_done
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/utsname.h>

#include "lockfix_features.h"
#include "lockfix_klp.h"

#define FIX "btrfs-ordered"
#define UPSTREAM "c495dcd6fbe1 (btrfs: don't prematurely free work in run_ordered_work())"

/* Our pre-fix kernels name the commits they revert in their version string. */
static bool kernel_reverts_fix(void)
{
	const char *v = init_utsname()->version;

	return strstr(v, "-lockfix-reverts-") && strstr(v, "c495dcd6fbe1");
}

#if !LOCKFIX_BTRFS_ASYNC_THREAD_5_10
/* Not 5.10: every such kernel we could target has the fix (v5.5+). */
static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.fixed_upstream = LOCKFIX_UPSTREAM_HAS_c495dcd6fbe1,
	.reverts_fix = kernel_reverts_fix,
	.not_carried = "lockfix carries the 5.10 btrfs_work_helper() only",
};
#else
#include "btrfs_ordered.h"

/*
 * The builds this module patches (generated from fleet/ by common/gen-vetted.sh): the
 * function replaced (its code and its inlined run_ordered_work / thresh_exec_hook are
 * transcribed in ordered_work.c), the functions that build the work items and queues
 * whose private layouts (btrfs_async_thread.h) the replacement reads (fingerprint.tsv,
 * sizes as kallsyms gives them: the distance to the next symbol, alignment padding
 * included), and the build-ids of vmlinux and btrfs.
 */
#include "lockfix_vetted.h"

static struct tracepoint *tp_work_sched, *tp_ordered_sched, *tp_all_work_done;
static const struct lockfix_sym btrfs_syms[] = {
	{ "__tracepoint_btrfs_work_sched", (void **)&tp_work_sched },
	{ "__tracepoint_btrfs_ordered_sched", (void **)&tp_ordered_sched },
	{ "__tracepoint_btrfs_all_work_done", (void **)&tp_all_work_done },
	{ }
};

/* btrfs is (being) loaded: check it is the btrfs we were written for, then resolve. */
static int btrfs_pre_patch(struct klp_object *obj)
{
	int ret = lockfix_prepare_object("btrfs", btrfs_syms);

	if (ret)
		return ret;
	WRITE_ONCE(klpe___tracepoint_btrfs_work_sched, tp_work_sched);
	WRITE_ONCE(klpe___tracepoint_btrfs_ordered_sched, tp_ordered_sched);
	WRITE_ONCE(klpe___tracepoint_btrfs_all_work_done, tp_all_work_done);
	return 0;
}

/* No task runs the replacement any more (transition done): drop every btrfs pointer. */
static void btrfs_post_unpatch(struct klp_object *obj)
{
	WRITE_ONCE(klpe___tracepoint_btrfs_work_sched, NULL);
	WRITE_ONCE(klpe___tracepoint_btrfs_ordered_sched, NULL);
	WRITE_ONCE(klpe___tracepoint_btrfs_all_work_done, NULL);
}

static struct klp_func btrfs_funcs[] = {
	{ .old_name = "btrfs_work_helper", .new_func = klpp_btrfs_work_helper },
	{ }
};

static struct klp_object objs[] = {
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
	.fixed_upstream = LOCKFIX_UPSTREAM_HAS_c495dcd6fbe1,
	.reverts_fix = kernel_reverts_fix,
	.vetted = lockfix_vetted_builds,
	.candidate = LOCKFIX_CANDIDATE,
	.patch = &patch,
};
#endif

LOCKFIX_PATCH_MODULE(fix);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("livepatch: btrfs frees a work item only after its worker's ordered loop (upstream c495dcd6fbe1)");
MODULE_INFO(livepatch, "Y");
