/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm_thin_reset.h - shared between livepatch.c (klp setup, symbol resolution, the bufio
 * reset) and thin_impl.h (the replaced dm-thin-metadata functions, one copy per layout).
 */
#ifndef LOCKFIX_DM_THIN_RESET_H
#define LOCKFIX_DM_THIN_RESET_H

#include <linux/atomic.h>
#include <linux/types.h>

#include "lockfix_klp.h"

struct dm_pool_metadata;		/* layout per build: thin_impl.h */
struct dm_block_manager;
struct dm_transaction_manager;
struct dm_bufio_client;

/* drivers/md/persistent-data/dm-block-manager.h, dm-thin-metadata.h */
typedef uint64_t dm_block_t;
typedef uint64_t dm_thin_id;
typedef void (*dm_sm_threshold_fn)(void *context);

/* drivers/md/persistent-data/dm-space-map.h: struct dm_space_map (5.10.223 = 5.10.262). */
struct dm_space_map {
	void (*destroy)(struct dm_space_map *sm);
	int (*extend)(struct dm_space_map *sm, dm_block_t extra_blocks);
	int (*get_nr_blocks)(struct dm_space_map *sm, dm_block_t *count);
	int (*get_nr_free)(struct dm_space_map *sm, dm_block_t *count);
	int (*get_count)(struct dm_space_map *sm, dm_block_t b, uint32_t *result);
	int (*count_is_more_than_one)(struct dm_space_map *sm, dm_block_t b, int *result);
	int (*set_count)(struct dm_space_map *sm, dm_block_t b, uint32_t count);
	int (*commit)(struct dm_space_map *sm);
	int (*inc_block)(struct dm_space_map *sm, dm_block_t b);
	int (*dec_block)(struct dm_space_map *sm, dm_block_t b);
	int (*new_block)(struct dm_space_map *sm, dm_block_t *b);
	int (*root_size)(struct dm_space_map *sm, size_t *result);
	int (*copy_root)(struct dm_space_map *sm, void *copy_to_here_le, size_t len);
	int (*register_threshold_callback)(struct dm_space_map *sm, dm_block_t threshold,
					   dm_sm_threshold_fn fn, void *context);
};

/*
 * The static inlines of dm-space-map.h.  dm_sm_destroy() is compiled into every caller in
 * 5.10, so it cannot be patched: NULL-safety (d48300120627) is given here instead.
 */
static inline void lockfix_sm_destroy(struct dm_space_map *sm)
{
	if (sm)
		sm->destroy(sm);
}

static inline int lockfix_sm_get_count(struct dm_space_map *sm, dm_block_t b, uint32_t *result)
{
	return sm->get_count(sm, b, result);
}

static inline int lockfix_sm_inc_block(struct dm_space_map *sm, dm_block_t b)
{
	return sm->inc_block(sm, b);
}

static inline int lockfix_sm_dec_block(struct dm_space_map *sm, dm_block_t b)
{
	return sm->dec_block(sm, b);
}

/*
 * Looked-up functions (klpe_), resolved in the dm_thin_pool pre_patch callback (its
 * dependencies dm_persistent_data and dm_bufio are loaded by then and cannot go before it),
 * cleared in post_unpatch.  Calling them through pointers keeps the livepatch free of a
 * module dependency on dm-thin's stack: it loads (and waits) before dm_thin_pool does.
 */
extern int (*klpe___open_or_format_metadata)(struct dm_pool_metadata *pmd, bool format_device);
extern int (*klpe___commit_transaction)(struct dm_pool_metadata *pmd);
extern void (*klpe_dm_tm_destroy)(struct dm_transaction_manager *tm);
extern void (*klpe_dm_block_manager_destroy)(struct dm_block_manager *bm);
extern bool (*klpe_dm_bm_is_read_only)(struct dm_block_manager *bm);

/* The bufio client reset (livepatch.c): dm_block_manager_reset() of d48300120627. */
int lockfix_bm_reset(struct dm_block_manager *bm);	/* -EINVAL: not reset, fail the pool */

/* Counters shown in the module's log at unpatch (and read by the selftest via dmesg). */
extern atomic_long_t lockfix_counter_aborts;
#ifdef LOCKFIX_MUTANT
struct block_device;
struct dm_block_manager *lockfix_mutant_bm_create(struct block_device *bdev);
#endif
extern atomic_long_t lockfix_counter_preabort_closes;

/*
 * Pools whose abort failed under this patch (live, reset block manager; tm/sm NULL): the
 * original close would leak that block manager, so when the patch is disabled they are
 * first put into the state the original code leaves behind (livepatch.c).
 */
void lockfix_failed_pool_add(struct dm_pool_metadata *pmd);
void lockfix_failed_pool_del(struct dm_pool_metadata *pmd);

struct dm_thin_reset_ops {
	int (*abort_metadata)(struct dm_pool_metadata *pmd);
	int (*metadata_close)(struct dm_pool_metadata *pmd);
	int (*block_is_shared)(struct dm_pool_metadata *pmd, dm_block_t b, bool *result);
	int (*inc_data_range)(struct dm_pool_metadata *pmd, dm_block_t b, dm_block_t e);
	int (*dec_data_range)(struct dm_pool_metadata *pmd, dm_block_t b, dm_block_t e);
	struct dm_block_manager *(*unpatch_detach)(struct dm_pool_metadata *pmd);
};

extern const struct dm_thin_reset_ops dm_thin_reset_ops_5_10_262;
extern const struct dm_thin_reset_ops dm_thin_reset_ops_5_10_223;

#endif
