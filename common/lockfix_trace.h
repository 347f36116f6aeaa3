/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lockfix_trace.h - fire a tracepoint that a target module defines, from a livepatch.
 *
 * A replacement function must keep firing the tracepoints of the code it replaces (tools
 * and users rely on them), but trace_<event>() cannot be used for events defined in a
 * module such as btrfs.ko: it tests the event's static key with a jump label, which needs
 * a relocation against the key at our load time, and late module patching (target module
 * loaded after the livepatch) cannot provide it.  So the livepatch resolves the event's
 * `struct tracepoint` (__tracepoint_<event>, a module data symbol) when the target module
 * comes, reads the key at run time, and calls the event's iterator (tp->iterator, which is
 * __traceiter_<event>) exactly as __DO_TRACE does in 5.10's include/linux/tracepoint.h:
 * preemption off (sched-RCU read side), non-empty probe array.
 *
 *   LOCKFIX_TRACE(klpe___tracepoint_btrfs_work_sched,
 *                 (void *, const struct btrfs_work *), work);
 *
 * A NULL tracepoint pointer (target module gone, or not resolved yet) fires nothing.
 */
#ifndef LOCKFIX_TRACE_H
#define LOCKFIX_TRACE_H

#include <linux/jump_label.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/tracepoint-defs.h>

#define LOCKFIX_TRACE(tp_ptr, proto, ...)						\
	do {										\
		struct tracepoint *__lf_tp = READ_ONCE(tp_ptr);				\
											\
		if (__lf_tp && static_key_enabled(&__lf_tp->key)) {			\
			preempt_disable_notrace();					\
			if (rcu_dereference_raw(__lf_tp->funcs))			\
				((int (*)proto)__lf_tp->iterator)(NULL, __VA_ARGS__);	\
			preempt_enable_notrace();					\
		}									\
	} while (0)

#endif
