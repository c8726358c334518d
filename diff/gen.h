/*
 * What a form's table row tells the generator (forms.c, gen.c) beyond its
 * encoding template: how to set up the case (DX_K* flags) and what the SDM
 * leaves undefined (enum dx_undef).
 */
#ifndef SOFTVMM_DIFF_GEN_H
#define SOFTVMM_DIFF_GEN_H

#include "dx.h"

/* Set-up flags. */
#define DX_KSTACK  0x001u /* uses the stack: rSP (and rBP) point into the stack window */
#define DX_KPOPF   0x002u /* pops flags: the value on the stack keeps TF, AC, IF, IOPL sane */
#define DX_KRET    0x004u /* returns: the stack holds the branch target */
#define DX_KSTR    0x008u /* string op: rSI, rDI in the data window, rCX a small count */
#define DX_KDIV    0x010u /* unsigned divide: random cases mostly do not overflow */
#define DX_KIDIV   0x020u /* signed divide: likewise */
#define DX_KBT     0x040u /* bit test: a memory operand's bit offset stays near the window */
#define DX_KCX8    0x080u /* CMPXCHG8B/16B: memory equals rDX:rAX half the time */
#define DX_KXLAT   0x100u /* XLAT: rBX at the window */
#define DX_KENTER  0x200u /* ENTER: small frame size and nesting level */
#define DX_KJMPIND 0x400u /* indirect branch: the r/m operand holds the target */

/* What the SDM leaves undefined, by instruction family. */
enum dx_undef {
	DX_UNONE,
	DX_UAF,    /* AND OR XOR TEST: AF */
	DX_UMUL,   /* MUL IMUL: SF ZF AF PF */
	DX_UDIV,   /* DIV IDIV: all six */
	DX_USHIFT, /* SHL SHR: AF; OF for counts > 1; CF for counts >= the size */
	DX_USAR,   /* SAR: AF; OF for counts > 1 */
	DX_UROT,   /* ROL ROR RCL RCR: OF for masked counts > 1 */
	DX_USHXD,  /* SHLD SHRD: AF, OF for counts > 1; all and the result above the size */
	DX_UBT,    /* BT BTS BTR BTC: OF SF AF PF */
	DX_UBSF,   /* BSF BSR: all but ZF; the destination when the source is 0 */
	DX_UCNT,   /* LZCNT TZCNT: OF SF AF PF */
	DX_UDAA,   /* DAA DAS: OF */
	DX_UAAA,   /* AAA AAS: OF SF ZF PF */
	DX_UAAM,   /* AAM AAD: OF AF CF */
	DX_UBSWAP, /* BSWAP of a 16-bit register: the result */
	DX_UBMI,   /* ANDN BLSI BLSMSK BLSR BEXTR BZHI: AF PF */
};

#endif
