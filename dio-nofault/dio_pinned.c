// SPDX-License-Identifier: GPL-2.0
/*
 * dio_pinned.c - the replacement of iomap_dio_rw() (fs/iomap/direct-io.c, Debian
 * 5.10.262 / 5.10.223): btrfs direct IO on user memory runs on pages pinned *before*
 * btrfs takes any extent lock or creates any ordered extent, so no page fault can happen
 * while the DIO holds them.  See DESIGN.md for the whole argument.
 *
 * Every other caller (ext4, xfs, gfs2, zonefs, btrfs on kernel memory) takes the
 * original three-line body, copied verbatim below.
 */
#include "lockfix_features.h"
#include "lockfix_klp.h"
/* Only built where the module can patch (see livepatch.c); elsewhere it just refuses. */
#if !LOCKFIX_UPSTREAM_HAS_51bd9563b678 && LOCKFIX_IOMAP_DIO_RW_5_10
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/bvec.h>

#include "dio_nofault.h"

const struct iomap_ops *klpe_btrfs_dio_iomap_ops;

/* Up to this many pages the arrays live on the stack: 4 KiB..64 KiB DIOs allocate nothing. */
#define DIO_ONSTACK_PAGES 16

struct pinned_buf {
	struct page **pages;
	struct bio_vec *bvecs;
	unsigned long npinned;		/* pages pinned (one FOLL_PIN and one bvec each) */
	size_t bytes;			/* bytes covered by bvecs, from the iter's start */
	struct page *small_pages[DIO_ONSTACK_PAGES];
	struct bio_vec small_bvecs[DIO_ONSTACK_PAGES];
};

/*
 * Pin the iter's user pages (faulting them in now, with no DIO lock held) and describe
 * them as bvecs.  Stops at the first page that cannot be pinned: the bvecs then cover
 * the prefix before it (whole pages, so still sector aligned for btrfs's 4 KiB sectors).
 */
static int pin_iovec(struct pinned_buf *pb, const struct iov_iter *iter, bool is_read)
{
	unsigned long want = iov_iter_npages(iter, INT_MAX);
	size_t skip = iter->iov_offset, left = iov_iter_count(iter);
	unsigned int gup_flags = is_read ? FOLL_WRITE : 0;
	unsigned long i;

	memset(pb, 0, offsetof(struct pinned_buf, small_pages));
	if (want <= DIO_ONSTACK_PAGES) {
		pb->pages = pb->small_pages;
		pb->bvecs = pb->small_bvecs;
	} else {
		pb->pages = kvmalloc_array(want, sizeof(*pb->pages), GFP_KERNEL);
		pb->bvecs = kvmalloc_array(want, sizeof(*pb->bvecs), GFP_KERNEL);
		if (!pb->pages || !pb->bvecs)
			return -ENOMEM;
	}

	for (i = 0; i < iter->nr_segs && left; i++, skip = 0) {
		unsigned long base = (unsigned long)iter->iov[i].iov_base + skip;
		size_t seg_len = min(iter->iov[i].iov_len - skip, left), len = seg_len;
		size_t off = offset_in_page(base);
		struct bio_vec *bv;
		int n, got, j;

		if (!len)
			continue;
		n = DIV_ROUND_UP(off + len, PAGE_SIZE);
		got = pin_user_pages_fast(base & PAGE_MASK, n, gup_flags, pb->pages + pb->npinned);
		if (got < 0)
			got = 0;
		for (j = 0; j < got; j++, pb->npinned++) {
			bv = &pb->bvecs[pb->npinned];
			bv->bv_page = pb->pages[pb->npinned];
			bv->bv_offset = off;
			bv->bv_len = min_t(size_t, PAGE_SIZE - off, len);
			pb->bytes += bv->bv_len;
			len -= bv->bv_len;
			off = 0;
		}
		if (got < n)
			break;
		left -= seg_len;
	}
	return 0;
}

static void unpin_iovec(struct pinned_buf *pb, bool dirty)
{
	if (pb->npinned) {
		if (dirty)
			unpin_user_pages_dirty_lock(pb->pages, pb->npinned, true);
		else
			unpin_user_pages(pb->pages, pb->npinned);
	}
	if (pb->pages != pb->small_pages) {
		kvfree(pb->pages);
		kvfree(pb->bvecs);
	}
}

/* Does any page of the buffer belong to the file the DIO is on? */
static bool pins_own_pagecache(const struct pinned_buf *pb, struct address_space *mapping)
{
	unsigned long i;

	for (i = 0; i < pb->npinned; i++)
		if (page_mapping(pb->pages[i]) == mapping)
			return true;
	return false;
}

/* fs/iomap/direct-io.c iomap_dio_rw(), 5.10.223 and 5.10.262, verbatim. */
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
 * bytes done (the user iter advanced by as much), 0 or -ENOTBLK to have the caller do
 * the rest with buffered I/O, or an error.
 */
static ssize_t btrfs_dio_pinned(struct kiocb *iocb, struct iov_iter *iter,
				const struct iomap_ops *ops, const struct iomap_dio_ops *dops)
{
	bool is_read = iov_iter_rw(iter) == READ;
	struct pinned_buf pb;
	struct iov_iter bvec_iter;
	ssize_t ret;

	ret = pin_iovec(&pb, iter, is_read);
	if (ret)
		goto out;
	if (!pb.bytes) {
		ret = -EFAULT;
		goto out;
	}
	/*
	 * The buffer maps the file itself: the page cache and the DIO would race for the
	 * same pages (iomap could not invalidate them).  Do it all buffered, as upstream
	 * does when a DIO makes no progress; the bytes then equal buffered I/O's by design.
	 */
	if (pins_own_pagecache(&pb, iocb->ki_filp->f_mapping)) {
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
		goto out;
	}
	iov_iter_bvec(&bvec_iter, is_read ? READ : WRITE, pb.bvecs, pb.npinned, pb.bytes);
	lockfix_count(&lockfix_counter_pinned_dios);
	/*
	 * Always wait: the pins must outlive the bios (bvec bios take no page references).
	 * An async iocb thus completes inline with its full result, like upstream's fallback
	 * to blocking for async DIO (ca93e44bfb5f); aio/io_uring deliver the completion.
	 */
	ret = iomap_dio_rw_body(iocb, &bvec_iter, ops, dops, true);
	if (ret > 0)
		iov_iter_advance(iter, ret);
out:
	/* Reads wrote into user pages behind the MMU's back: dirty them, as iomap would. */
	unpin_iovec(&pb, is_read && ret > 0);
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
		return btrfs_dio_pinned(iocb, iter, ops, dops);

	return iomap_dio_rw_body(iocb, iter, ops, dops, wait_for_completion);
}
#endif
