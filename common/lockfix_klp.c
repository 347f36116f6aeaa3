// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_klp.c - see lockfix_klp.h.  Included by each module's common.c.
 *
 * Symbol lookup: kallsyms_lookup_name() is not exported since v5.7 (0bd476e6c671); its
 * address is taken once from a kprobe registered and immediately unregistered on it (the
 * kprobe never fires and patches nothing: all patching goes through klp_enable_patch()).
 * Module symbols are looked up as "module:name" (module_kallsyms_lookup_name() form),
 * so a name that also exists in vmlinux or another module can never resolve to the wrong
 * function (cf. dm-bufio's inlined drop_buffers vs fs/buffer.c's).
 *
 * Build-ids: vmlinux's is the NT_GNU_BUILD_ID note between __start_notes and __stop_notes
 * (what /sys/kernel/notes shows); a module's is its .note.gnu.build-id section, which the
 * loader keeps in the module's read-only core region.  The module's sysfs notes/ are
 * created only after klp_module_coming() has run the pre_patch callbacks (load_module():
 * prepare_coming_module() before mod_sysfs_setup()), so the note is found in memory: its
 * 16-byte header (namesz 4, descsz 20, NT_GNU_BUILD_ID, "GNU") is searched for there.
 */
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/sched/debug.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <linux/utsname.h>
#include <linux/version.h>

#include "lockfix_klp.h"

static unsigned long (*lockfix_kallsyms_lookup_name)(const char *name);

int lockfix_lookup_init(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int ret;

	if (lockfix_kallsyms_lookup_name)
		return 0;
	ret = register_kprobe(&kp);
	if (ret) {
		pr_err("%s: cannot locate kallsyms_lookup_name (kprobe: %d)\n", KBUILD_MODNAME, ret);
		return ret;
	}
	lockfix_kallsyms_lookup_name = (void *)kp.addr;
	unregister_kprobe(&kp);
	return 0;
}

/*
 * What kallsyms says about `addr`: its symbol's size, the offset into it, and its module
 * ("" for vmlinux).  sprint_symbol() is the exported way to ask ("name+0xoff/0xsize [mod]").
 */
static int lockfix_describe(unsigned long addr, unsigned long *size, unsigned long *offset,
			    char *mod, size_t modlen)
{
	char buf[KSYM_SYMBOL_LEN], *p, *q;

	sprint_symbol(buf, addr);
	p = strchr(buf, '+');
	if (!p || sscanf(p, "+%lx/%lx", offset, size) != 2)
		return -ENOENT;
	mod[0] = '\0';
	q = strchr(p, '[');
	if (q) {
		strscpy(mod, q + 1, modlen);
		p = strchr(mod, ']');
		if (p)
			*p = '\0';
	}
	return 0;
}

unsigned long lockfix_lookup(const char *obj, const char *name)
{
	char buf[KSYM_NAME_LEN + MODULE_NAME_LEN + 2], mod[MODULE_NAME_LEN];
	unsigned long addr, size, offset;

	if (!lockfix_kallsyms_lookup_name)
		return 0;
	if (obj && strcmp(obj, "vmlinux")) {
		snprintf(buf, sizeof(buf), "%s:%s", obj, name);
		return lockfix_kallsyms_lookup_name(buf);
	}
	/* kallsyms_lookup_name() falls back to modules: keep only vmlinux hits. */
	addr = lockfix_kallsyms_lookup_name(name);
	if (!addr || lockfix_describe(addr, &size, &offset, mod, sizeof(mod)) || mod[0])
		return 0;
	return addr;
}

int lockfix_resolve(const char *obj, const struct lockfix_sym *syms)
{
	const struct lockfix_sym *s;

	for (s = syms; s->name; s++) {
		unsigned long addr = lockfix_lookup(obj, s->name);

		if (!addr) {
			pr_err("%s: symbol %s not found in %s\n", KBUILD_MODNAME, s->name, obj);
			return -ENOENT;
		}
		*s->addr = (void *)addr;
	}
	return 0;
}


unsigned long lockfix_symbol_size(unsigned long addr)
{
	unsigned long size, offset;
	char mod[MODULE_NAME_LEN];

	if (lockfix_describe(addr, &size, &offset, mod, sizeof(mod)) || offset)
		return 0;
	return size;
}

/*
 * Elf_Nhdr-framed notes in [p, end): the NT_GNU_BUILD_ID descriptor as hex.  Sizes are
 * checked against what is left before any pointer arithmetic (no wrap-around).
 */
static int lockfix_note_build_id(const u8 *p, const u8 *end, char *buf, size_t len)
{
	while (end - p >= 12) {
		size_t left = end - p - 12;
		u32 namesz = ((const u32 *)p)[0], descsz = ((const u32 *)p)[1];
		u32 type = ((const u32 *)p)[2];
		const u8 *name = p + 12, *desc;

		if (namesz > left || ALIGN((size_t)namesz, 4) > left ||
		    descsz > left - ALIGN((size_t)namesz, 4))
			break;
		desc = name + ALIGN((size_t)namesz, 4);
		if (type == 3 /* NT_GNU_BUILD_ID */ && namesz == 4 && !memcmp(name, "GNU", 4)) {
			if (!len || descsz > (len - 1) / 2)
				return -ENOSPC;
			bin2hex(buf, desc, descsz);
			buf[2 * descsz] = '\0';
			return 0;
		}
		if (ALIGN((size_t)descsz, 4) > (size_t)(end - desc))
			break;
		p = desc + ALIGN((size_t)descsz, 4);
	}
	return -ENOENT;
}

/* The read-only part of a module's core image, where its .note sections live. */
static void lockfix_module_rodata(struct module *mod, const u8 **start, const u8 **end)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	*start = mod->mem[MOD_RODATA].base;
	*end = *start + mod->mem[MOD_RODATA].size;
#else
	*start = (const u8 *)mod->core_layout.base + mod->core_layout.text_size;
	*end = (const u8 *)mod->core_layout.base + mod->core_layout.ro_size;
#endif
}

int lockfix_build_id(const char *obj, const char *any_sym, char *buf, size_t len)
{
	static const u32 hdr[3] = { 4, 20, 3 };
	struct module *(*module_address)(unsigned long addr);
	const u8 *p, *start, *end;
	struct module *mod;
	unsigned long addr;
	int ret = -ENOENT;

	if (!strcmp(obj, "vmlinux")) {
		start = (const u8 *)lockfix_lookup("vmlinux", "__start_notes");
		end = (const u8 *)lockfix_lookup("vmlinux", "__stop_notes");
		if (!start || !end || end <= start)
			return -ENOENT;
		return lockfix_note_build_id(start, end, buf, len);
	}
	addr = lockfix_lookup(obj, any_sym);
	if (!addr)
		return -ENOENT;
	/* __module_address() is not exported on 5.10: resolved like any other symbol. */
	module_address = (void *)lockfix_lookup("vmlinux", "__module_address");
	if (!module_address)
		return -ENOENT;
	preempt_disable();		/* __module_address(): the module cannot go meanwhile */
	mod = module_address(addr);
	if (mod && !strcmp(mod->name, obj)) {
		lockfix_module_rodata(mod, &start, &end);
		for (p = PTR_ALIGN(start, 4); p + 36 <= end; p += 4) {
			if (memcmp(p, hdr, sizeof(hdr)) || memcmp(p + 12, "GNU", 4))
				continue;
			ret = lockfix_note_build_id(p, p + 36, buf, len);
			break;
		}
	}
	preempt_enable();
	return ret;
}

static int lockfix_counter_get(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%ld\n", atomic_long_read((atomic_long_t *)kp->arg));
}

/*
 * Read-only, but parse_one() calls ->set unconditionally for a module parameter given at
 * load (insmod ... aborts=0, a modprobe.d options line, module.param= on the command
 * line): refuse it, naming the parameter.
 */
static int lockfix_counter_set(const char *val, const struct kernel_param *kp)
{
	pr_err("%s: %s is a read-only counter, not a parameter\n", KBUILD_MODNAME, kp->name);
	return -EPERM;
}

const struct kernel_param_ops lockfix_counter_ops = {
	.set = lockfix_counter_set,
	.get = lockfix_counter_get,
};

const struct lockfix_build *lockfix_running;
static const struct lockfix_fix *lockfix_this;

int lockfix_check_object(const char *obj)
{
	const struct lockfix_build *b = lockfix_running;
	const struct lockfix_fingerprint *fp, *first = NULL;
	const struct lockfix_build_id *id;
	char hex[LOCKFIX_BUILD_ID_HEX];
	unsigned long addr, size;
	int bad = 0, ret;

	if (WARN_ON_ONCE(!b || !lockfix_this))
		return -EINVAL;
	for (fp = b->fingerprints; fp->name; fp++) {
		if (strcmp(fp->obj, obj))
			continue;
		addr = lockfix_lookup(obj, fp->name);
		if (!addr) {
			pr_err("%s: refusing to patch %s: %s not found (inlined or renamed?)\n",
			       KBUILD_MODNAME, obj, fp->name);
			bad = 1;
			continue;
		}
		if (!first)
			first = fp;
		if (fp->size == LOCKFIX_ANY_SIZE)
			continue;
		size = lockfix_symbol_size(addr);
		if (size != fp->size) {
			pr_err("%s: refusing to patch %s: %s is %lu bytes, %s was written for %lu\n",
			       KBUILD_MODNAME, obj, fp->name, size, lockfix_this->name, fp->size);
			bad = 1;
		}
	}
	for (id = b->build_ids; id->obj; id++) {
		if (strcmp(id->obj, obj))
			continue;
		ret = lockfix_build_id(obj, first ? first->name : "", hex, sizeof(hex));
		if (ret) {
			pr_err("%s: refusing to patch %s: cannot read its build-id (%d)\n",
			       KBUILD_MODNAME, obj, ret);
			bad = 1;
		} else if (strcmp(hex, id->hex)) {
			pr_err("%s: refusing to patch %s: build-id %s, %s was vetted on %s (%s): not the same binary\n",
			       KBUILD_MODNAME, obj, hex, lockfix_this->name, id->hex, b->kernel);
			bad = 1;
		}
	}
	return bad ? -EOPNOTSUPP : 0;
}

int lockfix_prepare_object(const char *obj, const struct lockfix_sym *syms)
{
	return lockfix_check_object(obj) ?: lockfix_resolve(obj, syms);
}

static const struct lockfix_build *lockfix_find_build(const struct lockfix_build *vetted)
{
	const struct new_utsname *u = init_utsname();
	const struct lockfix_build *b;

	for (b = vetted; b && b->kernel; b++)
		if (!strcmp(u->release, b->release) && !strcmp(u->version, b->version))
			return b;
	return NULL;
}

/*
 * Transition watch.  A task sleeping in a function the patch replaces (the deadlock we
 * fix, or a long qgroup rescan inside one btrfs_work) keeps the transition pending
 * forever, and meanwhile every other livepatch enable or disable gets -EBUSY.  While the
 * module is loaded, a work item looks every LOCKFIX_TRANSITION_POLL_S seconds whether the
 * kernel's transition (kernel/livepatch/transition.c klp_transition_patch) is ours; once
 * it has lasted LOCKFIX_TRANSITION_REPORT_S seconds it reports the tasks still to switch
 * (TIF_PATCH_PENDING) with their stacks and what the admin can do, then again at twice
 * the time, and so on.
 */
#define LOCKFIX_TRANSITION_POLL_S 5
#define LOCKFIX_TRANSITION_REPORT_S 30
#define LOCKFIX_TRANSITION_SHOW_TASKS 8
static struct klp_patch **klpe_klp_transition_patch;
/*
 * kernel/livepatch/transition.c klp_target_state: which way the running transition goes.
 * patch->enabled alone cannot tell: an unpatch keeps enabled == true while its pre_unpatch
 * callback runs (klp_init_transition(KLP_UNPATCHED) comes first; a callback may wait there,
 * as percpu-nofs's drain does).  Optional: without it the direction falls back to enabled.
 */
static int *klpe_klp_target_state;
#define LOCKFIX_KLP_PATCHED 1	/* KLP_PATCHED; KLP_TRANSITION_PATCHED since v6.8 (same value) */
static unsigned long lockfix_transition_start;	/* jiffies; 0: no transition of ours */
static unsigned long lockfix_transition_report;	/* seconds of the next report */
static void lockfix_transition_check(struct work_struct *work);
static DECLARE_DELAYED_WORK(lockfix_transition_watch, lockfix_transition_check);

/* Is our patch in transition, and towards patched?  (Callers hold no lock: a snapshot.) */
static bool lockfix_transition_to_patched(const struct klp_patch *patch)
{
	if (klpe_klp_target_state)
		return READ_ONCE(*klpe_klp_target_state) == LOCKFIX_KLP_PATCHED;
	return patch->enabled;
}

static void lockfix_transition_blockers(const struct klp_patch *patch, unsigned long secs)
{
	struct task_struct *g, *t;
	unsigned int n = 0;
	bool to_patched = lockfix_transition_to_patched(patch);

	rcu_read_lock();
	for_each_process_thread(g, t)
		if (test_tsk_thread_flag(t, TIF_PATCH_PENDING))
			n++;
	rcu_read_unlock();
	if (!n) {
		/* No task to switch: the transition waits in one of our callbacks. */
		pr_warn("%s: transition to %s has not finished after %lu s; no task is left to switch: "
			"it waits in a %s callback of %s (see its messages)\n", KBUILD_MODNAME,
			to_patched ? "enabled" : "disabled", secs,
			to_patched ? "post_patch" : "pre_unpatch", KBUILD_MODNAME);
		return;
	}
	n = 0;
	pr_warn("%s: transition to %s has not finished after %lu s; tasks still to switch:\n",
		KBUILD_MODNAME, to_patched ? "enabled" : "disabled", secs);
	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (!test_tsk_thread_flag(t, TIF_PATCH_PENDING))
			continue;
		if (n++ < LOCKFIX_TRANSITION_SHOW_TASKS) {
			pr_warn("%s:   %s[%d]\n", KBUILD_MODNAME, t->comm, task_pid_nr(t));
			sched_show_task(t);
		}
	}
	rcu_read_unlock();
	if (n > LOCKFIX_TRANSITION_SHOW_TASKS)
		pr_warn("%s:   ... and %u more\n", KBUILD_MODNAME, n - LOCKFIX_TRANSITION_SHOW_TASKS);
	pr_warn("%s: until it finishes no other livepatch can be enabled or disabled (-EBUSY). "
		"To go back: echo %d > /sys/kernel/livepatch/%s/enabled (reverses the transition). "
		"To finish it anyway: echo 1 > /sys/kernel/livepatch/%s/force -- the listed tasks are "
		"then deemed switched while they may still run the old code, and %s can never be "
		"unloaded afterwards\n", KBUILD_MODNAME, to_patched ? 0 : 1, KBUILD_MODNAME,
		KBUILD_MODNAME, KBUILD_MODNAME);
}

static void lockfix_transition_check(struct work_struct *work)
{
	const struct klp_patch *patch = lockfix_this ? lockfix_this->patch : NULL;
	unsigned long secs;

	if (!patch || READ_ONCE(*klpe_klp_transition_patch) != patch) {
		if (lockfix_transition_start && lockfix_transition_report > LOCKFIX_TRANSITION_REPORT_S)
			pr_info("%s: transition finished after %lu s\n", KBUILD_MODNAME,
				(jiffies - lockfix_transition_start) / HZ);
		lockfix_transition_start = 0;
		goto rearm;
	}
	if (!lockfix_transition_start) {
		lockfix_transition_start = jiffies ?: 1;
		lockfix_transition_report = LOCKFIX_TRANSITION_REPORT_S;
	}
	secs = (jiffies - lockfix_transition_start) / HZ;
	if (secs >= lockfix_transition_report) {
		lockfix_transition_blockers(patch, secs);
		lockfix_transition_report *= 2;
	}
rearm:
	schedule_delayed_work(&lockfix_transition_watch, LOCKFIX_TRANSITION_POLL_S * HZ);
}

/*
 * /sys/module/<module>/parameters/transition_target (read-only): "patched" or "unpatched"
 * while this patch is in transition, "none" otherwise, "unknown" when the kernel's state
 * could not be resolved.  lockfix status reads it to name the direction.
 */
static int lockfix_transition_target_get(char *buf, const struct kernel_param *kp)
{
	const struct klp_patch *patch = lockfix_this ? lockfix_this->patch : NULL;

	if (!klpe_klp_transition_patch || !klpe_klp_target_state)
		return sprintf(buf, "unknown\n");
	if (!patch || READ_ONCE(*klpe_klp_transition_patch) != patch)
		return sprintf(buf, "none\n");
	return sprintf(buf, "%s\n", lockfix_transition_to_patched(patch) ? "patched" : "unpatched");
}
static const struct kernel_param_ops lockfix_transition_target_ops = {
	.get = lockfix_transition_target_get,
};
module_param_cb(transition_target, &lockfix_transition_target_ops, NULL, 0444);
MODULE_PARM_DESC(transition_target, "patched/unpatched while this livepatch's transition runs, else none");

static void lockfix_transition_watch_start(void)
{
	klpe_klp_target_state = (int *)lockfix_lookup("vmlinux", "klp_target_state");
	klpe_klp_transition_patch = (struct klp_patch **)lockfix_lookup("vmlinux", "klp_transition_patch");
	if (!klpe_klp_transition_patch) {
		pr_warn("%s: klp_transition_patch not found: a stuck transition will not be reported "
			"by the module (lockfix status still shows it)\n", KBUILD_MODNAME);
		return;
	}
	/* The enable transition starts now: its first look comes at the poll interval. */
	lockfix_transition_start = jiffies ?: 1;
	lockfix_transition_report = LOCKFIX_TRANSITION_REPORT_S;
	schedule_delayed_work(&lockfix_transition_watch, LOCKFIX_TRANSITION_POLL_S * HZ);
}

int lockfix_patch_init(struct lockfix_fix *fix)
{
	const struct new_utsname *u = init_utsname();
	const struct lockfix_build *b;
	int ret;

	lockfix_this = fix;
	if (fix->fixed_upstream && !(fix->reverts_fix && fix->reverts_fix())) {
		pr_err("%s: refusing to load: kernel %s (%s) already has upstream %s; %s is not needed\n",
		       KBUILD_MODNAME, u->release, u->version, fix->upstream, fix->name);
		return -EOPNOTSUPP;
	}
	if (fix->not_carried) {
		pr_err("%s: refusing to load: kernel %s (%s) is not supported by %s: %s; upstream fix: %s\n",
		       KBUILD_MODNAME, u->release, u->version, fix->name, fix->not_carried, fix->upstream);
		return -EOPNOTSUPP;
	}
	b = lockfix_find_build(fix->vetted);
	if (!b) {
		pr_err("%s: refusing to load: kernel %s (%s) is not a build %s was vetted on\n",
		       KBUILD_MODNAME, u->release, u->version, fix->name);
		for (b = fix->vetted; b && b->kernel; b++)
			pr_err("%s:   vetted: %s (%s)\n", KBUILD_MODNAME, b->release, b->version);
		return -EOPNOTSUPP;
	}
	lockfix_running = b;
	ret = lockfix_lookup_init() ?: lockfix_check_object("vmlinux");
	if (ret)
		goto fail;
	if (fix->setup) {
		ret = fix->setup(b);
		if (ret)
			goto fail;
	}
	if (fix->candidate && !strcmp(fix->candidate, b->kernel))
		pr_warn("%s: %s is a vetting candidate build (make vet): no passing proof recorded yet\n",
			KBUILD_MODNAME, b->kernel);
#ifdef LOCKFIX_MUTANT_ANY
	pr_warn("%s: MUTANT build (make check-mutants): the replacement does a wrong thing on purpose\n",
		KBUILD_MODNAME);
#endif
	pr_info("%s: enabling on %s (%s), vetted build %s\n", KBUILD_MODNAME, u->release,
		u->version, b->kernel);
	ret = klp_enable_patch(fix->patch);
	if (ret && fix->teardown)
		fix->teardown();
	if (!ret) {
		lockfix_transition_watch_start();
		return 0;
	}
fail:
	lockfix_running = NULL;
	return ret;
}

void lockfix_patch_exit(struct lockfix_fix *fix)
{
	/* Exit runs once the patch is disabled and its transition is over. */
	cancel_delayed_work_sync(&lockfix_transition_watch);
	if (lockfix_running && fix->teardown)
		fix->teardown();
}
