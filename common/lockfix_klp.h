/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockfix_klp.h - livepatch mechanics shared by every lockfix module: non-exported
 * symbol resolution (once, here), the vetted-build check, and refusal messages.
 *
 * Each module compiles ../common/lockfix_klp.c into itself (via a one-line common.c), so
 * modules stay independent: loading one never depends on another.
 */
#ifndef LOCKFIX_KLP_H
#define LOCKFIX_KLP_H

#include <linux/types.h>

/*
 * A kernel build a module was vetted on: its selftests passed on exactly this
 * utsname()->release + utsname()->version.
 */
struct lockfix_fingerprint;
struct lockfix_build {
	const char *release;	/* "5.10.0-46-amd64" */
	const char *version;	/* "#1 SMP Debian 5.10.262-1 (2026-07-31)" */
	const struct lockfix_fingerprint *fingerprints;
};

/*
 * A function (or object) of the vetted build, identified by name inside an object
 * ("vmlinux" or a module name) and by the size kallsyms gives it.  A different size
 * means different code: the replacement would silently revert whatever changed.
 */
struct lockfix_fingerprint {
	const char *obj;
	const char *name;
	unsigned long size;	/* LOCKFIX_ANY_SIZE: must exist (module data has no usable size) */
};
#define LOCKFIX_ANY_SIZE (~0UL)

/* A non-exported symbol to resolve: *addr is set, or the whole table fails. */
struct lockfix_sym {
	const char *name;
	void **addr;
};

int lockfix_lookup_init(void);
/* Resolve "name" in object `obj` ("vmlinux" or a module name); 0 if absent. */
unsigned long lockfix_lookup(const char *obj, const char *name);
int lockfix_resolve(const char *obj, const struct lockfix_sym *syms);

/* The entry of `vetted` (NULL-release terminated) that is the running kernel, or NULL. */
const struct lockfix_build *lockfix_find_build(const struct lockfix_build *vetted);
/* Same, printing the refusal (kernel, vetted builds) when there is none. */
const struct lockfix_build *lockfix_check_build(const char *fix, const struct lockfix_build *vetted);
/* 0 if every fingerprint of object `obj` matches (NULL-name terminated table). */
int lockfix_check_fingerprints(const char *fix, const char *obj,
			       const struct lockfix_fingerprint *fps);
/*
 * For a klp_object's pre_patch callback: the object's fingerprints match, then its
 * symbols resolve (into the table's own addresses); 0 or the error to refuse with.
 */
int lockfix_prepare_object(const char *fix, const char *obj,
			   const struct lockfix_fingerprint *fps, const struct lockfix_sym *syms);
/* Announce the running build in the kernel log and klp_enable_patch() `patch`. */
struct klp_patch;
int lockfix_enable_patch(struct klp_patch *patch);
/* Refusal where the running kernel already carries the upstream fix. */
int lockfix_refuse_fixed(const char *fix, const char *commits);

#endif
