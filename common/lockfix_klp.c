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
 */
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/utsname.h>

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

const struct lockfix_build *lockfix_find_build(const struct lockfix_build *vetted)
{
	const struct new_utsname *u = init_utsname();
	const struct lockfix_build *b;

	for (b = vetted; b->release; b++)
		if (!strcmp(u->release, b->release) && !strcmp(u->version, b->version))
			return b;
	return NULL;
}

const struct lockfix_build *lockfix_check_build(const char *fix, const struct lockfix_build *vetted)
{
	const struct new_utsname *u = init_utsname();
	const struct lockfix_build *b = lockfix_find_build(vetted);

	if (b)
		return b;
	pr_err("%s: refusing to load: kernel %s (%s) is not a build %s was vetted on\n",
	       KBUILD_MODNAME, u->release, u->version, fix);
	for (b = vetted; b->release; b++)
		pr_err("%s:   vetted: %s (%s)\n", KBUILD_MODNAME, b->release, b->version);
	return NULL;
}

int lockfix_check_fingerprints(const char *fix, const char *obj,
			       const struct lockfix_fingerprint *fps)
{
	const struct lockfix_fingerprint *fp;
	unsigned long addr, size = 0, offset = 0;
	char mod[MODULE_NAME_LEN];
	int bad = 0;

	for (fp = fps; fp->name; fp++) {
		if (strcmp(fp->obj, obj))
			continue;
		addr = lockfix_lookup(obj, fp->name);
		if (!addr) {
			pr_err("%s: refusing to patch %s: %s not found (inlined or renamed?)\n",
			       KBUILD_MODNAME, obj, fp->name);
			bad = 1;
			continue;
		}
		if (fp->size == LOCKFIX_ANY_SIZE)
			continue;
		if (lockfix_describe(addr, &size, &offset, mod, sizeof(mod)) || offset ||
		    size != fp->size) {
			pr_err("%s: refusing to patch %s: %s is %lu bytes, %s was written for %lu\n",
			       KBUILD_MODNAME, obj, fp->name, size, fix, fp->size);
			bad = 1;
		}
	}
	return bad ? -EOPNOTSUPP : 0;
}

int lockfix_prepare_object(const char *fix, const char *obj,
			   const struct lockfix_fingerprint *fps, const struct lockfix_sym *syms)
{
	int ret = lockfix_check_fingerprints(fix, obj, fps);

	return ret ? ret : lockfix_resolve(obj, syms);
}

int lockfix_enable_patch(struct klp_patch *patch)
{
	pr_info("%s: enabling on %s (%s)\n", KBUILD_MODNAME, init_utsname()->release,
		init_utsname()->version);
	return klp_enable_patch(patch);
}

int lockfix_refuse_fixed(const char *fix, const char *commits)
{
	const struct new_utsname *u = init_utsname();

	pr_err("%s: refusing to load: kernel %s (%s) already has upstream %s; %s is not needed\n",
	       KBUILD_MODNAME, u->release, u->version, commits, fix);
	return -EOPNOTSUPP;
}
