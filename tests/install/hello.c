/*
 * The smallest program a user would write against an installed softvmm: it
 * proves the installed header compiles on its own and the installed library
 * (shared or static) links and works, found only through pkg-config.
 */
#include <softvmm/vmm.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
	struct vm *vm = NULL;

	if (vm_create("hello", NULL, &vm) != 0) {
		fprintf(stderr, "vm_create failed\n");
		return 1;
	}
	if (strcmp(vm_name(vm), "hello") != 0) {
		fprintf(stderr, "vm_name: got \"%s\"\n", vm_name(vm));
		return 1;
	}
	if (vm_malloc(vm, 0, (size_t)1 << 20) != 0) {
		fprintf(stderr, "vm_malloc failed\n");
		return 1;
	}
	if (!vm_mem_allocated(vm, 0x1000)) {
		fprintf(stderr, "vm_mem_allocated(0x1000) is false\n");
		return 1;
	}
	vm_destroy(vm);
	printf("ok\n");
	return 0;
}
