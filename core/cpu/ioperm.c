/*
 * The TSS I/O permission bitmap (SDM vol. 1 19.5.2, "I/O Permission Bit
 * Map"): one bit per port, at TSS offset (I/O map base) + port / 8; a set
 * bit denies the port.  The bitmap is read with the current TSS's base and
 * limit as TR caches them.
 */
#include "core/cpu/ioperm.h"

int ioperm_map_base(struct cpu *c, uint32_t *base)
{
	/* Types 9 and 11 (32-bit TSS, or 64-bit in IA-32e mode) have bit 3
	 * set; the 16-bit TSS types 1 and 3 have no I/O map base. */
	uint32_t a = c->tr.d.access;
	if ((a & SEGA_UNUSABLE) || !(a & 0x8) || c->tr.d.limit < TSS_IOMAP_BASE + 1)
		return cpu_gp0(c);
	uint16_t b = 0;
	if (cpu_read_linear(c, (c->tr.d.base + TSS_IOMAP_BASE) & c->la_mask, &b, 2))
		return EXEC_STOP;
	*base = b;
	return 0;
}

int ioperm_check_slow(struct cpu *c, uint16_t port, unsigned size)
{
	uint32_t base = 0;
	if (ioperm_map_base(c, &base))
		return EXEC_STOP;
	/* The processor reads two bytes at base + port / 8 for every access,
	 * whatever its size, so that an access whose ports straddle a byte of
	 * the map is covered; both bytes must be within the TSS limit, which
	 * is why a map ends with an extra all-ones byte (SDM vol. 1 19.5.2).
	 * A map base at or beyond the limit therefore denies every port. */
	uint32_t off = base + port / 8u;
	if (off + 1 > c->tr.d.limit)
		return cpu_gp0(c);
	uint8_t b[2];
	if (cpu_read_linear(c, (c->tr.d.base + off) & c->la_mask, b, 2))
		return EXEC_STOP;
	unsigned bits = (unsigned)b[0] | (unsigned)b[1] << 8;
	unsigned want = ((1u << size) - 1) << (port & 7u);
	return (bits & want) ? cpu_gp0(c) : 0;
}
