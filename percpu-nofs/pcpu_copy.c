// SPDX-License-Identifier: GPL-2.0
/*
 * pcpu_copy.c - pcpu_alloc() and pcpu_balance_workfn() of Debian's 5.10.262 mm/percpu.c
 * (with mm/percpu-vm.c, which percpu.c #includes), copied with exactly the upstream
 * changes of
 *   28307d938fb2 "percpu: make pcpu_alloc() aware of current gfp context" (v5.7)
 *   9a5b183941b5 "mm, percpu: do not consider sleepable allocations atomic" (2025)
 * and nothing else.  Every other difference from the source is mechanical and marked
 * "lockfix:": a static variable or out-of-line static function of vmlinux is reached
 * through its klpe_ pointer; a static function gcc inlined into the copied functions in
 * the vetted builds (kallsyms has no symbol for it) is copied here under its own name;
 * tracepoints of vmlinux are fired through their (resolved) struct tracepoint.
 *
 * Debian 11 stock 5.10.262 / 5.10.223 already have 28307d938fb2 (the current_gfp_context()
 * line); the pre-fix kernels (harness/prefix) have it reverted.  Both builds get the same
 * code here: the final upstream form.
 */
#include <linux/bitmap.h>
#include <linux/cpumask.h>
#include <linux/kmemleak.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/percpu-refcount.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <asm/cacheflush.h>
#include <asm/sections.h>

#include "lockfix_features.h"
#include "lockfix_klp.h"
#include "lockfix_trace.h"

/* Only the 5.10 builds carry the copies (livepatch.c refuses everywhere else). */
#if LOCKFIX_PERCPU_5_10 && !LOCKFIX_UPSTREAM_HAS_9a5b183941b5
#include "percpu_nofs.h"

/*
 * lockfix: __addr_to_pcpu_ptr() of mm/percpu.c uses __per_cpu_start, which modules cannot
 * link against.  On x86-64 SMP the percpu section is zero-based (kallsyms: "A
 * __per_cpu_start" = 0 in every vetted build), so the macro reduces to this.
 */
#if !defined(CONFIG_X86_64) || !defined(CONFIG_SMP)
#error "lockfix percpu-nofs: only x86-64 SMP builds are supported"
#endif
#define lf_addr_to_pcpu_ptr(addr) \
	((void __percpu *)((unsigned long)(addr) - (unsigned long)pcpu_base_addr))

/* ---- tracepoints of vmlinux (include/trace/events/percpu.h) ------------------------ */

/*
 * lockfix: trace_percpu_*() cannot be called from a module (their struct tracepoint is
 * not exported): LOCKFIX_TRACE (common/lockfix_trace.h) fires the resolved struct
 * tracepoint the way __DO_TRACE does in 5.10.
 */
#define LF_PROTO_ALLOC (void *, bool, bool, size_t, size_t, void *, int, void __percpu *)
#define LF_PROTO_FAIL (void *, bool, bool, size_t, size_t)
#define LF_PROTO_DESTROY (void *, void *)

/* ---- small static helpers of mm/percpu.c / percpu-internal.h, inlined in vmlinux ---- */

static inline struct list_head *pcpu_chunk_list(enum pcpu_chunk_type chunk_type)
{
#ifdef CONFIG_MEMCG_KMEM
	bool memcg = chunk_type == PCPU_CHUNK_MEMCG;
#else
	bool memcg = false;
#endif
	return &(*klpe_pcpu_chunk_lists)[*klpe_pcpu_nr_slots * memcg];
}

static inline enum pcpu_chunk_type pcpu_chunk_type(struct pcpu_chunk *chunk)
{
#ifdef CONFIG_MEMCG_KMEM
	if (chunk->obj_cgroups)
		return PCPU_CHUNK_MEMCG;
#endif
	return PCPU_CHUNK_ROOT;
}

static void pcpu_schedule_balance_work(void)
{
	if (*klpe_pcpu_async_enabled)
		schedule_work(klpe_pcpu_balance_work);
}

static int __pcpu_size_to_slot(int size)
{
	int highbit = fls(size);	/* size is in bytes */

	return max(highbit - PCPU_SLOT_BASE_SHIFT + 2, 1);
}

static int pcpu_size_to_slot(int size)
{
	if (size == *klpe_pcpu_unit_size)
		return *klpe_pcpu_nr_slots - 1;
	return __pcpu_size_to_slot(size);
}

static int __maybe_unused pcpu_page_idx(unsigned int cpu, int page_idx)
{
	return (*klpe_pcpu_unit_map)[cpu] * *klpe_pcpu_unit_pages + page_idx;
}

static unsigned long pcpu_unit_page_offset(unsigned int cpu, int page_idx)
{
	return (*klpe_pcpu_unit_offsets)[cpu] + (page_idx << PAGE_SHIFT);
}

static unsigned long pcpu_chunk_addr(struct pcpu_chunk *chunk,
				     unsigned int cpu, int page_idx)
{
	return (unsigned long)chunk->base_addr +
	       pcpu_unit_page_offset(cpu, page_idx);
}

static void pcpu_mem_free(void *ptr)
{
	kvfree(ptr);
}

static void pcpu_chunk_move(struct pcpu_chunk *chunk, int slot)
{
	klpe___pcpu_chunk_move(chunk, slot, true);
}

static inline void pcpu_update_empty_pages(struct pcpu_chunk *chunk, int nr)
{
	chunk->nr_empty_pop_pages += nr;
	if (chunk != *klpe_pcpu_reserved_chunk)
		klpe_pcpu_nr_empty_pop_pages[pcpu_chunk_type(chunk)] += nr;
}

static void pcpu_free_chunk(struct pcpu_chunk *chunk)
{
	if (!chunk)
		return;
#ifdef CONFIG_MEMCG_KMEM
	pcpu_mem_free(chunk->obj_cgroups);
#endif
	pcpu_mem_free(chunk->md_blocks);
	pcpu_mem_free(chunk->bound_map);
	pcpu_mem_free(chunk->alloc_map);
	pcpu_mem_free(chunk);
}

static void pcpu_chunk_depopulated(struct pcpu_chunk *chunk,
				   int page_start, int page_end)
{
	int nr = page_end - page_start;

	lockdep_assert_held(klpe_pcpu_lock);

	bitmap_clear(chunk->populated, page_start, nr);
	chunk->nr_populated -= nr;
	*klpe_pcpu_nr_populated -= nr;

	pcpu_update_empty_pages(chunk, -nr);
}

/* lockfix: one call site per ABI (see percpu_nofs.h). */
static struct pcpu_chunk *pcpu_create_chunk(enum pcpu_chunk_type type, gfp_t gfp)
{
#ifdef CONFIG_MEMCG_KMEM
	return klpe_pcpu_create_chunk(type, gfp);
#else
	return klpe_pcpu_create_chunk_cp(gfp);
#endif
}

#ifdef CONFIG_MEMCG_KMEM
/*
 * lockfix: mod_memcg_state() (include/linux/memcontrol.h) around the non-exported
 * __mod_memcg_state().
 */
static void lf_mod_memcg_state(struct mem_cgroup *memcg, int idx, int val)
{
	unsigned long flags;

	local_irq_save(flags);
	klpe___mod_memcg_state(memcg, idx, val);
	local_irq_restore(flags);
}

static enum pcpu_chunk_type pcpu_memcg_pre_alloc_hook(size_t size, gfp_t gfp,
						     struct obj_cgroup **objcgp)
{
	struct obj_cgroup *objcg;

	if (!memcg_kmem_enabled() || !(gfp & __GFP_ACCOUNT))
		return PCPU_CHUNK_ROOT;

	objcg = klpe_get_obj_cgroup_from_current();
	if (!objcg)
		return PCPU_CHUNK_ROOT;

	if (klpe_obj_cgroup_charge(objcg, gfp, size * num_possible_cpus())) {
		obj_cgroup_put(objcg);
		return PCPU_FAIL_ALLOC;
	}

	*objcgp = objcg;
	return PCPU_CHUNK_MEMCG;
}

static void pcpu_memcg_post_alloc_hook(struct obj_cgroup *objcg,
				       struct pcpu_chunk *chunk, int off,
				       size_t size)
{
	if (!objcg)
		return;

	if (chunk) {
		chunk->obj_cgroups[off >> PCPU_MIN_ALLOC_SHIFT] = objcg;

		rcu_read_lock();
		lf_mod_memcg_state(obj_cgroup_memcg(objcg), MEMCG_PERCPU_B,
				   size * num_possible_cpus());
		rcu_read_unlock();
	} else {
		klpe_obj_cgroup_uncharge(objcg, size * num_possible_cpus());
		obj_cgroup_put(objcg);
	}
}
#else /* CONFIG_MEMCG_KMEM */
static enum pcpu_chunk_type
pcpu_memcg_pre_alloc_hook(size_t size, gfp_t gfp, struct obj_cgroup **objcgp)
{
	return PCPU_CHUNK_ROOT;
}

static void pcpu_memcg_post_alloc_hook(struct obj_cgroup *objcg,
				       struct pcpu_chunk *chunk, int off,
				       size_t size)
{
}
#endif /* CONFIG_MEMCG_KMEM */

/* ---- mm/percpu-vm.c helpers inlined into pcpu_balance_workfn() --------------------- */

static struct page *pcpu_chunk_page(struct pcpu_chunk *chunk,
				    unsigned int cpu, int page_idx)
{
	/* must not be used on pre-mapped chunk */
	WARN_ON(chunk->immutable);

	return vmalloc_to_page((void *)pcpu_chunk_addr(chunk, cpu, page_idx));
}

/*
 * lockfix: pcpu_get_pages() returns a function-static array that vmlinux allocates on
 * first use; it is only scratch space for the struct page pointers between unmap and
 * free, serialised by pcpu_alloc_mutex.  The copy uses an array of the same size owned
 * by this module (allocated before the patch is enabled), so it never allocates here.
 */
static struct page **lf_pages;

static struct page **pcpu_get_pages(void)
{
	lockdep_assert_held(klpe_pcpu_alloc_mutex);
	return lf_pages;
}

/* lockfix: "pcpu_free_pages.constprop.0" in vmlinux (clone ABI): copied. */
static void pcpu_free_pages(struct pcpu_chunk *chunk,
			    struct page **pages, int page_start, int page_end)
{
	unsigned int cpu;
	int i;

	for_each_possible_cpu(cpu) {
		for (i = page_start; i < page_end; i++) {
			struct page *page = pages[pcpu_page_idx(cpu, i)];

			if (page)
				__free_page(page);
		}
	}
}

static void pcpu_pre_unmap_flush(struct pcpu_chunk *chunk,
				 int page_start, int page_end)
{
	flush_cache_vunmap(
		pcpu_chunk_addr(chunk, *klpe_pcpu_low_unit_cpu, page_start),
		pcpu_chunk_addr(chunk, *klpe_pcpu_high_unit_cpu, page_end));
}

static void __pcpu_unmap_pages(unsigned long addr, int nr_pages)
{
	klpe_unmap_kernel_range_noflush(addr, nr_pages << PAGE_SHIFT);
}

static void pcpu_unmap_pages(struct pcpu_chunk *chunk,
			     struct page **pages, int page_start, int page_end)
{
	unsigned int cpu;
	int i;

	for_each_possible_cpu(cpu) {
		for (i = page_start; i < page_end; i++) {
			struct page *page;

			page = pcpu_chunk_page(chunk, cpu, i);
			WARN_ON(!page);
			pages[pcpu_page_idx(cpu, i)] = page;
		}
		__pcpu_unmap_pages(pcpu_chunk_addr(chunk, cpu, page_start),
				   page_end - page_start);
	}
}

static void pcpu_depopulate_chunk(struct pcpu_chunk *chunk,
				  int page_start, int page_end)
{
	struct page **pages;

	/*
	 * If control reaches here, there must have been at least one
	 * successful population attempt so the temp pages array must
	 * be available now.
	 */
	pages = pcpu_get_pages();
	BUG_ON(!pages);

	/* unmap and free */
	pcpu_pre_unmap_flush(chunk, page_start, page_end);

	pcpu_unmap_pages(chunk, pages, page_start, page_end);

	/* no need to flush tlb, vmalloc will handle it lazily */

	pcpu_free_pages(chunk, pages, page_start, page_end);
}

static void pcpu_destroy_chunk(struct pcpu_chunk *chunk)
{
	if (!chunk)
		return;

	/* lockfix: pcpu_stats_chunk_dealloc() is empty without CONFIG_PERCPU_STATS */
	LOCKFIX_TRACE(klpe___tracepoint_percpu_destroy_chunk, LF_PROTO_DESTROY, chunk->base_addr);

	if (chunk->data)
		klpe_pcpu_free_vm_areas(chunk->data, *klpe_pcpu_nr_groups);
	pcpu_free_chunk(chunk);
}

/* ---- the transition gate and the mutex holder (lockfix, DESIGN.md "Transition") ---- */

/*
 * 9a5b183941b5 lets a sleepable NOFS/NOIO caller wait for pcpu_alloc_mutex.  That is safe
 * only where no task can run the original pcpu_balance_workfn(), which holds the mutex
 * and reclaims into the filesystem: the 28307d938fb2 deadlock, which stock Debian 11
 * avoids by making those callers atomic.  During a transition old and new code run side
 * by side, so such callers keep the stock (atomic) behaviour until post_patch, when every
 * task runs the NOIO worker, and again from pre_unpatch on; pre_unpatch then waits for
 * the ones already let through before the unpatch transition lets the original worker
 * run again.
 */
#ifdef LOCKFIX_MUTANT_gate_open
/* mutant: no transition gate, 9a5b183941b5's test from the first patched call on */
static bool lf_scoped_may_block = true;
#else
static bool lf_scoped_may_block;
#endif
static atomic_t lf_scoped_blocking = ATOMIC_INIT(0);
/*
 * The task holding pcpu_alloc_mutex in the copies (the original code never sets it, but
 * once the gate is open no task runs the original code).  A percpu allocation made by
 * that task from reclaim below its own backing allocations must not wait for the mutex
 * it holds: it stays atomic, as stock treats it (its NOIO scope made it so).
 */
static struct task_struct *lf_mutex_holder;

static void lf_scoped_done(void)
{
	if (atomic_dec_and_test(&lf_scoped_blocking))
		wake_up_var(&lf_scoped_blocking);
}

/* Is this allocation atomic?  *admitted: it counts in lf_scoped_blocking until done. */
static bool lf_is_atomic(gfp_t gfp, bool *admitted)
{
	*admitted = false;
#ifdef LOCKFIX_MUTANT
	return (gfp & GFP_KERNEL) != GFP_KERNEL;	/* mutant: the test before 9a5b183941b5 */
#endif
	if (!gfpflags_allow_blocking(gfp))
		return true;
	if ((gfp & GFP_KERNEL) == GFP_KERNEL)
		return false;		/* the old and the new test agree */
	/* UPSTREAM 9a5b183941b5's case: sleepable, but without FS or IO */
	if (READ_ONCE(lf_mutex_holder) == current)
		return true;
	atomic_inc(&lf_scoped_blocking);
	smp_mb__after_atomic();		/* pairs with klpp_percpu_close_gate() */
	if (!READ_ONCE(lf_scoped_may_block)) {
		lf_scoped_done();
		return true;		/* in a transition: the stock (28307d938fb2) test */
	}
	*admitted = true;
	/* engaged counter: a scoped NOFS/NOIO allocation the old test made atomic */
	lockfix_count(&lockfix_counter_scoped_blocking_allocs);
	return false;
}

/* post_patch: every task runs the copies now. */
void klpp_percpu_open_gate(void)
{
	WRITE_ONCE(lf_scoped_may_block, true);
}

/* pre_unpatch: no new blocking scoped caller, and the admitted ones are out. */
void klpp_percpu_close_gate(void)
{
	int waited = 0;

	WRITE_ONCE(lf_scoped_may_block, false);
	smp_mb();			/* pairs with lf_is_atomic() */
#ifdef LOCKFIX_MUTANT_no_drain
	return;		/* mutant: the admitted scoped callers are not waited for */
#endif
	while (!wait_var_event_timeout(&lf_scoped_blocking,
				       !atomic_read(&lf_scoped_blocking), 10 * HZ))
		pr_info("unpatch waits for %d NOFS/NOIO-scoped percpu allocation(s) to finish (%d s)\n",
			atomic_read(&lf_scoped_blocking), waited += 10);
}

/*
 * pcpu_alloc_mutex, taken and released by the copy of pcpu_alloc(): everything allocated
 * under it runs with scoped NOIO (see klpp_pcpu_alloc()).
 */
static unsigned int lf_mutex_scope(void)
{
	WRITE_ONCE(lf_mutex_holder, current);
	return memalloc_noio_save();
}

static void lf_mutex_unscope_unlock(unsigned int noio)
{
	memalloc_noio_restore(noio);
	WRITE_ONCE(lf_mutex_holder, NULL);
	mutex_unlock(klpe_pcpu_alloc_mutex);
}

/* ---- pcpu_alloc() ------------------------------------------------------------------ */

static void __percpu *lf_pcpu_alloc(size_t size, size_t align, bool reserved,
				    gfp_t gfp, bool is_atomic);

/*
 * pcpu_alloc - the percpu allocator (mm/percpu.c, Debian 5.10.262)
 *
 * lockfix: the semantic changes are the marked UPSTREAM lines: 28307d938fb2 and
 * 9a5b183941b5 here and in lf_is_atomic() (behind the transition gate), and, from the
 * follow-up series "mm/percpu: Fix possible NOFS/NOIO reclaim recursion" (Kaitao Cheng,
 * v2-v4, 2026, "mm/percpu: avoid IO/FS reclaim in backing allocations"; in mm-unstable,
 * not in a release), the NOIO scope over everything done under pcpu_alloc_mutex.
 * Without that scope 9a5b183941b5 adds on 5.10 a deadlock stock Debian 11 cannot have:
 * a NOFS caller holding a filesystem lock waits for the mutex, while a GFP_KERNEL caller
 * holding it populates through page-table and vm_struct allocations that are GFP_KERNEL
 * whatever the gfp, and reclaims into that filesystem (DESIGN.md).
 */
void __percpu *klpp_pcpu_alloc(size_t size, size_t align, bool reserved,
			       gfp_t gfp)
{
	void __percpu *ptr;
	bool is_atomic, admitted;

	/* UPSTREAM 28307d938fb2 (Debian 11 stock has it, the pre-fix kernels do not) */
	gfp = current_gfp_context(gfp);
	/* UPSTREAM 9a5b183941b5: was  is_atomic = (gfp & GFP_KERNEL) != GFP_KERNEL; */
	is_atomic = lf_is_atomic(gfp, &admitted);
	ptr = lf_pcpu_alloc(size, align, reserved, gfp, is_atomic);
	if (admitted)
		lf_scoped_done();
	return ptr;
}

/* The body of pcpu_alloc(), from after its is_atomic line. */
static void __percpu *lf_pcpu_alloc(size_t size, size_t align, bool reserved,
				    gfp_t gfp, bool is_atomic)
{
	gfp_t pcpu_gfp;
	unsigned int noio = 0;	/* lockfix: the scope under pcpu_alloc_mutex */
	bool do_warn;
	enum pcpu_chunk_type type;
	struct list_head *pcpu_slot;
	struct obj_cgroup *objcg = NULL;
	struct pcpu_chunk *chunk, *next;
	const char *err;
	int slot, off, cpu, ret;
	unsigned long flags;
	void __percpu *ptr;
	size_t bits, bit_align;

	/* whitelisted flags that can be passed to the backing allocators */
	pcpu_gfp = gfp & (GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN);
	do_warn = !(gfp & __GFP_NOWARN);

	/*
	 * There is now a minimum allocation size of PCPU_MIN_ALLOC_SIZE,
	 * therefore alignment must be a minimum of that many bytes.
	 * An allocation may have internal fragmentation from rounding up
	 * of up to PCPU_MIN_ALLOC_SIZE - 1 bytes.
	 */
	if (unlikely(align < PCPU_MIN_ALLOC_SIZE))
		align = PCPU_MIN_ALLOC_SIZE;

	size = ALIGN(size, PCPU_MIN_ALLOC_SIZE);
	bits = size >> PCPU_MIN_ALLOC_SHIFT;
	bit_align = align >> PCPU_MIN_ALLOC_SHIFT;

	if (unlikely(!size || size > PCPU_MIN_UNIT_SIZE || align > PAGE_SIZE ||
		     !is_power_of_2(align))) {
		WARN(do_warn, "illegal size (%zu) or align (%zu) for percpu allocation\n",
		     size, align);
		return NULL;
	}

	type = pcpu_memcg_pre_alloc_hook(size, gfp, &objcg);
	if (unlikely(type == PCPU_FAIL_ALLOC))
		return NULL;
	pcpu_slot = pcpu_chunk_list(type);

	if (!is_atomic) {
		/*
		 * pcpu_balance_workfn() allocates memory under this mutex,
		 * and it may wait for memory reclaim. Allow current task
		 * to become OOM victim, in case of memory pressure.
		 */
		if (gfp & __GFP_NOFAIL) {
			mutex_lock(klpe_pcpu_alloc_mutex);
		} else if (mutex_lock_killable(klpe_pcpu_alloc_mutex)) {
			pcpu_memcg_post_alloc_hook(objcg, NULL, 0, size);
			return NULL;
		}
		/* UPSTREAM (follow-up series, see above): no IO/FS reclaim under the mutex */
		noio = lf_mutex_scope();
	}

	spin_lock_irqsave(klpe_pcpu_lock, flags);

	/* serve reserved allocations from the reserved chunk if available */
	if (reserved && *klpe_pcpu_reserved_chunk) {
		chunk = *klpe_pcpu_reserved_chunk;

		off = klpe_pcpu_find_block_fit(chunk, bits, bit_align, is_atomic);
		if (off < 0) {
			err = "alloc from reserved chunk failed";
			goto fail_unlock;
		}

		off = klpe_pcpu_alloc_area(chunk, bits, bit_align, off);
		if (off >= 0)
			goto area_found;

		err = "alloc from reserved chunk failed";
		goto fail_unlock;
	}

restart:
	/* search through normal chunks */
	for (slot = pcpu_size_to_slot(size); slot < *klpe_pcpu_nr_slots; slot++) {
		list_for_each_entry_safe(chunk, next, &pcpu_slot[slot], list) {
			off = klpe_pcpu_find_block_fit(chunk, bits, bit_align,
						       is_atomic);
			if (off < 0) {
				if (slot < PCPU_SLOT_FAIL_THRESHOLD)
					pcpu_chunk_move(chunk, 0);
				continue;
			}

			off = klpe_pcpu_alloc_area(chunk, bits, bit_align, off);
			if (off >= 0)
				goto area_found;

		}
	}

	spin_unlock_irqrestore(klpe_pcpu_lock, flags);

	/*
	 * No space left.  Create a new chunk.  We don't want multiple
	 * tasks to create chunks simultaneously.  Serialize and create iff
	 * there's still no empty chunk after grabbing the mutex.
	 */
	if (is_atomic) {
		err = "atomic alloc failed, no space left";
		goto fail;
	}

	if (list_empty(&pcpu_slot[*klpe_pcpu_nr_slots - 1])) {
		chunk = pcpu_create_chunk(type, pcpu_gfp);
		if (!chunk) {
			err = "failed to allocate new chunk";
			goto fail;
		}

		spin_lock_irqsave(klpe_pcpu_lock, flags);
		klpe_pcpu_chunk_relocate(chunk, -1);
	} else {
		spin_lock_irqsave(klpe_pcpu_lock, flags);
	}

	goto restart;

area_found:
	/* lockfix: pcpu_stats_area_alloc() is empty without CONFIG_PERCPU_STATS */
	spin_unlock_irqrestore(klpe_pcpu_lock, flags);

	/* populate if not all pages are already there */
	if (!is_atomic) {
		unsigned int page_start, page_end, rs, re;

		page_start = PFN_DOWN(off);
		page_end = PFN_UP(off + size);

		bitmap_for_each_clear_region(chunk->populated, rs, re,
					     page_start, page_end) {
			WARN_ON(chunk->immutable);

			ret = klpe_pcpu_populate_chunk(chunk, rs, re, pcpu_gfp);

			spin_lock_irqsave(klpe_pcpu_lock, flags);
			if (ret) {
				klpe_pcpu_free_area(chunk, off);
				err = "failed to populate";
				goto fail_unlock;
			}
			klpe_pcpu_chunk_populated(chunk, rs, re);
			spin_unlock_irqrestore(klpe_pcpu_lock, flags);
		}

		lf_mutex_unscope_unlock(noio);	/* lockfix: was mutex_unlock() */
	}

	if (klpe_pcpu_nr_empty_pop_pages[type] < PCPU_EMPTY_POP_PAGES_LOW)
		pcpu_schedule_balance_work();

	/* clear the areas and return address relative to base address */
	for_each_possible_cpu(cpu)
		memset((void *)pcpu_chunk_addr(chunk, cpu, 0) + off, 0, size);

	ptr = lf_addr_to_pcpu_ptr(chunk->base_addr + off);
	kmemleak_alloc_percpu(ptr, size, gfp);

	LOCKFIX_TRACE(klpe___tracepoint_percpu_alloc_percpu, LF_PROTO_ALLOC,
		 reserved, is_atomic, size, align, chunk->base_addr, off, ptr);

	pcpu_memcg_post_alloc_hook(objcg, chunk, off, size);

	return ptr;

fail_unlock:
	spin_unlock_irqrestore(klpe_pcpu_lock, flags);
fail:
	LOCKFIX_TRACE(klpe___tracepoint_percpu_alloc_percpu_fail, LF_PROTO_FAIL,
		 reserved, is_atomic, size, align);

	/* lockfix: warn_limit is pcpu_alloc()'s own function-static counter (klpe_) */
	if (!is_atomic && do_warn && *klpe_pcpu_warn_limit) {
		pr_warn("allocation failed, size=%zu align=%zu atomic=%d, %s\n",
			size, align, is_atomic, err);
		dump_stack();
		if (!--*klpe_pcpu_warn_limit)
			pr_info("limit reached, disable warning\n");
	}
	if (is_atomic) {
		/* see the flag handling in pcpu_blance_workfn() */
		*klpe_pcpu_atomic_alloc_failed = true;
		pcpu_schedule_balance_work();
	} else {
		lf_mutex_unscope_unlock(noio);	/* lockfix: was mutex_unlock() */
	}

	pcpu_memcg_post_alloc_hook(objcg, NULL, 0, size);

	return NULL;
}

/* ---- pcpu_balance_workfn() --------------------------------------------------------- */

/*
 * __pcpu_balance_workfn - manage the amount of free chunks and populated pages
 * (mm/percpu.c, Debian 5.10.262; inlined into pcpu_balance_workfn in every vetted build)
 */
static void __pcpu_balance_workfn(enum pcpu_chunk_type type)
{
	/* gfp flags passed to underlying allocators */
	const gfp_t gfp = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;
	LIST_HEAD(to_free);
	struct list_head *pcpu_slot = pcpu_chunk_list(type);
	struct list_head *free_head = &pcpu_slot[*klpe_pcpu_nr_slots - 1];
	struct pcpu_chunk *chunk, *next;
	int slot, nr_to_pop, ret;

	/*
	 * There's no reason to keep around multiple unused chunks and VM
	 * areas can be scarce.  Destroy all free chunks except for one.
	 */
	mutex_lock(klpe_pcpu_alloc_mutex);
	WRITE_ONCE(lf_mutex_holder, current);	/* lockfix: see lf_mutex_holder */
	spin_lock_irq(klpe_pcpu_lock);

	list_for_each_entry_safe(chunk, next, free_head, list) {
		WARN_ON(chunk->immutable);

		/* spare the first one */
		if (chunk == list_first_entry(free_head, struct pcpu_chunk, list))
			continue;

		list_move(&chunk->list, &to_free);
	}

	spin_unlock_irq(klpe_pcpu_lock);

	list_for_each_entry_safe(chunk, next, &to_free, list) {
		unsigned int rs, re;

		bitmap_for_each_set_region(chunk->populated, rs, re, 0,
					   chunk->nr_pages) {
			pcpu_depopulate_chunk(chunk, rs, re);
			spin_lock_irq(klpe_pcpu_lock);
			pcpu_chunk_depopulated(chunk, rs, re);
			spin_unlock_irq(klpe_pcpu_lock);
		}
		pcpu_destroy_chunk(chunk);
		cond_resched();
	}

	/*
	 * Ensure there are certain number of free populated pages for
	 * atomic allocs.  Fill up from the most packed so that atomic
	 * allocs don't increase fragmentation.  If atomic allocation
	 * failed previously, always populate the maximum amount.  This
	 * should prevent atomic allocs larger than PAGE_SIZE from keeping
	 * failing indefinitely; however, large atomic allocs are not
	 * something we support properly and can be highly unreliable and
	 * inefficient.
	 */
retry_pop:
	if (*klpe_pcpu_atomic_alloc_failed) {
		nr_to_pop = PCPU_EMPTY_POP_PAGES_HIGH;
		/* best effort anyway, don't worry about synchronization */
		*klpe_pcpu_atomic_alloc_failed = false;
	} else {
		nr_to_pop = clamp(PCPU_EMPTY_POP_PAGES_HIGH -
				  klpe_pcpu_nr_empty_pop_pages[type],
				  0, PCPU_EMPTY_POP_PAGES_HIGH);
	}

	for (slot = pcpu_size_to_slot(PAGE_SIZE); slot < *klpe_pcpu_nr_slots; slot++) {
		unsigned int nr_unpop = 0, rs, re;

		if (!nr_to_pop)
			break;

		spin_lock_irq(klpe_pcpu_lock);
		list_for_each_entry(chunk, &pcpu_slot[slot], list) {
			nr_unpop = chunk->nr_pages - chunk->nr_populated;
			if (nr_unpop)
				break;
		}
		spin_unlock_irq(klpe_pcpu_lock);

		if (!nr_unpop)
			continue;

		/* @chunk can't go away while pcpu_alloc_mutex is held */
		bitmap_for_each_clear_region(chunk->populated, rs, re, 0,
					     chunk->nr_pages) {
			int nr = min_t(int, re - rs, nr_to_pop);

			ret = klpe_pcpu_populate_chunk(chunk, rs, rs + nr, gfp);
			if (!ret) {
				nr_to_pop -= nr;
				spin_lock_irq(klpe_pcpu_lock);
				klpe_pcpu_chunk_populated(chunk, rs, rs + nr);
				spin_unlock_irq(klpe_pcpu_lock);
			} else {
				nr_to_pop = 0;
			}

			if (!nr_to_pop)
				break;
		}
	}

	if (nr_to_pop) {
		/* ran out of chunks to populate, create a new one and retry */
		chunk = pcpu_create_chunk(type, gfp);
		if (chunk) {
			spin_lock_irq(klpe_pcpu_lock);
			klpe_pcpu_chunk_relocate(chunk, -1);
			spin_unlock_irq(klpe_pcpu_lock);
			goto retry_pop;
		}
	}

	WRITE_ONCE(lf_mutex_holder, NULL);	/* lockfix */
	mutex_unlock(klpe_pcpu_alloc_mutex);
}

/*
 * pcpu_balance_workfn - manage the amount of free chunks and populated pages
 *
 * UPSTREAM 9a5b183941b5: the whole worker runs with scoped GFP_NOIO (which implies
 * NOFS), so whoever holds pcpu_alloc_mutex here never enters FS or IO reclaim, and
 * NOFS/NOIO callers of pcpu_alloc() may take the mutex.  Upstream brackets its (6.x)
 * single pass; 5.10 has one pass per chunk type, and the scope covers all of them.
 */
void klpp_pcpu_balance_workfn(struct work_struct *work)
{
	enum pcpu_chunk_type type;
	unsigned int flags = memalloc_noio_save();

	for (type = 0; type < PCPU_NR_CHUNK_TYPES; type++)
		__pcpu_balance_workfn(type);

	memalloc_noio_restore(flags);
}

/* Before the patch is enabled: the depopulate scratch array (see pcpu_get_pages()). */
int klpp_percpu_init(void)
{
	size_t pages_size = *klpe_pcpu_nr_units * *klpe_pcpu_unit_pages * sizeof(lf_pages[0]);

	lf_pages = kvzalloc(pages_size, GFP_KERNEL);
	return lf_pages ? 0 : -ENOMEM;
}

/* After the patch is gone (module exit): nothing runs the copies any more. */
void klpp_percpu_exit(void)
{
	kvfree(lf_pages);
	lf_pages = NULL;
}
#endif
