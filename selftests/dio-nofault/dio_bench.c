// SPDX-License-Identifier: GPL-2.0
/*
 * dio_bench: O_DIRECT throughput on one file, for patched-vs-unpatched ratios.
 *
 *   # dio_bench FILE rand4k SECONDS     4 KiB O_DIRECT random reads: prints "ops/s N"
 *   # dio_bench FILE seq1m SECONDS      1 MiB O_DIRECT sequential reads: "ops/s N"
 *   # dio_bench FILE overlap64m         64 MiB O_DIRECT read into a mapping of the same
 *                                       range: "seconds S"
 *   # dio_bench FILE buffered64m        the same transfer with buffered I/O: "seconds S"
 * FILE must exist and be at least 128 MiB.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024UL * 1024)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int throughput(const char *path, size_t bs, int is_random, double secs)
{
	int fd = open(path, O_RDONLY | O_DIRECT);
	struct stat st;
	void *buf;
	long ops = 0;
	off_t off = 0, blocks;
	double t0, t;

	if (fd < 0 || fstat(fd, &st) || posix_memalign(&buf, 4096, bs)) {
		perror(path);
		return 1;
	}
	blocks = st.st_size / bs;
	srandom(1);
	t0 = now();
	do {
		if (is_random)
			off = (off_t)(random() % blocks) * bs;
		if (pread(fd, buf, bs, off) != (ssize_t)bs) {
			perror("pread");
			return 1;
		}
		if (!is_random)
			off = (off + bs) % (blocks * bs);
		ops++;
		t = now() - t0;
	} while (t < secs);
	printf("ops/s %.1f\n", ops / t);
	return 0;
}

static int transfer64(const char *path, int direct)
{
	size_t len = 64 * MIB;
	int fd = open(path, O_RDWR | (direct ? O_DIRECT : 0));
	void *map;
	double t0;
	ssize_t n;

	if (fd < 0) {
		perror(path);
		return 1;
	}
	fsync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	t0 = now();
	n = pread(fd, map, len, 0);
	if (n != (ssize_t)len) {
		perror("pread");
		return 1;
	}
	printf("seconds %.3f\n", now() - t0);
	munmap(map, len);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	double secs = argc > 3 ? atof(argv[3]) : 2;

	if (argc < 3) {
		fprintf(stderr, "usage: dio_bench FILE rand4k|seq1m [SECONDS] | overlap64m|buffered64m\n");
		return 2;
	}
	if (!strcmp(argv[2], "rand4k"))
		return throughput(argv[1], 4096, 1, secs);
	if (!strcmp(argv[2], "seq1m"))
		return throughput(argv[1], MIB, 0, secs);
	if (!strcmp(argv[2], "overlap64m"))
		return transfer64(argv[1], 1);
	if (!strcmp(argv[2], "buffered64m"))
		return transfer64(argv[1], 0);
	fprintf(stderr, "dio_bench: unknown mode %s\n", argv[2]);
	return 2;
}
