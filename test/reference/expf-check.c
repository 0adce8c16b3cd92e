/* The exhaustive check of retro's exp (test/reference/expf.test.ts). Built with expf.c, rendered
 * from templates/expf.c.ejs.
 *   expf-check sweep      every float32 bit pattern: rt_expf against exp correctly rounded
 *                         (double exp, and __float128 expq where double is too close to a
 *                         midpoint to decide); prints the failures and a hash of all results
 *   expf-check hash       only the hash of rt_expf over every float32 (for builds without quad)
 *   expf-check map        float32 bit patterns on stdin (u32, little-endian) -> rt_expf's bits on stdout */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#ifdef RT_QUAD
#include <quadmath.h>
#endif
typedef unsigned int u32;
typedef int i32;

#include "expf.c"

#if defined(__GNUC__) && defined(__i386__) && !defined(__SSE2_MATH__)
static void single_precision(void) {
    unsigned short cw;
    __asm__ __volatile__("fnstcw %0" : "=m"(cw));
    cw = (unsigned short)((cw & ~0x300u) | 0x000u);
    __asm__ __volatile__("fldcw %0" : : "m"(cw));
}
#else
static void single_precision(void) {}
#endif

static u32 bits(float x) {
    RtBits w;
    w.f = x;
    return w.u;
}

static float from_bits(u32 u) {
    RtBits w;
    w.u = u;
    return w.f;
}

#ifdef RT_QUAD
/* exp(x) rounded to float32 once. */
static float exact_expf(float x, int *hard) {
    double d = exp((double)x);
    float y = (float)d, other;
    double mid;
    *hard = 0;
    if (isinf(d) || d == 0.0) return y;
    other = nextafterf(y, (double)y < d ? INFINITY : 0.0f);
    mid = ((double)y + (double)other) / 2.0;
    /* glibc's exp is within one ulp of double: four ulps from a midpoint decide */
    if (fabs(d - mid) > 4.0 * (nextafter(d, INFINITY) - d)) return y;
    *hard = 1;
    return (float)expq((__float128)x);
}
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "sweep";
    u32 hash = 2166136261u;
    unsigned long fails = 0, hard = 0, n = 0;
    u32 u = 0;
    single_precision();
    if (strcmp(mode, "map") == 0) {
        u32 in[4096], out[4096];
        size_t got, i;
        while ((got = fread(in, 4, 4096, stdin)) > 0) {
            for (i = 0; i < got; i++) out[i] = bits(rt_expf(from_bits(in[i])));
            fwrite(out, 4, got, stdout);
        }
        return 0;
    }
    do {
        float x = from_bits(u);
        float y = rt_expf(x);
        u32 yb = bits(y);
        hash = (hash ^ yb) * 16777619u;
#ifdef RT_QUAD
        if (strcmp(mode, "sweep") == 0 && x == x) {
            int h;
            float want = exact_expf(x, &h);
            hard += (unsigned long)h;
            n++;
            if (bits(want) != yb) {
                if (fails < 200) printf("fail 0x%08x %.9g: got 0x%08x want 0x%08x\n", u, (double)x, yb, bits(want));
                fails++;
            }
        }
#endif
        u++;
    } while (u != 0);
    printf("checked %lu inputs, %lu failures, %lu decided in quad precision, hash 0x%08x\n", n, fails, hard, hash);
    return fails != 0;
}
