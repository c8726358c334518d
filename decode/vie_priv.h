/*
 * Shared between the three parts of softvmm's bhyve-style instruction
 * emulation: vie.c (helpers and fetch), vie_decode.c and vie_emulate.c.
 */
#ifndef SOFTVMM_DECODE_VIE_PRIV_H
#define SOFTVMM_DECODE_VIE_PRIV_H

#include <softvmm/vmm.h>

/*
 * The register that an instruction encodes as number 'num' (0-15: ModRM.reg,
 * ModRM.rm, SIB.base, SIB.index, each extended by its REX bit), SDM vol. 2
 * table 2-2 and 2.2.1.2: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15.
 */
enum vm_reg_name vie_gpr(unsigned int num);

#endif /* SOFTVMM_DECODE_VIE_PRIV_H */
