// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_percpu_nofs - pcpu_alloc() honours the task's NOFS/NOIO scope, in its final
 * upstream form, live.
 *
 * Upstream:
 *   28307d938fb2 "percpu: make pcpu_alloc() aware of current gfp context" (v5.7): apply
 *                current_gfp_context(); NOFS/NOIO-scoped allocations became "atomic" (never
 *                take pcpu_alloc_mutex, never create or populate chunks).
 *   9a5b183941b5 "mm, percpu: do not consider sleepable allocations atomic" (2025; stable
 *                6.1.159 / 6.6.117 / 6.12.59): is_atomic = !gfpflags_allow_blocking(gfp), and
 *                pcpu_balance_workfn() runs under memalloc_noio_save(), so the holder of
 *                pcpu_alloc_mutex in the worker never enters FS/IO reclaim.
 * Debian 11 (5.10.262, 5.10.223) has 28307d938fb2 and lacks 9a5b183941b5: NOFS/NOIO
 * allocations that need a new chunk fail early.  The pre-fix kernels (harness/prefix: 5.10.262
 * with 28307d938fb2 reverted) lack both: a NOFS caller holding a filesystem lock waits for
 * pcpu_alloc_mutex, held by the worker while it reclaims through that filesystem
 * (fs_reclaim -> pcpu_alloc_mutex -> ... -> the fs lock).  This module gives both the
 * final semantics.  Design, consistency model, what is copied and why: DESIGN.md.
 *
 *   # insmod lockfix_percpu_nofs.ko
 *   lockfix_percpu_nofs: enabling on 5.10.0-46-amd64 (#1 SMP Debian 5.10.262-1 (2026-07-31)), vetted build deb11-5.10.0-46
 *   livepatch: enabling patch 'lockfix_percpu_nofs'
 *   livepatch: 'lockfix_percpu_nofs': starting patching transition
 *   livepatch: 'lockfix_percpu_nofs': patching complete
 *   # cat /sys/kernel/livepatch/lockfix_percpu_nofs/{enabled,transition}
 *   1
 *   0
 *   # echo 0 > /sys/kernel/livepatch/lockfix_percpu_nofs/enabled; rmmod lockfix_percpu_nofs
 *
 *   on Debian 12:
 *   lockfix_percpu_nofs: refusing to load: kernel 6.1.0-56-amd64 (...) already has upstream
 *   28307d938fb2 + 9a5b183941b5 (...); percpu-nofs is not needed
 *
 * Patched (klpp_, pcpu_copy.c)     Looked up (klpe_, vmlinux, resolved once at load)
 *   vmlinux pcpu_alloc              data: pcpu_alloc_mutex pcpu_lock pcpu_chunk_lists
 *   vmlinux pcpu_balance_workfn       pcpu_nr_slots pcpu_nr_empty_pop_pages pcpu_nr_populated
 *                                     pcpu_reserved_chunk pcpu_atomic_alloc_failed
 *                                     warn_limit.1 (pcpu_alloc()'s static)
 *                                     pcpu_async_enabled pcpu_balance_work pcpu_unit_size
 *                                     pcpu_unit_pages pcpu_nr_units pcpu_unit_map
 *                                     pcpu_unit_offsets pcpu_low/high_unit_cpu pcpu_nr_groups
 *                                     __tracepoint_percpu_{alloc_percpu,alloc_percpu_fail,
 *                                     destroy_chunk}
 *                                   code: pcpu_find_block_fit pcpu_alloc_area __pcpu_chunk_move
 *                                     pcpu_chunk_relocate pcpu_populate_chunk
 *                                     pcpu_chunk_populated pcpu_free_area[.isra.0]
 *                                     pcpu_create_chunk[.constprop.0] pcpu_free_vm_areas
 *                                     unmap_kernel_range_noflush; memcg (Debian):
 *                                     get_obj_cgroup_from_current obj_cgroup_charge
 *                                     obj_cgroup_uncharge __mod_memcg_state
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>

#include "lockfix_features.h"
#include "lockfix_klp.h"

#define FIX "percpu-nofs"
#define UPSTREAM "28307d938fb2 + 9a5b183941b5 (percpu: make pcpu_alloc() aware of current gfp context; mm, percpu: do not consider sleepable allocations atomic)"

#if LOCKFIX_UPSTREAM_HAS_9a5b183941b5 || !LOCKFIX_PERCPU_5_10
/* Built against a kernel that has both commits, or a percpu allocator we carry no copy of. */
static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.fixed_upstream = LOCKFIX_UPSTREAM_HAS_9a5b183941b5,
	.not_carried = "lockfix carries copies of the 5.10 pcpu_alloc() and pcpu_balance_workfn() only",
};
#else
#include "percpu_nofs.h"

struct mutex *klpe_pcpu_alloc_mutex;
spinlock_t *klpe_pcpu_lock;
struct list_head **klpe_pcpu_chunk_lists;
int *klpe_pcpu_nr_slots;
int *klpe_pcpu_nr_empty_pop_pages;
unsigned long *klpe_pcpu_nr_populated;
struct pcpu_chunk **klpe_pcpu_reserved_chunk;
bool *klpe_pcpu_atomic_alloc_failed;
int *klpe_pcpu_warn_limit;
bool *klpe_pcpu_async_enabled;
struct work_struct *klpe_pcpu_balance_work;
int *klpe_pcpu_unit_size;
int *klpe_pcpu_unit_pages;
int *klpe_pcpu_nr_units;
const int **klpe_pcpu_unit_map;
const unsigned long **klpe_pcpu_unit_offsets;
unsigned int *klpe_pcpu_low_unit_cpu;
unsigned int *klpe_pcpu_high_unit_cpu;
int *klpe_pcpu_nr_groups;
struct tracepoint *klpe___tracepoint_percpu_alloc_percpu;
struct tracepoint *klpe___tracepoint_percpu_alloc_percpu_fail;
struct tracepoint *klpe___tracepoint_percpu_destroy_chunk;
int (*klpe_pcpu_find_block_fit)(struct pcpu_chunk *, int, size_t, bool);
int (*klpe_pcpu_alloc_area)(struct pcpu_chunk *, int, size_t, int);
void (*klpe___pcpu_chunk_move)(struct pcpu_chunk *, int, bool);
void (*klpe_pcpu_chunk_relocate)(struct pcpu_chunk *, int);
int (*klpe_pcpu_populate_chunk)(struct pcpu_chunk *, int, int, gfp_t);
void (*klpe_pcpu_chunk_populated)(struct pcpu_chunk *, int, int);
int (*klpe_pcpu_free_area)(struct pcpu_chunk *, int);
#ifdef CONFIG_MEMCG_KMEM
struct pcpu_chunk *(*klpe_pcpu_create_chunk)(enum pcpu_chunk_type, gfp_t);
#define PCPU_FREE_AREA "pcpu_free_area"
#define PCPU_CREATE_CHUNK "pcpu_create_chunk"
#define PCPU_CREATE_CHUNK_ADDR klpe_pcpu_create_chunk
#else
struct pcpu_chunk *(*klpe_pcpu_create_chunk_cp)(gfp_t);
#define PCPU_FREE_AREA "pcpu_free_area.isra.0"
#define PCPU_CREATE_CHUNK "pcpu_create_chunk.constprop.0"
#define PCPU_CREATE_CHUNK_ADDR klpe_pcpu_create_chunk_cp
#endif
void (*klpe_pcpu_free_vm_areas)(struct vm_struct **, int);
void (*klpe_unmap_kernel_range_noflush)(unsigned long, unsigned long);
#ifdef CONFIG_MEMCG_KMEM
struct obj_cgroup *(*klpe_get_obj_cgroup_from_current)(void);
int (*klpe_obj_cgroup_charge)(struct obj_cgroup *, gfp_t, size_t);
void (*klpe_obj_cgroup_uncharge)(struct obj_cgroup *, size_t);
void (*klpe___mod_memcg_state)(struct mem_cgroup *, int, int);
#endif

#define SYM(name, var) { name, (void **)&(var) }
static const struct lockfix_sym vmlinux_syms[] = {
	SYM("pcpu_alloc_mutex", klpe_pcpu_alloc_mutex),
	SYM("pcpu_lock", klpe_pcpu_lock),
	SYM("pcpu_chunk_lists", klpe_pcpu_chunk_lists),
	SYM("pcpu_nr_slots", klpe_pcpu_nr_slots),
	SYM("pcpu_nr_empty_pop_pages", klpe_pcpu_nr_empty_pop_pages),
	SYM("pcpu_nr_populated", klpe_pcpu_nr_populated),
	SYM("pcpu_reserved_chunk", klpe_pcpu_reserved_chunk),
	SYM("pcpu_atomic_alloc_failed", klpe_pcpu_atomic_alloc_failed),
	SYM("warn_limit.1", klpe_pcpu_warn_limit),	/* pcpu_alloc()'s static (percpu_nofs.h) */
	SYM("pcpu_async_enabled", klpe_pcpu_async_enabled),
	SYM("pcpu_balance_work", klpe_pcpu_balance_work),
	SYM("pcpu_unit_size", klpe_pcpu_unit_size),
	SYM("pcpu_unit_pages", klpe_pcpu_unit_pages),
	SYM("pcpu_nr_units", klpe_pcpu_nr_units),
	SYM("pcpu_unit_map", klpe_pcpu_unit_map),
	SYM("pcpu_unit_offsets", klpe_pcpu_unit_offsets),
	SYM("pcpu_low_unit_cpu", klpe_pcpu_low_unit_cpu),
	SYM("pcpu_high_unit_cpu", klpe_pcpu_high_unit_cpu),
	SYM("pcpu_nr_groups", klpe_pcpu_nr_groups),
	SYM("__tracepoint_percpu_alloc_percpu", klpe___tracepoint_percpu_alloc_percpu),
	SYM("__tracepoint_percpu_alloc_percpu_fail", klpe___tracepoint_percpu_alloc_percpu_fail),
	SYM("__tracepoint_percpu_destroy_chunk", klpe___tracepoint_percpu_destroy_chunk),
	SYM("pcpu_find_block_fit", klpe_pcpu_find_block_fit),
	SYM("pcpu_alloc_area", klpe_pcpu_alloc_area),
	SYM("__pcpu_chunk_move", klpe___pcpu_chunk_move),
	SYM("pcpu_chunk_relocate", klpe_pcpu_chunk_relocate),
	SYM("pcpu_populate_chunk", klpe_pcpu_populate_chunk),
	SYM("pcpu_chunk_populated", klpe_pcpu_chunk_populated),
	SYM(PCPU_FREE_AREA, klpe_pcpu_free_area),
	SYM(PCPU_CREATE_CHUNK, PCPU_CREATE_CHUNK_ADDR),
	SYM("pcpu_free_vm_areas", klpe_pcpu_free_vm_areas),
	SYM("unmap_kernel_range_noflush", klpe_unmap_kernel_range_noflush),
#ifdef CONFIG_MEMCG_KMEM
	SYM("get_obj_cgroup_from_current", klpe_get_obj_cgroup_from_current),
	SYM("obj_cgroup_charge", klpe_obj_cgroup_charge),
	SYM("obj_cgroup_uncharge", klpe_obj_cgroup_uncharge),
	SYM("__mod_memcg_state", klpe___mod_memcg_state),
#endif
	{ }
};

/*
 * The builds this module patches (generated from fleet/ by common/gen-vetted.sh): the two
 * replaced functions, every out-of-line function they call and the non-static ones whose
 * ABI they assume (fingerprint.tsv, sizes as kallsyms gives them), and vmlinux's
 * build-id.  A static helper that is a symbol here but was inlined in the build (or the
 * reverse) fails the lookup: the build is refused.
 */
#include "lockfix_vetted.h"

LOCKFIX_COUNTER(scoped_blocking_allocs, "NOFS/NOIO-scoped sleepable allocations that may block (create or populate chunks) instead of failing early as atomic ones");

static struct klp_func funcs[] = {
	{ .old_name = "pcpu_alloc", .new_func = klpp_pcpu_alloc },
	{ .old_name = "pcpu_balance_workfn", .new_func = klpp_pcpu_balance_workfn },
	{ }
};

static struct klp_patch patch;

/*
 * The transition gate (DESIGN.md "Transition"): NOFS/NOIO-scoped callers may wait for
 * pcpu_alloc_mutex only while no task can run the original, unscoped worker.
 */
static void percpu_post_patch(struct klp_object *obj)
{
	/*
	 * A forced transition ends here too, but the tasks it deemed switched may still be
	 * inside the original worker, holding pcpu_alloc_mutex and reclaiming into a
	 * filesystem: the gate stays closed (stock behaviour for scoped callers).
	 */
	if (patch.forced) {
		pr_warn("the transition was forced: tasks may still run the original worker, so NOFS/NOIO-scoped allocations stay atomic (as stock) while this module is loaded\n");
		return;
	}
	klpp_percpu_open_gate();
	pr_info("every task runs the NOIO worker: NOFS/NOIO-scoped allocations may block now\n");
}

static void percpu_pre_unpatch(struct klp_object *obj)
{
	klpp_percpu_close_gate();
	pr_info("NOFS/NOIO-scoped allocations are atomic again (as stock) before the unpatch transition\n");
}

static struct klp_object objs[] = {
	{
		.name = NULL,
		.funcs = funcs,
		.callbacks = {
			.post_patch = percpu_post_patch,
			.pre_unpatch = percpu_pre_unpatch,
		},
	},
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int percpu_setup(const struct lockfix_build *build)
{
	return lockfix_resolve("vmlinux", vmlinux_syms) ?: klpp_percpu_init();
}

static struct lockfix_fix fix = {
	.name = FIX,
	.upstream = UPSTREAM,
	.vetted = lockfix_vetted_builds,
	.candidate = LOCKFIX_CANDIDATE,
	.patch = &patch,
	.setup = percpu_setup,
	.teardown = klpp_percpu_exit,
};
#endif

LOCKFIX_PATCH_MODULE(fix);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("livepatch: pcpu_alloc() honours NOFS/NOIO scopes without failing early; the percpu balance worker never reclaims FS/IO (upstream 28307d938fb2 + 9a5b183941b5)");
MODULE_INFO(livepatch, "Y");
