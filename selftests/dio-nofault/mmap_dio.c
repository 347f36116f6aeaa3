// SPDX-License-Identifier: GPL-2.0
/*
 * mmap_dio: O_DIRECT reads and writes whose user buffer is an mmap of the same file.
 *
 * Reproducer for the btrfs deadlock fixed upstream by 51bd9563b678 ("btrfs: fix deadlock
 * due to page faults during direct IO reads and writes", v5.16; never in 5.10.y).  On
 * 5.10, btrfs_direct_IO() locks the file range (extent lock, ordered extent) and then
 * faults in the user buffer; when that buffer is a mapping of the locked range, the fault
 * (btrfs_page_mkwrite -> lock_extent_bits for a read, extent_readahead ->
 * btrfs_start_ordered_extent for a write) waits for the DIO itself: the task stays in D
 * state forever with the inode locked.
 *
 * Every case is run twice on twin files prepared identically: once with an O_DIRECT fd
 * (the case under test) and once with a buffered fd (the reference).  A case passes when
 * the O_DIRECT call returns what the buffered call returned and both files then hold the
 * same bytes.  A case whose O_DIRECT child hangs with a page fault inside btrfs direct IO
 * on its stack prints "lockfix: bug-reproduced" and fails.
 *
 *   # mmap_dio /mnt/btrfs                 (all cases)
 *   # mmap_dio -L                         (list cases)
 *   # mmap_dio -s 10 -l 120 /mnt/btrfs read-self-2m write-self-4k
 *   # mmap_dio -r 20 /mnt/btrfs anon-read-1m   (repeat; anon-* cases run on request only)
 *   TAP version 13
 *   1..2
 *   ok 1 read-self-2m
 *   ok 2 write-self-4k
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#include "../lib/ktap.h"
#include "../lib/hangwatch.h"
#include "dio_common.h"

#define KIB 1024UL
#define MIB (1024 * KIB)

enum dio_op { OP_READ, OP_WRITE };

/*
 * How the transfer is issued: one pread/pwrite on the mapping; preadv/pwritev of two
 * segments, an anonymous buffer for the first half and the mapping's second half for
 * the second; one io_uring read/write (async DIO) on the mapping; or a preadv/pwritev
 * of an anonymous buffer only (no mapping involved).
 */
enum dio_how { HOW_PLAIN, HOW_VEC_MIXED, HOW_URING, HOW_ANON };

/*
 * A case: the buffer is a MAP_SHARED mapping of [map_off, map_off + len) of the file;
 * the I/O transfers len bytes at io_off.  The file is 2 * len bytes of a per-case
 * pattern, except that `hole` leaves [0, len) unwritten.
 */
struct dio_case {
	const char *name;
	enum dio_op op;
	size_t len;
	off_t map_off;
	off_t io_off;
	bool hole;
	enum dio_how how;
	int open_flags;		/* extra flags for both files' transfer fd (O_DSYNC) */
};

#define SELF(n, o, l)  { n, o, l, 0, 0, false, HOW_PLAIN, 0 }
static const struct dio_case cases[] = {
	SELF("read-self-4k", OP_READ, 4 * KIB),
	SELF("read-self-2m", OP_READ, 2 * MIB),
	SELF("write-self-4k", OP_WRITE, 4 * KIB),	/* a mapped page written onto itself */
	SELF("write-self-2m", OP_WRITE, 2 * MIB),
	{ "read-hole-2m", OP_READ, 2 * MIB, 0, 0, true, HOW_PLAIN, 0 },
	{ "read-cross-2m", OP_READ, 2 * MIB, 0, 2 * MIB, false, HOW_PLAIN, 0 },
	{ "write-cross-2m", OP_WRITE, 2 * MIB, 0, 2 * MIB, false, HOW_PLAIN, 0 },
	SELF("read-self-64m", OP_READ, 64 * MIB),
	SELF("write-self-64m", OP_WRITE, 64 * MIB),
	/* O_DSYNC: the buffered fallback must still sync (btrfs's DSYNC stub handling). */
	{ "write-self-dsync-2m", OP_WRITE, 2 * MIB, 0, 0, false, HOW_PLAIN, O_DSYNC },
	{ "readv-mixed-2m", OP_READ, 2 * MIB, 0, 0, false, HOW_VEC_MIXED, 0 },
	{ "writev-mixed-2m", OP_WRITE, 2 * MIB, 0, 2 * MIB, false, HOW_VEC_MIXED, 0 },
	{ "uring-read-self-2m", OP_READ, 2 * MIB, 0, 0, false, HOW_URING, 0 },
	{ "uring-write-self-2m", OP_WRITE, 2 * MIB, 0, 0, false, HOW_URING, 0 },
	/* No mapping at all: plain DIO that must behave the same patched or not. */
	{ "anon-read-1m", OP_READ, 1 * MIB, 0, MIB, false, HOW_ANON, 0 },
	{ "anon-write-1m", OP_WRITE, 1 * MIB, 0, MIB, false, HOW_ANON, 0 },
};

/* Cases run by default; the anon ones are for the live enable/disable test. */
static bool default_case(const struct dio_case *c)
{
	return c->how != HOW_ANON;
}
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int settle_s = 10, limit_s = 120;

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n <= 0)
			return -1;
		buf = (const char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, off);

		if (n <= 0)
			return -1;
		buf = (char *)buf + n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Create `path` with the case's contents on disk and nothing of it in the page cache. */
static int prepare_file(const char *path, const struct dio_case *c, unsigned int seed)
{
	size_t size = 2 * c->len, i;
	uint64_t *buf = malloc(c->len);
	int fd, ret = -1;
	off_t off;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || !buf)
		goto out;
	if (ftruncate(fd, size))
		goto out;
	for (off = c->hole ? c->len : 0; off < (off_t)size; off += c->len) {
		for (i = 0; i < c->len / 8; i++)
			buf[i] = pattern_word(seed, off + 8 * i);
		if (write_all(fd, buf, c->len, off))
			goto out;
	}
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

struct io_outcome {
	ssize_t ret;
	int err;
	uint64_t anon_sum;	/* checksum of the anonymous segment after the transfer */
};

static uint64_t checksum(const uint64_t *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len / 8; i++)
		sum = (sum ^ p[i]) * 0x100000001b3ULL;
	return sum;
}

#ifdef HAVE_LIBURING
static ssize_t uring_transfer(int fd, void *buf, size_t len, off_t off, bool is_read, int *err)
{
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	ssize_t ret;
	int r;

	r = io_uring_queue_init(4, &ring, 0);
	if (r < 0) {
		*err = -r;
		return -1;
	}
	sqe = io_uring_get_sqe(&ring);
	if (is_read)
		io_uring_prep_read(sqe, fd, buf, len, off);
	else
		io_uring_prep_write(sqe, fd, buf, len, off);
	r = io_uring_submit(&ring);
	if (r == 1)
		r = io_uring_wait_cqe(&ring, &cqe);
	else if (r >= 0)
		r = -EIO;
	if (r < 0) {
		io_uring_queue_exit(&ring);
		*err = -r;
		return -1;
	}
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	*err = ret < 0 ? (int)-ret : 0;
	return ret < 0 ? -1 : ret;
}
#else
static ssize_t uring_transfer(int fd, void *buf, size_t len, off_t off, bool is_read, int *err)
{
	(void)fd; (void)buf; (void)len; (void)off; (void)is_read;
	*err = ENOSYS;
	return -1;
}
#endif

/*
 * HOW_ANON and HOW_VEC_MIXED: preadv/pwritev whose first segment is an anonymous buffer
 * (all of the transfer for HOW_ANON, its first half for HOW_VEC_MIXED) and whose second
 * segment is the rest of the transfer on the mapping.  The anonymous buffer starts with a
 * fixed pattern; its checksum afterwards goes into the outcome.
 */
static void vec_transfer(int fd, const struct dio_case *c, void *map, struct io_outcome *o)
{
	size_t anon_len = c->how == HOW_ANON ? c->len : c->len / 2, i;
	uint64_t *anon = aligned_alloc(4096, anon_len);
	struct iovec iov[2] = {
		{ anon, anon_len },
		{ (char *)map + anon_len, c->len - anon_len },
	};
	int iovcnt = anon_len == c->len ? 1 : 2;

	if (!anon) {
		o->err = ENOMEM;
		return;
	}
	for (i = 0; i < anon_len / 8; i++)
		anon[i] = pattern_word(0xa11, 8 * i);
	if (c->op == OP_READ)
		o->ret = preadv(fd, iov, iovcnt, c->io_off);
	else
		o->ret = pwritev(fd, iov, iovcnt, c->io_off);
	o->err = o->ret < 0 ? errno : 0;
	o->anon_sum = checksum(anon, anon_len);
	free(anon);
}

/* The transfer itself, run in a child: its result goes back through `pipefd`. */
static void child_transfer(const char *path, const struct dio_case *c, bool direct, int pipefd)
{
	struct io_outcome o = { .ret = -1 };
	int fd = open(path, O_RDWR | c->open_flags | (direct ? O_DIRECT : 0));
	void *map;

	if (fd < 0) {
		o.err = errno;
		goto out;
	}
	map = mmap(NULL, c->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, c->map_off);
	if (map == MAP_FAILED) {
		o.err = errno;
		goto out;
	}
	if (c->how == HOW_PLAIN) {
		if (c->op == OP_READ)
			o.ret = pread(fd, map, c->len, c->io_off);
		else
			o.ret = pwrite(fd, map, c->len, c->io_off);
		o.err = o.ret < 0 ? errno : 0;
	} else if (c->how == HOW_URING) {
		o.ret = uring_transfer(fd, map, c->len, c->io_off, c->op == OP_READ, &o.err);
	} else {
		vec_transfer(fd, c, map, &o);
	}
	if (msync(map, c->len, MS_SYNC) && !o.err)
		o.err = errno;
	munmap(map, c->len);
	if (fsync(fd) && !o.err)
		o.err = errno;
out:
	if (write(pipefd, &o, sizeof(o)) != sizeof(o))
		_exit(3);
	_exit(0);
}

enum run_result { RUN_DONE, RUN_HUNG, RUN_TIMEOUT, RUN_ERROR };

static enum run_result run_transfer(const char *path, const struct dio_case *c, bool direct,
				    struct io_outcome *o)
{
	int pipefd[2], status;
	enum hangwatch_result hw;
	pid_t pid;

	if (pipe(pipefd))
		return RUN_ERROR;
	pid = fork();
	if (pid < 0)
		return RUN_ERROR;
	if (pid == 0) {
		/* A hung child must not hold the runner's output pipe open. */
		int devnull = open("/dev/null", O_WRONLY);

		if (devnull >= 0) {
			dup2(devnull, STDOUT_FILENO);
			dup2(devnull, STDERR_FILENO);
		}
		close(pipefd[0]);
		child_transfer(path, c, direct, pipefd[1]);
	}
	close(pipefd[1]);
	hw = hangwatch_wait(pid, &dio_fault_sig, settle_s, limit_s, &status);
	if (hw != HW_EXITED) {
		close(pipefd[0]);
		return hw == HW_HUNG ? RUN_HUNG : RUN_TIMEOUT;
	}
	if (read(pipefd[0], o, sizeof(*o)) != sizeof(*o) || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		close(pipefd[0]);
		return RUN_ERROR;
	}
	close(pipefd[0]);
	return RUN_DONE;
}

/* Compare both files through the page cache; report the first differing offset. */
static int compare_files(const char *a, const char *b, size_t size, off_t *where)
{
	char *ba = malloc(size), *bb = malloc(size);
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY), ret = -1;
	size_t i;

	if (!ba || !bb || fa < 0 || fb < 0)
		goto out;
	if (read_all(fa, ba, size, 0) || read_all(fb, bb, size, 0))
		goto out;
	ret = 0;
	for (i = 0; i < size; i++) {
		if (ba[i] != bb[i]) {
			*where = i;
			ret = 1;
			break;
		}
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(ba);
	free(bb);
	return ret;
}

static void run_case(const char *dir, const struct dio_case *c, unsigned int seed)
{
	char dpath[4096], bpath[4096], why[256];
	struct io_outcome dio = { .ret = 0 }, buf = { .ret = 0 };
	enum run_result r;
	off_t where = 0;
	int cmp;

	snprintf(dpath, sizeof(dpath), "%s/%s.direct", dir, c->name);
	snprintf(bpath, sizeof(bpath), "%s/%s.buffered", dir, c->name);
	if (prepare_file(dpath, c, seed) || prepare_file(bpath, c, seed)) {
		snprintf(why, sizeof(why), "cannot prepare files in %s: %s", dir, strerror(errno));
		ktap_result(KSFT_FAIL, c->name, why);
		return;
	}
	r = run_transfer(bpath, c, false, &buf);
	if (r != RUN_DONE) {
		ktap_result(KSFT_FAIL, c->name, "buffered reference transfer did not complete");
		return;
	}
	r = run_transfer(dpath, c, true, &dio);
	if (r == RUN_HUNG) {
		ktap_diag("lockfix: bug-reproduced dio-nofault/%s: page fault inside btrfs direct IO never completes",
			  c->name);
		ktap_result(KSFT_FAIL, c->name, "hung in D state (deadlock)");
		return;
	}
	if (r == RUN_TIMEOUT) {
		ktap_result(KSFT_FAIL, c->name, "did not complete in time, stack not the known deadlock");
		return;
	}
	if (r == RUN_ERROR) {
		ktap_result(KSFT_FAIL, c->name, "O_DIRECT child failed");
		return;
	}
	if (c->how == HOW_URING && dio.ret < 0 && (dio.err == ENOSYS || dio.err == EPERM) &&
	    buf.err == dio.err) {
		ktap_result(KSFT_SKIP, c->name, "io_uring not available");
		unlink(dpath);
		unlink(bpath);
		return;
	}
	if (dio.ret != buf.ret || dio.err != buf.err) {
		snprintf(why, sizeof(why), "O_DIRECT returned %zd (%s), buffered %zd (%s)", dio.ret,
			 strerror(dio.err), buf.ret, strerror(buf.err));
		ktap_result(KSFT_FAIL, c->name, why);
		return;
	}
	if (dio.anon_sum != buf.anon_sum) {
		ktap_result(KSFT_FAIL, c->name, "anonymous segment differs from buffered I/O");
		return;
	}
	cmp = compare_files(dpath, bpath, 2 * c->len, &where);
	if (cmp) {
		snprintf(why, sizeof(why), cmp < 0 ? "cannot read back files" :
			 "data differs from buffered I/O at offset %jd", (intmax_t)where);
		ktap_result(KSFT_FAIL, c->name, why);
		return;
	}
	unlink(dpath);
	unlink(bpath);
	ktap_result(KSFT_PASS, c->name, NULL);
}

static const struct dio_case *find_case(const char *name)
{
	size_t i;

	for (i = 0; i < NCASES; i++)
		if (!strcmp(cases[i].name, name))
			return &cases[i];
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: mmap_dio [-s SETTLE_S] [-l LIMIT_S] [-r REPEAT] DIR [CASE...]\n"
			"       mmap_dio -L\n"
			"DIR must be on the filesystem under test (btrfs).\n");
	exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	const struct dio_case *sel[NCASES];
	size_t nsel = 0, i;
	int opt, repeat = 1, r;

	while ((opt = getopt(argc, argv, "s:l:r:L")) != -1) {
		switch (opt) {
		case 'r':
			repeat = atoi(optarg);
			break;
		case 's':
			settle_s = atoi(optarg);
			break;
		case 'l':
			limit_s = atoi(optarg);
			break;
		case 'L':
			for (i = 0; i < NCASES; i++)
				printf("%s%s\n", cases[i].name, default_case(&cases[i]) ? "" : " (on request)");
			return 0;
		default:
			usage();
		}
	}
	if (optind >= argc || settle_s < 1 || limit_s < settle_s || repeat < 1)
		usage();
	const char *dir = argv[optind++];

	for (; optind < argc; optind++) {
		const struct dio_case *c = find_case(argv[optind]);

		if (!c) {
			fprintf(stderr, "mmap_dio: unknown case '%s' (see -L)\n", argv[optind]);
			return KSFT_FAIL;
		}
		if (nsel == NCASES)
			usage();
		sel[nsel++] = c;
	}
	if (!nsel)
		for (i = 0; i < NCASES; i++)
			if (default_case(&cases[i]))
				sel[nsel++] = &cases[i];

	ktap_header(nsel * repeat);
	for (r = 0; r < repeat; r++)
		for (i = 0; i < nsel; i++)
			run_case(dir, sel[i], (unsigned int)(sel[i] - cases) + 1);
	return ktap_finish();
}
