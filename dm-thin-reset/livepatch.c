// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_dm_thin_reset - live fix for the dm-thin ABBA deadlock between shrinker_rwsem
 * and the pool worker on Debian 11.
 *
 * Upstream: d48300120627 "dm thin metadata: Fix ABBA deadlock by resetting
 * dm_bufio_client" (v6.5; stable 6.1.70 only, never 5.10.y) and its companion
 * cb65b282c964 "dm thin metadata: check fail_io before using data_sm" (v6.4-rc7).
 * They follow 8111964f1b85 (v6.2, in 5.10.y), whose abort still creates and destroys a
 * block manager from the pool worker.
 *
 * On 5.10, a failed thin-pool metadata operation makes the pool worker call
 * dm_pool_abort_metadata(), which builds a new block manager (dm_bufio_client_create() ->
 * register_shrinker() -> down_write(&shrinker_rwsem)) and destroys the old one
 * (unregister_shrinker()).  A shrink_slab() (drop_caches, kswapd) holding shrinker_rwsem
 * for read while it waits on I/O to a thin device of that pool - I/O only the worker can
 * complete - closes the cycle: the pool and everything on it hang.  This module makes the
 * abort reset the existing block manager instead (no shrinker registration at all), makes
 * teardown NULL-safe, and checks fail_io before data_sm is used.  Design: DESIGN.md.
 *
 *   # insmod lockfix_dm_thin_reset.ko
 *   lockfix_dm_thin_reset: enabling on 5.10.0-46-amd64 (#1 SMP Debian 5.10.262-1 (2026-07-31))
 *   livepatch: enabling patch 'lockfix_dm_thin_reset'
 *   # modprobe dm_thin_pool        (or already loaded: patched at once)
 *   livepatch: applying patch 'lockfix_dm_thin_reset' to loading module 'dm_thin_pool'
 *   # cat /sys/kernel/livepatch/lockfix_dm_thin_reset/enabled
 *   1
 *   # echo 0 > /sys/kernel/livepatch/lockfix_dm_thin_reset/enabled; rmmod lockfix_dm_thin_reset
 *
 * Patched (klpp_, thin_impl.h), all in dm_thin_pool:
 *   dm_pool_abort_metadata     reset the bufio client, re-open; no bm create/destroy
 *   dm_pool_metadata_close     destroy whatever is left, also after a failed abort;
 *                              pools whose abort failed before the patch: as before
 *   dm_pool_block_is_shared    fail_io checked (cb65b282c964)
 *   dm_pool_inc_data_range     fail_io checked (cb65b282c964)
 *   dm_pool_dec_data_range     fail_io checked (cb65b282c964)
 * Looked up (klpe_, at dm_thin_pool load, cleared when it goes):
 *   dm_thin_pool        __open_or_format_metadata, __commit_transaction (static)
 *   dm_persistent_data  dm_tm_destroy, dm_block_manager_destroy, dm_bm_is_read_only
 *   dm_bufio            dm_bufio_write_dirty_buffers, dm_bufio_forget_buffers,
 *                       dm_bufio_get_block_size
 * Callbacks of the dm_thin_pool object: pre_patch (fingerprints of dm_thin_pool,
 * dm_persistent_data, dm_bufio; lookups), post_unpatch (pointers cleared), pre_unpatch
 * (pools whose abort failed under the patch are handed back in the original failed-abort
 * state, so the original close does not leak their block manager).
 * Counters: /sys/module/lockfix_dm_thin_reset/parameters/{aborts,preabort_closes}.
 * Fingerprinted besides: dm_thin_pool __destroy_persistent_data_objects and
 * dm_pool_metadata_open (their code is what the replaced functions undo and mirror),
 * dm_persistent_data dm_block_manager_create and dm_bm_block_size (struct
 * dm_block_manager starts with its bufio client).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/llist.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "lockfix_features.h"
#include "lockfix_klp.h"

#define FIX "dm-thin-reset"
#define UPSTREAM "d48300120627 (dm thin metadata: Fix ABBA deadlock by resetting dm_bufio_client) " \
	"and cb65b282c964 (dm thin metadata: check fail_io before using data_sm)"

#if LOCKFIX_UPSTREAM_HAS_d48300120627 || !LOCKFIX_DM_THIN_METADATA_5_10
/* Built against a kernel that has the fix, or a dm-thin-metadata we carry no copy of. */
static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.fixed_upstream = LOCKFIX_UPSTREAM_HAS_d48300120627,
	.not_carried = "lockfix carries the replacement for 5.10's dm-thin-metadata.c only",
};
#else
#include <linux/dm-bufio.h>
#include "dm_thin_reset.h"

/*
 * The builds this module patches (generated from fleet/ by common/gen-vetted.sh), each
 * with the replacement code for its struct layout as payload (fleet/vetted.tsv):
 * 5.10.223 and 5.10.262 differ in dm-thin-metadata.c by the in-core held_root
 * (thin_impl.h) and so in the two static functions.  Fingerprints (fingerprint.tsv) and
 * the build-ids of vmlinux, dm_thin_pool, dm_persistent_data and dm_bufio.
 */
#include "lockfix_vetted.h"

static const struct dm_thin_reset_ops *running_ops;

int (*klpe___open_or_format_metadata)(struct dm_pool_metadata *pmd, bool format_device);
int (*klpe___commit_transaction)(struct dm_pool_metadata *pmd);
void (*klpe_dm_tm_destroy)(struct dm_transaction_manager *tm);
void (*klpe_dm_block_manager_destroy)(struct dm_block_manager *bm);
bool (*klpe_dm_bm_is_read_only)(struct dm_block_manager *bm);
static int (*klpe_dm_bufio_write_dirty_buffers)(struct dm_bufio_client *c);
static void (*klpe_dm_bufio_forget_buffers)(struct dm_bufio_client *c, sector_t block,
					    sector_t n_blocks);
static unsigned (*klpe_dm_bufio_get_block_size)(struct dm_bufio_client *c);

/*
 * Engaged counters in /sys/module/lockfix_dm_thin_reset/parameters/ (for the selftest
 * and for admins): aborts done by reset, pools closed in the pre-patch failed-abort state.
 */
LOCKFIX_COUNTER(aborts, "metadata aborts done by resetting the block manager (no new block manager, no shrinker registration)");
LOCKFIX_COUNTER(preabort_closes, "pools closed whose abort had failed before the patch");

/* Resolved into locals first: the klpe_ pointers are set only once all are found. */
#ifdef LOCKFIX_MUTANT
static struct dm_block_manager *(*klpe_dm_block_manager_create)(struct block_device *bdev,
	unsigned int block_size, unsigned int max_held_per_thread);
#endif
static void *r_open, *r_commit, *r_tm_destroy, *r_bm_destroy, *r_bm_ro, *r_wdb, *r_forget, *r_bsize;

static const struct lockfix_sym thin_syms[] = {
	{ "__open_or_format_metadata", &r_open },
	{ "__commit_transaction", &r_commit },
	{ }
};
static const struct lockfix_sym pdata_syms[] = {
	{ "dm_tm_destroy", &r_tm_destroy },
	{ "dm_block_manager_destroy", &r_bm_destroy },
	{ "dm_bm_is_read_only", &r_bm_ro },
#ifdef LOCKFIX_MUTANT
	{ "dm_block_manager_create", (void **)&klpe_dm_block_manager_create },
#endif
	{ }
};
static const struct lockfix_sym bufio_syms[] = {
	{ "dm_bufio_write_dirty_buffers", &r_wdb },
	{ "dm_bufio_forget_buffers", &r_forget },
	{ "dm_bufio_get_block_size", &r_bsize },
	{ }
};

/* drivers/md/persistent-data/dm-block-manager.c: struct dm_block_manager. */
struct lockfix_dm_block_manager {
	struct dm_bufio_client *bufio;
	bool read_only:1;
};

/* THIN_METADATA_BLOCK_SIZE << SECTOR_SHIFT: the block size of every thin-pool bm. */
#define LOCKFIX_THIN_METADATA_BLOCK_BYTES 4096

#ifdef LOCKFIX_MUTANT
/* dm-thin-metadata.c: THIN_MAX_CONCURRENT_LOCKS; dm_block_manager_create() as it calls it. */
struct dm_block_manager *lockfix_mutant_bm_create(struct block_device *bdev)
{
	return klpe_dm_block_manager_create(bdev, LOCKFIX_THIN_METADATA_BLOCK_BYTES, 5);
}
#endif

/*
 * dm_block_manager_reset() -> dm_bufio_client_reset() of d48300120627, from exported
 * dm-bufio calls only: upstream's drop_buffers() writes the dirty buffers and frees every
 * buffer; here dm_bufio_write_dirty_buffers() writes them and waits, after which no buffer
 * is dirty or under I/O, and dm_bufio_forget_buffers() over the whole block range frees
 * every one not held.  None is held: the abort has just destroyed every tm/sm and holds
 * root_lock.  Upstream's flush_work(&c->shrink_work) is left out: a pending shrink work
 * only frees clean unheld buffers (as it may at any time), and reaching shrink_work would
 * need the private struct dm_bufio_client layout.  Write errors are ignored as
 * drop_buffers() ignores them: the re-open that follows reads from the device and fails
 * the pool if the device is bad.
 */
int lockfix_bm_reset(struct dm_block_manager *bm)
{
	struct dm_bufio_client *c = ((struct lockfix_dm_block_manager *)bm)->bufio;

	/*
	 * Not the client we were written for: we cannot empty its cache, and re-opening
	 * through it would read the failed transaction's superblock back from the cache
	 * (write_endio kept the data; new_read checks only read_error) and adopt the failed
	 * transaction as the "rollback".  The caller fails the pool instead.
	 */
	if (WARN_ON_ONCE(klpe_dm_bufio_get_block_size(c) != LOCKFIX_THIN_METADATA_BLOCK_BYTES))
		return -EINVAL;
	klpe_dm_bufio_write_dirty_buffers(c);
	klpe_dm_bufio_forget_buffers(c, 0, ~(sector_t)0);
	return 0;
}

/*
 * Failed pools (see dm_thin_reset.h).  Lock order: lockfix_failed_lock before a pool's
 * root_lock; the abort registers a pool only after dropping root_lock.  The table only
 * grows by failed pools and shrinks when they are closed.
 *
 * A failed pool that must leave the patched state early -- while the unpatch transition
 * runs, or beyond the table -- is handed back at once: its block manager is detached
 * (pmd->bm = NULL under root_lock, the original failed-abort state) and destroyed by a work
 * item, never by the pool worker (unregister_shrinker() there is the deadlock this patch
 * removes) and never under root_lock or lockfix_failed_lock (8111964f1b85 removed exactly
 * that pattern).  thin_pre_unpatch() does the same for every pool in the table.
 */
#define LOCKFIX_MAX_FAILED_POOLS 64
static DEFINE_MUTEX(lockfix_failed_lock);
static struct dm_pool_metadata *lockfix_failed[LOCKFIX_MAX_FAILED_POOLS];
static bool lockfix_unpatching;

/* Detached block managers, destroyed by lockfix_late_bm_work; flushed in post_unpatch. */
struct lockfix_late_bm {
	struct llist_node node;
	struct dm_block_manager *bm;
};
static LLIST_HEAD(lockfix_late_bms);

static void lockfix_late_bm_fn(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&lockfix_late_bms);
	struct lockfix_late_bm *e, *tmp;

	llist_for_each_entry_safe(e, tmp, list, node) {
		klpe_dm_block_manager_destroy(e->bm);
		kfree(e);
	}
}
static DECLARE_WORK(lockfix_late_bm_work, lockfix_late_bm_fn);

/*
 * Hand a failed pool back in the original failed-abort state; its block manager goes to
 * the work item.  false: no memory for the hand-over, the pool is left as it was.
 */
static bool lockfix_hand_back(struct dm_pool_metadata *pmd, gfp_t gfp)
{
	struct lockfix_late_bm *e = kmalloc(sizeof(*e), gfp);

	if (!e)
		return false;
	e->bm = running_ops->unpatch_detach(pmd);
	if (!e->bm) {
		kfree(e);
		return true;
	}
	llist_add(&e->node, &lockfix_late_bms);
	queue_work(system_unbound_wq, &lockfix_late_bm_work);
	return true;
}

void lockfix_failed_pool_add(struct dm_pool_metadata *pmd)
{
	int i;

	mutex_lock(&lockfix_failed_lock);
	if (lockfix_unpatching) {
		/* The transition cannot finish before we return: post_unpatch's flush sees it. */
		if (lockfix_hand_back(pmd, GFP_NOIO))
			pr_info("failed pool handed back during the unpatch transition\n");
		else
			pr_warn("no memory to hand a failed pool back: its block manager will leak\n");
		goto out;
	}
	for (i = 0; i < LOCKFIX_MAX_FAILED_POOLS; i++)
		if (!lockfix_failed[i] || lockfix_failed[i] == pmd)
			break;
	if (i < LOCKFIX_MAX_FAILED_POOLS)
		lockfix_failed[i] = pmd;
	else if (lockfix_hand_back(pmd, GFP_NOIO))
		pr_info("more than %d failed thin pools: this one is handed back in the original failed-abort state now\n",
			LOCKFIX_MAX_FAILED_POOLS);
	else
		pr_warn("more than %d failed thin pools and no memory: disabling the patch before closing this one leaks its block manager\n",
			LOCKFIX_MAX_FAILED_POOLS);
out:
	mutex_unlock(&lockfix_failed_lock);
}

void lockfix_failed_pool_del(struct dm_pool_metadata *pmd)
{
	int i;

	mutex_lock(&lockfix_failed_lock);
	for (i = 0; i < LOCKFIX_MAX_FAILED_POOLS; i++)
		if (lockfix_failed[i] == pmd)
			lockfix_failed[i] = NULL;
	mutex_unlock(&lockfix_failed_lock);
}

static void lockfix_set_unpatching(bool v)
{
	mutex_lock(&lockfix_failed_lock);
	lockfix_unpatching = v;
	mutex_unlock(&lockfix_failed_lock);
}

static struct klp_func thin_funcs[] = {
	{ .old_name = "dm_pool_abort_metadata" },
	{ .old_name = "dm_pool_metadata_close" },
	{ .old_name = "dm_pool_block_is_shared" },
	{ .old_name = "dm_pool_inc_data_range" },
	{ .old_name = "dm_pool_dec_data_range" },
	{ }
};

/* dm_thin_pool is (being) loaded: its stack is the one we were written for? Then resolve. */
static int thin_pre_patch(struct klp_object *obj)
{
	int ret;

	/* dm_persistent_data and dm_bufio are loaded first: dm_thin_pool depends on both. */
	ret = lockfix_prepare_object("dm_thin_pool", thin_syms) ?:
	      lockfix_prepare_object("dm_persistent_data", pdata_syms) ?:
	      lockfix_prepare_object("dm_bufio", bufio_syms);
	if (ret)
		return ret;
	lockfix_set_unpatching(false);
	WRITE_ONCE(klpe___open_or_format_metadata, r_open);
	WRITE_ONCE(klpe___commit_transaction, r_commit);
	WRITE_ONCE(klpe_dm_tm_destroy, r_tm_destroy);
	WRITE_ONCE(klpe_dm_block_manager_destroy, r_bm_destroy);
	WRITE_ONCE(klpe_dm_bm_is_read_only, r_bm_ro);
	WRITE_ONCE(klpe_dm_bufio_write_dirty_buffers, r_wdb);
	WRITE_ONCE(klpe_dm_bufio_forget_buffers, r_forget);
	WRITE_ONCE(klpe_dm_bufio_get_block_size, r_bsize);
	return 0;
}

static void thin_post_patch(struct klp_object *obj)
{
	lockfix_set_unpatching(false);	/* also after a reversed unpatch transition */
	pr_info("dm_thin_pool patched\n");
}

/*
 * Unpatching (or dm_thin_pool going, then no pool is left): hand every pool whose abort
 * failed under the patch back in the original code's failed-abort state.  Our functions
 * are still the ones running; aborts failing from now on hand themselves back.  Nothing
 * here waits for shrinker_rwsem: the block managers are only detached (under each
 * root_lock, briefly) and destroyed by the work item, which post_unpatch flushes after
 * lockfix_failed_lock is free again -- a pool worker failing its abort meanwhile takes
 * that lock, hands itself back and goes on, so a shrink_slab() reader waiting on that
 * pool's I/O is released and the destruction's unregister_shrinker() gets its turn.
 */
static void thin_pre_unpatch(struct klp_object *obj)
{
	int i, n = 0, leaked = 0;

	mutex_lock(&lockfix_failed_lock);
	lockfix_unpatching = true;
	for (i = 0; i < LOCKFIX_MAX_FAILED_POOLS; i++) {
		if (!lockfix_failed[i])
			continue;
		if (lockfix_hand_back(lockfix_failed[i], GFP_KERNEL))
			n++;
		else
			leaked++;
		lockfix_failed[i] = NULL;
	}
	mutex_unlock(&lockfix_failed_lock);
	if (n)
		pr_info("%d failed pool(s) handed back in the unpatched failed-abort state\n", n);
	if (leaked)
		pr_warn("%d failed pool(s) could not be handed back (no memory): their block managers leak\n", leaked);
}

/* dm_thin_pool is going (or we are unpatched): never keep a pointer into its stack. */
static void thin_post_unpatch(struct klp_object *obj)
{
	flush_work(&lockfix_late_bm_work);	/* before the pointers it uses go */
	WRITE_ONCE(klpe___open_or_format_metadata, NULL);
	WRITE_ONCE(klpe___commit_transaction, NULL);
	WRITE_ONCE(klpe_dm_tm_destroy, NULL);
	WRITE_ONCE(klpe_dm_block_manager_destroy, NULL);
	WRITE_ONCE(klpe_dm_bm_is_read_only, NULL);
	WRITE_ONCE(klpe_dm_bufio_write_dirty_buffers, NULL);
	WRITE_ONCE(klpe_dm_bufio_forget_buffers, NULL);
	WRITE_ONCE(klpe_dm_bufio_get_block_size, NULL);
	r_open = r_commit = r_tm_destroy = r_bm_destroy = r_bm_ro = r_wdb = r_forget = r_bsize = NULL;
	pr_info("dm_thin_pool unpatched: %ld abort(s) by reset, %ld pool(s) closed in pre-patch abort state\n",
		atomic_long_read(&lockfix_counter_aborts), atomic_long_read(&lockfix_counter_preabort_closes));
}

static struct klp_object objs[] = {
	{
		.name = "dm_thin_pool",
		.funcs = thin_funcs,
		.callbacks = {
			.pre_patch = thin_pre_patch,
			.post_patch = thin_post_patch,
			.pre_unpatch = thin_pre_unpatch,
			.post_unpatch = thin_post_unpatch,
		},
	},
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

/* The replacement code for the running build's layout (its payload). */
static int thin_setup(const struct lockfix_build *build)
{
	const struct dm_thin_reset_ops *ops = build->payload;

	if (WARN_ON(!ops))
		return -EINVAL;
	running_ops = ops;
	thin_funcs[0].new_func = ops->abort_metadata;
	thin_funcs[1].new_func = ops->metadata_close;
	thin_funcs[2].new_func = ops->block_is_shared;
	thin_funcs[3].new_func = ops->inc_data_range;
	thin_funcs[4].new_func = ops->dec_data_range;
	return 0;
}

static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.vetted = lockfix_vetted_builds,
	.candidate = LOCKFIX_CANDIDATE,
	.patch = &patch,
	.setup = thin_setup,
};
#endif

LOCKFIX_PATCH_MODULE(fix);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("livepatch: dm-thin metadata abort resets its bufio client instead of re-creating it (no shrinker_rwsem deadlock; upstream d48300120627 + cb65b282c964)");
MODULE_INFO(livepatch, "Y");
