/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockfix_klp.h - livepatch mechanics shared by every lockfix module: one generic
 * init/exit built from a fix's table (struct lockfix_fix, in the spirit of kpatch's
 * livepatch-patch-hook.c patch_init()), non-exported symbol resolution (once, here), the
 * vetted-build and fingerprint checks, and every refusal message.
 *
 * Each module compiles ../common/lockfix_klp.c into itself (via a one-line common.c), so
 * modules stay independent: loading one never depends on another.
 *
 * The vetted builds are not written by hand: common/gen-vetted.sh compiles them, per fix,
 * from fleet/vetted.tsv (the reviewed decision, one line per fix and kernel),
 * fleet/facts/<kernel>.tsv (what `make vet` read in a boot of that kernel) and
 * fleet/proofs/<kernel>.tap (the proof run): a build is in the table only when its facts
 * exist and its proof passed.
 */
#ifndef LOCKFIX_KLP_H
#define LOCKFIX_KLP_H

#include <linux/types.h>

struct klp_patch;
struct klp_object;

/*
 * A function (or object) of the vetted build, identified by name inside an object
 * ("vmlinux" or a module name) and by the size kallsyms gives it.  Checked besides the
 * build-ids: a renamed, inlined or resized function names itself in the refusal.
 */
struct lockfix_fingerprint {
	const char *obj;
	const char *name;
	unsigned long size;	/* LOCKFIX_ANY_SIZE: must exist (module data has no usable size) */
};
#define LOCKFIX_ANY_SIZE (~0UL)

/* The GNU build-id (hex) of an object of the vetted build: the exact binary. */
struct lockfix_build_id {
	const char *obj;
	const char *hex;
};

/* A kernel build a module was vetted on (generated: lockfix_vetted.h). */
struct lockfix_build {
	const char *kernel;	/* harness matrix id, "deb11-5.10.0-46" */
	const char *release;	/* utsname()->release, "5.10.0-46-amd64" */
	const char *version;	/* utsname()->version, "#1 SMP Debian 5.10.262-1 (2026-07-31)" */
	const struct lockfix_build_id *build_ids;	/* vmlinux and every target module */
	const struct lockfix_fingerprint *fingerprints;
	const void *payload;	/* per-build data of the fix (fleet/vetted.tsv's payload) */
};

/*
 * One fix, as data.  lockfix_patch_init() turns it into: refusal where the kernel has the
 * fix upstream or the replacement is not carried for its series, refusal on any build not
 * in `vetted` (naming the kernel and the vetted ones), the vmlinux build-id and
 * fingerprint check, the fix's own setup, and klp_enable_patch().
 */
struct lockfix_fix {
	const char *name;		/* "dio-nofault" */
	const char *upstream;		/* "51bd9563b678 (btrfs: fix deadlock ...)" */
	bool fixed_upstream;		/* this kernel series has the commits (lockfix_features.h) */
	bool (*reverts_fix)(void);	/* ... but this build reverts them on purpose (pre-fix kernels) */
	const char *not_carried;	/* non-NULL: no replacement compiled for this series, and why */
	const struct lockfix_build *vetted;	/* NULL-kernel terminated (generated) */
	const char *candidate;		/* make vet: the kernel whose proof is being run, or NULL */
	struct klp_patch *patch;
	int (*setup)(const struct lockfix_build *build);	/* optional, before enabling */
	void (*teardown)(void);		/* optional: undoes setup, at failed enable and module exit */
};

/* A module's init and exit, written once: LOCKFIX_PATCH_MODULE(fix); */
#define LOCKFIX_PATCH_MODULE(fix)						\
	static int __init lockfix_init(void) { return lockfix_patch_init(&(fix)); } \
	static void __exit lockfix_exit(void) { lockfix_patch_exit(&(fix)); }	\
	module_init(lockfix_init);						\
	module_exit(lockfix_exit)

/* The running build, once lockfix_patch_init() accepted it. */
extern const struct lockfix_build *lockfix_running;

int lockfix_patch_init(struct lockfix_fix *fix);
void lockfix_patch_exit(struct lockfix_fix *fix);

/* A non-exported symbol to resolve: *addr is set, or the whole table fails. */
struct lockfix_sym {
	const char *name;
	void **addr;
};

int lockfix_lookup_init(void);
/* Resolve "name" in object `obj` ("vmlinux" or a module name); 0 if absent. */
unsigned long lockfix_lookup(const char *obj, const char *name);
int lockfix_resolve(const char *obj, const struct lockfix_sym *syms);
/* kallsyms' size of the symbol at `addr` (0 if unknown or addr is not its start). */
unsigned long lockfix_symbol_size(unsigned long addr);

/*
 * The GNU build-id of `obj` ("vmlinux", or a loaded or loading module, found through
 * the address of its symbol `any_sym`) as lowercase hex into buf; 0 or -errno.
 */
int lockfix_build_id(const char *obj, const char *any_sym, char *buf, size_t len);
#define LOCKFIX_BUILD_ID_HEX 41	/* 20-byte SHA-1 build-id + NUL */

/*
 * For klp_object pre_patch callbacks (and init, for vmlinux): the running build's
 * build-id and fingerprints of object `obj` match; then its symbols resolve into the
 * table's own addresses.  0 or the error to refuse with (the reason is logged).
 */
int lockfix_check_object(const char *obj);
int lockfix_prepare_object(const char *obj, const struct lockfix_sym *syms);

/*
 * Engaged counters: how often a module did its job since load, read-only in
 * /sys/module/<module>/parameters/<name> (lockfix status shows them).
 *   LOCKFIX_COUNTER(aborts, "metadata aborts done by resetting the block manager");
 *   lockfix_count(&lockfix_counter_aborts);
 */
#include <linux/atomic.h>
#include <linux/moduleparam.h>
extern const struct kernel_param_ops lockfix_counter_ops;
#define LOCKFIX_COUNTER(name, desc)						\
	atomic_long_t lockfix_counter_##name = ATOMIC_LONG_INIT(0);		\
	module_param_cb(name, &lockfix_counter_ops, &lockfix_counter_##name, 0444); \
	MODULE_PARM_DESC(name, desc)
static inline void lockfix_count(atomic_long_t *counter)
{
	atomic_long_inc(counter);
}

#endif
