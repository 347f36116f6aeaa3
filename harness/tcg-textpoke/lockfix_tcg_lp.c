// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_tcg_lp - harness control experiment, never shipped (harness/tcg-textpoke): a
 * livepatch of lockfix_tcg_target_fn() that returns the same value, in the style of
 * samples/livepatch/livepatch-sample.c.  No callbacks, no shared code with lockfix.
 */
#include <linux/livepatch.h>
#include <linux/module.h>

static unsigned long lp_target_fn(unsigned long x)
{
	return x + 1;
}

static struct klp_func funcs[] = {
	{ .old_name = "lockfix_tcg_target_fn", .new_func = lp_target_fn },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "lockfix_tcg_target", .funcs = funcs },
	{ }
};

static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

static int __init lp_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit lp_exit(void)
{
}
module_init(lp_init);
module_exit(lp_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("lockfix harness control: livepatch of a trivial hot function");
