/* The checks of retro's tanh and GELU (test/reference/tanhf.test.ts). Built with fpu.c (the
 * engine's x87 precision control, templates/fpu/x87.c.ejs: a no-op where float is float) and
 * tanhf.c (templates/expf.c.ejs then templates/tanhf.c.ejs, rendered). C89 but for the sweep.
 *   tanhf-check sweep [START STEP]  the positive float32 bit patterns START, START + STEP, ... and
 *                                 their negations (default: all 2^32 but the NaNs), rt_tanhf against
 *                                 tanh correctly rounded (see want_tanhf); prints the failures, the
 *                                 inputs the rounding test leaves undecided that need an exception,
 *                                 the largest error of z0 + z1 and the hash; with -DRT_QUAD only
 *   tanhf-check hash [START STEP]   the same inputs, only the hash of rt_tanhf's bits
 *   tanhf-check tanh IN OUT       float32 bit patterns in file IN (u32 little-endian) -> rt_tanhf's
 *   tanhf-check gelu IN OUT       (rt_gelu_tanhf's) bits in file OUT, little-endian on any machine */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef RT_QUAD
#include <math.h>
#include <quadmath.h>
#endif
typedef unsigned int u32;
typedef int i32;

#include "fpu.c"
#include "tanhf.c"

#define POS_INF 0x7f800000UL

/* a float32 and its bit pattern, through memory */
static u32 bits(float x) { u32 u; memcpy(&u, &x, 4); return u; }
static float from_bits(u32 u) { float x; memcpy(&x, &u, 4); return x; }

#ifdef RT_QUAD
static int checking = 0;
static unsigned long n = 0, fails = 0, hard = 0, undecided = 0;
static double worst = 0.0, worst_at = 0.0;

/* tanh(a) rounded to float32 once, for a float32 a >= 0, or -1 where quad precision cannot decide.
 * Below TINY: a - a^3/3 < tanh a <= a, and a^3/3, with room for double's rounding, is under half the
 * gap below a, so tanh a rounds to a. Above BIG: 1 - 2e^-2a < tanh a < 1, and sweep checks once
 * that 2e^-2BIG < 2^-25, half the gap below 1. Between: glibc's double tanh (within 2 ulps, glibc's
 * libm-test-ulps) decides when it is 16 double ulps or more from the midpoint between two floats;
 * else tanhq (113 bits) decides when it is more than 2^-100 (relative) from it. */
static float want_tanhf(float a, double *d) {
    double mid;
    float y, other;
    __float128 q, qmid;
    if (a < RT_TANHF_TINY) {
        double gap = a == 0.0f ? 1.0 : (double)a - (double)from_bits(bits(a) - 1);
        return (double)a * a * a / 3.0 * (1.0 + 1e-12) < gap / 2.0 ? a : -1.0f;
    }
    if (a > RT_TANHF_BIG) return 1.0f;
    *d = tanh((double)a);
    y = (float)*d;
    other = nextafterf(y, (double)y < *d ? 2.0f : 0.0f);
    mid = ((double)y + (double)other) / 2.0;
    if (fabs(*d - mid) >= 16.0 * (nextafter(*d, 2.0) - *d)) return y;
    hard++;
    q = tanhq((__float128)a);
    y = (float)q;
    other = nextafterf(y, (__float128)y < q ? 2.0f : 0.0f);
    qmid = ((__float128)y + (__float128)other) / 2;
    return fabsq(q - qmid) > q * 0x1p-100Q ? y : -1.0f;
}

/* rt_tanhf(x) and rt_tanhf(-x) against tanh; in the middle, z0 + z1's error and the rounding test */
static void check(u32 u, float x, float y, float m) {
    double d = 0.0;
    float want = want_tanhf(x, &d);
    n += 2;
    if (bits(y) != bits(want) || bits(m) != (bits(want) ^ 0x80000000UL)) {
        if (fails < 200) printf("fail 0x%08x %.9g: got 0x%08x and 0x%08x for its negation, want 0x%08x\n", u, (double)x, bits(y), bits(m), bits(want));
        fails++;
    }
    if (x >= RT_TANHF_TINY && x <= RT_TANHF_BIG) {
        float z0, z1, eps;
        double err;
        rt_tanhf_parts(x, &z0, &z1);
        err = fabs(((double)z0 + z1) / d - 1.0);
        if (err > worst) {
            worst = err;
            worst_at = x;
        }
        eps = z0 * RT_TANHF_EPS;
        if (z0 + (z1 + eps) != z0 + (z1 - eps)) {
            undecided++;
            if (bits(z0 + z1) != bits(want)) printf("exception 0x%08x 0x%08x %.9g: z0 + z1 rounds the wrong way\n", u, bits(want), (double)x);
        }
    }
}
#endif

/* rt_tanhf on the positive float32 bit patterns start, start + step, ... up to infinity and on their
 * negations: the hash of the results (FNV-1a, a lane for each sign so the two multiply chains run
 * side by side). step processes with starts 0 .. step-1 share all 2^32 inputs but the NaNs. */
static u32 sweep(u32 start, u32 step) {
    u32 h = 2166136261UL, g = 2166136261UL, u = start;
    while (u <= POS_INF) {
        float x = from_bits(u), y = rt_tanhf(x), m = rt_tanhf(-x);
        h = (h ^ bits(y)) * 16777619UL;
        g = (g ^ bits(m)) * 16777619UL;
#ifdef RT_QUAD
        if (checking) check(u, x, y, m);
#endif
        u += step;
    }
    return h ^ (g * 2654435761UL);
}

/* u32 little-endian from a file to a file, through f */
static int map(float (*f)(float), const char *in, const char *out) {
    FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
    unsigned char b[4];
    if (!fi || !fo) return 2;
    while (fread(b, 1, 4, fi) == 4) {
        u32 y = bits(f(from_bits((u32)b[0] | (u32)b[1] << 8 | (u32)b[2] << 16 | (u32)b[3] << 24)));
        b[0] = (unsigned char)(y & 0xff);
        b[1] = (unsigned char)(y >> 8 & 0xff);
        b[2] = (unsigned char)(y >> 16 & 0xff);
        b[3] = (unsigned char)(y >> 24 & 0xff);
        fwrite(b, 1, 4, fo);
    }
    fclose(fi);
    return fclose(fo) != 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    u32 start = argc > 3 ? (u32)strtol(argv[2], NULL, 10) : 0;
    u32 step = argc > 3 ? (u32)strtol(argv[3], NULL, 10) : 1;
    rt_fpu_float();
    if (strcmp(mode, "tanh") == 0 && argc == 4) return map(rt_tanhf, argv[2], argv[3]);
    if (strcmp(mode, "gelu") == 0 && argc == 4) return map(rt_gelu_tanhf, argv[2], argv[3]);
    if (strcmp(mode, "hash") == 0) {
        printf("hash 0x%08x\n", sweep(start, step));
        return 0;
    }
#ifdef RT_QUAD
    if (strcmp(mode, "sweep") == 0) {
        u32 h;
        if (!(2 * expq(-2 * (__float128)RT_TANHF_BIG) < 0x1p-25Q)) {
            printf("fail: 2e^-2BIG is not below 2^-25\n");
            return 1;
        }
        checking = 1;
        h = sweep(start, step);
        printf("checked %lu inputs, %lu failures, %lu decided in quad precision, %lu undecided by the rounding test, largest error 2^%.2f at %.9g, hash 0x%08x\n",
               n, fails, hard, undecided, log2(worst), worst_at, h);
        return fails != 0;
    }
#endif
    fprintf(stderr, "usage: tanhf-check sweep|hash [START STEP] | tanh|gelu IN OUT\n");
    return 2;
}
