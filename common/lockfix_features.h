/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockfix_features.h - every kernel-version difference lockfix cares about, in one block
 * (the kpatch livepatch-patch-hook.c style).  Each macro cites the upstream commit that
 * forced it.  These decide what gets *compiled*; whether a module may *patch* the running
 * kernel is decided at load time against its table of vetted builds (lockfix_klp.h).
 */
#ifndef LOCKFIX_FEATURES_H
#define LOCKFIX_FEATURES_H

#include <linux/version.h>

/*
 * 51bd9563b678 "btrfs: fix deadlock due to page faults during direct IO reads and writes"
 * (v5.16; stable 5.15.37 with the whole iov_iter nofault series).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 16, 0) || \
	(LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 37) && LINUX_VERSION_CODE < KERNEL_VERSION(5, 16, 0))
#define LOCKFIX_UPSTREAM_HAS_51bd9563b678 1
#else
#define LOCKFIX_UPSTREAM_HAS_51bd9563b678 0
#endif

/*
 * 2b8ddb5c4eab-era iomap: __iomap_dio_rw() + iomap_dio_complete() split out of
 * iomap_dio_rw() for btrfs (v5.10, "iomap: Allow filesystem to call iomap_dio_complete
 * without i_rwsem"); iomap_dio_rw() gained dio_flags/done_before later (v5.13+).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 10, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(5, 13, 0)
#define LOCKFIX_IOMAP_DIO_RW_5_10 1
#else
#define LOCKFIX_IOMAP_DIO_RW_5_10 0
#endif

#endif
