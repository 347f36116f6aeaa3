// SPDX-License-Identifier: GPL-2.0
/*
 * dio_pinned.c - the replacement of iomap_dio_rw() (fs/iomap/direct-io.c, Debian
 * 5.10.218 .. 5.10.262): btrfs direct IO on user memory runs on pages taken *before*
 * btrfs takes any extent lock or creates any ordered extent, so no page fault can happen
 * while the DIO holds them.  See DESIGN.md for the whole argument.
 *
 * Every other caller (ext4, xfs, gfs2, zonefs, btrfs on kernel memory) takes the
 * original three-line body, copied verbatim below.
 *
 * What stays as the original's (fs/iomap/direct-io.c __iomap_dio_rw and
 * iomap_dio_bio_actor, block/bio.c bio_iov_iter_get_pages, 5.10.262):
 *  - async iocbs stay async: -EIOCBQUEUED, the completion through the iocb's own
 *    ki_complete, after the pages are released;
 *  - the page references: FOLL_GET for writes (the device only reads those pages; the
 *    zero page gets +1 as bio_iov_iter_get_pages gives it, never a FOLL_PIN bias), FOLL_PIN
 *    for reads (FOLL_WRITE: never the zero page); no more pages than the DIO can transfer
 *    (reads stop at the block holding i_size);
 *  - read pages dirty once the I/O is done (what bio_set_pages_dirty and
 *    bio_check_pages_dirty achieve from interrupt context; see dirty_user_pages());
 *  - IOCB_NOWAIT: no sleeping fault (fast GUP only) and no buffered I/O: -EAGAIN;
 *  - a GUP error fails the request with that error (iomap_dio_set_error), a read at or
 *    past EOF returns 0 without touching the buffer.
 */
#include "lockfix_features.h"
#include "lockfix_klp.h"
/* Only built where the module can patch (see livepatch.c); elsewhere it just refuses. */
#if !LOCKFIX_UPSTREAM_HAS_51bd9563b678 && LOCKFIX_IOMAP_DIO_RW_5_10
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/bvec.h>
#include <linux/workqueue.h>

#include "dio_nofault.h"

const struct iomap_ops *klpe_btrfs_dio_iomap_ops;

/*
 * Pages per GUP call: bounds the fast walk's IRQ-off section (gup_pgd_range() runs with
 * interrupts disabled for the whole call) and the on-stack page array, 512 bytes.
 */
#define DIO_GUP_BATCH 64
/* Up to this many pages the bvecs live in the pinned_dio: 4 KiB..64 KiB DIOs allocate no array. */
#define DIO_INLINE_BVECS 16

/* The user pages of one btrfs DIO, and for an async one what its completion needs. */
struct pinned_dio {
	struct bio_vec *bvecs;		/* one per page taken, in iter order */
	unsigned long npages;
	size_t bytes;			/* bytes the bvecs cover, from the iter's start */
	bool is_read;			/* FOLL_PIN pages the device writes; else FOLL_GET */
	/* async iocbs only */
	struct hlist_node node;		/* in async_dios while the DIO is in flight */
	struct kiocb *iocb;
	void (*ki_complete)(struct kiocb *iocb, long ret, long ret2);
	long ret, ret2;
	struct work_struct work;
	struct bio_vec inline_bvecs[DIO_INLINE_BVECS];
};

/* Pages held by this module now, and at most: the pinned_pages_peak counter. */
static atomic_long_t pages_held = ATOMIC_LONG_INIT(0);

static void pages_taken(long n)
{
	long now = atomic_long_add_return(n, &pages_held);
	long peak = atomic_long_read(&lockfix_counter_pinned_pages_peak);

	while (now > peak) {
		long old = atomic_long_cmpxchg(&lockfix_counter_pinned_pages_peak, peak, now);

		if (old == peak)
			break;
		peak = old;
	}
}

/* The pages a transfer of `limit` bytes from the iter's start spans. */
static unsigned long iter_pages(const struct iov_iter *iter, size_t limit)
{
	size_t skip = iter->iov_offset;
	unsigned long n = 0, i;

	for (i = 0; i < iter->nr_segs && limit; i++, skip = 0) {
		unsigned long base = (unsigned long)iter->iov[i].iov_base + skip;
		size_t len = min(iter->iov[i].iov_len - skip, limit);

		if (!len)
			continue;
		n += DIV_ROUND_UP(offset_in_page(base) + len, PAGE_SIZE);
		limit -= len;
	}
	return n;
}

static int get_user_batch(unsigned long addr, int n, bool is_read, bool nowait, struct page **pages)
{
	if (is_read)
		return nowait ? pin_user_pages_fast_only(addr, n, FOLL_WRITE, pages) :
				pin_user_pages_fast(addr, n, FOLL_WRITE, pages);
	return nowait ? get_user_pages_fast_only(addr, n, 0, pages) :
			get_user_pages_fast(addr, n, 0, pages);
}

/*
 * Take the pages of the iter's first `limit` bytes (faulting them in now, with no DIO
 * lock held; under NOWAIT only what is present) and describe them as bvecs.  Returns 0
 * when all of them were taken; else the error of the first page that could not be
 * (-EAGAIN under NOWAIT), with what was taken recorded for release.
 */
static int take_user_pages(struct pinned_dio *pd, const struct iov_iter *iter, size_t limit,
			   bool nowait)
{
	unsigned long want = iter_pages(iter, limit), i;
	size_t skip = iter->iov_offset;
	struct page *batch[DIO_GUP_BATCH];

	if (want > DIO_INLINE_BVECS) {
		/* Bounded by the request (as are the original's bios' bvecs), and charged. */
		pd->bvecs = kvmalloc_array(want, sizeof(*pd->bvecs), GFP_KERNEL_ACCOUNT);
		if (!pd->bvecs) {
			pd->bvecs = pd->inline_bvecs;
			return -ENOMEM;
		}
	}

	for (i = 0; i < iter->nr_segs && limit; i++, skip = 0) {
		unsigned long addr = (unsigned long)iter->iov[i].iov_base + skip;
		size_t len = min(iter->iov[i].iov_len - skip, limit);

		limit -= len;
		while (len) {
			size_t off = offset_in_page(addr);
			int n = min_t(unsigned long, DIV_ROUND_UP(off + len, PAGE_SIZE), DIO_GUP_BATCH);
			int got = get_user_batch(addr & PAGE_MASK, n, pd->is_read, nowait, batch), j;

			if (got <= 0)
				return got < 0 ? got : nowait ? -EAGAIN : -EFAULT;
			pages_taken(got);
			for (j = 0; j < got; j++) {
				struct bio_vec *bv = &pd->bvecs[pd->npages++];

				bv->bv_page = batch[j];
				bv->bv_offset = off;
				bv->bv_len = min_t(size_t, PAGE_SIZE - off, len);
				pd->bytes += bv->bv_len;
				addr += bv->bv_len;
				len -= bv->bv_len;
				off = 0;
			}
		}
	}
	return 0;
}

/*
 * Reads: the device wrote the pages behind the MMU: dirty them once the data is in, in
 * process context.  iomap ends in the same state by another way: its completion runs in
 * interrupt context, where set_page_dirty() cannot be called, so it dirties before the I/O
 * (bio_set_pages_dirty()) and re-dirties at completion whatever got cleaned meanwhile
 * (bio_check_pages_dirty()); compound pages it leaves alone, and so do we.  Dirtying
 * before the I/O is what we must not copy: a file page that is dirty while the device
 * still fills it can be written back by anyone's flush of that file (another task's DIO
 * runs filemap_write_and_wait_range() on it) and btrfs then records a checksum of
 * half-filled data -- measured: "csum failed" and EIO in the ABBA selftest.
 */
static void dirty_user_pages(const struct pinned_dio *pd)
{
	unsigned long i;

	for (i = 0; i < pd->npages; i++) {
		struct page *page = pd->bvecs[i].bv_page;

		if (!PageCompound(page) && !PageDirty(page))
			set_page_dirty_lock(page);
	}
}

/* May sleep (page lock): never from bio completion context. */
static void release_user_pages(struct pinned_dio *pd, bool dirty)
{
	unsigned long i;

	if (pd->is_read && dirty)
		dirty_user_pages(pd);
	for (i = 0; i < pd->npages; i++) {
		if (pd->is_read)
			unpin_user_page(pd->bvecs[i].bv_page);
		else
			put_page(pd->bvecs[i].bv_page);
	}
	atomic_long_sub(pd->npages, &pages_held);
	if (pd->bvecs != pd->inline_bvecs)
		kvfree(pd->bvecs);
}

/* Does any page of the buffer belong to the file the DIO is on? */
static bool maps_own_pagecache(const struct pinned_dio *pd, struct address_space *mapping)
{
	unsigned long i;

	for (i = 0; i < pd->npages; i++)
		if (page_mapping(pd->bvecs[i].bv_page) == mapping)
			return true;
	return false;
}

/*
 * Async completion.  iomap calls the iocb's ki_complete exactly once when it returned
 * -EIOCBQUEUED, from bio completion (reads: interrupt context) or s_dio_done_wq (writes);
 * when it returned anything else it never calls it.  We put ours in the iocb for the
 * flight and find the DIO's pages by the iocb; the release (page lock for dirtying) goes
 * to our work queue, which then calls the iocb's own ki_complete.  Each in-flight DIO
 * holds a module reference, so the module cannot go while one is in flight (rmmod gets
 * -EBUSY until they complete); module exit drains the work queue (destroy_workqueue)
 * and waits out any CPU still inside pinned_dio_ki_complete (synchronize_rcu: its
 * callers in bio completion run with preemption disabled; see DESIGN.md).
 */
static DEFINE_SPINLOCK(async_lock);
static DEFINE_HASHTABLE(async_dios, 7);
static struct workqueue_struct *dio_done_wq;

static void pinned_dio_done(struct work_struct *work)
{
	struct pinned_dio *pd = container_of(work, struct pinned_dio, work);
	struct kiocb *iocb = pd->iocb;
	void (*ki_complete)(struct kiocb *iocb, long ret, long ret2) = pd->ki_complete;
	long ret = pd->ret, ret2 = pd->ret2;

	release_user_pages(pd, true);
	kfree(pd);
	/* The iocb is the caller's again (io_uring may reissue it through read_iter). */
	iocb->ki_complete = ki_complete;
	ki_complete(iocb, ret, ret2);
	module_put(THIS_MODULE);
}

static void pinned_dio_ki_complete(struct kiocb *iocb, long ret, long ret2)
{
	struct pinned_dio *pd = NULL, *p;
	unsigned long flags;

	rcu_read_lock();
	spin_lock_irqsave(&async_lock, flags);
	hash_for_each_possible(async_dios, p, node, (unsigned long)iocb) {
		if (p->iocb == iocb) {
			pd = p;
			hash_del(&pd->node);
			break;
		}
	}
	spin_unlock_irqrestore(&async_lock, flags);
	/* Not ours can only be a bug: keep the pages rather than free what we cannot name. */
	if (!WARN_ON_ONCE(!pd)) {
		pd->ret = ret;
		pd->ret2 = ret2;
		queue_work(dio_done_wq, &pd->work);
	}
	rcu_read_unlock();
}

static void async_track(struct pinned_dio *pd, struct kiocb *iocb)
{
	unsigned long flags;

	__module_get(THIS_MODULE);
	pd->iocb = iocb;
	pd->ki_complete = iocb->ki_complete;
	INIT_WORK(&pd->work, pinned_dio_done);
	spin_lock_irqsave(&async_lock, flags);
	hash_add(async_dios, &pd->node, (unsigned long)iocb);
	spin_unlock_irqrestore(&async_lock, flags);
	iocb->ki_complete = pinned_dio_ki_complete;
}

/* iomap completed (or failed) the DIO in the submitter: the completion will never run. */
static void async_untrack(struct pinned_dio *pd)
{
	unsigned long flags;

	pd->iocb->ki_complete = pd->ki_complete;
	spin_lock_irqsave(&async_lock, flags);
	hash_del(&pd->node);
	spin_unlock_irqrestore(&async_lock, flags);
	module_put(THIS_MODULE);
}

int lockfix_dio_setup(const struct lockfix_build *build)
{
	/* DIO completions may be what reclaim waits for: a rescuer, as s_dio_done_wq has. */
	dio_done_wq = alloc_workqueue("lockfix_dio_done", WQ_MEM_RECLAIM, 0);
	return dio_done_wq ? 0 : -ENOMEM;
}

void lockfix_dio_teardown(void)
{
	/* No DIO is in flight (each holds a module reference): finish the work that ran. */
	destroy_workqueue(dio_done_wq);
	synchronize_rcu();
}

/* fs/iomap/direct-io.c iomap_dio_rw(), 5.10.218 .. 5.10.262, verbatim. */
static ssize_t iomap_dio_rw_body(struct kiocb *iocb, struct iov_iter *iter,
				 const struct iomap_ops *ops, const struct iomap_dio_ops *dops,
				 bool wait_for_completion)
{
	struct iomap_dio *dio;

	dio = __iomap_dio_rw(iocb, iter, ops, dops, wait_for_completion);
	if (IS_ERR_OR_NULL(dio))
		return PTR_ERR_OR_ZERO(dio);
	return iomap_dio_complete(dio);
}

/*
 * btrfs DIO on user memory.  Returns what btrfs_direct_IO() expects of iomap_dio_rw():
 * bytes done (the user iter advanced by as much), -EIOCBQUEUED for an async iocb in
 * flight, 0 to have the caller do it with buffered I/O, or an error.
 */
static ssize_t btrfs_dio_pinned(struct kiocb *iocb, struct iov_iter *iter,
				const struct iomap_ops *ops, const struct iomap_dio_ops *dops,
				bool wait_for_completion)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	bool is_read = iov_iter_rw(iter) == READ;
	bool nowait = iocb->ki_flags & IOCB_NOWAIT;
	size_t count = iov_iter_count(iter), queued;
	struct pinned_dio onstack, *pd = &onstack;
	struct iov_iter bvec_iter;
	struct iomap_dio *dio;
	bool issued = false;		/* iomap ran on the pages: dirty them at release */
	ssize_t ret;

	if (is_read) {
		loff_t isize = i_size_read(inode);

		/* __iomap_dio_rw() returns 0 here without touching the buffer. */
		if (iocb->ki_pos >= isize)
			return iomap_dio_rw_body(iocb, iter, ops, dops, wait_for_completion);
		/* Nothing past the block holding i_size: the original never gets those pages. */
		count = min_t(u64, count, round_up(isize - iocb->ki_pos, i_blocksize(inode)));
	}
	if (!wait_for_completion) {
		/* iomap allocates its dio the same way, NOWAIT or not. */
		pd = kmalloc(sizeof(*pd), GFP_KERNEL_ACCOUNT);
		if (!pd)
			return -ENOMEM;
	}
	pd->bvecs = pd->inline_bvecs;
	pd->npages = 0;
	pd->bytes = 0;
	pd->is_read = is_read;

	ret = take_user_pages(pd, iter, count, nowait);
	if (ret) {
		/*
		 * The original fails the whole DIO with the GUP error too (iomap_dio_set_error),
		 * having sent the bios of the pages before it; we fail it before any I/O.
		 */
		if (ret == -EAGAIN)
			lockfix_count(&lockfix_counter_nowait_eagain);
		goto out_release;
	}
	/*
	 * The buffer maps the file itself: the page cache and the DIO would race for the
	 * same pages (iomap could not invalidate them).  Do it all buffered, as upstream
	 * does when a DIO makes no progress; the bytes then equal buffered I/O's by design.
	 * Not under NOWAIT, which btrfs never serves buffered for a direct write: -EAGAIN,
	 * and io_uring retries from io-wq without it.
	 */
	if (maps_own_pagecache(pd, iocb->ki_filp->f_mapping)) {
		if (nowait) {
			lockfix_count(&lockfix_counter_nowait_eagain);
			ret = -EAGAIN;
			goto out_release;
		}
		/*
		 * Leave exactly as btrfs_direct_IO()'s own "go buffered" return does
		 * (fs/btrfs/inode.c, check_direct_IO() branch): drop the O_DSYNC stub, so
		 * btrfs_file_write_iter() syncs after the buffered write and no transaction
		 * code takes the stub for a handle.
		 */
		if (!is_read && current->journal_info == KLPE_BTRFS_DIO_SYNC_STUB)
			current->journal_info = NULL;
		lockfix_count(&lockfix_counter_buffered_fallbacks);
		ret = 0;
		goto out_release;
	}
	iov_iter_bvec(&bvec_iter, is_read ? READ : WRITE, pd->bvecs, pd->npages, pd->bytes);
	lockfix_count(&lockfix_counter_pinned_dios);
	issued = true;

	if (wait_for_completion) {
#ifdef LOCKFIX_MUTANT_claims_bytes
		ret = pd->bytes;	/* mutant: claims the bytes done without doing the I/O */
#else
		ret = iomap_dio_rw_body(iocb, &bvec_iter, ops, dops, true);
#endif
		goto out_done;
	}

	/* Async: the pages are released by the completion, the iocb's owner then told. */
	lockfix_count(&lockfix_counter_async_dios);
	queued = pd->bytes;
	async_track(pd, iocb);
	dio = __iomap_dio_rw(iocb, &bvec_iter, ops, dops, false);
	if (dio == ERR_PTR(-EIOCBQUEUED)) {
		/* pd belongs to the completion now, which may already have run. */
		iov_iter_advance(iter, queued);
		return -EIOCBQUEUED;
	}
	async_untrack(pd);
	/* Done in the submitter (all bios finished first, or -ENOTBLK made iomap wait). */
	ret = IS_ERR_OR_NULL(dio) ? PTR_ERR_OR_ZERO(dio) : iomap_dio_complete(dio);
out_done:
	if (ret > 0)
		iov_iter_advance(iter, ret);
out_release:
	release_user_pages(pd, issued);
	if (pd != &onstack)
		kfree(pd);
	return ret;
}

#ifdef LOCKFIX_MUTANT
#define LOCKFIX_PIN_BTRFS_DIOS 0	/* mutant: fault in the user buffer under the locks, as before */
#else
#define LOCKFIX_PIN_BTRFS_DIOS 1
#endif

ssize_t klpp_iomap_dio_rw(struct kiocb *iocb, struct iov_iter *iter,
			  const struct iomap_ops *ops, const struct iomap_dio_ops *dops,
			  bool wait_for_completion)
{
	const struct iomap_ops *btrfs_ops = READ_ONCE(klpe_btrfs_dio_iomap_ops);

	if (LOCKFIX_PIN_BTRFS_DIOS && btrfs_ops && ops == btrfs_ops && iter_is_iovec(iter) &&
	    iov_iter_count(iter))
		return btrfs_dio_pinned(iocb, iter, ops, dops, wait_for_completion);

	return iomap_dio_rw_body(iocb, iter, ops, dops, wait_for_completion);
}
#endif
