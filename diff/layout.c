/* The code page both executors build, and names (see dx.h). */
#include "dx.h"

#include <string.h>

/* Linux's 64-bit user code selector (__USER_CS): where the 32- and 16-bit
 * pads jump back to. */
#define USER_CS64 0x33

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* The pad at offset 'at' returns to epilogue 'epi'.  The soft CPU stops
 * before running it, but writes it too: the page must read the same on
 * both CPUs. */
static void pad(uint8_t *page, unsigned at, enum dx_mode mode, uint32_t epi)
{
	uint8_t *p = page + at;
	switch (mode) {
	case DX_MODE64:
		p[0] = 0xe9; /* jmp rel32 */
		put32(p + 1, epi - (at + 5));
		break;
	case DX_MODE16:
		*p++ = 0x66; /* operand size 32: jmp far ptr16:32 */
		             /* fall through */
	case DX_MODE32:
		p[0] = 0xea;
		put32(p + 1, DX_CODE + epi);
		p[5] = USER_CS64;
		p[6] = 0;
		break;
	default:
		break;
	}
}

void dx_code_page(const struct dx_case *c, uint8_t page[DX_PAGE])
{
	memset(page, 0xcc, DX_PAGE);
	memcpy(page, c->code, c->len);
	pad(page, c->len, (enum dx_mode)c->mode, DX_EPILOGUE0);
	if (c->target)
		pad(page, c->target, (enum dx_mode)c->mode, DX_EPILOGUE1);
}

const char *dx_mode_name(enum dx_mode m)
{
	static const char *const names[] = {"64", "32", "16"};
	return m < DX_NMODES ? names[m] : "?";
}

const char *dx_fault_name(enum dx_fault f)
{
	static const char *const names[] = {"none", "#DE",  "#DB", "#BP",   "#OF",    "#BR",
	                                    "#UD",  "segv", "#AC", "other", "harness"};
	return f < DX_NFAULTS ? names[f] : "?";
}

enum dx_fault dx_fault_of_vector(unsigned vector)
{
	switch (vector) {
	case 0:
		return DX_DE;
	case 1:
		return DX_DB;
	case 3:
		return DX_BP;
	case 4:
		return DX_OF_TRAP;
	case 5:
		return DX_BR;
	case 6:
		return DX_UD;
	case 10: /* #TS */
	case 11: /* #NP */
	case 12: /* #SS */
	case 13: /* #GP */
	case 14: /* #PF */
		return DX_SEGV;
	case 17:
		return DX_AC;
	default:
		return DX_OTHER;
	}
}

const char *dx_target_name(enum dx_target t)
{
	static const char *const names[] = {"64", "32c", "32p", "16p", "16r"};
	return t < DX_NTARGETS ? names[t] : "?";
}

enum dx_mode dx_target_mode(enum dx_target t)
{
	return t == DX_T64 ? DX_MODE64 : t == DX_T32 || t == DX_T32P ? DX_MODE32 : DX_MODE16;
}

unsigned dx_targets_of(enum dx_mode m, enum dx_target t[2])
{
	if (m == DX_MODE64) {
		t[0] = DX_T64;
		return 1;
	}
	t[0] = m == DX_MODE32 ? DX_T32 : DX_T16P;
	t[1] = m == DX_MODE32 ? DX_T32P : DX_T16R;
	return 2;
}
