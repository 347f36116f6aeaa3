/* SPDX-License-Identifier: GPL-2.0 */
/*
 * percpu_nofs.h - what the copied 5.10 percpu code needs from mm/percpu-internal.h and
 * mm/percpu.c of Debian's 5.10.262 source (mm/ headers are not shipped with kbuild
 * headers), and the vmlinux symbols it reaches through klpe_ pointers (resolved once in
 * livepatch.c).  Only compiled for 5.10 (LOCKFIX_PERCPU_5_10, lockfix_features.h).
 */
#ifndef LOCKFIX_PERCPU_NOFS_H
#define LOCKFIX_PERCPU_NOFS_H

#include <linux/gfp.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/tracepoint-defs.h>
#include <linux/types.h>
#include <linux/workqueue.h>

/* mm/percpu-internal.h (5.10.262), unchanged. */
enum pcpu_chunk_type {
	PCPU_CHUNK_ROOT,
#ifdef CONFIG_MEMCG_KMEM
	PCPU_CHUNK_MEMCG,
#endif
	PCPU_NR_CHUNK_TYPES,
	PCPU_FAIL_ALLOC = PCPU_NR_CHUNK_TYPES
};

struct pcpu_block_md {
	int scan_hint;
	int scan_hint_start;
	int contig_hint;
	int contig_hint_start;
	int left_free;
	int right_free;
	int first_free;
	int nr_bits;
};

struct pcpu_chunk {
#ifdef CONFIG_PERCPU_STATS
	int nr_alloc;
	size_t max_alloc_size;
#endif
	struct list_head list;
	int free_bytes;
	struct pcpu_block_md chunk_md;
	void *base_addr;
	unsigned long *alloc_map;
	unsigned long *bound_map;
	struct pcpu_block_md *md_blocks;
	void *data;
	bool immutable;
	int start_offset;
	int end_offset;
#ifdef CONFIG_MEMCG_KMEM
	struct obj_cgroup **obj_cgroups;
#endif
	int nr_pages;
	int nr_populated;
	int nr_empty_pop_pages;
	unsigned long populated[];
};

#ifdef CONFIG_PERCPU_STATS
#error "lockfix percpu-nofs: CONFIG_PERCPU_STATS builds are not supported (pcpu_stats_* not copied)"
#endif

/* mm/percpu.c (5.10.262) constants. */
#define PCPU_SLOT_BASE_SHIFT		5
#define PCPU_SLOT_FAIL_THRESHOLD	3
#define PCPU_EMPTY_POP_PAGES_LOW	2
#define PCPU_EMPTY_POP_PAGES_HIGH	4

/* vmlinux data (mm/percpu.c), resolved by livepatch.c before the patch is enabled. */
extern struct mutex *klpe_pcpu_alloc_mutex;
extern spinlock_t *klpe_pcpu_lock;
extern struct list_head **klpe_pcpu_chunk_lists;
extern int *klpe_pcpu_nr_slots;
extern int *klpe_pcpu_nr_empty_pop_pages;	/* [PCPU_NR_CHUNK_TYPES] */
extern unsigned long *klpe_pcpu_nr_populated;
extern struct pcpu_chunk **klpe_pcpu_reserved_chunk;
extern bool *klpe_pcpu_atomic_alloc_failed;
/*
 * pcpu_alloc()'s function-static "static int warn_limit = 10", "warn_limit.1" in
 * kallsyms on every vetted build (panic.c's file-static one is "warn_limit"): shared
 * with the original, so the limit of 10 allocation-failure warnings stays the kernel's.
 */
extern int *klpe_pcpu_warn_limit;
extern bool *klpe_pcpu_async_enabled;
extern struct work_struct *klpe_pcpu_balance_work;
extern int *klpe_pcpu_unit_size;
extern int *klpe_pcpu_unit_pages;
extern int *klpe_pcpu_nr_units;
extern const int **klpe_pcpu_unit_map;
extern const unsigned long **klpe_pcpu_unit_offsets;
extern unsigned int *klpe_pcpu_low_unit_cpu;
extern unsigned int *klpe_pcpu_high_unit_cpu;
extern int *klpe_pcpu_nr_groups;
extern struct tracepoint *klpe___tracepoint_percpu_alloc_percpu;
extern struct tracepoint *klpe___tracepoint_percpu_alloc_percpu_fail;
extern struct tracepoint *klpe___tracepoint_percpu_destroy_chunk;

/* vmlinux functions that stayed out of line in every vetted build (kallsyms). */
extern int (*klpe_pcpu_find_block_fit)(struct pcpu_chunk *chunk, int alloc_bits,
				       size_t align, bool pop_only);
extern int (*klpe_pcpu_alloc_area)(struct pcpu_chunk *chunk, int alloc_bits,
				   size_t align, int start);
extern void (*klpe___pcpu_chunk_move)(struct pcpu_chunk *chunk, int slot, bool move_front);
extern void (*klpe_pcpu_chunk_relocate)(struct pcpu_chunk *chunk, int oslot);
extern int (*klpe_pcpu_populate_chunk)(struct pcpu_chunk *chunk, int page_start,
				       int page_end, gfp_t gfp);
extern void (*klpe_pcpu_chunk_populated)(struct pcpu_chunk *chunk, int page_start,
					 int page_end);
/*
 * pcpu_free_area(): "pcpu_free_area" on Debian (MEMCG_KMEM), "pcpu_free_area.isra.0"
 * on the pre-fix builds; the clone still takes (chunk, off) in rdi/esi (read from its
 * disassembly and pcpu_alloc's call site); its return value is not used here.
 */
extern int (*klpe_pcpu_free_area)(struct pcpu_chunk *chunk, int off);
#ifdef CONFIG_MEMCG_KMEM
extern struct pcpu_chunk *(*klpe_pcpu_create_chunk)(enum pcpu_chunk_type type, gfp_t gfp);
#else
/*
 * Without MEMCG_KMEM there is one chunk type and gcc's clone
 * "pcpu_create_chunk.constprop.0" takes only gfp (in edi: read from its disassembly).
 */
extern struct pcpu_chunk *(*klpe_pcpu_create_chunk_cp)(gfp_t gfp);
#endif
extern void (*klpe_pcpu_free_vm_areas)(struct vm_struct **vms, int nr_vms);
extern void (*klpe_unmap_kernel_range_noflush)(unsigned long addr, unsigned long size);
#ifdef CONFIG_MEMCG_KMEM
struct obj_cgroup;
struct mem_cgroup;
extern struct obj_cgroup *(*klpe_get_obj_cgroup_from_current)(void);
extern int (*klpe_obj_cgroup_charge)(struct obj_cgroup *objcg, gfp_t gfp, size_t size);
extern void (*klpe_obj_cgroup_uncharge)(struct obj_cgroup *objcg, size_t size);
extern void (*klpe___mod_memcg_state)(struct mem_cgroup *memcg, int idx, int val);
#endif

/* The replacements (pcpu_copy.c). */
void __percpu *klpp_pcpu_alloc(size_t size, size_t align, bool reserved, gfp_t gfp);
void klpp_pcpu_balance_workfn(struct work_struct *work);
int klpp_percpu_init(void);
/* The transition gate (post_patch / pre_unpatch callbacks). */
void klpp_percpu_open_gate(void);
void klpp_percpu_close_gate(void);

/* Engaged counter (livepatch.c): NOFS/NOIO-scoped allocations allowed to block. */
#include <linux/atomic.h>
extern atomic_long_t lockfix_counter_scoped_blocking_allocs;
void klpp_percpu_exit(void);

#endif
