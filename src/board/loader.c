#include "board/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/log.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool is_gzip(const uint8_t *buf, size_t len)
{
	return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

int kernel_image_parse(const uint8_t *buf, size_t len, struct kernel_image *img)
{
	img->data = (uint8_t *)buf;
	img->size = len;
	if (len == 0) {
		pr_err("kernel file is empty");
		return -EINVAL;
	}
	if (len >= ARM64_IMAGE_HEADER_SIZE && le32(buf + 56) == ARM64_IMAGE_MAGIC) {
		img->has_header = true;
		img->text_offset = le64(buf + 8);
		img->image_size = le64(buf + 16);
		/* booting.rst: image_size 0 means a pre-3.17 kernel with text_offset 0x80000. */
		if (img->image_size == 0) {
			img->text_offset = FLAT_BINARY_OFFSET;
			img->image_size = len;
		}
		if (img->text_offset >= SZ_2M || (img->text_offset & 0xfff)) {
			pr_err("arm64 Image header: text_offset 0x%llx is not a page offset below 2 MiB",
			       (unsigned long long)img->text_offset);
			return -EINVAL;
		}
		if (img->image_size < len) {
			pr_err("arm64 Image header: image_size %llu is smaller than the file (%zu bytes): corrupt Image",
			       (unsigned long long)img->image_size, len);
			return -EINVAL;
		}
		return 0;
	}
	/*
	 * Debian's (EFI stub) Images start with "MZ". Such a file without the arm64
	 * magic is a cut-short Image or another architecture's kernel, not a flat binary.
	 */
	if (len >= 2 && buf[0] == 'M' && buf[1] == 'Z') {
		if (len < ARM64_IMAGE_HEADER_SIZE)
			pr_err("arm64 Image header is truncated (%zu of %u bytes)", len, ARM64_IMAGE_HEADER_SIZE);
		else
			pr_err("kernel is an EFI/PE file without the arm64 Image magic (not an arm64 kernel?)");
		return -EINVAL;
	}
	img->has_header = false;
	img->text_offset = FLAT_BINARY_OFFSET;
	img->image_size = len;
	return 0;
}

int gunzip_alloc(const uint8_t *in, size_t len, size_t max_out, const char *limit, uint8_t **out, size_t *out_len)
{
	z_stream zs;
	size_t cap = len * 4 < max_out ? len * 4 : max_out;
	uint8_t *buf;
	int ret;

	if (cap < 4096)
		cap = max_out < 4096 ? max_out : 4096;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		zs.next_out = buf + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		ret = inflate(&zs, Z_NO_FLUSH);
		if (ret == Z_STREAM_END)
			break;
		if (ret != Z_OK && ret != Z_BUF_ERROR) {
			pr_err("gzip kernel: corrupt data (%s)", zs.msg ? zs.msg : "inflate failed");
			goto fail;
		}
		if (zs.avail_out == 0) {
			if (cap >= max_out) {
				pr_err("gzip kernel: decompressed size exceeds %zu MiB (%s)", max_out >> 20, limit);
				goto fail;
			}
			size_t ncap = cap * 2 < max_out ? cap * 2 : max_out;
			uint8_t *n = realloc(buf, ncap);
			if (!n)
				goto fail;
			buf = n;
			cap = ncap;
		} else if (zs.avail_in == 0) {
			pr_err("gzip kernel: file is truncated");
			goto fail;
		}
	}
	*out = buf;
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return 0;
fail:
	inflateEnd(&zs);
	free(buf);
	return -EINVAL;
}

int read_file_alloc(const char *path, const char *what, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;
		pr_err("cannot open %s '%s': %s", what, path, strerror(err));
		return -err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pr_err("%s '%s' is not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		pr_err("%s '%s' is empty", what, path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		pr_err("%s '%s' (%lld MiB) does not fit in %zu MiB of guest RAM: raise --mem", what, path,
		       (long long)((st.st_size + (1 << 20) - 1) >> 20), max >> 20);
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;
			pr_err("reading %s '%s': %s", what, path, strerror(err));
			free(buf);
			close(fd);
			return -err;
		}
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*out_len = done;
	return 0;
}

int kernel_image_load(const char *path, uint64_t max_size, struct kernel_image *img)
{
	uint8_t *raw, *data;
	size_t raw_len, len;
	int ret;

	bool capped = max_size > KERNEL_MAX_SIZE;
	size_t max = capped ? KERNEL_MAX_SIZE : (size_t)max_size;

	memset(img, 0, sizeof(*img));
	if (capped) {
		/* Not the guest's RAM: say what the bound is before reading anything big. */
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
			pr_err("kernel '%s' is larger than %zu MiB, armvmm's limit for a kernel image", path, max >> 20);
			return -EFBIG;
		}
	}
	ret = read_file_alloc(path, "kernel", max, &raw, &raw_len);
	if (ret < 0)
		return ret;
	if (is_gzip(raw, raw_len)) {
		ret = gunzip_alloc(raw, raw_len, max, capped ? "armvmm's limit for a kernel image" : "the guest's RAM",
				   &data, &len);
		free(raw);
		if (ret < 0)
			return ret;
	} else {
		data = raw;
		len = raw_len;
	}
	ret = kernel_image_parse(data, len, img);
	if (ret < 0) {
		free(data);
		img->data = NULL;
		return ret;
	}
	return 0;
}

void kernel_image_free(struct kernel_image *img)
{
	free(img->data);
	img->data = NULL;
}

int boot_layout_plan(uint64_t ram_base, uint64_t ram_size, const struct kernel_image *img,
		     uint64_t initrd_size, struct boot_layout *out)
{
	const uint64_t page = 4096;
	uint64_t ram_end = ram_base + ram_size;

	memset(out, 0, sizeof(*out));
	if (ram_base & (SZ_2M - 1) || ram_size < SZ_2M) {
		pr_err("guest RAM must be at least 2 MiB (got %llu bytes)", (unsigned long long)ram_size);
		return -EINVAL;
	}
	/* The DTB gets the last whole 2 MiB block: 8-byte aligned, at most 2 MiB, alone in its block. */
	out->dtb_addr = (ram_end & ~(SZ_2M - 1)) - SZ_2M;
	out->kernel_addr = ram_base + img->text_offset;
	if (img->image_size > ram_size || out->kernel_addr + img->image_size > out->dtb_addr) {
		pr_err("kernel needs %llu MiB from the start of RAM plus 2 MiB for the device tree, but the guest has %llu MiB: raise --mem",
		       (unsigned long long)((img->text_offset + img->image_size + (1 << 20) - 1) >> 20),
		       (unsigned long long)(ram_size >> 20));
		return -E2BIG;
	}
	out->kernel_end = out->kernel_addr + img->image_size;
	if (initrd_size) {
		if (initrd_size > out->dtb_addr - out->kernel_end) {
			pr_err("initrd (%llu KiB) does not fit between the kernel and the device tree in %llu MiB of RAM: raise --mem",
			       (unsigned long long)(initrd_size >> 10), (unsigned long long)(ram_size >> 20));
			return -E2BIG;
		}
		out->initrd_addr = (out->dtb_addr - initrd_size) & ~(page - 1);
		if (out->initrd_addr < out->kernel_end) {
			pr_err("initrd overlaps the kernel image in %llu MiB of RAM: raise --mem",
			       (unsigned long long)(ram_size >> 20));
			return -E2BIG;
		}
		out->initrd_size = initrd_size;
	}
	return 0;
}
