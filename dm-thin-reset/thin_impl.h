/* SPDX-License-Identifier: GPL-2.0 */
/*
 * thin_impl.h - the replacement dm-thin-metadata functions, compiled once per struct
 * layout of a vetted build (thin_5_10_262.c, thin_5_10_223.c define THIN_VARIANT and
 * THIN_HAS_HELD_ROOT, then include this file).
 *
 * Everything below mirrors drivers/md/dm-thin-metadata.c of Debian's linux 5.10.262-1
 * (and 5.10.223-1, which differs only by the held_root field: the 5.10.y backport that
 * keeps the metadata-snapshot root in core), with upstream d48300120627 and cb65b282c964
 * applied.  Private types are copied from the same source; comments say from where.
 */
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/types.h>

#include "dm_thin_reset.h"

/* name_5_10_262 etc. (__PASTE: include/linux/compiler_types.h) */
#define V(name) __PASTE(name, THIN_VARIANT)

/* drivers/md/dm-thin-metadata.c */
#define SPACE_MAP_ROOT_SIZE 128

/* drivers/md/dm-thin-metadata.h */
typedef int (*dm_pool_pre_commit_fn)(void *context);

/* drivers/md/persistent-data/dm-btree.h */
struct dm_btree_value_type {
	void *context;
	uint32_t size;
	void (*inc)(void *context, const void *value);
	void (*dec)(void *context, const void *value);
	int (*equal)(void *context, const void *value1, const void *value2);
};

struct dm_btree_info {
	struct dm_transaction_manager *tm;
	unsigned levels;
	struct dm_btree_value_type value_type;
};

/* drivers/md/dm-thin-metadata.c: struct dm_pool_metadata, field for field. */
struct V(dm_pool_metadata) {
	struct hlist_node hash;

	struct block_device *bdev;
	struct dm_block_manager *bm;
	struct dm_space_map *metadata_sm;
	struct dm_space_map *data_sm;
	struct dm_transaction_manager *tm;
	struct dm_transaction_manager *nb_tm;

	struct dm_btree_info info;
	struct dm_btree_info nb_info;
	struct dm_btree_info tl_info;
	struct dm_btree_info bl_info;
	struct dm_btree_info details_info;

	struct rw_semaphore root_lock;
	uint32_t time;
	dm_block_t root;
	dm_block_t details_root;
#if THIN_HAS_HELD_ROOT
	dm_block_t held_root;
#endif
	struct list_head thin_devices;
	uint64_t trans_id;
	unsigned long flags;
	sector_t data_block_size;

	dm_pool_pre_commit_fn pre_commit_fn;
	void *pre_commit_context;

	dm_block_t metadata_reserve;

	bool fail_io:1;
	bool in_service:1;

	__u8 data_space_map_root[SPACE_MAP_ROOT_SIZE];
	__u8 metadata_space_map_root[SPACE_MAP_ROOT_SIZE];
};

/* drivers/md/dm-thin-metadata.c: struct dm_thin_device (identical in both builds). */
struct V(dm_thin_device) {
	struct list_head list;
	struct V(dm_pool_metadata) *pmd;
	dm_thin_id id;

	int open_count;
	bool changed:1;
	bool aborted_with_changes:1;
	uint64_t mapped_blocks;
	uint64_t transaction_id;
	uint32_t creation_time;
	uint32_t snapshotted_time;
};

#define pmd_t struct V(dm_pool_metadata)
#define td_t struct V(dm_thin_device)

/* dm-thin-metadata.c: pmd_write_lock_in_core(), pmd_write_lock(), pmd_write_unlock(). */
static inline void V(pmd_write_lock_in_core)(pmd_t *pmd)
{
	down_write(&pmd->root_lock);
}

static inline void V(pmd_write_lock)(pmd_t *pmd)
{
	V(pmd_write_lock_in_core)(pmd);
	if (unlikely(!pmd->in_service))
		pmd->in_service = true;
}

static inline void V(pmd_write_unlock)(pmd_t *pmd)
{
	up_write(&pmd->root_lock);
}

/*
 * __destroy_persistent_data_objects() as d48300120627 has it: every pointer cleared after
 * its object is gone, and NULL tolerated.  Upstream made dm_tm_destroy() and the inline
 * dm_sm_destroy() NULL-safe; dm_sm_destroy() is compiled into its callers (and
 * dm_tm_destroy() has other users), so the NULL checks live here, in the only callers that
 * can now see NULL (the replaced close and abort below).
 */
static void V(destroy_pd_objects)(pmd_t *pmd, bool destroy_bm)
{
	lockfix_sm_destroy(pmd->data_sm);
	pmd->data_sm = NULL;
	lockfix_sm_destroy(pmd->metadata_sm);
	pmd->metadata_sm = NULL;
	if (pmd->nb_tm)
		klpe_dm_tm_destroy(pmd->nb_tm);
	pmd->nb_tm = NULL;
	if (pmd->tm)
		klpe_dm_tm_destroy(pmd->tm);
	pmd->tm = NULL;
	if (destroy_bm)
		klpe_dm_block_manager_destroy(pmd->bm);
}

/* dm-thin-metadata.c: __set_abort_with_changes_flags() (inlined into the abort). */
static void V(set_abort_with_changes_flags)(pmd_t *pmd)
{
	td_t *td;

	list_for_each_entry(td, &pmd->thin_devices, list)
		td->aborted_with_changes = td->changed;
}

/*
 * dm_pool_metadata_close() with d48300120627: the persistent-data objects are destroyed
 * whether or not the pool failed (a failed abort now leaves a live, reset block manager
 * and NULL tm/sm pointers).
 *
 * A pool whose abort failed BEFORE this livepatch was applied went through 5.10's old
 * dm_pool_abort_metadata(): it destroyed both block managers and every tm/sm, set
 * pmd->bm = NULL and fail_io, and left the tm/sm pointers dangling.  That state (fail_io
 * with bm == NULL, which the new abort never produces) is closed as the original close did:
 * nothing is left to destroy.
 */
int V(klpp_dm_pool_metadata_close)(struct dm_pool_metadata *opaque)
{
	pmd_t *pmd = (pmd_t *)opaque;
	int r;
	unsigned open_devices = 0;
	td_t *td, *tmp;

	down_read(&pmd->root_lock);
	list_for_each_entry_safe(td, tmp, &pmd->thin_devices, list) {
		if (td->open_count)
			open_devices++;
		else {
			list_del(&td->list);
			kfree(td);
		}
	}
	up_read(&pmd->root_lock);

	if (open_devices) {
		pr_err("device-mapper: thin metadata: attempt to close pmd when %u device(s) are still open\n",
		       open_devices);
		return -EBUSY;
	}

	V(pmd_write_lock_in_core)(pmd);
	if (!pmd->fail_io && !klpe_dm_bm_is_read_only(pmd->bm)) {
		r = klpe___commit_transaction(opaque);
		if (r < 0)
			pr_warn("device-mapper: thin metadata: %s: __commit_transaction() failed, error = %d\n",
				"dm_pool_metadata_close", r);
	}
	V(pmd_write_unlock)(pmd);
	/* Before looking at bm: the unpatch fixup may not convert this pool any more. */
	lockfix_failed_pool_del(opaque);
	if (pmd->fail_io && !pmd->bm)
		lockfix_count(&lockfix_counter_preabort_closes);	/* aborted under the old code */
	else
		V(destroy_pd_objects)(pmd, true);

	kfree(pmd);
	return 0;
}

/*
 * dm_pool_abort_metadata() with d48300120627: no block manager is created or destroyed
 * (so register_shrinker()/unregister_shrinker() and their shrinker_rwsem are never taken
 * from the pool worker); the existing one is reset and the metadata re-opened on it.
 *
 * Upstream clears tm/sm pointers on the error paths of __open_metadata() and
 * __format_metadata() (both inlined into __open_or_format_metadata() here, which we call
 * unmodified): on any error those paths destroy every object the call created, so clearing
 * all four pointers after a failed call is the same thing.
 */
int V(klpp_dm_pool_abort_metadata)(struct dm_pool_metadata *opaque)
{
	pmd_t *pmd = (pmd_t *)opaque;
	int r = -EINVAL;

	/* fail_io is double-checked with pmd->root_lock held below */
	if (unlikely(pmd->fail_io))
		return r;

	V(pmd_write_lock)(pmd);
	if (pmd->fail_io) {
		V(pmd_write_unlock)(pmd);
		return r;
	}
	V(set_abort_with_changes_flags)(pmd);

	/* destroy data_sm/metadata_sm/nb_tm/tm */
	V(destroy_pd_objects)(pmd, false);

#ifdef LOCKFIX_MUTANT
	/*
	 * mutant: what 5.10's abort does (__destroy_persistent_data_objects() +
	 * __create_persistent_data_objects()): a new block manager, so a new bufio client and
	 * register_shrinker() from the pool worker, under root_lock.
	 */
	klpe_dm_block_manager_destroy(pmd->bm);
	pmd->bm = lockfix_mutant_bm_create(pmd->bdev);
	if (IS_ERR(pmd->bm)) {
		r = PTR_ERR(pmd->bm);
		pmd->bm = NULL;
		pmd->fail_io = true;
		V(pmd_write_unlock)(pmd);
		return r;
	}
	r = 0;
#else
	/* reset bm (dm_block_manager_reset() -> dm_bufio_client_reset() upstream) */
	r = lockfix_bm_reset(pmd->bm);
#endif

	/* rebuild data_sm/metadata_sm/nb_tm/tm; a cache we could not reset fails the pool */
	if (!r)
		r = klpe___open_or_format_metadata(opaque, false);
	if (r) {
		pmd->data_sm = NULL;
		pmd->metadata_sm = NULL;
		pmd->nb_tm = NULL;
		pmd->tm = NULL;
		pmd->fail_io = true;
	}
	V(pmd_write_unlock)(pmd);
	lockfix_count(&lockfix_counter_aborts);
	if (r)
		lockfix_failed_pool_add(opaque);	/* after root_lock: lock order */
	return r;
}

/*
 * Hand a pool whose abort failed under the patch back in the original failed-abort state
 * (livepatch.c, at unpatch, during the unpatch transition, or beyond the failed-pool
 * table).  Such a pool has a live block manager and NULL tm/sm, which the original
 * dm_pool_metadata_close() would leak (it destroys nothing when fail_io is set; the leaked
 * bufio client then BUGs dm_bufio's module exit).  The original failed abort leaves
 * pmd->bm == NULL with fail_io, which the original code handles everywhere
 * (dm_bm_set_read_only/read_write and dm_bm_is_read_only accept NULL), and so does our
 * close.  Here the block manager is only detached, under root_lock; the caller has it
 * destroyed by a work item, outside root_lock and never from a pool worker.  The pool is
 * failed and its bufio cache was emptied by the reset: the destruction touches neither
 * pmd nor device.
 */
static struct dm_block_manager *V(unpatch_detach)(struct dm_pool_metadata *opaque)
{
	pmd_t *pmd = (pmd_t *)opaque;
	struct dm_block_manager *bm = NULL;

	V(pmd_write_lock_in_core)(pmd);
	if (pmd->fail_io && pmd->bm) {
		bm = pmd->bm;
		pmd->bm = NULL;
	}
	V(pmd_write_unlock)(pmd);
	return bm;
}

/* cb65b282c964: data_sm may be gone (NULL now) once an abort failed. */
int V(klpp_dm_pool_block_is_shared)(struct dm_pool_metadata *opaque, dm_block_t b, bool *result)
{
	pmd_t *pmd = (pmd_t *)opaque;
	int r = -EINVAL;
	uint32_t ref_count;

	down_read(&pmd->root_lock);
	if (!pmd->fail_io) {
		r = lockfix_sm_get_count(pmd->data_sm, b, &ref_count);
		if (!r)
			*result = (ref_count > 1);
	}
	up_read(&pmd->root_lock);

	return r;
}

/* cb65b282c964 on 5.10's per-block loop (be500ed721a6's range ops are not in 5.10). */
int V(klpp_dm_pool_inc_data_range)(struct dm_pool_metadata *opaque, dm_block_t b, dm_block_t e)
{
	pmd_t *pmd = (pmd_t *)opaque;
	int r = -EINVAL;

	V(pmd_write_lock)(pmd);
	if (!pmd->fail_io) {
		r = 0;
		for (; b != e; b++) {
			r = lockfix_sm_inc_block(pmd->data_sm, b);
			if (r)
				break;
		}
	}
	V(pmd_write_unlock)(pmd);

	return r;
}

int V(klpp_dm_pool_dec_data_range)(struct dm_pool_metadata *opaque, dm_block_t b, dm_block_t e)
{
	pmd_t *pmd = (pmd_t *)opaque;
	int r = -EINVAL;

	V(pmd_write_lock)(pmd);
	if (!pmd->fail_io) {
		r = 0;
		for (; b != e; b++) {
			r = lockfix_sm_dec_block(pmd->data_sm, b);
			if (r)
				break;
		}
	}
	V(pmd_write_unlock)(pmd);

	return r;
}

const struct dm_thin_reset_ops V(dm_thin_reset_ops) = {
	.abort_metadata = V(klpp_dm_pool_abort_metadata),
	.metadata_close = V(klpp_dm_pool_metadata_close),
	.block_is_shared = V(klpp_dm_pool_block_is_shared),
	.inc_data_range = V(klpp_dm_pool_inc_data_range),
	.dec_data_range = V(klpp_dm_pool_dec_data_range),
	.unpatch_detach = V(unpatch_detach),
};
