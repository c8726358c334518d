/* Guest loading; see loader.h. */
#include "runner/loader.h"

#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runner/runner.h"

#define GUEST_PAGE_SIZE 4096u

/* Bytes of RAM from load_addr to the end of RAM. */
static uint64_t space_at(uint64_t load_addr, uint64_t mem_size)
{
	return load_addr < mem_size ? mem_size - load_addr : 0;
}

static int report_too_big(const char *path, uint64_t size, bool exact, uint64_t load_addr,
                          uint64_t mem_size, FILE *diag)
{
	fprintf(diag,
	        "softvmm: %s: image of %s%llu bytes does not fit at 0x%llx in RAM of %llu bytes\n",
	        path, exact ? "" : "more than ", (unsigned long long)size,
	        (unsigned long long)load_addr, (unsigned long long)mem_size);
	return RUNNER_EXIT_DATAERR;
}

/*
 * Read at most space + 1 bytes, so that an oversized file (a pipe, or a
 * device with no size) is detected without reading all of it.
 */
static int read_bounded(FILE *f, const char *path, uint64_t space, FILE *diag,
                        struct guest_image *img)
{
	size_t cap = space + 1 < 1u << 20 ? (size_t)space + 1 : 1u << 20;
	unsigned char *buf = malloc(cap);
	size_t n = 0;
	while (buf != NULL) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap || (uint64_t)n > space)
			break;
		size_t grow = cap * 2 > space + 1 ? (size_t)space + 1 : cap * 2;
		unsigned char *bigger = realloc(buf, grow);
		if (bigger == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap = grow;
	}
	if (buf == NULL) {
		fprintf(diag, "softvmm: %s: %s\n", path, strerror(ENOMEM));
		return RUNNER_EXIT_SOFTWARE;
	}
	if (ferror(f)) {
		fprintf(diag, "softvmm: %s: %s\n", path, strerror(errno));
		free(buf);
		return RUNNER_EXIT_NOINPUT;
	}
	img->bytes = buf;
	img->size = n;
	return 0;
}

int image_read(const char *path, uint64_t load_addr, uint64_t mem_size, FILE *diag,
               struct guest_image *img)
{
	memset(img, 0, sizeof(*img));
	img->path = path;
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(diag, "softvmm: %s: %s\n", path, strerror(errno));
		return RUNNER_EXIT_NOINPUT;
	}
	uint64_t space = space_at(load_addr, mem_size);
	struct stat st;
	bool regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	if (regular && (uint64_t)st.st_size > space) {
		fclose(f);
		return report_too_big(path, (uint64_t)st.st_size, true, load_addr, mem_size, diag);
	}
	errno = 0;
	int status = read_bounded(f, path, space, diag, img);
	fclose(f);
	if (status != 0)
		return status;
	if (img->size > space) {
		image_free(img);
		return report_too_big(path, space, false, load_addr, mem_size, diag);
	}
	if (img->size == 0) {
		fprintf(diag, "softvmm: %s: empty image (no byte at offset 0)\n", path);
		image_free(img);
		return RUNNER_EXIT_DATAERR;
	}
	return 0;
}

void image_free(struct guest_image *img)
{
	free(img->bytes);
	img->bytes = NULL;
	img->size = 0;
}

/* vm_gpa_hold promises no more than one page (bhyve's rule), so copy page by page. */
static int guest_mem_copy(struct vm *vm, uint64_t gpa, unsigned char *buf, size_t len,
                          bool to_guest)
{
	while (len > 0) {
		size_t in_page = GUEST_PAGE_SIZE - (gpa & (GUEST_PAGE_SIZE - 1));
		size_t chunk = len < in_page ? len : in_page;
		void *cookie;
		unsigned char *hva =
		    vm_gpa_hold(vm, gpa, chunk, to_guest ? VM_PROT_WRITE : VM_PROT_READ, &cookie);
		if (hva == NULL)
			return EFAULT;
		if (to_guest)
			memcpy(hva, buf, chunk);
		else
			memcpy(buf, hva, chunk);
		vm_gpa_release(cookie);
		gpa += chunk;
		buf += chunk;
		len -= chunk;
	}
	return 0;
}

int guest_mem_write(struct vm *vm, uint64_t gpa, const void *src, size_t len)
{
	return guest_mem_copy(vm, gpa, (unsigned char *)(uintptr_t)src, len, true);
}

int guest_mem_read(struct vm *vm, uint64_t gpa, void *dst, size_t len)
{
	return guest_mem_copy(vm, gpa, dst, len, false);
}
