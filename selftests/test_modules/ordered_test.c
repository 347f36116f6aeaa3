// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_ordered_test - TEST ONLY.  Drives btrfs's own workqueue code (btrfs_alloc_workqueue,
 * btrfs_init_work, btrfs_queue_work from btrfs.ko, resolved by name) through the sequence
 * behind c495dcd6fbe1, deterministically, and reports what btrfs did:
 *
 *   1. X and Y are queued as ordered work on a 2-worker unbound btrfs workqueue.
 *   2. Worker B runs Y's work function; Y is done but cannot run its ordered part (X,
 *      queued first, is not done).  Worker A runs X's work function, which returns only
 *      once B is finished with Y, so A's ordered loop runs X's ordered part, then Y's.
 *   3. Inside Y's ordered part (worker A, still executing X): was X freed already?  Then
 *      it needs one more work item, Z, and waits for it (5 s at most).  Z comes from a
 *      3-slot pool that hands out the lowest free slot, the way a slab hands back a just-
 *      freed object: if X was freed, Z gets X's address, and the workqueue -- seeing that
 *      address with the same function still executing on A -- queues Z behind A, which
 *      waits for Z: the deadlock of the upstream report (here bounded by the timeout).
 *
 * Fixed btrfs: X is freed after A's loop; Z gets another slot, runs at once on B.
 *
 *   # modprobe btrfs; insmod lockfix_ordered_test.ko
 *   # echo 1 > /sys/module/lockfix_ordered_test/parameters/run
 *   # cat /sys/module/lockfix_ordered_test/parameters/result
 *   x_freed_in_loop=1 z_slot=x z_wait_ms=5004 free_order=XYZ ordered_on_x_worker=1
 *
 * Needs btrfs loaded (it holds a reference on it while a round runs).  GPL-2.0.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/workqueue.h>

#include "btrfs_async_thread.h"
#include "lockfix_klp.h"

#define Z_WAIT_MS 5000

struct btrfs_workqueue;
static struct btrfs_workqueue *(*alloc_wq)(struct btrfs_fs_info *, const char *, unsigned int,
					   int, int);
static void (*init_work)(struct btrfs_work *, btrfs_func_t, btrfs_func_t, btrfs_func_t);
static void (*queue_work_fn)(struct btrfs_workqueue *, struct btrfs_work *);
static void (*destroy_wq)(struct btrfs_workqueue *);
static struct module *(*module_address)(unsigned long);

static const struct lockfix_sym btrfs_syms[] = {
	{ "btrfs_alloc_workqueue", (void **)&alloc_wq },
	{ "btrfs_init_work", (void **)&init_work },
	{ "btrfs_queue_work", (void **)&queue_work_fn },
	{ "btrfs_destroy_workqueue", (void **)&destroy_wq },
	{ }
};
static const struct lockfix_sym vmlinux_syms[] = {
	{ "__module_address", (void **)&module_address },
	{ }
};

/* The pool the work items come from: lowest free slot first. */
#define NSLOTS 3
static struct btrfs_work slots[NSLOTS];
static bool slot_used[NSLOTS];
static DEFINE_SPINLOCK(slot_lock);

static struct {
	struct completion y_done_fn, z_ran;
	struct task_struct *x_worker;
	int nfreed;
	char free_order[8];
	bool x_freed_in_loop, ordered_on_x_worker, x_fn_timeout;
	int z_slot;
	s64 z_wait_ms;
} st;

static char result[160] = "none";
static DEFINE_MUTEX(run_lock);

static int slot_of(struct btrfs_work *w) { return w - slots; }
static char slot_name(int i) { return "XYZ"[i]; }

static struct btrfs_work *slot_alloc(void)
{
	int i;

	spin_lock(&slot_lock);
	for (i = 0; i < NSLOTS && slot_used[i]; i++)
		;
	if (i < NSLOTS)
		slot_used[i] = true;
	spin_unlock(&slot_lock);
	return i < NSLOTS ? &slots[i] : NULL;
}

/* ->ordered_free of X and Y; Z (no ordered part) is released by z_fn. */
static void slot_free(struct btrfs_work *w)
{
	int i = slot_of(w);

	spin_lock(&slot_lock);
	slot_used[i] = false;
	if (st.nfreed < (int)sizeof(st.free_order) - 1)
		st.free_order[st.nfreed++] = slot_name(i);
	spin_unlock(&slot_lock);
}

static void nop_fn(struct btrfs_work *w) { }

/*
 * Y's worker is finished with Y: Y is done and its btrfs_work_helper() has returned (so
 * that worker has left its own ordered loop, which stopped at X, not done yet).
 */
static bool y_finished(void)
{
	return test_bit(WORK_DONE_BIT, &slots[1].flags) &&
	       !(work_busy(&slots[1].normal_work) & WORK_BUSY_RUNNING);
}

/*
 * X's work: return only once Y's worker is finished with Y, so X's worker runs Y's
 * ordered part.  (Returning as soon as Y is done is not enough: Y's worker, still in its
 * ordered loop, could then find X done and run -- and, X not being its own item, free --
 * X's and Y's ordered parts itself; the round would say nothing.)
 */
static void x_fn(struct btrfs_work *w)
{
	unsigned long deadline = jiffies + 10 * HZ;

	st.x_worker = current;
	wait_for_completion_timeout(&st.y_done_fn, 10 * HZ);
	while (!y_finished() && time_before(jiffies, deadline))
		msleep(1);
	st.x_fn_timeout = !y_finished();
}

static void y_fn(struct btrfs_work *w)
{
	complete(&st.y_done_fn);
}

static void z_fn(struct btrfs_work *w)
{
	complete_all(&st.z_ran);	/* y_ordered and run_round both wait for it */
}

/* Y's ordered part, on X's worker: needs one more work item done. */
static struct btrfs_workqueue *cur_wq;
static void y_ordered(struct btrfs_work *w)
{
	struct btrfs_work *z;
	ktime_t t0;

	st.ordered_on_x_worker = current == st.x_worker;
	/* Still in X's worker's ordered loop: with the fix, X is not freed yet. */
	spin_lock(&slot_lock);
	st.x_freed_in_loop = !slot_used[0];
	spin_unlock(&slot_lock);
	z = slot_alloc();
	if (!z) {
		st.z_slot = -1;
		return;
	}
	st.z_slot = slot_of(z);
	init_work(z, z_fn, NULL, NULL);
	t0 = ktime_get();
	queue_work_fn(cur_wq, z);
	wait_for_completion_timeout(&st.z_ran, msecs_to_jiffies(Z_WAIT_MS));
	st.z_wait_ms = ktime_ms_delta(ktime_get(), t0);
}

static int run_round(void)
{
	struct btrfs_workqueue *wq;
	struct module *btrfs;
	int ret;

	ret = lockfix_lookup_init();
	if (!ret)
		ret = lockfix_resolve("vmlinux", vmlinux_syms);
	if (!ret)
		ret = lockfix_resolve("btrfs", btrfs_syms);
	if (ret) {
		pr_err("btrfs not loaded or symbols missing\n");
		return ret;
	}
	preempt_disable();
	btrfs = module_address((unsigned long)alloc_wq);
	if (btrfs && !try_module_get(btrfs))
		btrfs = NULL;
	preempt_enable();
	if (!btrfs) {
		pr_err("cannot hold btrfs\n");
		return -ENOENT;
	}

	memset(&st, 0, sizeof(st));
	memset(slots, 0, sizeof(slots));
	memset(slot_used, 0, sizeof(slot_used));
	init_completion(&st.y_done_fn);
	init_completion(&st.z_ran);

	/* thresh 1 < DFT_THRESHOLD: no thresholding, max_active = 2. */
	wq = alloc_wq(NULL, "lockfix-ordered", WQ_UNBOUND, 2, 1);
	if (!wq) {
		module_put(btrfs);
		return -ENOMEM;
	}
	cur_wq = wq;
	init_work(slot_alloc(), x_fn, nop_fn, slot_free);
	init_work(slot_alloc(), y_fn, y_ordered, slot_free);
	queue_work_fn(wq, &slots[0]);
	queue_work_fn(wq, &slots[1]);

	/* Z has no ->ordered_free: release its slot once it ran and everything drained. */
	if (!wait_for_completion_timeout(&st.z_ran, 60 * HZ))
		pr_err("Z never ran in 60 s\n");
	destroy_wq(wq);		/* drains: every helper has returned */
	spin_lock(&slot_lock);
	if (st.z_slot >= 0)
		slot_used[st.z_slot] = false;
	st.free_order[st.nfreed++] = 'Z';
	spin_unlock(&slot_lock);
	module_put(btrfs);

	snprintf(result, sizeof(result),
		 "x_freed_in_loop=%d z_slot=%c z_wait_ms=%lld free_order=%s ordered_on_x_worker=%d x_fn_timeout=%d\n",
		 st.x_freed_in_loop, st.z_slot >= 0 ? slot_name(st.z_slot) : '-', st.z_wait_ms,
		 st.free_order, st.ordered_on_x_worker, st.x_fn_timeout);
	pr_info("round: %s", result);
	return 0;
}

static int run_set(const char *val, const struct kernel_param *kp)
{
	int ret;

	if (!sysfs_streq(val, "1"))
		return -EINVAL;
	mutex_lock(&run_lock);
	ret = run_round();
	mutex_unlock(&run_lock);
	return ret;
}

static const struct kernel_param_ops run_ops = { .set = run_set };
module_param_cb(run, &run_ops, NULL, 0200);
MODULE_PARM_DESC(run, "write 1: run one round (synchronously)");
module_param_string(result, result, sizeof(result), 0444);
MODULE_PARM_DESC(result, "what the last round observed");

static int __init ordered_test_init(void)
{
	return 0;
}

static void __exit ordered_test_exit(void)
{
}

module_init(ordered_test_init);
module_exit(ordered_test_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("TEST ONLY: observe when btrfs frees an ordered work item (c495dcd6fbe1)");
MODULE_INFO(test, "Y");
