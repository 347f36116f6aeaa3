/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hangwatch: wait for a child that may deadlock in the kernel, and tell a real deadlock
 * from slow progress.
 *
 * A child counts as hung when, after `settle_s` seconds, it sits in D state with an
 * identical /proc/PID/stack for HANGWATCH_STABLE_SAMPLES consecutive one-second samples
 * AND that stack carries the bug's signature (one frame from each group the caller
 * names: the bug's own lock-wait frame among them).  Frames are compared by exact
 * function name ("[<0>] lock_extent_bits+0x.../0x... [btrfs]" is lock_extent_bits), so
 * lockfix's own replacements (klpp_iomap_dio_rw, ...) can never satisfy a signature.  A child that is merely slow (TCG guests on a busy host run many times slower)
 * keeps being waited for until `limit_s`, and is then reported as a timeout, which the
 * tests count as a plain failure, never as a reproduced bug.
 */
#ifndef LOCKFIX_HANGWATCH_H
#define LOCKFIX_HANGWATCH_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HANGWATCH_STABLE_SAMPLES 3

enum hangwatch_result { HW_EXITED, HW_HUNG, HW_TIMEOUT };

struct hangwatch_sig {
	const char *const *group_a;	/* NULL-terminated; one must appear in the stack */
	const char *const *group_b;	/* NULL-terminated; one must appear, or NULL */
	const char *const *group_c;	/* NULL-terminated; one must appear, or NULL */
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

/* Task state letter from /proc/PID/stat, or '?' if unreadable. */
static char hw_task_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (hw_read_file(path, buf, sizeof(buf)) < 0)
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* Is `name` exactly the function of one of the stack's frames? */
static bool hw_has_frame(const char *stack, const char *name)
{
	size_t n = strlen(name);
	const char *line = stack;

	while (line && *line) {
		const char *sym = strstr(line, "] "), *nl = strchr(line, '\n');

		if (sym && (!nl || sym < nl)) {
			sym += 2;
			/* "name+off/size", or a gcc clone of it: "name.constprop.0+..." */
			if (!strncmp(sym, name, n) &&
			    (sym[n] == '+' || sym[n] == '.' || sym[n] == '\n' || !sym[n]))
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
	return hw_any(stack, sig->group_a) && (!sig->group_b || hw_any(stack, sig->group_b)) &&
	       (!sig->group_c || hw_any(stack, sig->group_c));
}

/*
 * The child may hand its I/O to a kernel worker (io_uring punts to io-wq): find a task
 * started after the child (pid > child: workers are created for it; tasks left hung by
 * earlier cases are older) in D state whose stack carries the signature.  Returns its
 * pid or 0.
 */
static pid_t hw_find_sig_task(pid_t child, const struct hangwatch_sig *sig, char *stack,
			      size_t size)
{
	DIR *d = opendir("/proc"), *td;
	struct dirent *e, *te;
	pid_t found = 0;
	char path[96];

	if (!d)
		return 0;
	/* Every thread: io_uring workers are threads of the child (iou-wrk-PID) in 5.10.y. */
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

			if (tid <= child || hw_task_state(tid) != 'D')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/stack", tid);
			if (hw_read_file(path, stack, size) > 0 && hw_matches(stack, sig))
				found = tid;
		}
		closedir(td);
	}
	closedir(d);
	return found;
}

/* Print the stack as TAP diagnostics. */
static void hw_print_stack(pid_t pid, char state, const char *stack, double waited)
{
	const char *line = stack, *nl;

	printf("# pid %d in state %c after %.0f s, /proc/%d/stack:\n", pid, state, waited, pid);
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
 * Wait for `pid`.  On HW_EXITED, *status holds its wait status.  On HW_HUNG and
 * HW_TIMEOUT the child is left as it is (a D-state task cannot be reaped) and its
 * state and stack have been printed.
 */
static enum hangwatch_result hangwatch_wait(pid_t pid, const struct hangwatch_sig *sig,
					    int settle_s, int limit_s, int *status)
{
	char path[64], stack[8192], prev[8192] = "", other[8192];
	double start = hw_now(), last_sample = 0;
	int stable = 0, other_stable = 0;
	pid_t other_pid = 0, prev_other = 0;
	char state = '?';

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return HW_EXITED;
		if (r < 0 && errno != EINTR) {
			*status = 0;
			return HW_EXITED;
		}
		double t = hw_now() - start;

		if (t >= settle_s && t - last_sample >= 1.0) {
			last_sample = t;
			state = hw_task_state(pid);
			if (hw_read_file(path, stack, sizeof(stack)) < 0)
				stack[0] = '\0';
			if (state == 'D' && stack[0] && !strcmp(stack, prev))
				stable++;
			else
				stable = 0;
			strcpy(prev, stack);
			if (stable >= HANGWATCH_STABLE_SAMPLES && hw_matches(stack, sig)) {
				hw_print_stack(pid, state, stack, t);
				return HW_HUNG;
			}
			if (state != 'D') {
				other_pid = hw_find_sig_task(pid, sig, other, sizeof(other));
				other_stable = other_pid && other_pid == prev_other ? other_stable + 1 : 0;
				prev_other = other_pid;
				if (other_stable >= HANGWATCH_STABLE_SAMPLES) {
					printf("# pid %d waits (state %c) on a worker stuck on its behalf:\n",
					       pid, state);
					hw_print_stack(other_pid, 'D', other, t);
					return HW_HUNG;
				}
			}
			if (t >= limit_s) {
				hw_print_stack(pid, state, stack, t);
				return HW_TIMEOUT;
			}
		}
		usleep(50 * 1000);
	}
}

#endif
