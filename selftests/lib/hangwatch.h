/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hangwatch: lockfix's one hang detector.  It tells a real deadlock from slow progress,
 * for the C tests (#include this, hangwatch_wait() on a child) and, through the
 * hangwatch program (hangwatch.c), for the shell tests.
 *
 * A hang is a set of tasks (one or more: e.g. a child, or a pool worker and the shrinker
 * it waits on) that, after `settle_s` seconds, are ALL in D state with a stack that
 * carries the bug's signature, every one of them with the same stack for
 * HANGWATCH_STABLE_SAMPLES consecutive one-second samples after the first.  A signature
 * is a list of frame groups, one frame of each group must be in the stack (the bug's own
 * lock-wait frame among them).  Frames are compared by exact function name ("[<0>]
 * lock_extent_bits+0x.../0x... [btrfs]" is lock_extent_bits; a name ending in '*' is a
 * prefix), so lockfix's own replacements (klpp_iomap_dio_rw, ...) can never satisfy a
 * signature.  A task set that is merely slow (TCG guests on a busy host run many times
 * slower) is waited for until `limit_s` and then reported as a timeout, which the tests
 * count as a plain failure, never as a reproduced bug.
 */
#ifndef LOCKFIX_HANGWATCH_H
#define LOCKFIX_HANGWATCH_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANGWATCH_STABLE_SAMPLES 3
#define HANGWATCH_MAX_GROUPS 8
#define HANGWATCH_STACK_SIZE 8192

enum hangwatch_result { HW_EXITED, HW_HUNG, HW_TIMEOUT };

/* Every group (NULL-terminated names, one must appear) up to the first NULL group. */
struct hangwatch_sig {
	const char *const *groups[HANGWATCH_MAX_GROUPS];
};

/*
 * One task a hang needs.  pid > 0: that task (and only it).  pid == 0: any thread whose
 * tid is above `newer_than` (0: any) and whose stack carries the signature, one in D
 * state preferred.  The rest is filled in by each sample.
 */
struct hangwatch_task {
	const char *what;		/* for reports: "pool worker", "drop_caches", ... */
	pid_t pid;
	pid_t newer_than;
	const struct hangwatch_sig *sig;
	pid_t cur;			/* the task sampled last (0: none found) */
	char state;			/* its state letter, '?' when gone */
	bool match;			/* its stack carries the signature */
	bool seen;			/* the signature matched in some sample */
	char stack[HANGWATCH_STACK_SIZE];
};

/* A hang's task set and its stability count. */
struct hangwatch_set {
	struct hangwatch_task *tasks;
	int n;
	int stable;
	uint64_t prev;
};

static double hw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hw_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n, total = 0;

	if (fd < 0)
		return -1;
	while (total < (ssize_t)size - 1 && (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

/* Task state letter from /proc/PID/stat, or '?' if unreadable (gone). */
static char hw_task_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (hw_read_file(path, buf, sizeof(buf)) < 0)
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static int hw_read_stack(pid_t pid, char *stack, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	if (hw_read_file(path, stack, size) < 0) {
		stack[0] = '\0';
		return -1;
	}
	return 0;
}

/* Is `name` exactly the function of one of the stack's frames ("name*": a prefix)? */
static bool hw_has_frame(const char *stack, const char *name)
{
	size_t n = strlen(name);
	bool prefix = n && name[n - 1] == '*';
	const char *line = stack;

	if (prefix)
		n--;
	while (line && *line) {
		const char *sym = strstr(line, "] "), *nl = strchr(line, '\n');

		if (sym && (!nl || sym < nl)) {
			sym += 2;
			/* "name+off/size", or a gcc clone of it: "name.constprop.0+..." */
			if (!strncmp(sym, name, n) &&
			    (prefix || sym[n] == '+' || sym[n] == '.' || sym[n] == '\n' || !sym[n]))
				return true;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

static bool hw_any(const char *stack, const char *const *names)
{
	for (; names && *names; names++)
		if (hw_has_frame(stack, *names))
			return true;
	return false;
}

static bool hw_matches(const char *stack, const struct hangwatch_sig *sig)
{
	int i;

	if (!stack[0])
		return false;
	for (i = 0; i < HANGWATCH_MAX_GROUPS && sig->groups[i]; i++)
		if (!hw_any(stack, sig->groups[i]))
			return false;
	return true;
}

/*
 * Threads (every thread: io_uring workers are threads of their submitter, iou-wrk-PID, in
 * 5.10.y) with tid > newer_than whose stack carries `sig`, the first in D state if any,
 * else the first at all; calls fn(tid, arg) for each match when fn is given (and then
 * returns 0).  Returns the tid or 0; its state and stack in *state and stack.
 */
static pid_t hw_find(pid_t newer_than, const struct hangwatch_sig *sig, char *state,
		     char *stack, size_t size, void (*fn)(pid_t, void *), void *arg)
{
	DIR *d = opendir("/proc"), *td;
	struct dirent *e, *te;
	pid_t found = 0, first = 0;
	char path[96], *buf = malloc(size), first_state = '?';

	*state = '?';
	stack[0] = '\0';
	if (!d || !buf) {
		if (d)
			closedir(d);
		free(buf);
		return 0;
	}
	while (!found && (e = readdir(d))) {
		pid_t pid = atoi(e->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task", pid);
		td = opendir(path);
		if (!td)
			continue;
		while (!found && (te = readdir(td))) {
			pid_t tid = atoi(te->d_name);
			char st;

			if (tid <= 0 || tid <= newer_than || hw_read_stack(tid, buf, size) ||
			    !hw_matches(buf, sig))
				continue;
			st = hw_task_state(tid);
			if (fn) {
				fn(tid, arg);
			} else if (st == 'D') {
				found = tid;
				*state = st;
				memcpy(stack, buf, size);
			} else if (!first) {
				first = tid;
				first_state = st;
				memcpy(stack, buf, size);
			}
		}
		closedir(td);
	}
	closedir(d);
	free(buf);
	if (!found && first) {
		found = first;
		*state = first_state;
	}
	return found;
}

static uint64_t hw_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;	/* FNV-1a */
	return h;
}

/*
 * Sample every task of the set once.  Returns true when the set is hung: after settle,
 * every task in D with its signature, each with the same task and stack as in the
 * previous HANGWATCH_STABLE_SAMPLES samples.
 */
static bool hw_set_sample(struct hangwatch_set *s, bool settled)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	bool all = true;
	int i;

	for (i = 0; i < s->n; i++) {
		struct hangwatch_task *t = &s->tasks[i];

		if (t->pid) {
			t->cur = t->pid;
			t->state = hw_task_state(t->pid);
			hw_read_stack(t->pid, t->stack, sizeof(t->stack));
		} else {
			t->cur = hw_find(t->newer_than, t->sig, &t->state, t->stack,
					 sizeof(t->stack), NULL, NULL);
		}
		t->match = t->cur && hw_matches(t->stack, t->sig);
		t->seen |= t->match;
		all &= t->match && t->state == 'D';
		h = hw_hash(h, &t->cur, sizeof(t->cur));
		h = hw_hash(h, t->stack, strlen(t->stack));
	}
	if (!settled || !all) {
		s->stable = 0;
		s->prev = 0;
		return false;
	}
	s->stable = h == s->prev ? s->stable + 1 : 0;
	s->prev = h;
	return s->stable >= HANGWATCH_STABLE_SAMPLES;
}

/* Print a task's stack as TAP diagnostics. */
static void hw_print_task(const struct hangwatch_task *t, double waited)
{
	const char *line = t->stack, *nl;

	if (!t->cur) {
		printf("# %s: no task with its signature after %.0f s\n", t->what, waited);
		fflush(stdout);
		return;
	}
	printf("# %s: pid %d in state %c after %.0f s, /proc/%d/stack:\n", t->what, t->cur,
	       t->state, waited, t->cur);
	while (*line) {
		nl = strchr(line, '\n');
		printf("#   %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
		if (!nl)
			break;
		line = nl + 1;
	}
	fflush(stdout);
}

/*
 * The watch loop.  Until done(arg) returns true (HW_EXITED), one of the sets is hung
 * (HW_HUNG: *hung_set is its index, its tasks' stacks have been printed), or limit_s has
 * passed (HW_TIMEOUT: the first set's tasks have been printed).  Samples once a second
 * from the start (for `seen`), counts stability only after settle_s.  *waited: seconds.
 */
static enum hangwatch_result hangwatch_run(struct hangwatch_set *sets, int nsets,
					   bool (*done)(void *), void *arg, int settle_s,
					   int limit_s, int *hung_set, double *waited)
{
	double start = hw_now(), last_sample = -1;
	int i;

	for (;;) {
		double t = hw_now() - start;

		*waited = t;
		if (done(arg))
			return HW_EXITED;
		if (t - last_sample >= 1.0) {
			last_sample = t;
			for (i = 0; i < nsets; i++) {
				if (hw_set_sample(&sets[i], t >= settle_s)) {
					int k;

					*hung_set = i;
					for (k = 0; k < sets[i].n; k++)
						hw_print_task(&sets[i].tasks[k], t);
					return HW_HUNG;
				}
			}
			if (t >= limit_s) {
				for (i = 0; i < sets[0].n; i++)
					hw_print_task(&sets[0].tasks[i], t);
				return HW_TIMEOUT;
			}
		}
		usleep(50 * 1000);
	}
}

struct hw_child {
	pid_t pid;
	int *status;
};

static inline bool hw_child_done(void *arg)
{
	struct hw_child *c = arg;
	pid_t r = waitpid(c->pid, c->status, WNOHANG);

	if (r == c->pid)
		return true;
	if (r < 0 && errno != EINTR) {
		*c->status = 0;
		return true;
	}
	return false;
}

/*
 * Wait for child `pid`.  Hung: the child itself, or a worker it handed its I/O to
 * (io_uring punts to io-wq: a thread started after the child, tid > child; tasks left
 * hung by earlier cases are older), with `sig`.  On HW_EXITED, *status holds its wait
 * status.  On HW_HUNG and HW_TIMEOUT the child is left as it is (a D-state task cannot be
 * reaped) and the stacks have been printed.
 */
static inline enum hangwatch_result hangwatch_wait(pid_t pid, const struct hangwatch_sig *sig,
					    int settle_s, int limit_s, int *status)
{
	static struct hangwatch_task child, worker;
	struct hangwatch_set sets[2] = { { &child, 1, 0, 0 }, { &worker, 1, 0, 0 } };
	struct hw_child c = { pid, status };
	enum hangwatch_result r;
	double waited;
	int which = 0;

	memset(&child, 0, sizeof(child));
	memset(&worker, 0, sizeof(worker));
	child.what = "the child";
	child.pid = pid;
	child.sig = sig;
	worker.what = "a worker stuck on the child's behalf";
	worker.newer_than = pid;
	worker.sig = sig;
	r = hangwatch_run(sets, 2, hw_child_done, &c, settle_s, limit_s, &which, &waited);
	if (r == HW_HUNG && which == 1)
		printf("# pid %d waits (state %c) on the worker above\n", pid, hw_task_state(pid));
	fflush(stdout);
	return r;
}

#endif
