// SPDX-License-Identifier: GPL-2.0
/*
 * lockfix_thin_shrinker - TEST-ONLY helper for selftests/dm-thin-reset.  Never load it on a
 * production system: it blocks reclaim on purpose.
 *
 * A shrinker that, once armed, writes one 4 KiB block with REQ_PREFLUSH|REQ_FUA to a
 * block device (a dm-thin device) from its scan callback and waits for the write to
 * complete.  shrink_slab() calls scan callbacks with shrinker_rwsem held for read, so
 * this is a shrink_slab that "holds shrinker_rwsem while it waits on thin I/O", the
 * reclaim side of the ABBA deadlock fixed upstream by d48300120627 (kernel bugzilla
 * 216676 gets there through a filesystem on the thin device instead).
 *
 * Parameters (/sys/module/lockfix_thin_shrinker/parameters/):
 *   target  write a block device path to open it (read/write), "none" to close it
 *   sector  where the armed write goes (512-byte sectors)
 *   arm     write 1: the next scan (e.g. echo 2 > /proc/sys/vm/drop_caches) does the write
 *   state   idle | armed | waiting | done err=<errno> ms=<milliseconds>
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/shrinker.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#error "lockfix_thin_shrinker supports 5.10 .. 6.4 block/shrinker APIs only"
#endif

#define TS_MODE (FMODE_READ | FMODE_WRITE)

static DEFINE_MUTEX(ts_lock);
static struct block_device *ts_bdev;
static char ts_path[128] = "none";
static unsigned long ts_sector = 131072;	/* 64 MiB */
static atomic_t ts_armed = ATOMIC_INIT(0);
static int ts_state;				/* 0 idle, 1 armed, 2 waiting, 3 done */
static int ts_err;
static unsigned long ts_ms;

static unsigned long lockfix_thin_shrink_count(struct shrinker *s, struct shrink_control *sc)
{
	return atomic_read(&ts_armed) ? 128 : 0;
}

static unsigned long lockfix_thin_shrink_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct block_device *bdev;
	struct page *page;
	struct bio *bio;
	ktime_t t0;
	int err;

	if (atomic_cmpxchg(&ts_armed, 1, 0) != 1)
		return SHRINK_STOP;
	bdev = READ_ONCE(ts_bdev);	/* stays open: "target" cannot change while armed/waiting */
	WRITE_ONCE(ts_state, 2);
	t0 = ktime_get();
	page = alloc_page(GFP_NOIO);
	if (!page) {
		err = -ENOMEM;
		goto out;
	}
	memset(page_address(page), 0x5a, PAGE_SIZE);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
	bio = bio_alloc(bdev, 1, REQ_OP_WRITE | REQ_PREFLUSH | REQ_FUA | REQ_SYNC, GFP_NOIO);
#else
	bio = bio_alloc(GFP_NOIO, 1);
	bio_set_dev(bio, bdev);
	bio->bi_opf = REQ_OP_WRITE | REQ_PREFLUSH | REQ_FUA | REQ_SYNC;
#endif
	bio->bi_iter.bi_sector = ts_sector;
	bio_add_page(bio, page, PAGE_SIZE, 0);
	/* Waits for the thin pool with shrinker_rwsem held for read by our caller. */
	err = submit_bio_wait(bio);
	bio_put(bio);
	__free_page(page);
out:
	ts_err = err;
	ts_ms = ktime_ms_delta(ktime_get(), t0);
	WRITE_ONCE(ts_state, 3);
	return SHRINK_STOP;
}

static struct shrinker ts_shrinker = {
	.count_objects = lockfix_thin_shrink_count,
	.scan_objects = lockfix_thin_shrink_scan,
	.seeks = DEFAULT_SEEKS,
};

static int ts_set_target(const char *val, const struct kernel_param *kp)
{
	char path[sizeof(ts_path)];
	struct block_device *bdev = NULL;
	int ret = 0;

	strscpy(path, val, sizeof(path));
	strim(path);
	mutex_lock(&ts_lock);
	if (ts_state == 1 || ts_state == 2) {
		ret = -EBUSY;
		goto out;
	}
	if (strcmp(path, "none")) {
		bdev = blkdev_get_by_path(path, TS_MODE, &ts_bdev);
		if (IS_ERR(bdev)) {
			ret = PTR_ERR(bdev);
			goto out;
		}
	}
	if (ts_bdev)
		blkdev_put(ts_bdev, TS_MODE);
	ts_bdev = bdev;
	strscpy(ts_path, bdev ? path : "none", sizeof(ts_path));
out:
	mutex_unlock(&ts_lock);
	return ret;
}

static int ts_get_target(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%s\n", ts_path);
}

static const struct kernel_param_ops ts_target_ops = {
	.set = ts_set_target,
	.get = ts_get_target,
};
module_param_cb(target, &ts_target_ops, NULL, 0644);
MODULE_PARM_DESC(target, "block device the armed write goes to (\"none\": closed)");
module_param_named(sector, ts_sector, ulong, 0644);
MODULE_PARM_DESC(sector, "sector of the armed 4 KiB write");

static int ts_set_arm(const char *val, const struct kernel_param *kp)
{
	int ret = 0;

	mutex_lock(&ts_lock);
	if (!ts_bdev)
		ret = -ENODEV;
	else if (ts_state == 2)
		ret = -EBUSY;
	else {
		ts_state = 1;
		atomic_set(&ts_armed, 1);
	}
	mutex_unlock(&ts_lock);
	return ret;
}

static int ts_get_arm(char *buf, const struct kernel_param *kp)
{
	return scnprintf(buf, PAGE_SIZE, "%d\n", atomic_read(&ts_armed));
}

static const struct kernel_param_ops ts_arm_ops = {
	.set = ts_set_arm,
	.get = ts_get_arm,
};
module_param_cb(arm, &ts_arm_ops, NULL, 0644);
MODULE_PARM_DESC(arm, "1: the next shrinker scan writes to target and waits");

static int ts_get_state(char *buf, const struct kernel_param *kp)
{
	switch (READ_ONCE(ts_state)) {
	case 1:
		return scnprintf(buf, PAGE_SIZE, "armed\n");
	case 2:
		return scnprintf(buf, PAGE_SIZE, "waiting\n");
	case 3:
		return scnprintf(buf, PAGE_SIZE, "done err=%d ms=%lu\n", ts_err, ts_ms);
	}
	return scnprintf(buf, PAGE_SIZE, "idle\n");
}

static const struct kernel_param_ops ts_state_ops = {
	.get = ts_get_state,
};
module_param_cb(state, &ts_state_ops, NULL, 0444);
MODULE_PARM_DESC(state, "idle | armed | waiting | done err=E ms=T");

static int __init ts_init(void)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 0, 0)
	return register_shrinker(&ts_shrinker, "lockfix-thin-shrinker");
#else
	return register_shrinker(&ts_shrinker);
#endif
}

static void __exit ts_exit(void)
{
	unregister_shrinker(&ts_shrinker);
	if (ts_bdev)
		blkdev_put(ts_bdev, TS_MODE);
}

module_init(ts_init);
module_exit(ts_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("lockfix");
MODULE_DESCRIPTION("TEST ONLY: a shrinker that waits on a write to a thin device (dm-thin-reset selftest)");
MODULE_INFO(test, "Y");
