// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_tcg_target - harness control experiment, never shipped (harness/tcg-textpoke):
 * a trivial function called in a loop, for lockfix_tcg_lp.ko to livepatch while it runs.
 * It shows whether a stall during livepatch enable/disable comes from a fix's code or
 * from ftrace text patching of a hot function under qemu TCG.
 *
 *   # echo 200000 > /proc/lockfix_tcg_target     call the target 200000 times (cond_resched
 *                                                between calls), then read the count back
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

static unsigned long calls;

noinline unsigned long lockfix_tcg_target_fn(unsigned long x)
{
	return x + 1;
}
EXPORT_SYMBOL_GPL(lockfix_tcg_target_fn);

static ssize_t target_write(struct file *f, const char __user *ubuf, size_t len, loff_t *ppos)
{
	unsigned long n, i, v = 0;
	int ret = kstrtoul_from_user(ubuf, len, 10, &n);

	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		v = lockfix_tcg_target_fn(v);
		cond_resched();
	}
	WRITE_ONCE(calls, calls + v);
	return len;
}

static ssize_t target_read(struct file *f, char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[32];

	return simple_read_from_buffer(ubuf, len, ppos, buf,
				       scnprintf(buf, sizeof(buf), "%lu\n", READ_ONCE(calls)));
}

static const struct proc_ops target_ops = { .proc_write = target_write, .proc_read = target_read };

static int __init target_init(void)
{
	return proc_create("lockfix_tcg_target", 0600, NULL, &target_ops) ? 0 : -ENOMEM;
}

static void __exit target_exit(void)
{
	remove_proc_entry("lockfix_tcg_target", NULL);
}
module_init(target_init);
module_exit(target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("lockfix harness control: a trivial hot function to livepatch under TCG");
