// ggml_oracle: a thin, stable C ABI (for ctypes) and a CLI around ggml's own scalar quantization
// code, so ArrowQuant's Rust kernels can be checked byte for byte against it and timed against it.
//
// This file is ArrowQuant's; ggml itself is not in the repository. scripts/setup-ggml.sh fetches the
// pinned llama-cpp-python sdist (which vendors llama.cpp), builds ggml's `ggml-base` target (the
// portable reference code: no ggml-cpu backend, no SIMD, no -march, -ffp-contract=off) and links it
// with this file into .cache/ggml/<version>/out/{libggml_oracle.so,ggml_oracle}, plus ggml_oracle_O3
// (ggml-quants.c at -O3 as llama.cpp's Release build ships it: same bytes, the speed baseline).
//
// Modes of quantization (what each calls in ggml-quants.c):
//   "ref"   quantize_row_<t>_ref(row, ...) row by row: the no-importance reference. No imatrix.
//   "api"   quantize_<t>(src, dst, nrows, n_per_row, imatrix_or_NULL): what llama.cpp's quantizer
//           reaches. With imatrix NULL it forwards to quantize_row_<t>_ref for every type here, so
//           "api" without an imatrix is byte-identical to "ref" (tests/python checks this). With an
//           imatrix it runs the static quantize_row_<t>_impl (a different search: make_qkx3_quants /
//           make_qp_quants / make_qx_quants with weights). q8_0 ignores the imatrix.
//   "chunk" ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix_or_NULL): the entry
//           point llama.cpp's llama-quantize calls; a switch over the quantize_<t> above.
//
// C ABI (every function returns a negative ORACLE_E* code on bad input; ggml itself is never
// handed input it would GGML_ASSERT on; oracle_last_error() says what was wrong):
//   const char *oracle_version(void);
//   int64_t oracle_block_size(const char *type);              elements per block
//   int64_t oracle_type_size(const char *type);               bytes per block
//   int64_t oracle_row_size(const char *type, int64_t n);     bytes for n elements
//   int64_t oracle_quantize(type, src, nrows, n_per_row, imatrix_or_null, dst)
//           imatrix NULL -> "ref", else -> "api"; returns bytes written
//   int64_t oracle_quantize_mode(type, mode, src, nrows, n_per_row, imatrix_or_null, dst)
//   int64_t oracle_dequantize(type, src, n, dst)              dequantize_row_<t>; returns floats written
//
// CLI: see usage() below.

#define _POSIX_C_SOURCE 200809L

#include "ggml.h"
#include "ggml-quants.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef ORACLE_SDIST_VERSION
#define ORACLE_SDIST_VERSION "unknown"
#endif
#ifndef ORACLE_LLAMA_CPP_COMMIT
#define ORACLE_LLAMA_CPP_COMMIT "unknown"
#endif

#define ORACLE_API __attribute__((visibility("default")))

enum {
    ORACLE_EUNKNOWN_TYPE = -1,
    ORACLE_EBAD_MODE = -2,
    ORACLE_EBAD_SHAPE = -3,
    ORACLE_EIMATRIX_IN_REF = -4,
    ORACLE_ENULL = -5,
};

typedef void (*oracle_ref_fn)(const float *x, void *y, int64_t k);
typedef size_t (*oracle_api_fn)(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
typedef void (*oracle_deq_fn)(const void *x, float *y, int64_t k);

// Typed wrappers, so every call goes through the function's real prototype.
#define ORACLE_WRAP(t)                                                                   \
    static void oracle_ref_##t(const float *x, void *y, int64_t k) {                     \
        quantize_row_##t##_ref(x, (block_##t *)y, k);                                    \
    }                                                                                    \
    static void oracle_deq_##t(const void *x, float *y, int64_t k) {                     \
        dequantize_row_##t((const block_##t *)x, y, k);                                  \
    }
ORACLE_WRAP(q4_0)
ORACLE_WRAP(q4_1)
ORACLE_WRAP(q5_0)
ORACLE_WRAP(q5_1)
ORACLE_WRAP(q8_0)
ORACLE_WRAP(q2_K)
ORACLE_WRAP(q3_K)
ORACLE_WRAP(q4_K)
ORACLE_WRAP(q5_K)
ORACLE_WRAP(q6_K)

typedef struct {
    const char *name;
    enum ggml_type type;
    oracle_ref_fn ref;
    oracle_api_fn api;
    oracle_deq_fn deq;
} oracle_type;

#define ORACLE_ENTRY(t, T) {#t, GGML_TYPE_##T, oracle_ref_##t, quantize_##t, oracle_deq_##t}
static const oracle_type oracle_types[] = {
    ORACLE_ENTRY(q4_0, Q4_0), ORACLE_ENTRY(q4_1, Q4_1), ORACLE_ENTRY(q5_0, Q5_0),
    ORACLE_ENTRY(q5_1, Q5_1), ORACLE_ENTRY(q8_0, Q8_0), ORACLE_ENTRY(q2_K, Q2_K),
    ORACLE_ENTRY(q3_K, Q3_K), ORACLE_ENTRY(q4_K, Q4_K), ORACLE_ENTRY(q5_K, Q5_K),
    ORACLE_ENTRY(q6_K, Q6_K),
};
#define ORACLE_NTYPES (sizeof(oracle_types) / sizeof(oracle_types[0]))

static char oracle_err[256];

static int64_t fail(int64_t code, const char *fmt, const char *arg) {
    snprintf(oracle_err, sizeof oracle_err, fmt, arg ? arg : "(null)");
    return code;
}

static const oracle_type *find_type(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < ORACLE_NTYPES; i++) {
        if (strcasecmp(oracle_types[i].name, name) == 0) return &oracle_types[i];
    }
    return NULL;
}

ORACLE_API const char *oracle_last_error(void) { return oracle_err; }

ORACLE_API const char *oracle_version(void) {
    static char buf[256];
    snprintf(buf, sizeof buf, "llama-cpp-python %s; llama.cpp %s; ggml %s",
             ORACLE_SDIST_VERSION, ORACLE_LLAMA_CPP_COMMIT, ggml_version());
    return buf;
}

// Type names, comma separated, in the order the table holds them.
ORACLE_API const char *oracle_type_names(void) {
    static char buf[256];
    buf[0] = 0;
    for (size_t i = 0; i < ORACLE_NTYPES; i++) {
        if (i) strcat(buf, ",");
        strcat(buf, oracle_types[i].name);
    }
    return buf;
}

ORACLE_API int64_t oracle_block_size(const char *type) {
    const oracle_type *t = find_type(type);
    if (!t) return fail(ORACLE_EUNKNOWN_TYPE, "unknown type %s", type);
    return ggml_blck_size(t->type);
}

ORACLE_API int64_t oracle_type_size(const char *type) {
    const oracle_type *t = find_type(type);
    if (!t) return fail(ORACLE_EUNKNOWN_TYPE, "unknown type %s", type);
    return (int64_t)ggml_type_size(t->type);
}

ORACLE_API int64_t oracle_row_size(const char *type, int64_t n) {
    const oracle_type *t = find_type(type);
    if (!t) return fail(ORACLE_EUNKNOWN_TYPE, "unknown type %s", type);
    if (n < 0 || n % ggml_blck_size(t->type) != 0) {
        return fail(ORACLE_EBAD_SHAPE, "n is not a multiple of %s's block size", t->name);
    }
    return (int64_t)ggml_row_size(t->type, n);
}

ORACLE_API int64_t oracle_quantize_mode(const char *type, const char *mode, const float *src, int64_t nrows,
                                        int64_t n_per_row, const float *imatrix, void *dst) {
    const oracle_type *t = find_type(type);
    if (!t) return fail(ORACLE_EUNKNOWN_TYPE, "unknown type %s", type);
    if (!mode) return fail(ORACLE_EBAD_MODE, "mode %s: expected ref, api or chunk", mode);
    const int64_t blck = ggml_blck_size(t->type);
    if (nrows < 0 || n_per_row <= 0 || n_per_row % blck != 0) {
        return fail(ORACLE_EBAD_SHAPE, "n_per_row must be a positive multiple of %s's block size", t->name);
    }
    if (nrows > 0 && (!src || !dst)) return fail(ORACLE_ENULL, "src or dst is NULL (%s)", t->name);
    const size_t row_size = ggml_row_size(t->type, n_per_row);
    if (strcmp(mode, "ref") == 0) {
        if (imatrix) return fail(ORACLE_EIMATRIX_IN_REF, "mode ref takes no imatrix (%s)", t->name);
        for (int64_t r = 0; r < nrows; r++) {
            t->ref(src + r * n_per_row, (char *)dst + r * row_size, n_per_row);
        }
        return nrows * (int64_t)row_size;
    }
    if (strcmp(mode, "api") == 0) {
        if (nrows == 0) return 0;
        return (int64_t)t->api(src, dst, nrows, n_per_row, imatrix);
    }
    if (strcmp(mode, "chunk") == 0) {
        if (nrows == 0) return 0;
        return (int64_t)ggml_quantize_chunk(t->type, src, dst, 0, nrows, n_per_row, imatrix);
    }
    return fail(ORACLE_EBAD_MODE, "mode %s: expected ref, api or chunk", mode);
}

ORACLE_API int64_t oracle_quantize(const char *type, const float *src, int64_t nrows, int64_t n_per_row,
                                   const float *imatrix, void *dst) {
    return oracle_quantize_mode(type, imatrix ? "api" : "ref", src, nrows, n_per_row, imatrix, dst);
}

ORACLE_API int64_t oracle_dequantize(const char *type, const void *src, int64_t n, float *dst) {
    const oracle_type *t = find_type(type);
    if (!t) return fail(ORACLE_EUNKNOWN_TYPE, "unknown type %s", type);
    if (n < 0 || n % ggml_blck_size(t->type) != 0) {
        return fail(ORACLE_EBAD_SHAPE, "n must be a multiple of %s's block size", t->name);
    }
    if (n > 0 && (!src || !dst)) return fail(ORACLE_ENULL, "src or dst is NULL (%s)", t->name);
    if (n > 0) t->deq(src, dst, n);
    return n;
}

#ifdef GGML_ORACLE_MAIN

// ---------------------------------------------------------------- CLI

static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  ggml_oracle version\n"
            "  ggml_oracle types                      name, elements per block, bytes per block\n"
            "  ggml_oracle quantize <type> <mode> <in.f32> <rows> <cols> [imatrix.f32] <out.bin>\n"
            "  ggml_oracle dequantize <type> <in.bin> <n> <out.f32>\n"
            "  ggml_oracle bench <type> <mode> <rows> <cols> [--imatrix] [--reps N] [--seed S]\n"
            "types: %s (case-insensitive)\n"
            "modes: ref   quantize_row_<t>_ref row by row (no imatrix)\n"
            "       api   quantize_<t>(src, dst, rows, cols, imatrix or NULL)\n"
            "       chunk ggml_quantize_chunk(type, src, dst, 0, rows, cols, imatrix or NULL)\n"
            "files are raw little-endian: f32 tensors row-major, an imatrix is <cols> f32 values\n"
            "bench: single thread, deterministic N(0,1) tensor (imatrix: exp(N(0,1)), positive);\n"
            "       one untimed warm-up, then --reps timed runs (default 5); MB = 10^6 bytes of f32 input;\n"
            "       MB/s from the median wall time, cpu_MB/s from the median thread CPU time\n",
            oracle_type_names());
}

static int die(const char *what, const char *detail) {
    fprintf(stderr, "ggml_oracle: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 2;
}

static int parse_i64(const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < 0) return 0;
    *out = v;
    return 1;
}

static void *read_file(const char *path, size_t want, const char *what) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "ggml_oracle: cannot open %s %s: %s\n", what, path, strerror(errno)); return NULL; }
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long size = ftell(f);
    rewind(f);
    if (size < 0 || (size_t)size != want) {
        fprintf(stderr, "ggml_oracle: %s %s has %ld bytes, expected %zu\n", what, path, size, want);
        fclose(f);
        return NULL;
    }
    void *buf = malloc(want ? want : 1);
    if (!buf || fread(buf, 1, want, f) != want) {
        fprintf(stderr, "ggml_oracle: cannot read %s %s\n", what, path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    return buf;
}

static int write_file(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "ggml_oracle: cannot create %s: %s\n", path, strerror(errno)); return 0; }
    int ok = fwrite(buf, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok) fprintf(stderr, "ggml_oracle: cannot write %s\n", path);
    return ok;
}

static int cmd_quantize(int argc, char **argv) {
    // quantize <type> <mode> <in.f32> <rows> <cols> [imatrix.f32] <out.bin>
    if (argc != 7 && argc != 8) { usage(stderr); return 2; }
    const char *type = argv[1], *mode = argv[2], *in = argv[3];
    const char *imat_path = argc == 8 ? argv[6] : NULL;
    const char *out = argv[argc - 1];
    int64_t rows, cols;
    if (!parse_i64(argv[4], &rows) || !parse_i64(argv[5], &cols)) return die("bad rows/cols", NULL);
    int64_t row_size = oracle_row_size(type, cols);
    if (row_size < 0) return die("bad arguments", oracle_last_error());
    float *src = read_file(in, (size_t)(rows * cols) * sizeof(float), "input");
    if (!src) return 1;
    float *imat = NULL;
    if (imat_path) {
        imat = read_file(imat_path, (size_t)cols * sizeof(float), "imatrix");
        if (!imat) { free(src); return 1; }
    }
    void *dst = malloc((size_t)(rows * row_size) + 1);
    int64_t n = oracle_quantize_mode(type, mode, src, rows, cols, imat, dst);
    int rc = 0;
    if (n < 0) rc = die("quantize failed", oracle_last_error());
    else if (!write_file(out, dst, (size_t)n)) rc = 1;
    free(src); free(imat); free(dst);
    return rc;
}

static int cmd_dequantize(int argc, char **argv) {
    // dequantize <type> <in.bin> <n> <out.f32>
    if (argc != 5) { usage(stderr); return 2; }
    const char *type = argv[1], *in = argv[2], *out = argv[4];
    int64_t n;
    if (!parse_i64(argv[3], &n)) return die("bad n", NULL);
    int64_t nbytes = oracle_row_size(type, n);
    if (nbytes < 0) return die("bad arguments", oracle_last_error());
    void *src = read_file(in, (size_t)nbytes, "input");
    if (!src) return 1;
    float *dst = malloc((size_t)n * sizeof(float) + 1);
    int rc = 0;
    if (oracle_dequantize(type, src, n, dst) < 0) rc = die("dequantize failed", oracle_last_error());
    else if (!write_file(out, dst, (size_t)n * sizeof(float))) rc = 1;
    free(src); free(dst);
    return rc;
}

// splitmix64 -> uniform (0,1) -> Box-Muller: deterministic across machines and libcs.
static uint64_t rng_state;
static uint64_t splitmix64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform01(void) { return ((double)(splitmix64() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
static void fill_gaussian(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = uniform01(), u2 = uniform01();
        double r = sqrt(-2.0 * log(u1));
        x[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) x[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(double *t, int64_t n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int cmd_bench(int argc, char **argv) {
    // bench <type> <mode> <rows> <cols> [--imatrix] [--reps N] [--seed S]
    if (argc < 5) { usage(stderr); return 2; }
    const char *type = argv[1], *mode = argv[2];
    int64_t rows, cols, reps = 5, seed = 42;
    int use_imatrix = 0;
    if (!parse_i64(argv[3], &rows) || !parse_i64(argv[4], &cols) || rows == 0) return die("bad rows/cols", NULL);
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--imatrix") == 0) use_imatrix = 1;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc && parse_i64(argv[i + 1], &reps) && reps > 0) i++;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc && parse_i64(argv[i + 1], &seed)) i++;
        else { usage(stderr); return 2; }
    }
    int64_t row_size = oracle_row_size(type, cols);
    if (row_size < 0) return die("bad arguments", oracle_last_error());
    float *src = malloc((size_t)(rows * cols) * sizeof(float));
    float *imat = use_imatrix ? malloc((size_t)cols * sizeof(float)) : NULL;
    void *dst = malloc((size_t)(rows * row_size));
    double *t = malloc((size_t)reps * sizeof(double));
    double *cpu = malloc((size_t)reps * sizeof(double));
    if (!src || !dst || !t || !cpu || (use_imatrix && !imat)) return die("out of memory", NULL);
    rng_state = (uint64_t)seed;
    fill_gaussian(src, rows * cols);
    if (imat) {
        fill_gaussian(imat, cols);
        for (int64_t i = 0; i < cols; i++) imat[i] = expf(imat[i]);
    }
    int64_t n = oracle_quantize_mode(type, mode, src, rows, cols, imat, dst);  // warm-up
    if (n < 0) return die("quantize failed", oracle_last_error());
    for (int64_t r = 0; r < reps; r++) {
        double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), t0 = now_s(CLOCK_MONOTONIC);
        oracle_quantize_mode(type, mode, src, rows, cols, imat, dst);
        t[r] = now_s(CLOCK_MONOTONIC) - t0;
        cpu[r] = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    // A checksum of the output, so the work cannot be optimised away and runs can be compared.
    uint64_t h = 1469598103934665603ull;
    for (int64_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)dst)[i]) * 1099511628211ull;
    const double mb = (double)(rows * cols) * sizeof(float) / 1e6;
    const double med = median(t, reps), med_cpu = median(cpu, reps);
    // MB/s from the median wall time; cpu_MB/s from the median thread CPU time (steadier when the
    // machine is shared); min/max from the slowest/fastest wall time.
    printf("type=%s mode=%s imatrix=%d rows=%lld cols=%lld reps=%lld median_s=%.4f MB/s=%.1f cpu_MB/s=%.1f min_MB/s=%.1f max_MB/s=%.1f out_bytes=%lld fnv1a=%016llx\n",
           type, mode, use_imatrix, (long long)rows, (long long)cols, (long long)reps, med, mb / med, mb / med_cpu,
           mb / t[reps - 1], mb / t[0], (long long)n, (unsigned long long)h);
    free(src); free(imat); free(dst); free(t); free(cpu);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (strcmp(cmd, "version") == 0) { printf("%s\n", oracle_version()); return 0; }
    if (strcmp(cmd, "types") == 0) {
        for (size_t i = 0; i < ORACLE_NTYPES; i++) {
            printf("%s %lld %lld\n", oracle_types[i].name, (long long)oracle_block_size(oracle_types[i].name),
                   (long long)oracle_type_size(oracle_types[i].name));
        }
        return 0;
    }
    if (strcmp(cmd, "quantize") == 0) return cmd_quantize(argc - 1, argv + 1);
    if (strcmp(cmd, "dequantize") == 0) return cmd_dequantize(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) { usage(stdout); return 0; }
    usage(stderr);
    return 2;
}

#endif  // GGML_ORACLE_MAIN
