/* sqrt as the engine calls it, (float)sqrt((double)x), on every positive float32 with exponent 0
 * or 1 (sqrt(4x) = 2 sqrt(x) exactly, so these decide every positive normal input) and every
 * positive subnormal: prints an FNV-1a hash of the results for test/reference/sqrt.test.ts to
 * compare with the correctly rounded ones. On x87 the precision control is single, as in the engine. */
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <limits.h>
#if UINT_MAX == 0xFFFFFFFFUL
typedef unsigned int u32;
#else
typedef unsigned long u32;
#endif

#if defined(__GNUC__) && defined(__i386__) && !defined(__SSE_MATH__)
static void single_precision(void) {
    unsigned short cw;
    __asm__ __volatile__("fnstcw %0" : "=m"(cw));
    cw = (unsigned short)(cw & ~0x300u);
    __asm__ __volatile__("fldcw %0" : : "m"(cw));
}
#else
static void single_precision(void) {}
#endif

static u32 hash = 2166136261UL;

static void check(u32 u) {
    float x, y;
    u32 b;
    memcpy(&x, &u, 4);
    y = (float)sqrt((double)x);
    memcpy(&b, &y, 4);
    hash = ((hash ^ b) * 16777619UL) & 0xFFFFFFFFUL;
}

int main(void) {
    u32 u;
    single_precision();
    for (u = 0x3f800000UL; u < 0x40800000UL; u++) check(u);
    for (u = 1; u < 0x800000UL; u++) check(u);
    printf("hash 0x%08lx\n", (unsigned long)hash);
    return 0;
}
