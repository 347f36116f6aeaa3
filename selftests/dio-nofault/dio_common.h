/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dio_common.h - what the dio-nofault test programs (mmap_dio.c, dio_verify.c) share:
 * the deadlock's hang signature and the data pattern.
 */
#ifndef LOCKFIX_DIO_COMMON_H
#define LOCKFIX_DIO_COMMON_H

#include <stdint.h>
#include <sys/types.h>

#include "../lib/hangwatch.h"

/*
 * The deadlock's signature: blocked on the DIO's own extent lock or ordered extent, in a
 * page fault taken inside a direct IO (exact frame names: our klpp_iomap_dio_rw, which
 * legitimately faults in GUP before any lock, is none of them).
 */
static const char *const dio_frames[] = {
	"btrfs_direct_IO", "btrfs_direct_read", "btrfs_direct_write", "iomap_dio_rw",
	"__iomap_dio_rw", NULL };
static const char *const fault_frames[] = {
	"handle_mm_fault", "exc_page_fault", "do_user_addr_fault", "btrfs_page_mkwrite",
	"filemap_fault", NULL };
static const char *const lock_wait_frames[] = {
	"lock_extent_bits", "wait_extent_bit", "btrfs_start_ordered_extent",
	"btrfs_lock_and_flush_ordered_range", NULL };
static const struct hangwatch_sig dio_fault_sig = { { dio_frames, fault_frames, lock_wait_frames } };

/* The 8-byte word a file holds at `off` under `seed` (splitmix64-like, per seed/offset). */
static uint64_t pattern_word(unsigned int seed, off_t off)
{
	uint64_t x = ((uint64_t)seed << 40) ^ (uint64_t)off ^ 0x9e3779b97f4a7c15ULL;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

#endif
