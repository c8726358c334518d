/*
 * The instruction forms the harness runs: one row each, so adding a form is
 * adding a line.  A row is {name, template, sizes, modes, set-up flags,
 * undefined rule, CPUID feature}.
 *
 * The template is a list of tokens (gen.c reads it):
 *   hh        a byte in hex: leading f0/f2/f3/66/67 are prefixes (before REX)
 *   +r        the previous byte plus a register (REX.B for R8..R15)
 *   +cc       the previous byte plus a condition code, 0..15
 *   /r /0../7 a ModRM byte; /r has a register operand in reg; the r/m
 *             operand is a register or memory (a variant each), or only
 *             memory (/rm, /1m) or only a register (/rr, /1r)
 *   rm8 rm16 rm32   the r/m operand's size when it is not the operand size
 *   ib iw iz io     an immediate: 8, 16, 16/32 (by operand size), full size
 *   ic        an 8-bit shift count, 0..67
 *   cb cz     a relative branch (8 bits, 16/32 bits) to the case's target
 *   $a $d     rAX, rDX at the operand size; $al AL and $h AH (all 256
 *             values); $ax AX; $c CL as a shift count; $cx rCX as a count
 *   d64       64-bit operand size by default in 64-bit mode (PUSH, POP...)
 *   f64       64-bit operand size only, in 64-bit mode (near branches)
 * The generator adds 66 and REX.W for the operand size; sizes lists the
 * sizes a form has (DX_S8 meaning no size prefix at all).
 */
#include "dx.h"
#include "gen.h"

#define SW   (DX_S16 | DX_S32 | DX_S64) /* the 16/32/64-bit opcode of a pair */
#define S8   DX_S8
#define ALL  (DX_M64 | DX_M32 | DX_M16)
#define LEG  (DX_M32 | DX_M16)
#define M64  DX_M64
#define NONE DX_FEAT_NONE

/* Shifts and rotates: by 1, by CL and by an immediate, 8-bit and wider. */
#define SHIFT(op, d, u)                                                                            \
	{#op, "d0 /" #d, S8, ALL, 0, u, NONE}, {#op, "d1 /" #d, SW, ALL, 0, u, NONE},              \
	    {#op, "d2 /" #d " $c", S8, ALL, 0, u, NONE},                                           \
	    {#op, "d3 /" #d " $c", SW, ALL, 0, u, NONE},                                           \
	    {#op, "c0 /" #d " ic", S8, ALL, 0, u, NONE},                                           \
	{                                                                                          \
#op, "c1 /" #d " ic", SW, ALL, 0, u, NONE                                          \
	}

/* String instructions: plain and with their REP prefixes. */
#define STR(op, b8, bw, more)                                                                      \
	{#op, b8 more, S8, ALL, DX_KSTR, 0, NONE}, {#op, bw more, SW, ALL, DX_KSTR, 0, NONE},      \
	    {"rep " #op, "f3 " b8 more " $cx", S8, ALL, DX_KSTR, 0, NONE},                         \
	    {"rep " #op, "f3 " bw more " $cx", SW, ALL, DX_KSTR, 0, NONE},                         \
	{                                                                                          \
		"rep " #op " a32/16", "67 f3 " b8 more " $cx", S8, M64 | DX_M16, DX_KSTR, 0, NONE  \
	}
#define STRCMP(op, b8, bw, more)                                                                   \
	STR(op, b8, bw, more), {"repne " #op, "f2 " b8 more " $cx", S8, ALL, DX_KSTR, 0, NONE},    \
	{                                                                                          \
		"repne " #op, "f2 " bw more " $cx", SW, ALL, DX_KSTR, 0, NONE                      \
	}

const struct dx_form dx_forms[] = {
    /* ALU: the row digit n gives opcodes n0..n5 (by 8s) and 80/81/83 /n. */
    {"add", "00 /r", S8, ALL, 0, 0, NONE},
    {"add", "01 /r", SW, ALL, 0, 0, NONE},
    {"add", "02 /r", S8, ALL, 0, 0, NONE},
    {"add", "03 /r", SW, ALL, 0, 0, NONE},
    {"add", "$a 04 ib", S8, ALL, 0, 0, NONE},
    {"add", "$a 05 iz", SW, ALL, 0, 0, NONE},
    {"add", "80 /0 ib", S8, ALL, 0, 0, NONE},
    {"add", "81 /0 iz", SW, ALL, 0, 0, NONE},
    {"add", "83 /0 ib", SW, ALL, 0, 0, NONE},
    {"add", "82 /0 ib", S8, LEG, 0, 0, NONE},
    {"add locked", "f0 01 /rm", SW, ALL, 0, 0, NONE},
    {"or", "08 /r", S8, ALL, 0, DX_UAF, NONE},
    {"or", "09 /r", SW, ALL, 0, DX_UAF, NONE},
    {"or", "0a /r", S8, ALL, 0, DX_UAF, NONE},
    {"or", "0b /r", SW, ALL, 0, DX_UAF, NONE},
    {"or", "$a 0c ib", S8, ALL, 0, DX_UAF, NONE},
    {"or", "$a 0d iz", SW, ALL, 0, DX_UAF, NONE},
    {"or", "80 /1 ib", S8, ALL, 0, DX_UAF, NONE},
    {"or", "81 /1 iz", SW, ALL, 0, DX_UAF, NONE},
    {"or", "83 /1 ib", SW, ALL, 0, DX_UAF, NONE},
    {"adc", "10 /r", S8, ALL, 0, 0, NONE},
    {"adc", "11 /r", SW, ALL, 0, 0, NONE},
    {"adc", "12 /r", S8, ALL, 0, 0, NONE},
    {"adc", "13 /r", SW, ALL, 0, 0, NONE},
    {"adc", "$a 14 ib", S8, ALL, 0, 0, NONE},
    {"adc", "$a 15 iz", SW, ALL, 0, 0, NONE},
    {"adc", "80 /2 ib", S8, ALL, 0, 0, NONE},
    {"adc", "81 /2 iz", SW, ALL, 0, 0, NONE},
    {"adc", "83 /2 ib", SW, ALL, 0, 0, NONE},
    {"adc locked", "f0 11 /rm", SW, ALL, 0, 0, NONE},
    {"sbb", "18 /r", S8, ALL, 0, 0, NONE},
    {"sbb", "19 /r", SW, ALL, 0, 0, NONE},
    {"sbb", "1a /r", S8, ALL, 0, 0, NONE},
    {"sbb", "1b /r", SW, ALL, 0, 0, NONE},
    {"sbb", "$a 1c ib", S8, ALL, 0, 0, NONE},
    {"sbb", "$a 1d iz", SW, ALL, 0, 0, NONE},
    {"sbb", "80 /3 ib", S8, ALL, 0, 0, NONE},
    {"sbb", "81 /3 iz", SW, ALL, 0, 0, NONE},
    {"sbb", "83 /3 ib", SW, ALL, 0, 0, NONE},
    {"and", "20 /r", S8, ALL, 0, DX_UAF, NONE},
    {"and", "21 /r", SW, ALL, 0, DX_UAF, NONE},
    {"and", "22 /r", S8, ALL, 0, DX_UAF, NONE},
    {"and", "23 /r", SW, ALL, 0, DX_UAF, NONE},
    {"and", "$a 24 ib", S8, ALL, 0, DX_UAF, NONE},
    {"and", "$a 25 iz", SW, ALL, 0, DX_UAF, NONE},
    {"and", "80 /4 ib", S8, ALL, 0, DX_UAF, NONE},
    {"and", "81 /4 iz", SW, ALL, 0, DX_UAF, NONE},
    {"and", "83 /4 ib", SW, ALL, 0, DX_UAF, NONE},
    {"sub", "28 /r", S8, ALL, 0, 0, NONE},
    {"sub", "29 /r", SW, ALL, 0, 0, NONE},
    {"sub", "2a /r", S8, ALL, 0, 0, NONE},
    {"sub", "2b /r", SW, ALL, 0, 0, NONE},
    {"sub", "$a 2c ib", S8, ALL, 0, 0, NONE},
    {"sub", "$a 2d iz", SW, ALL, 0, 0, NONE},
    {"sub", "80 /5 ib", S8, ALL, 0, 0, NONE},
    {"sub", "81 /5 iz", SW, ALL, 0, 0, NONE},
    {"sub", "83 /5 ib", SW, ALL, 0, 0, NONE},
    {"sub locked", "f0 29 /rm", SW, ALL, 0, 0, NONE},
    {"xor", "30 /r", S8, ALL, 0, DX_UAF, NONE},
    {"xor", "31 /r", SW, ALL, 0, DX_UAF, NONE},
    {"xor", "32 /r", S8, ALL, 0, DX_UAF, NONE},
    {"xor", "33 /r", SW, ALL, 0, DX_UAF, NONE},
    {"xor", "$a 34 ib", S8, ALL, 0, DX_UAF, NONE},
    {"xor", "$a 35 iz", SW, ALL, 0, DX_UAF, NONE},
    {"xor", "80 /6 ib", S8, ALL, 0, DX_UAF, NONE},
    {"xor", "81 /6 iz", SW, ALL, 0, DX_UAF, NONE},
    {"xor", "83 /6 ib", SW, ALL, 0, DX_UAF, NONE},
    {"cmp", "38 /r", S8, ALL, 0, 0, NONE},
    {"cmp", "39 /r", SW, ALL, 0, 0, NONE},
    {"cmp", "3a /r", S8, ALL, 0, 0, NONE},
    {"cmp", "3b /r", SW, ALL, 0, 0, NONE},
    {"cmp", "$a 3c ib", S8, ALL, 0, 0, NONE},
    {"cmp", "$a 3d iz", SW, ALL, 0, 0, NONE},
    {"cmp", "80 /7 ib", S8, ALL, 0, 0, NONE},
    {"cmp", "81 /7 iz", SW, ALL, 0, 0, NONE},
    {"cmp", "83 /7 ib", SW, ALL, 0, 0, NONE},
    {"test", "84 /r", S8, ALL, 0, DX_UAF, NONE},
    {"test", "85 /r", SW, ALL, 0, DX_UAF, NONE},
    {"test", "$a a8 ib", S8, ALL, 0, DX_UAF, NONE},
    {"test", "$a a9 iz", SW, ALL, 0, DX_UAF, NONE},
    {"test", "f6 /0 ib", S8, ALL, 0, DX_UAF, NONE},
    {"test", "f7 /0 iz", SW, ALL, 0, DX_UAF, NONE},
    {"test (/1 alias)", "f6 /1 ib", S8, ALL, 0, DX_UAF, NONE},
    {"test (/1 alias)", "f7 /1 iz", SW, ALL, 0, DX_UAF, NONE},
    {"inc", "fe /0", S8, ALL, 0, 0, NONE},
    {"inc", "ff /0", SW, ALL, 0, 0, NONE},
    {"inc", "40 +r", SW, LEG, 0, 0, NONE},
    {"dec", "fe /1", S8, ALL, 0, 0, NONE},
    {"dec", "ff /1", SW, ALL, 0, 0, NONE},
    {"dec", "48 +r", SW, LEG, 0, 0, NONE},
    {"not", "f6 /2", S8, ALL, 0, 0, NONE},
    {"not", "f7 /2", SW, ALL, 0, 0, NONE},
    {"neg", "f6 /3", S8, ALL, 0, 0, NONE},
    {"neg", "f7 /3", SW, ALL, 0, 0, NONE},
    {"inc locked", "f0 ff /0m", SW, ALL, 0, 0, NONE},
    {"neg locked", "f0 f7 /3m", SW, ALL, 0, 0, NONE},

    /* Shifts and rotates. */
    SHIFT(rol, 0, DX_UROT),
    SHIFT(ror, 1, DX_UROT),
    SHIFT(rcl, 2, DX_UROT),
    SHIFT(rcr, 3, DX_UROT),
    SHIFT(shl, 4, DX_USHIFT),
    SHIFT(shr, 5, DX_USHIFT),
    SHIFT(sal(/ 6), 6, DX_USHIFT),
    SHIFT(sar, 7, DX_USAR),
    {"shld", "0f a4 /r ic", SW, ALL, 0, DX_USHXD, NONE},
    {"shld", "0f a5 /r $c", SW, ALL, 0, DX_USHXD, NONE},
    {"shrd", "0f ac /r ic", SW, ALL, 0, DX_USHXD, NONE},
    {"shrd", "0f ad /r $c", SW, ALL, 0, DX_USHXD, NONE},

    /* Multiply and divide. */
    {"mul", "f6 /4 $a", S8, ALL, 0, DX_UMUL, NONE},
    {"mul", "f7 /4 $a", SW, ALL, 0, DX_UMUL, NONE},
    {"imul", "f6 /5 $a", S8, ALL, 0, DX_UMUL, NONE},
    {"imul", "f7 /5 $a", SW, ALL, 0, DX_UMUL, NONE},
    {"imul", "0f af /r", SW, ALL, 0, DX_UMUL, NONE},
    {"imul", "69 /r iz", SW, ALL, 0, DX_UMUL, NONE},
    {"imul", "6b /r ib", SW, ALL, 0, DX_UMUL, NONE},
    {"div", "f6 /6 $ax", S8, ALL, DX_KDIV, DX_UDIV, NONE},
    {"div", "f7 /6 $a $d", SW, ALL, DX_KDIV, DX_UDIV, NONE},
    {"idiv", "f6 /7 $ax", S8, ALL, DX_KIDIV, DX_UDIV, NONE},
    {"idiv", "f7 /7 $a $d", SW, ALL, DX_KIDIV, DX_UDIV, NONE},

    /* BCD: 32- and 16-bit modes; #UD in 64-bit mode. */
    {"daa", "27 $al", S8, ALL, 0, DX_UDAA, NONE},
    {"das", "2f $al", S8, ALL, 0, DX_UDAA, NONE},
    {"aaa", "37 $al", S8, ALL, 0, DX_UAAA, NONE},
    {"aas", "3f $al", S8, ALL, 0, DX_UAAA, NONE},
    {"aam", "d4 ib $al", S8, ALL, 0, DX_UAAM, NONE},
    {"aad", "d5 ib $ax", S8, ALL, 0, DX_UAAM, NONE},

    /* Bit tests, scans and counts. */
    {"bt", "0f a3 /r", SW, ALL, DX_KBT, DX_UBT, NONE},
    {"bts", "0f ab /r", SW, ALL, DX_KBT, DX_UBT, NONE},
    {"btr", "0f b3 /r", SW, ALL, DX_KBT, DX_UBT, NONE},
    {"btc", "0f bb /r", SW, ALL, DX_KBT, DX_UBT, NONE},
    {"bt", "0f ba /4 ib", SW, ALL, 0, DX_UBT, NONE},
    {"bts", "0f ba /5 ib", SW, ALL, 0, DX_UBT, NONE},
    {"btr", "0f ba /6 ib", SW, ALL, 0, DX_UBT, NONE},
    {"btc", "0f ba /7 ib", SW, ALL, 0, DX_UBT, NONE},
    {"bts locked", "f0 0f ab /rm", SW, ALL, DX_KBT, DX_UBT, NONE},
    {"bsf", "0f bc /r", SW, ALL, 0, DX_UBSF, NONE},
    {"bsr", "0f bd /r", SW, ALL, 0, DX_UBSF, NONE},
    {"popcnt", "f3 0f b8 /r", SW, ALL, 0, 0, DX_FEAT_POPCNT},
    {"tzcnt", "f3 0f bc /r", SW, ALL, 0, DX_UCNT, DX_FEAT_BMI1},
    {"lzcnt", "f3 0f bd /r", SW, ALL, 0, DX_UCNT, DX_FEAT_LZCNT},
    {"bswap", "0f c8 +r", SW, ALL, 0, DX_UBSWAP, NONE},
    {"movbe", "0f 38 f0 /rm", SW, ALL, 0, 0, DX_FEAT_MOVBE},
    {"movbe", "0f 38 f1 /rm", SW, ALL, 0, 0, DX_FEAT_MOVBE},
    {"adcx", "66 0f 38 f6 /r", DX_S32 | DX_S64, M64 | DX_M32, 0, 0, DX_FEAT_ADX},
    {"adox", "f3 0f 38 f6 /r", DX_S32 | DX_S64, M64 | DX_M32, 0, 0, DX_FEAT_ADX},

    /* Exchanges and compare-exchanges. */
    {"xchg", "86 /r", S8, ALL, 0, 0, NONE},
    {"xchg", "87 /r", SW, ALL, 0, 0, NONE},
    {"xchg", "$a 90 +r", SW, ALL, 0, 0, NONE},
    {"xadd", "0f c0 /r", S8, ALL, 0, 0, NONE},
    {"xadd", "0f c1 /r", SW, ALL, 0, 0, NONE},
    {"cmpxchg", "$a 0f b0 /r", S8, ALL, 0, 0, NONE},
    {"cmpxchg", "$a 0f b1 /r", SW, ALL, 0, 0, NONE},
    {"cmpxchg locked", "$a f0 0f b1 /rm", SW, ALL, 0, 0, NONE},
    {"cmpxchg8b", "0f c7 /1m", S8, ALL, DX_KCX8, 0, DX_FEAT_CX8},
    {"cmpxchg8b locked", "f0 0f c7 /1m", S8, ALL, DX_KCX8, 0, DX_FEAT_CX8},
    {"cmpxchg16b", "0f c7 /1m", DX_S64, M64, DX_KCX8, 0, DX_FEAT_CX16},

    /* Conditions, moves and extensions. */
    {"setcc", "0f 90 +cc /0", S8, ALL, 0, 0, NONE},
    {"cmovcc", "0f 40 +cc /r", SW, ALL, 0, 0, NONE},
    {"mov", "88 /r", S8, ALL, 0, 0, NONE},
    {"mov", "89 /r", SW, ALL, 0, 0, NONE},
    {"mov", "8a /r", S8, ALL, 0, 0, NONE},
    {"mov", "8b /r", SW, ALL, 0, 0, NONE},
    {"mov", "b0 +r ib", S8, ALL, 0, 0, NONE},
    {"mov", "b8 +r io", SW, ALL, 0, 0, NONE},
    {"mov", "c6 /0 ib", S8, ALL, 0, 0, NONE},
    {"mov", "c7 /0 iz", SW, ALL, 0, 0, NONE},
    {"movzx", "0f b6 /r rm8", SW, ALL, 0, 0, NONE},
    {"movzx", "0f b7 /r rm16", SW, ALL, 0, 0, NONE},
    {"movsx", "0f be /r rm8", SW, ALL, 0, 0, NONE},
    {"movsx", "0f bf /r rm16", SW, ALL, 0, 0, NONE},
    {"movsxd", "63 /r rm32", DX_S32 | DX_S64, M64, 0, 0, NONE},
    {"cbw/cwde/cdqe", "98 $a", SW, ALL, 0, 0, NONE},
    {"cwd/cdq/cqo", "99 $a", SW, ALL, 0, 0, NONE},
    {"lahf", "9f", S8, ALL, 0, 0, DX_FEAT_LAHF64},
    {"sahf", "9e $h", S8, ALL, 0, 0, DX_FEAT_LAHF64},
    {"xlat", "d7 $al", S8, ALL, DX_KXLAT, 0, NONE},
    {"lea", "8d /rm", SW, ALL, 0, 0, NONE},
    {"cmc", "f5", S8, ALL, 0, 0, NONE},
    {"clc", "f8", S8, ALL, 0, 0, NONE},
    {"stc", "f9", S8, ALL, 0, 0, NONE},
    {"cld", "fc", S8, ALL, 0, 0, NONE},
    {"std", "fd", S8, ALL, 0, 0, NONE},
    {"nop", "0f 1f /0", SW, ALL, 0, 0, NONE},

    /* Strings. */
    STR(movs, "a4", "a5", ""),
    STR(stos, "aa", "ab", " $a"),
    STR(lods, "ac", "ad", ""),
    STRCMP(cmps, "a6", "a7", ""),
    STRCMP(scas, "ae", "af", " $a"),

    /* The stack. */
    {"push", "d64 50 +r", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"pop", "d64 58 +r", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"push", "d64 ff /6", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"pop", "d64 8f /0", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"push", "d64 6a ib", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"push", "d64 68 iz", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"pushf", "d64 9c", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"popf", "d64 9d", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK | DX_KPOPF, 0, NONE},
    {"pusha", "60", DX_S16 | DX_S32, LEG, DX_KSTACK, 0, NONE},
    {"popa", "61", DX_S16 | DX_S32, LEG, DX_KSTACK, 0, NONE},
    {"enter", "d64 c8 iw ib", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK | DX_KENTER, 0, NONE},
    {"leave", "d64 c9", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},

    /* Branches: the case's target is a pad inside the code page. */
    {"jmp", "eb cb", S8, ALL, 0, 0, NONE},
    {"jmp", "f64 e9 cz", DX_S16 | DX_S32 | DX_S64, ALL, 0, 0, NONE},
    {"jcc", "70 +cc cb", S8, ALL, 0, 0, NONE},
    {"jcc", "f64 0f 80 +cc cz", DX_S16 | DX_S32 | DX_S64, ALL, 0, 0, NONE},
    {"jrcxz", "e3 cb $cx", S8, ALL, 0, 0, NONE},
    {"loop", "e2 cb $cx", S8, ALL, 0, 0, NONE},
    {"loope", "e1 cb $cx", S8, ALL, 0, 0, NONE},
    {"loopne", "e0 cb $cx", S8, ALL, 0, 0, NONE},
    {"jrcxz a32/16", "67 e3 cb $cx", S8, ALL, 0, 0, NONE},
    {"loop a32/16", "67 e2 cb $cx", S8, ALL, 0, 0, NONE},
    {"call", "f64 e8 cz", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK, 0, NONE},
    {"ret", "f64 c3", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK | DX_KRET, 0, NONE},
    {"ret imm", "f64 c2 iw", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK | DX_KRET, 0, NONE},
    {"call ind", "f64 ff /2", DX_S16 | DX_S32 | DX_S64, ALL, DX_KSTACK | DX_KJMPIND, 0, NONE},
    {"jmp ind", "f64 ff /4", DX_S16 | DX_S32 | DX_S64, ALL, DX_KJMPIND, 0, NONE},

    /* Exceptions. */
    {"int3", "cc", S8, ALL, 0, 0, NONE},
    {"into", "ce", S8, LEG, 0, 0, NONE},
    {"ud2", "0f 0b", S8, ALL, 0, 0, NONE},
    {"bound", "62 /rm", DX_S16 | DX_S32, LEG, 0, 0, NONE},
};

const unsigned dx_nforms = sizeof(dx_forms) / sizeof(dx_forms[0]);
