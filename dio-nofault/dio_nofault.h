/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LOCKFIX_DIO_NOFAULT_H
#define LOCKFIX_DIO_NOFAULT_H

#include <linux/fs.h>
#include <linux/iomap.h>
#include <linux/uio.h>

/*
 * fs/btrfs/transaction.h (5.10.223, 5.10.262): btrfs_file_write_iter() parks this in
 * current->journal_info for an O_DSYNC direct write.
 */
#define KLPE_BTRFS_DIO_SYNC_STUB ((void *)2)

/* btrfs's &btrfs_dio_iomap_ops while btrfs is loaded and patched, else NULL. */
extern const struct iomap_ops *klpe_btrfs_dio_iomap_ops;

ssize_t klpp_iomap_dio_rw(struct kiocb *iocb, struct iov_iter *iter,
			  const struct iomap_ops *ops, const struct iomap_dio_ops *dops,
			  bool wait_for_completion);

/* Engaged counters (livepatch.c). */
#include <linux/atomic.h>
extern atomic_long_t lockfix_counter_pinned_dios;
extern atomic_long_t lockfix_counter_buffered_fallbacks;
extern atomic_long_t lockfix_counter_async_dios;
extern atomic_long_t lockfix_counter_nowait_eagain;
extern atomic_long_t lockfix_counter_pinned_pages_peak;

/* The async completion's work queue (fix.setup / fix.teardown). */
struct lockfix_build;
int lockfix_dio_setup(const struct lockfix_build *build);
void lockfix_dio_teardown(void);

#endif
