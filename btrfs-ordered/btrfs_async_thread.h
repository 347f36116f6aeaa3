/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btrfs_async_thread.h - the private btrfs workqueue layouts lockfix_btrfs_ordered works on,
 * transcribed from Debian's linux-source-5.10 5.10.262-1:
 *   fs/btrfs/async-thread.h  struct btrfs_work, btrfs_func_t (btrfs-internal header)
 *   fs/btrfs/async-thread.c  struct __btrfs_workqueue, the WORK_*_BIT enum, NO_THRESHOLD
 * These are compiled against each target kernel's own headers (work_struct, spinlock_t and
 * list_head take that build's config, lockdep included); the field order is the 5.10 one.
 * Upstream changed them later (v5.19 folded __btrfs_workqueue into btrfs_workqueue), so
 * this file is only ever compiled for 5.10 (LOCKFIX_BTRFS_ASYNC_THREAD_5_10), and the
 * vetted-build fingerprints refuse any btrfs whose code using them differs.
 */
#ifndef LOCKFIX_BTRFS_ASYNC_THREAD_H
#define LOCKFIX_BTRFS_ASYNC_THREAD_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

struct btrfs_fs_info;
struct btrfs_work;
typedef void (*btrfs_func_t)(struct btrfs_work *arg);

/* fs/btrfs/async-thread.h */
struct btrfs_work {
	btrfs_func_t func;
	btrfs_func_t ordered_func;
	btrfs_func_t ordered_free;

	/* Don't touch things below */
	struct work_struct normal_work;
	struct list_head ordered_list;
	struct __btrfs_workqueue *wq;
	unsigned long flags;
};

/* fs/btrfs/async-thread.c */
enum {
	WORK_DONE_BIT,
	WORK_ORDER_DONE_BIT,
	WORK_HIGH_PRIO_BIT,
};

#define NO_THRESHOLD (-1)

struct __btrfs_workqueue {
	struct workqueue_struct *normal_wq;
	struct btrfs_fs_info *fs_info;
	struct list_head ordered_list;
	spinlock_t list_lock;
	atomic_t pending;
	int limit_active;
	int current_active;
	int thresh;
	unsigned int count;
	spinlock_t thres_lock;
};

#endif
