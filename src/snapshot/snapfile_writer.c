/*
 * The snapshot file format, writing: the state file built in memory, guest
 * RAM written sparsely, everything made durable and renamed into place (see
 * snapfile.h and man/armvmm-snapshot.5). Before the commit the state file is
 * validated by the reader (snapfile_reader.c): never a snapshot that restore
 * would refuse.
 */
#include "snapshot/snapfile.h"
#include "snapshot/snapfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "core/log.h"

/* --- the state file image ------------------------------------------------------------ */

int snap_image_init(struct snap_image *img)
{
	memset(img, 0, sizeof(*img));
	if (!snap_buf_reserve(&img->buf, SNAP_HEADER_SIZE))
		return -ENOMEM;
	memset(img->buf.data, 0, SNAP_HEADER_SIZE);
	return 0;
}

int snap_image_add(struct snap_image *img, uint32_t tag, uint32_t instance, const void *payload, size_t len)
{
	uint8_t sh[SNAP_SECTION_HEADER_SIZE];
	static const uint8_t zeros[8];

	if (img->buf.err)
		return -ENOMEM;
	/* The reader refuses bigger files: fail now rather than make one. */
	if (len > SNAP_MAX_STATE_SIZE || img->buf.len + SNAP_SECTION_HEADER_SIZE + pad8(len) > SNAP_MAX_STATE_SIZE)
		return -EFBIG;
	le32_put(sh + SNAP_SH_TAG, tag);
	le32_put(sh + SNAP_SH_INSTANCE, instance);
	le64_put(sh + SNAP_SH_LENGTH, len);
	le32_put(sh + SNAP_SH_CRC, snap_crc32(payload, len));
	le32_put(sh + SNAP_SH_RESERVED, 0);
	snap_put_bytes(&img->buf, sh, sizeof(sh));
	snap_put_bytes(&img->buf, payload, len);
	snap_put_bytes(&img->buf, zeros, pad8(len) - len);
	if (img->buf.err)
		return -ENOMEM;
	img->nr_sections++;
	return 0;
}

void snap_image_finish(struct snap_image *img, const struct snap_header *h)
{
	uint8_t *p = img->buf.data;

	if (img->buf.err || img->buf.len < SNAP_HEADER_SIZE)
		return;
	memcpy(p + SNAP_HDR_MAGIC, SNAP_MAGIC, SNAP_MAGIC_LEN);
	le32_put(p + SNAP_HDR_VERSION, SNAP_VERSION);
	le32_put(p + SNAP_HDR_HEADER_SIZE, SNAP_HEADER_SIZE);
	le32_put(p + SNAP_HDR_PAGE_SIZE, h->page_size);
	le32_put(p + SNAP_HDR_NR_VCPUS, h->nr_vcpus);
	le32_put(p + SNAP_HDR_IRQCHIP_TYPE, h->irqchip_type);
	le32_put(p + SNAP_HDR_NR_SECTIONS, img->nr_sections);
	le64_put(p + SNAP_HDR_MEM_GPA, h->mem_gpa);
	le64_put(p + SNAP_HDR_MEM_SIZE, h->mem_size);
	le64_put(p + SNAP_HDR_STATE_SIZE, img->buf.len);
	le32_put(p + SNAP_HDR_FLAGS, 0);
	le32_put(p + SNAP_HDR_CRC, snap_crc32(p, SNAP_HDR_CRC));
}

void snap_image_free(struct snap_image *img)
{
	snap_buf_free(&img->buf);
	img->nr_sections = 0;
}

/* --- the snapshot directory ------------------------------------------------------------ */

struct snap_writer {
	struct snap_header h;
	char *dir;		/* the final name, without trailing slashes */
	char *tmp;		/* "<dir>.tmp-<pid>", where everything is written first */
	int tmp_fd;		/* tmp (then dir, after the rename), for *at() and fsync */
	bool renamed;
	struct snap_image state;	/* the state file as it will be */
	int mem_fd;		/* -1 until snap_writer_memory() */
	uint64_t memory_bytes;	/* data actually written to the memory file */
	int error;		/* the first failure (already reported, files already removed) */
	const struct snap_kind *kinds;	/* the devices' sections, for the commit's check */
	unsigned int nr_kinds;
};

/* Remove what this writer created, wherever it is now. */
static void writer_remove_files(struct snap_writer *w)
{
	if (w->tmp_fd < 0)
		return;
	unlinkat(w->tmp_fd, SNAP_STATE_FILE, 0);
	unlinkat(w->tmp_fd, SNAP_MEMORY_FILE, 0);
	rmdir(w->renamed ? w->dir : w->tmp);
	close_fd(&w->tmp_fd);
}

/* A failure: one line naming the file (NULL: the directory) and the reason, then nothing left behind. */
static int writer_fail(struct snap_writer *w, const char *file, int err)
{
	const char *where = w->renamed ? w->dir : w->tmp;

	if (file)
		pr_err("cannot write snapshot file '%s/%s': %s", where, file, strerror(-err));
	else if (w->renamed)
		pr_err("cannot sync the directory holding snapshot '%s': %s", where, strerror(-err));
	else
		pr_err("cannot sync snapshot directory '%s': %s", where, strerror(-err));
	writer_remove_files(w);
	w->error = err;
	return err;
}

static void writer_free(struct snap_writer *w)
{
	writer_remove_files(w);
	close_fd(&w->mem_fd);
	snap_image_free(&w->state);
	free(w->dir);
	free(w->tmp);
	free(w);
}

int snap_writer_open(struct snap_writer **wp, const char *dir, const struct snap_header *h,
		     const struct snap_kind *kinds, unsigned int nr_kinds)
{
	struct snap_writer *w;
	struct stat st;

	*wp = NULL;
	if (snapfile_check_header("cannot write snapshot: ", h))
		return -EINVAL;
	if (lstat(dir, &st) == 0) {
		pr_err("snapshot directory '%s' already exists", dir);
		return -EEXIST;
	}
	if (errno != ENOENT) {
		int err = -errno;
		pr_err("cannot use snapshot directory '%s': %s", dir, strerror(-err));
		return err;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->dir = strdup(dir)))
		goto nomem;
	w->h = *h;
	w->kinds = kinds;
	w->nr_kinds = nr_kinds;
	w->h.version = SNAP_VERSION;
	w->tmp_fd = w->mem_fd = -1;
	/* "snap/" must not become "snap/.tmp-N" inside a directory that does not exist. */
	for (size_t n = strlen(w->dir); n > 1 && w->dir[n - 1] == '/'; n--)
		w->dir[n - 1] = 0;
	w->tmp = snapfile_strfmt("%s.tmp-%ld", w->dir, (long)getpid());
	if (!w->tmp)
		goto nomem;
	if (snap_image_init(&w->state) < 0)
		goto nomem;
	if (mkdir(w->tmp, 0700) < 0) {
		int err = -errno;
		pr_err("cannot create snapshot directory '%s': %s", w->tmp, strerror(-err));
		writer_free(w);
		return err;
	}
	w->tmp_fd = open(w->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->tmp_fd < 0) {
		int err = -errno;
		pr_err("cannot open snapshot directory '%s': %s", w->tmp, strerror(-err));
		rmdir(w->tmp);
		writer_free(w);
		return err;
	}
	*wp = w;
	return 0;
nomem:
	pr_err("out of memory starting snapshot '%s'", dir);
	if (w)
		writer_free(w);
	return -ENOMEM;
}

int snap_writer_add(struct snap_writer *w, uint32_t tag, uint32_t instance, const struct snap_buf *b)
{
	char name[32];
	int err;

	if (w->error)
		return w->error;
	err = b->err ? -ENOMEM : snap_image_add(&w->state, tag, instance, b->data, b->len);
	if (err == -EFBIG)
		pr_err("snapshot section %s would make the state file larger than %u bytes",
		       snapfile_sec_name(name, tag, instance), SNAP_MAX_STATE_SIZE);
	else if (err)
		pr_err("out of memory building snapshot section %s", snapfile_sec_name(name, tag, instance));
	if (err) {
		writer_remove_files(w);
		return w->error = err;
	}
	return 0;
}

/*
 * Zero iff the first 8 bytes are and every byte equals the one 8 before it:
 * one vectorised memcmp, no zero page to keep around. n is a page size.
 */
static bool page_is_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zero8[8];

	return memcmp(p, zero8, 8) == 0 && memcmp(p, p + 8, n - 8) == 0;
}

/*
 * Runs of non-zero pages, each in one pwrite; zero pages stay holes of the
 * new file, and pages that are no candidates are not even read.
 */
static int write_pages(struct snap_writer *w, const uint8_t *host, const uint64_t *candidates)
{
	uint64_t size = w->h.mem_size, ps = w->h.page_size, run = 0;

	for (uint64_t off = 0; off <= size; off += ps) {
		uint64_t page = off / ps;
		bool candidate = !candidates || (candidates[page / 64] >> (page % 64) & 1);
		if (off < size && candidate && !page_is_zero(host + off, ps)) {
			run += ps;
			continue;
		}
		if (run) {
			int err = pwrite_all(w->mem_fd, host + off - run, run, off - run);
			if (err)
				return err;
			w->memory_bytes += run;
			run = 0;
		}
		/* 64 pages nobody touched: one look at their word. */
		if (candidates && page % 64 == 0 && off + 64 * ps <= size && !candidates[page / 64])
			off += 63 * ps;
	}
	return 0;
}

int snap_writer_memory(struct snap_writer *w, const void *host, const uint64_t *candidates)
{
	if (w->error)
		return w->error;
	if (w->mem_fd >= 0)
		return writer_fail(w, SNAP_MEMORY_FILE, -EEXIST);
	w->mem_fd = openat(w->tmp_fd, SNAP_MEMORY_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->mem_fd < 0)
		return writer_fail(w, SNAP_MEMORY_FILE, -errno);
	int err = write_pages(w, host, candidates);
	if (!err && ftruncate(w->mem_fd, (off_t)w->h.mem_size) < 0)
		err = -errno;
	return err ? writer_fail(w, SNAP_MEMORY_FILE, err) : 0;
}

static int write_state(struct snap_writer *w)
{
	int fd = openat(w->tmp_fd, SNAP_STATE_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int err;

	if (fd < 0)
		return -errno;
	err = pwrite_all(fd, w->state.buf.data, w->state.buf.len, 0);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/* Never replace a directory that appeared since open, not even an empty one. */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: check, then rename. */
	struct stat st;
	if (lstat(to, &st) == 0)
		return -EEXIST;
	return rename(from, to) == 0 ? 0 : -errno;
}

static int commit(struct snap_writer *w)
{
	struct snap_reader check;
	int err, closed;

	if (w->mem_fd < 0) {
		pr_err("cannot write snapshot '%s': guest memory was not saved", w->dir);
		writer_remove_files(w);
		return -EINVAL;
	}
	snap_image_finish(&w->state, &w->h);
	/* Never commit a snapshot that restore would refuse. */
	err = snapfile_parse_copy(&check, w->state.buf.data, w->state.buf.len, w->kinds, w->nr_kinds,
				  "cannot write snapshot: ");
	snap_reader_close(&check);
	if (err) {
		writer_remove_files(w);
		return err;
	}

	err = write_state(w);
	if (err)
		return writer_fail(w, SNAP_STATE_FILE, err);
	err = fsync(w->mem_fd) < 0 ? -errno : 0;
	closed = close_fd(&w->mem_fd);
	if (!err)
		err = closed;
	if (err)
		return writer_fail(w, SNAP_MEMORY_FILE, err);
	if (fsync(w->tmp_fd) < 0)
		return writer_fail(w, NULL, -errno);
	err = rename_noreplace(w->tmp, w->dir);
	if (err) {
		pr_err("cannot rename '%s' to '%s': %s", w->tmp, w->dir, strerror(-err));
		writer_remove_files(w);
		return err;
	}
	w->renamed = true;
	/* The rename is durable only once the parent directory is. */
	err = fsync_parent_dir(w->dir);
	if (err)
		return writer_fail(w, NULL, err);
	close_fd(&w->tmp_fd);	/* done: nothing to remove any more */
	return 0;
}

int snap_writer_commit_stats(struct snap_writer *w, uint64_t *state_bytes, uint64_t *memory_bytes)
{
	int err = w->error ? w->error : commit(w);

	if (!err && state_bytes)
		*state_bytes = w->state.buf.len;
	if (!err && memory_bytes)
		*memory_bytes = w->memory_bytes;
	writer_free(w);
	return err;
}

int snap_writer_commit(struct snap_writer *w) { return snap_writer_commit_stats(w, NULL, NULL); }

void snap_writer_abort(struct snap_writer *w)
{
	if (w)
		writer_free(w);
}
