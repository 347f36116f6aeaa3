/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LOCKFIX_BTRFS_ORDERED_H
#define LOCKFIX_BTRFS_ORDERED_H

#include <linux/workqueue.h>

struct tracepoint;

/* btrfs's tracepoints the replaced code fires; set while btrfs is patched, else NULL. */
extern struct tracepoint *klpe___tracepoint_btrfs_work_sched;
extern struct tracepoint *klpe___tracepoint_btrfs_ordered_sched;
extern struct tracepoint *klpe___tracepoint_btrfs_all_work_done;

void klpp_btrfs_work_helper(struct work_struct *normal_work);

/* Engaged counter (livepatch.c): executing items whose free was deferred past the loop. */
#include <linux/atomic.h>
extern atomic_long_t lockfix_counter_deferred_self_frees;

#endif
