// SPDX-License-Identifier: GPL-2.0
/*
 * dio_rss: how many pages of an untouched buffer one O_DIRECT read brings in, for
 * harness/bench-dio.sh's "peak pinned pages" figure.
 *
 *   # dio_rss FILE MIB
 *   read=4096 pages=1 rss_kib=4
 *
 * Maps MIB MiB of fresh anonymous memory (no huge pages: one fault = one 4 KiB page),
 * does one pread(FILE opened O_DIRECT, MIB MiB, offset 0) into it and prints how many of
 * its pages are resident afterwards (pages=, exact: mincore() walks the page table) and
 * the process's RssAnon growth (rss_kib=, from /proc/self/status: 5.10 syncs the
 * per-task RSS counters only every 64 faults, so it may lag by a few pages).  Nothing
 * else touches the buffer, so pages= is every page the kernel faulted in (and pinned)
 * for that read: for a small FILE the original 5.10 iomap DIO faults in only the pages
 * it transfers, a module pinning the whole buffer first faults in all of them.
 * Exit 0 when the read succeeded (a short read at EOF is the point), 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* RssAnon (VmRSS where the kernel has no RssAnon) in KiB, or -1. */
static long rss_anon_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long anon = -1, rss = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "RssAnon:", 8))
			anon = strtol(line + 8, NULL, 10);
		else if (!strncmp(line, "VmRSS:", 6))
			rss = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	return anon >= 0 ? anon : rss;
}

int main(int argc, char **argv)
{
	long mib, before, after;
	size_t len, i, npages, resident = 0;
	unsigned char *vec;
	ssize_t got;
	void *buf;
	char *end;
	int fd;

	if (argc != 3 || (mib = strtol(argv[2], &end, 10)) <= 0 || *end || mib > 2047) {
		fprintf(stderr, "usage: %s FILE MIB (1..2047)\n", argv[0]);
		return 2;
	}
	len = (size_t)mib << 20;
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* THP would turn one 4 KiB fault into 2 MiB of RSS: count base pages. */
	if (madvise(buf, len, MADV_NOHUGEPAGE) && errno != EINVAL) {
		perror("madvise");
		return 1;
	}
	before = rss_anon_kib();
	got = pread(fd, buf, len, 0);
	after = rss_anon_kib();
	if (got < 0) {
		perror("pread");
		return 1;
	}
	if (before < 0 || after < 0) {
		fprintf(stderr, "cannot read RSS from /proc/self/status\n");
		return 1;
	}
	npages = len / 4096;
	vec = malloc(npages);
	if (!vec || mincore(buf, len, vec)) {
		perror("mincore");
		return 1;
	}
	for (i = 0; i < npages; i++)
		resident += vec[i] & 1;
	printf("read=%zd pages=%zu rss_kib=%ld\n", got, resident, after - before);
	return 0;
}
