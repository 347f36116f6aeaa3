/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LOCKFIX_DIO_NOFAULT_H
#define LOCKFIX_DIO_NOFAULT_H

#include <linux/fs.h>
#include <linux/iomap.h>
#include <linux/uio.h>

/* btrfs's &btrfs_dio_iomap_ops while btrfs is loaded and patched, else NULL. */
extern const struct iomap_ops *klpe_btrfs_dio_iomap_ops;

ssize_t klpp_iomap_dio_rw(struct kiocb *iocb, struct iov_iter *iter,
			  const struct iomap_ops *ops, const struct iomap_dio_ops *dops,
			  bool wait_for_completion);

#endif
