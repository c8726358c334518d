/*
 * Guest loading: read a flat binary image and copy it into guest RAM.
 */
#ifndef SOFTVMM_RUNNER_LOADER_H
#define SOFTVMM_RUNNER_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <softvmm/vmm.h>

struct guest_image {
	const char *path;
	unsigned char *bytes;
	size_t size;
};

/*
 * Read the image at 'path', which is to be loaded at 'load_addr' in RAM of
 * 'mem_size' bytes from gpa 0.  Returns 0, or the exit status after a
 * one-line message on 'diag': RUNNER_EXIT_NOINPUT when the file cannot be
 * read, RUNNER_EXIT_DATAERR when it is empty or does not fit.
 */
int image_read(const char *path, uint64_t load_addr, uint64_t mem_size, FILE *diag,
               struct guest_image *img);

void image_free(struct guest_image *img);

/* Copy 'len' bytes into guest RAM at 'gpa'.  Returns 0, or EFAULT if any of it is not RAM. */
int guest_mem_write(struct vm *vm, uint64_t gpa, const void *src, size_t len);
/* Copy 'len' bytes out of guest RAM at 'gpa'.  Returns 0, or EFAULT if any of it is not RAM. */
int guest_mem_read(struct vm *vm, uint64_t gpa, void *dst, size_t len);

#endif
