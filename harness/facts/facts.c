// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_facts - harness-only helper for `make vet` (harness/vet.sh): prints, with the
 * very functions the livepatches check at load (common/lockfix_klp.c), every fact they
 * compare against the vetted builds, then fails its init so that it never stays loaded.
 *
 *   # modprobe btrfs; modprobe dm_thin_pool
 *   # insmod lockfix_facts.ko objs=vmlinux,btrfs syms=btrfs:btrfs_direct_IO,vmlinux:iomap_dio_rw
 *   insmod: ERROR: could not insert module lockfix_facts.ko: Operation canceled   (by design)
 *   # dmesg | grep lockfix-fact:
 *   lockfix-fact: release 5.10.0-46-amd64
 *   lockfix-fact: version #1 SMP Debian 5.10.262-1 (2026-07-31)
 *   lockfix-fact: build-id vmlinux 0123...
 *   lockfix-fact: size vmlinux iomap_dio_rw 64
 *   lockfix-fact: absent vmlinux pcpu_free_area.isra.0
 *   lockfix-fact: done
 * A module's build-id is found through one of its symbols named in syms.
 */
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/utsname.h>

#include "lockfix_klp.h"

static char *objs;
module_param(objs, charp, 0);
MODULE_PARM_DESC(objs, "comma-separated objects whose build-id to print (vmlinux, module names)");
static char *syms;
module_param(syms, charp, 0);
MODULE_PARM_DESC(syms, "comma-separated obj:symbol list whose kallsyms size to print");

/* The first symbol named for `obj` in syms (a module's build-id is found through it). */
static const char *first_sym(const char *list, const char *obj, char *buf, size_t len)
{
	size_t n = strlen(obj);
	const char *p = list;

	while (p && *p) {
		const char *end = strchrnul(p, ',');

		if (!strncmp(p, obj, n) && p[n] == ':' && (size_t)(end - p - n - 1) < len) {
			memcpy(buf, p + n + 1, end - p - n - 1);
			buf[end - p - n - 1] = '\0';
			return buf;
		}
		p = *end ? end + 1 : NULL;
	}
	return NULL;
}

static int __init lockfix_facts_init(void)
{
	char *list, *item, *cur, *name, hex[LOCKFIX_BUILD_ID_HEX], sym[KSYM_NAME_LEN];
	unsigned long addr, size;
	int ret;

	if (!objs || !syms) {
		pr_err("lockfix-fact: usage: insmod lockfix_facts.ko objs=OBJ,... syms=OBJ:SYM,...\n");
		return -EINVAL;
	}
	ret = lockfix_lookup_init();
	if (ret)
		return ret;
	pr_info("lockfix-fact: release %s\n", init_utsname()->release);
	pr_info("lockfix-fact: version %s\n", init_utsname()->version);

	list = kstrdup(objs, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	for (cur = list; (item = strsep(&cur, ",")); ) {
		if (!*item)
			continue;
		if (strcmp(item, "vmlinux") && !first_sym(syms, item, sym, sizeof(sym))) {
			pr_info("lockfix-fact: error %s: no symbol of it in syms\n", item);
			continue;
		}
		ret = lockfix_build_id(item, sym, hex, sizeof(hex));
		if (ret)
			pr_info("lockfix-fact: error %s: no build-id (%d; module not loaded?)\n", item, ret);
		else
			pr_info("lockfix-fact: build-id %s %s\n", item, hex);
	}
	kfree(list);

	list = kstrdup(syms, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	for (cur = list; (item = strsep(&cur, ",")); ) {
		name = strchr(item, ':');
		if (!name)
			continue;
		*name++ = '\0';
		addr = lockfix_lookup(item, name);
		size = addr ? lockfix_symbol_size(addr) : 0;
		if (addr && size && size < (1UL << 24))
			pr_info("lockfix-fact: size %s %s %lu\n", item, name, size);
		else if (addr)	/* data at a module's end has no usable kallsyms size */
			pr_info("lockfix-fact: present %s %s\n", item, name);
		else
			pr_info("lockfix-fact: absent %s %s\n", item, name);
	}
	kfree(list);
	pr_info("lockfix-fact: done\n");
	return -ECANCELED;	/* never stays loaded */
}

module_init(lockfix_facts_init);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("lockfix harness: print the facts the livepatches check (make vet)");
