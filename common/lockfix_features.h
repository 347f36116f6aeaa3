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
 * c495dcd6fbe1 "btrfs: don't prematurely free work in run_ordered_work()" (v5.5; stable
 * 4.9.208, 4.14.161, 4.19.92, 5.4.7).  Every kernel from these on has it, unless it was
 * reverted on purpose: the harness's pre-fix kernels (prefix-*) do, and say so in
 * utsname()->version ("...-lockfix-reverts-c495dcd6fbe1-..."; harness/build-prefix.sh).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 4, 7)
#define LOCKFIX_UPSTREAM_HAS_c495dcd6fbe1 1
#else
#define LOCKFIX_UPSTREAM_HAS_c495dcd6fbe1 0
#endif

/*
 * 5.10's fs/btrfs/async-thread.c: struct __btrfs_workqueue beside btrfs_workqueue (folded
 * into one in v5.19, "btrfs: simplify WQ_HIGHPRI handling in struct btrfs_workqueue").
 * btrfs-ordered/btrfs_async_thread.h transcribes the 5.10 layout only.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 10, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(5, 11, 0)
#define LOCKFIX_BTRFS_ASYNC_THREAD_5_10 1
#else
#define LOCKFIX_BTRFS_ASYNC_THREAD_5_10 0
#endif

/*
 * 9a5b183941b5 "mm, percpu: do not consider sleepable allocations atomic" (2025; the
 * completion of 28307d938fb2, v5.7).  Stable: 6.1.159, 6.6.117, 6.12.59 (review series of
 * 2025-11-21); mainline from v6.15.  Checked in the binaries: Debian 12's 6.1.0-56
 * (6.1.192) and 6.12.117 set PF_MEMALLOC_NOIO in pcpu_balance_workfn, 5.10.262 does not.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0) || \
	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 59) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)) || \
	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 117) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 7, 0)) || \
	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 159) && LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0))
#define LOCKFIX_UPSTREAM_HAS_9a5b183941b5 1
#else
#define LOCKFIX_UPSTREAM_HAS_9a5b183941b5 0
#endif

/*
 * The 5.10 percpu allocator whose pcpu_alloc()/pcpu_balance_workfn() percpu-nofs copies:
 * per-type chunk lists (3c7be18ac9a0 "mm: memcg/percpu: account percpu memory to memory
 * cgroups", v5.9) and no pcpu_reclaim_populated() yet (v5.14).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 10, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(5, 11, 0)
#define LOCKFIX_PERCPU_5_10 1
#else
#define LOCKFIX_PERCPU_5_10 0
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
