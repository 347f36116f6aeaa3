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

/*
 * d48300120627 "dm thin metadata: Fix ABBA deadlock by resetting dm_bufio_client" (v6.5;
 * stable 6.1.70 only: 5.15 failed to apply, 5.10.y never) with its companion cb65b282c964
 * "dm thin metadata: check fail_io before using data_sm" (v6.4-rc7).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0) || \
	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 70) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0))
#define LOCKFIX_UPSTREAM_HAS_d48300120627 1
#else
#define LOCKFIX_UPSTREAM_HAS_d48300120627 0
#endif

/*
 * dm-thin-reset's replacement code mirrors 5.10.y's dm-thin-metadata.c: the abort of
 * 8111964f1b85 (v6.2, backported to 5.10.y) that builds a new block manager before taking
 * root_lock, and a dm-bufio that exports dm_bufio_forget_buffers().  Which 5.10 build's
 * struct layout applies is decided at load time (vetted-build table).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 10, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(5, 11, 0)
#define LOCKFIX_DM_THIN_METADATA_5_10 1
#else
#define LOCKFIX_DM_THIN_METADATA_5_10 0
#endif

#endif
