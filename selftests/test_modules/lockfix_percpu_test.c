// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_percpu_test - test-only helper for selftests/percpu-nofs (never a fix, never
 * loaded outside a test VM).  It drives the percpu allocator from kernel context, where
 * scoped NOFS/NOIO allocations exist, and watches the percpu balance worker.
 *
 * Interface: write a command to /proc/lockfix_percpu_test, read back one result line.
 *   alloc MODE COUNT SIZE   allocate COUNT areas of SIZE bytes, then free them all.
 *                           MODE: kernel (GFP_KERNEL), nofs / noio (GFP_KERNEL inside
 *                           memalloc_nofs_save() / memalloc_noio_save()), nowait
 *                           (GFP_NOWAIT).  All with __GFP_NOWARN.
 *                           -> "ok=N fail=N first_fail=I"   (first_fail -1: none)
 *   hold COUNT SIZE         like "alloc nowait", but keep what succeeded (until
 *                           "release"): the populated space it used stays used, so
 *                           the balance worker has to populate or create more
 *   release                 free everything "hold" kept
 *   locked_nofs COUNT SIZE  the same as "alloc nofs", holding lf_fs_lock (a filesystem
 *                           lock stand-in: "prime" taught lockdep that reclaim takes it)
 *   prime                   fs_reclaim_acquire(GFP_KERNEL); lock+unlock lf_fs_lock;
 *                           fs_reclaim_release(): records fs_reclaim -> lf_fs_lock, as a
 *                           filesystem whose reclaim path (shrinker, writeback) takes its
 *                           lock would (no-op without lockdep)
 *   watch                   (re)start counting, from zero, page allocations done by the percpu balance
 *                           worker (tracepoint kmem:mm_page_alloc, task running the work
 *                           item whose function kallsyms names pcpu_balance_workfn)
 *   stats                   -> "worker_allocs=N worker_reclaim_fs=N worker_noio=N"
 *                           reclaim_fs: the effective gfp (current_gfp_context) could
 *                           enter FS reclaim; noio: the task had PF_MEMALLOC_NOIO
 *   bench COUNT SIZE        COUNT x (__alloc_percpu(SIZE) + free_percpu()), GFP_KERNEL
 *                           -> "ns_per_op=N"
 *   mutex_hold ADDR         a helper kthread takes the mutex at ADDR (hex, from
 *                           /proc/kallsyms; refused unless kallsyms names it
 *                           pcpu_alloc_mutex) and keeps it until mutex_release: the
 *                           balance worker and blocking allocations then wait for it
 *   mutex_release           the kthread unlocks it and exits
 * The two mutex commands do not wait for a running command (an allocation may be
 * blocked on that mutex) and leave the result line alone: check their exit status.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/kallsyms.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/workqueue.h>

static DEFINE_MUTEX(lf_cmd_lock);	/* one command at a time */
static DEFINE_MUTEX(lf_fs_lock);	/* the "filesystem lock" */
static char lf_result[128] = "none\n";

#define LF_HELD_MAX 65536
static void __percpu **held;
static int nr_held;

static atomic_long_t worker_allocs, worker_reclaim_fs, worker_noio;
static struct tracepoint *tp_page_alloc;
static bool watching;
static void *balance_fn;		/* pcpu_balance_workfn, once seen by name */
#define LF_SEEN 16
static void *not_balance[LF_SEEN];	/* other work functions already looked at */
static DEFINE_SPINLOCK(seen_lock);

static bool is_balance_fn(void *fn)
{
	char name[KSYM_SYMBOL_LEN];
	unsigned long flags;
	bool yes;
	int i;

	if (READ_ONCE(balance_fn))
		return fn == READ_ONCE(balance_fn);
	for (i = 0; i < LF_SEEN; i++)
		if (READ_ONCE(not_balance[i]) == fn)
			return false;
	sprint_symbol_no_offset(name, (unsigned long)fn);
	yes = !strcmp(name, "pcpu_balance_workfn");
	spin_lock_irqsave(&seen_lock, flags);
	if (yes) {
		WRITE_ONCE(balance_fn, fn);
	} else {
		for (i = 0; i < LF_SEEN; i++)
			if (!not_balance[i]) {
				WRITE_ONCE(not_balance[i], fn);
				break;
			}
	}
	spin_unlock_irqrestore(&seen_lock, flags);
	return yes;
}

static void probe_page_alloc(void *data, struct page *page, unsigned int order,
			     gfp_t gfp_flags, int migratetype)
{
	struct work_struct *work;
	gfp_t eff;

	if (!(current->flags & PF_WQ_WORKER))
		return;
	work = current_work();
	if (!work || !is_balance_fn(work->func))
		return;
	eff = current_gfp_context(gfp_flags);
	atomic_long_inc(&worker_allocs);
	if ((eff & __GFP_FS) && (eff & __GFP_DIRECT_RECLAIM))
		atomic_long_inc(&worker_reclaim_fs);
	if (current->flags & PF_MEMALLOC_NOIO)
		atomic_long_inc(&worker_noio);
}

static void find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "mm_page_alloc"))
		tp_page_alloc = tp;
}

static int lf_watch(void)
{
	int ret;

	atomic_long_set(&worker_allocs, 0);
	atomic_long_set(&worker_reclaim_fs, 0);
	atomic_long_set(&worker_noio, 0);
	if (watching)
		return 0;
	for_each_kernel_tracepoint(find_tp, NULL);
	if (!tp_page_alloc)
		return -ENOENT;
	ret = tracepoint_probe_register(tp_page_alloc, probe_page_alloc, NULL);
	if (!ret)
		watching = true;
	return ret;
}

/* mutex_hold / mutex_release: the percpu mutex held by a kthread of ours. */
static DEFINE_MUTEX(lf_hold_lock);
static struct mutex *hold_mutex;
static DECLARE_COMPLETION(hold_taken);
static DECLARE_COMPLETION(hold_release);
static DECLARE_COMPLETION(hold_done);

static int lf_holder(void *m)
{
	mutex_lock(m);
	complete(&hold_taken);
	wait_for_completion(&hold_release);
	mutex_unlock(m);
	/* no module code may run after hold_done: lf_exit may free it right then */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 17, 0)
	kthread_complete_and_exit(&hold_done, 0);
#else
	complete_and_exit(&hold_done, 0);
#endif
}

static int lf_mutex_hold(unsigned long addr)
{
	char name[KSYM_SYMBOL_LEN];
	struct task_struct *t;
	int ret = 0;

	sprint_symbol(name, addr);
	if (strncmp(name, "pcpu_alloc_mutex+0x0/", 21))
		return -EINVAL;
	mutex_lock(&lf_hold_lock);
	if (hold_mutex) {
		ret = -EBUSY;
		goto out;
	}
	reinit_completion(&hold_taken);
	reinit_completion(&hold_release);
	reinit_completion(&hold_done);
	t = kthread_run(lf_holder, (void *)addr, "lf_pcpu_holder");
	if (IS_ERR(t)) {
		ret = PTR_ERR(t);
		goto out;
	}
	wait_for_completion(&hold_taken);
	hold_mutex = (struct mutex *)addr;
out:
	mutex_unlock(&lf_hold_lock);
	return ret;
}

static int lf_mutex_release(void)
{
	int ret = 0;

	mutex_lock(&lf_hold_lock);
	if (hold_mutex) {
		complete(&hold_release);
		wait_for_completion(&hold_done);
		hold_mutex = NULL;
	} else {
		ret = -ENOENT;
	}
	mutex_unlock(&lf_hold_lock);
	return ret;
}

/* Allocate count areas with gfp inside the scope of mode, free them, report. */
static int lf_alloc(const char *mode, int count, size_t size, bool locked, bool hold)
{
	void __percpu **p;
	gfp_t gfp = GFP_KERNEL | __GFP_NOWARN;
	unsigned int scope = 0;
	int i, ok = 0, fail = 0, first_fail = -1;
	enum { K, NOFS, NOIO } kind = K;

	if (count <= 0 || count > 65536 || !size || size > PCPU_MIN_UNIT_SIZE)
		return -EINVAL;
	if (!strcmp(mode, "nofs"))
		kind = NOFS;
	else if (!strcmp(mode, "noio"))
		kind = NOIO;
	else if (!strcmp(mode, "nowait"))
		gfp = GFP_NOWAIT | __GFP_NOWARN;
	else if (strcmp(mode, "kernel"))
		return -EINVAL;
	p = kvcalloc(count, sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	if (locked)
		mutex_lock(&lf_fs_lock);
	if (kind == NOFS)
		scope = memalloc_nofs_save();
	else if (kind == NOIO)
		scope = memalloc_noio_save();
	for (i = 0; i < count; i++) {
		/*
		 * Up to 65536 iterations in one write(): yield between them, or a slow
		 * guest (TCG: chunk creation takes ms) trips the soft-lockup watchdog and
		 * holds back what waits for this CPU to schedule (the livepatch transition,
		 * ftrace's synchronize_rcu_tasks_rude() when a patch goes away).
		 */
		cond_resched();
		p[i] = __alloc_percpu_gfp(size, sizeof(long), gfp);
		if (p[i]) {
			ok++;
		} else {
			fail++;
			if (first_fail < 0)
				first_fail = i;
		}
	}
	if (kind == NOFS)
		memalloc_nofs_restore(scope);
	else if (kind == NOIO)
		memalloc_noio_restore(scope);
	if (locked)
		mutex_unlock(&lf_fs_lock);
	for (i = 0; i < count; i++) {
		cond_resched();
		if (hold && p[i] && nr_held < LF_HELD_MAX)
			held[nr_held++] = p[i];
		else
			free_percpu(p[i]);
	}
	kvfree(p);
	snprintf(lf_result, sizeof(lf_result), "ok=%d fail=%d first_fail=%d\n",
		 ok, fail, first_fail);
	return 0;
}

static int lf_bench(int count, size_t size)
{
	void __percpu *p;
	ktime_t t0;
	s64 ns;
	int i;

	if (count <= 0 || !size || size > PCPU_MIN_UNIT_SIZE)
		return -EINVAL;
	t0 = ktime_get();
	for (i = 0; i < count; i++) {
		p = __alloc_percpu(size, sizeof(long));
		if (!p)
			return -ENOMEM;
		free_percpu(p);
		if (!(i & 1023))
			cond_resched();
	}
	ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	snprintf(lf_result, sizeof(lf_result), "ns_per_op=%lld\n", div_s64(ns, count));
	return 0;
}

static ssize_t lf_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[96], mode[16];
	unsigned long size;
	int count, ret = -EINVAL;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "mutex_hold %lx", &size) == 1)
		return lf_mutex_hold(size) ?: len;
	if (!strncmp(buf, "mutex_release", 13))
		return lf_mutex_release() ?: len;
	mutex_lock(&lf_cmd_lock);
	if (sscanf(buf, "alloc %15s %d %lu", mode, &count, &size) == 3) {
		ret = lf_alloc(mode, count, size, false, false);
	} else if (sscanf(buf, "locked_nofs %d %lu", &count, &size) == 2) {
		ret = lf_alloc("nofs", count, size, true, false);
	} else if (sscanf(buf, "hold %d %lu", &count, &size) == 2) {
		ret = lf_alloc("nowait", count, size, false, true);
		snprintf(lf_result + strlen(lf_result) - 1, sizeof(lf_result) - strlen(lf_result) + 1,
			 " held=%d\n", nr_held);
	} else if (!strncmp(buf, "release", 7)) {
		while (nr_held > 0)
			free_percpu(held[--nr_held]);
		snprintf(lf_result, sizeof(lf_result), "released\n");
		ret = 0;
	} else if (!strncmp(buf, "prime", 5)) {
		fs_reclaim_acquire(GFP_KERNEL);
		mutex_lock(&lf_fs_lock);
		mutex_unlock(&lf_fs_lock);
		fs_reclaim_release(GFP_KERNEL);
		snprintf(lf_result, sizeof(lf_result), "primed\n");
		ret = 0;
	} else if (!strncmp(buf, "watch", 5)) {
		ret = lf_watch();
		snprintf(lf_result, sizeof(lf_result), "watch=%d\n", ret);
	} else if (!strncmp(buf, "stats", 5)) {
		snprintf(lf_result, sizeof(lf_result),
			 "worker_allocs=%ld worker_reclaim_fs=%ld worker_noio=%ld\n",
			 atomic_long_read(&worker_allocs), atomic_long_read(&worker_reclaim_fs),
			 atomic_long_read(&worker_noio));
		ret = 0;
	} else if (sscanf(buf, "bench %d %lu", &count, &size) == 2) {
		ret = lf_bench(count, size);
	}
	mutex_unlock(&lf_cmd_lock);
	return ret ? ret : len;
}

static ssize_t lf_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	return simple_read_from_buffer(ubuf, len, ppos, lf_result, strlen(lf_result));
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 6, 0)
static const struct proc_ops lf_fops = {
	.proc_read = lf_read,
	.proc_write = lf_write,
};
#else
static const struct file_operations lf_fops = {
	.read = lf_read,
	.write = lf_write,
};
#endif

static int __init lf_init(void)
{
	held = kvcalloc(LF_HELD_MAX, sizeof(*held), GFP_KERNEL);
	if (!held)
		return -ENOMEM;
	if (!proc_create("lockfix_percpu_test", 0600, NULL, &lf_fops)) {
		kvfree(held);
		return -ENOMEM;
	}
	return 0;
}

static void __exit lf_exit(void)
{
	remove_proc_entry("lockfix_percpu_test", NULL);
	lf_mutex_release();
	while (nr_held > 0)
		free_percpu(held[--nr_held]);
	kvfree(held);
	if (watching) {
		tracepoint_probe_unregister(tp_page_alloc, probe_page_alloc, NULL);
		tracepoint_synchronize_unregister();
	}
}

module_init(lf_init);
module_exit(lf_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("lockfix selftest helper: scoped NOFS/NOIO percpu allocations, balance worker watch");
MODULE_INFO(test, "Y");
