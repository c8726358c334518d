/*
 * softvmm: digests of exit streams.
 *
 * An exit digest is XXH3-64 over a byte serialization of every exit of a
 * run, in order, together with the vcpu's architectural state at that exit.
 * Two runs (or two backends) with the same digest saw the same exits with
 * the same payloads and the same guest state at each one.  The exact bytes
 * are defined in trace/digest.c; they never include struct padding, so the
 * digest is the same for every compiler and host of the same byte order.
 */
#ifndef SOFTVMM_TRACE_H
#define SOFTVMM_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include <softvmm/vmm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct exit_digest {
	uint64_t exits; /* exits added so far */
	uint64_t hash;  /* the digest so far (trace/digest.c defines it) */
};

void exit_digest_init(struct exit_digest *d);

/*
 * Add one exit: its fields and payload, 'handled' (true when the vmm
 * handled it itself), and the state of 'vcpu' read with vm_get_register and
 * vm_get_seg_desc.  Usable from a vm_exit_observer_fn; reads only.
 */
void exit_digest_add(struct exit_digest *d, struct vm *vm, int vcpu, const struct vm_exit *vme,
                     bool handled);

uint64_t exit_digest_value(const struct exit_digest *d);

#ifdef __cplusplus
}
#endif

#endif /* SOFTVMM_TRACE_H */
