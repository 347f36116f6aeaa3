// SPDX-License-Identifier: GPL-2.0
/*
 * ordered_work.c - btrfs_work_helper() with run_ordered_work() as fixed upstream.
 *
 * Mirrors fs/btrfs/async-thread.c of Debian's 5.10.262-1 (which carries the fix), i.e.
 *   c495dcd6fbe1 "btrfs: don't prematurely free work in run_ordered_work()" (v5.5):
 *     the ordered loop never frees the work item its worker is executing (`self`); it is
 *     freed after the loop, so the workqueue cannot see a recycled item at the same address
 *     with the same function and serialize it behind this (possibly blocked) worker;
 *   45da9c1767ac "btrfs: fix memory ordering between normal and ordered work functions"
 *     (5.10.82): smp_mb__before_atomic() before setting WORK_DONE_BIT, smp_rmb() after
 *     reading it, as the target kernel has them.
 * run_ordered_work() is static with this one caller and inlined into btrfs_work_helper()
 * on the target builds (btrfs kallsyms has no run_ordered_work), and its fix changes the
 * caller's call, so btrfs_work_helper() is the function replaced; thresh_exec_hook() is a
 * static inline of the same file, copied as is.  The btrfs tracepoints keep firing
 * (lockfix_trace.h explains how).
 */
#include <linux/atomic.h>
#include <linux/kernel.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "btrfs_async_thread.h"
#include "lockfix_klp.h"
#include "btrfs_ordered.h"
#include "lockfix_trace.h"

struct tracepoint *klpe___tracepoint_btrfs_work_sched;
struct tracepoint *klpe___tracepoint_btrfs_ordered_sched;
struct tracepoint *klpe___tracepoint_btrfs_all_work_done;

#define TRACE_WORK(tp, work) \
	LOCKFIX_TRACE(tp, (void *, const struct btrfs_work *), work)
#define TRACE_ALL_WORK_DONE(fs_info, wtag) \
	LOCKFIX_TRACE(klpe___tracepoint_btrfs_all_work_done, \
		      (void *, const struct btrfs_fs_info *, const void *), fs_info, wtag)

/* async-thread.c: thresh_exec_hook(), unchanged. */
static inline void thresh_exec_hook(struct __btrfs_workqueue *wq)
{
	int new_current_active;
	long pending;
	int need_change = 0;

	if (wq->thresh == NO_THRESHOLD)
		return;

	atomic_dec(&wq->pending);
	spin_lock(&wq->thres_lock);
	/* Use wq->count to limit the calling frequency of workqueue_set_max_active. */
	wq->count++;
	wq->count %= (wq->thresh / 4);
	if (!wq->count)
		goto out;
	new_current_active = wq->current_active;

	/*
	 * pending may be changed later, but it's OK since we really don't need it so
	 * accurate to calculate new_max_active.
	 */
	pending = atomic_read(&wq->pending);
	if (pending > wq->thresh)
		new_current_active++;
	if (pending < wq->thresh / 2)
		new_current_active--;
	new_current_active = clamp_val(new_current_active, 1, wq->limit_active);
	if (new_current_active != wq->current_active) {
		need_change = 1;
		wq->current_active = new_current_active;
	}
out:
	spin_unlock(&wq->thres_lock);

	if (need_change)
		workqueue_set_max_active(wq->normal_wq, wq->current_active);
}

/* async-thread.c: run_ordered_work() as of c495dcd6fbe1 + 45da9c1767ac. */
/* Engaged counter, /sys/module/lockfix_btrfs_ordered/parameters/deferred_self_frees. */
LOCKFIX_COUNTER(deferred_self_frees, "work items whose free the ordered loop deferred until its worker left it (the fix at work)");

static void run_ordered_work(struct __btrfs_workqueue *wq, struct btrfs_work *self)
{
	struct list_head *list = &wq->ordered_list;
	struct btrfs_work *work;
	spinlock_t *lock = &wq->list_lock;
	unsigned long flags;
	bool free_self = false;

	while (1) {
		spin_lock_irqsave(lock, flags);
		if (list_empty(list))
			break;
		work = list_entry(list->next, struct btrfs_work, ordered_list);
		if (!test_bit(WORK_DONE_BIT, &work->flags))
			break;
		/*
		 * Orders all subsequent loads after reading WORK_DONE_BIT, paired with the
		 * smp_mb__before_atomic in btrfs_work_helper: the ordered function sees all
		 * updates of the ordinary work function (45da9c1767ac).
		 */
		smp_rmb();

		/*
		 * We are going to call the ordered done function, but we leave the work item
		 * on the list as a barrier so that later work items that are done don't have
		 * their functions called before this one returns.
		 */
		if (test_and_set_bit(WORK_ORDER_DONE_BIT, &work->flags))
			break;
		TRACE_WORK(klpe___tracepoint_btrfs_ordered_sched, work);
		spin_unlock_irqrestore(lock, flags);
		work->ordered_func(work);

		/* Now take the lock again and drop our item from the list. */
		spin_lock_irqsave(lock, flags);
		list_del(&work->ordered_list);
		spin_unlock_irqrestore(lock, flags);

#ifdef LOCKFIX_MUTANT
		if (0) {	/* mutant: free the executing item inside the loop, as before c495dcd6fbe1 */
#else
		if (work == self) {
#endif
			/*
			 * This is the work item the worker is executing.  The workqueue
			 * guarantees non-reentrancy: an item queued at the same address with
			 * the same function waits until this execution finishes
			 * (find_worker_executing_work()).  Freed now, it could be recycled,
			 * queued by work we depend on (another btrfs, e.g. through a loop
			 * device) and wait behind us: deadlock.  Free it after the loop.
			 */
			free_self = true;
		} else {
			/* The ordered free functions are not called with the lock held. */
			work->ordered_free(work);
			/* NB: work must not be dereferenced past this point. */
			TRACE_ALL_WORK_DONE(wq->fs_info, work);
		}
	}
	spin_unlock_irqrestore(lock, flags);

	if (free_self) {
		lockfix_count(&lockfix_counter_deferred_self_frees);
		self->ordered_free(self);
		/* NB: self must not be dereferenced past this point. */
		TRACE_ALL_WORK_DONE(wq->fs_info, self);
	}
}

/* async-thread.c: btrfs_work_helper(), passing itself to run_ordered_work(). */
void klpp_btrfs_work_helper(struct work_struct *normal_work)
{
	struct btrfs_work *work = container_of(normal_work, struct btrfs_work, normal_work);
	struct __btrfs_workqueue *wq;
	int need_order = 0;

	/*
	 * We should not touch things inside work in the following cases:
	 * 1) after work->func() if it has no ordered_free
	 *    Since the struct is freed in work->func().
	 * 2) after setting WORK_DONE_BIT
	 *    The work may be freed in other threads almost instantly.
	 * So we save the needed things here.
	 */
	if (work->ordered_func)
		need_order = 1;
	wq = work->wq;

	TRACE_WORK(klpe___tracepoint_btrfs_work_sched, work);
	thresh_exec_hook(wq);
	work->func(work);
	if (need_order) {
		/*
		 * Ensures all memory accesses done in the work function are ordered before
		 * setting the WORK_DONE_BIT, so the thread running the ordered work sees
		 * them.  Pairs with the smp_rmb in run_ordered_work.
		 */
		smp_mb__before_atomic();
		set_bit(WORK_DONE_BIT, &work->flags);
		run_ordered_work(wq, work);
	} else {
		/* NB: work must not be dereferenced past this point. */
		TRACE_ALL_WORK_DONE(wq->fs_info, work);
	}
}
