/*
 * llama.cpp's own code as an oracle for tests, linked against the libllama and libggml-base
 * that node-llama-cpp ships:
 *   ggml-oracle quantize IN.gguf OUT.gguf FTYPE [pure]   llama_model_quantize with a llama_ftype number
 *                                                     (requantizing allowed; pure: every matrix of that type)
 *   ggml-oracle dequant IN.gguf OUTDIR            every tensor through ggml's to_float, as OUTDIR/<name>.f32
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

static int quantize(const char *in, const char *out, int ftype, int pure) {
    llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (enum llama_ftype)ftype;
    p.nthread = 1;
    p.allow_requantize = true;
    p.pure = pure != 0;
    llama_backend_init();
    return llama_model_quantize(in, out, &p) == 0 ? 0 : 1;
}

static int dequant(const char *in, const char *outdir) {
    struct gguf_init_params ip = { true, NULL };
    struct gguf_context *g = gguf_init_from_file(in, ip);
    FILE *f;
    int64_t i, n;
    if (!g) return 1;
    f = fopen(in, "rb");
    if (!f) return 1;
    n = gguf_get_n_tensors(g);
    for (i = 0; i < n; i++) {
        const char *name = gguf_get_tensor_name(g, i);
        enum ggml_type type = gguf_get_tensor_type(g, i);
        size_t size = gguf_get_tensor_size(g, i);
        size_t count = size / ggml_type_size(type) * ggml_blck_size(type);
        void *raw = malloc(size);
        float *y = malloc(count * sizeof(float));
        char path[4096];
        FILE *o;
        if (fseek(f, (long)(gguf_get_data_offset(g) + gguf_get_tensor_offset(g, i)), SEEK_SET) != 0) return 1;
        if (fread(raw, 1, size, f) != size) return 1;
        if (type == GGML_TYPE_F32) memcpy(y, raw, size);
        else ggml_get_type_traits(type)->to_float(raw, y, (int64_t)count);
        snprintf(path, sizeof path, "%s/%s.f32", outdir, name);
        o = fopen(path, "wb");
        if (!o || fwrite(y, sizeof(float), count, o) != count) return 1;
        fclose(o);
        free(raw);
        free(y);
    }
    fclose(f);
    gguf_free(g);
    return 0;
}

int main(int argc, char **argv) {
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "quantize") == 0) return quantize(argv[2], argv[3], atoi(argv[4]), argc == 6);
    if (argc == 4 && strcmp(argv[1], "dequant") == 0) return dequant(argv[2], argv[3]);
    fprintf(stderr, "usage: ggml-oracle quantize IN OUT FTYPE [pure] | dequant IN OUTDIR\n");
    return 2;
}
