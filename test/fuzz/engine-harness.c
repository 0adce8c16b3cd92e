/*
 * libFuzzer harness for the emitted engine (issue 12): each input is a model.rtr, run through the
 * engine's own main() twice, weights in RAM and streamed, for a few greedy steps. The engine is
 * included unchanged; only these names are redirected, so its checks cannot be bypassed:
 *   main   -> retro_main (the harness calls it like a shell would)
 *   exit   -> longjmp back here (a refused file is a normal outcome, not the end of the process)
 *   malloc, free, fopen, fclose -> tracked, so a refused file's allocations and open files are
 *          released before the next input
 *   stderr -> /dev/null (the refusal lines; sanitizer reports still reach the real stderr)
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -DRT_ENGINE='"retro.c"' engine-harness.c -lm -lpthread
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <limits.h>
#include <float.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <pthread.h>
#include <unistd.h>

typedef struct Block {
    struct Block *prev, *next;
    size_t pad[2]; /* keeps the user block 16-byte aligned like malloc's */
} Block;

static Block fz_blocks = {&fz_blocks, &fz_blocks, {0, 0}};
static FILE *fz_files[64];
static FILE *fz_null;
static jmp_buf fz_env;

static void *fz_malloc(size_t n) {
    Block *b = (Block *)malloc(sizeof(Block) + n);
    if (b == NULL) return NULL;
    b->next = fz_blocks.next;
    b->prev = &fz_blocks;
    fz_blocks.next->prev = b;
    fz_blocks.next = b;
    return b + 1;
}

static void fz_release(Block *b) {
    b->prev->next = b->next;
    b->next->prev = b->prev;
    free(b);
}

static void fz_free(void *p) {
    if (p != NULL) fz_release((Block *)p - 1);
}

static FILE *fz_fopen(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    int i;
    for (i = 0; f != NULL && i < 64; i++) {
        if (fz_files[i] == NULL) {
            fz_files[i] = f;
            break;
        }
    }
    return f;
}

static int fz_fclose(FILE *f) {
    int i;
    for (i = 0; i < 64; i++) if (fz_files[i] == f) fz_files[i] = NULL;
    return fclose(f);
}

static void fz_exit(int code) __attribute__((noreturn));
static void fz_exit(int code) {
    longjmp(fz_env, code == 0 ? 256 : code);
}

#define main retro_main
#define exit fz_exit
#define malloc fz_malloc
#define free fz_free
#define fopen fz_fopen
#define fclose fz_fclose
#undef stderr
#define stderr fz_null
#include RT_ENGINE
#undef main
#undef exit
#undef malloc
#undef free
#undef fopen
#undef fclose
#undef stderr
#define stderr stderr

static char fz_path[64];

static void fz_remove_input(void) {
    remove(fz_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_null = fopen("/dev/null", "w");
    if (freopen("/dev/null", "w", stdout) == NULL) abort();
    sprintf(fz_path, "/tmp/retro-fuzz-%ld.rtr", (long)getpid());
    atexit(fz_remove_input);
    return 0;
}

/* Everything a refused file left behind: allocations, open files, the engine's counters. */
static void fz_reset(void) {
    int i;
    while (fz_blocks.next != &fz_blocks) fz_release(fz_blocks.next);
    for (i = 0; i < 64; i++) {
        if (fz_files[i] != NULL) fclose(fz_files[i]);
        fz_files[i] = NULL;
    }
    rt_live_bytes = 0;
    rt_peak_bytes = 0;
    rt_quit = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char *argv_ram[] = {"retro", fz_path, "-t", "0", "-s", "1", "-n", "3", "-j", "1", "-B", "64", "-i", "Once upon", "-S", "0", NULL};
    static char *argv_stream[] = {"retro", fz_path, "-t", "0", "-s", "1", "-n", "3", "-j", "1", "-B", "64", "-i", "Once upon", "-S", "1", NULL};
    char **runs[2];
    int r;
    FILE *f = fopen(fz_path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    runs[0] = argv_ram;
    runs[1] = argv_stream;
    for (r = 0; r < 2; r++) {
        if (setjmp(fz_env) == 0) retro_main(16, runs[r]);
        fz_reset();
    }
    return 0;
}
