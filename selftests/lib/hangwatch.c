// SPDX-License-Identifier: GPL-2.0
/*
 * hangwatch: the shell tests' way to lockfix's one hang detector (hangwatch.h, whose
 * criteria it applies unchanged).
 *
 *   hangwatch [-s SETTLE] [-l LIMIT] [-u CONDITION] NAME=PID:FRAMES|NAME=any:FRAMES...
 *   hangwatch find FRAMES
 *
 * NAME=PID:FRAMES is a task the hang needs; NAME=any:FRAMES any thread whose stack has
 * FRAMES (e.g. a kernel worker).  FRAMES: groups separated by ',', each a '|'-separated
 * list of exact function names of which one must be in the stack ('name*': a prefix).
 * Hung: after SETTLE seconds (default 0) every task in D state with its frames, each
 * with an unchanged stack for HANGWATCH_STABLE_SAMPLES more one-second samples.  Done:
 * the shell CONDITION holds (sh -c, status 0; checked every 0.2 s), or, without -u,
 * every NAME=PID task has exited.  Timeout: neither after LIMIT seconds (default 300).
 *
 * Prints the tasks' stacks ("# " lines) when hung or timed out, then one line
 *   hangwatch: done|hung|timeout waited=SECONDS seen=NAME,... NAME=PID...
 * (seen: the tasks whose frames matched in some sample; NAME=PID: the task sampled last,
 * 0 when none was found).  Exit status 0 done, 1 hung, 2 timeout, 3 bad arguments.
 * find: the tids whose stack has FRAMES, one per line; exit 1 when there is none.
 */
#include "hangwatch.h"

#define MAX_TASKS 8

static void usage(const char *why)
{
	fprintf(stderr, "hangwatch: %s\n"
		"usage: hangwatch [-s SETTLE] [-l LIMIT] [-u CONDITION] NAME=PID:FRAMES|NAME=any:FRAMES...\n"
		"       hangwatch find FRAMES\n", why);
	exit(3);
}

static int seconds(const char *s, const char *opt)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0 || v > 86400) {
		fprintf(stderr, "hangwatch: %s wants seconds (0..86400), not '%s'\n", opt, s);
		exit(3);
	}
	return v;
}

/* FRAMES into sig (the string is split in place; names point into it). */
static void parse_frames(char *frames, struct hangwatch_sig *sig)
{
	char *group, *gsave, *name, *nsave;
	int g = 0;

	memset(sig, 0, sizeof(*sig));
	for (group = strtok_r(frames, ",", &gsave); group; group = strtok_r(NULL, ",", &gsave)) {
		const char **names;
		int n = 1, k = 0;
		char *p;

		if (g == HANGWATCH_MAX_GROUPS)
			usage("too many frame groups");
		for (p = group; *p; p++)
			n += *p == '|';
		names = calloc(n + 1, sizeof(*names));
		if (!names)
			usage("out of memory");
		for (name = strtok_r(group, "|", &nsave); name; name = strtok_r(NULL, "|", &nsave))
			names[k++] = name;
		if (!k)
			usage("an empty frame group");
		sig->groups[g++] = names;
	}
	if (!g)
		usage("no frames given");
}

struct watch {
	struct hangwatch_task *tasks;
	int n;
	const char *condition;
	double last;
};

static bool watch_done(void *arg)
{
	struct watch *w = arg;
	double now = hw_now();
	int i;

	if (w->condition) {
		if (now - w->last < 0.2)
			return false;
		w->last = now;
		return system(w->condition) == 0;
	}
	for (i = 0; i < w->n; i++) {
		char st;

		if (!w->tasks[i].pid)
			continue;
		st = hw_task_state(w->tasks[i].pid);
		if (st != '?' && st != 'Z' && st != 'X')
			return false;
	}
	return true;
}

static void print_tid(pid_t tid, void *arg)
{
	(*(int *)arg)++;
	printf("%d\n", tid);
}

int main(int argc, char **argv)
{
	static struct hangwatch_task tasks[MAX_TASKS];
	static struct hangwatch_sig sigs[MAX_TASKS];
	static const char *const names[] = { "done", "hung", "timeout" };
	int settle = 0, limit = 300, n = 0, i, opt, which = 0, pids = 0;
	struct hangwatch_set set = { tasks, 0, 0, 0 };
	const char *condition = NULL;
	char *cmd = NULL, seen[512] = "";
	enum hangwatch_result r;
	struct watch w;
	double waited;

	if (argc == 3 && !strcmp(argv[1], "find")) {
		struct hangwatch_sig sig;
		char stack[HANGWATCH_STACK_SIZE], state;
		int found = 0;

		parse_frames(argv[2], &sig);
		hw_find(0, &sig, &state, stack, sizeof(stack), print_tid, &found);
		return !found;
	}
	while ((opt = getopt(argc, argv, "+s:l:u:")) != -1) {
		switch (opt) {
		case 's': settle = seconds(optarg, "-s"); break;
		case 'l': limit = seconds(optarg, "-l"); break;
		case 'u': condition = optarg; break;
		default: usage("unknown option");
		}
	}
	if (optind == argc)
		usage("no task given");
	for (i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *colon = eq ? strchr(eq, ':') : NULL, *end;
		struct hangwatch_task *t = &tasks[n];

		if (n == MAX_TASKS)
			usage("too many tasks");
		if (!eq || !colon || eq == argv[i])
			usage("a task is NAME=PID:FRAMES or NAME=any:FRAMES");
		*eq = *colon = '\0';
		t->what = argv[i];
		if (strcmp(eq + 1, "any")) {
			long pid = strtol(eq + 1, &end, 10);

			if (!eq[1] || *end || pid <= 0)
				usage("a task's PID is a positive number or 'any'");
			t->pid = pid;
			pids++;
		}
		parse_frames(colon + 1, &sigs[n]);
		t->sig = &sigs[n];
		n++;
	}
	if (!condition && !pids)
		usage("without -u, at least one task needs a PID (its exit is the end)");
	if (condition) {
		cmd = malloc(strlen(condition) + 32);
		if (!cmd)
			usage("out of memory");
		sprintf(cmd, "( %s ) >/dev/null 2>&1", condition);
	}
	set.n = n;
	w = (struct watch){ tasks, n, cmd, -1 };
	r = hangwatch_run(&set, 1, watch_done, &w, settle, limit, &which, &waited);
	for (i = 0; i < n; i++)
		if (tasks[i].seen)
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s",
				 seen[0] ? "," : "", tasks[i].what);
	printf("hangwatch: %s waited=%.0f seen=%s", names[r], waited, seen);
	for (i = 0; i < n; i++)
		printf(" %s=%d", tasks[i].what, tasks[i].cur);
	printf("\n");
	return r == HW_EXITED ? 0 : r == HW_HUNG ? 1 : 2;
}
