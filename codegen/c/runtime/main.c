/* run_model: command-line runner of a qcompiler C model (model.h / model.c).
 *
 * Usage:
 *   run_model --input NAME=FILE.bin [--input NAME=FILE.bin ...] [--output-dir DIR]
 *             [--repeat N] [--help]
 *
 *   --input NAME=FILE  Input NAME read from FILE: raw float32 (the machine's byte order,
 *                      little-endian on every supported target), dense, exactly the input's
 *                      element count times 4 bytes. Every input must be given once. For a
 *                      single-input model `--input FILE` (no `NAME=`) is accepted too; a
 *                      FILE whose name contains '=' is then given as NAME=FILE.
 *   --output-dir DIR   Write each output as DIR/<output name>.bin (raw float32). The
 *                      characters '/' and '\' of an output name become '_' in the file name
 *                      (ONNX names such as "head/logits" give "head_logits.bin"); an empty
 *                      name becomes "output<index>". On a host DIR is created if missing;
 *                      on bare metal (semihosting) it must exist. Without --output-dir
 *                      nothing is written (a run for timing only).
 *   --repeat N         Run the model N times (default 1). On a POSIX host it then prints
 *                      `latency_us median=<us> min=<us> runs=<N>` on stdout (one
 *                      CLOCK_MONOTONIC measure per run); on bare metal it only runs N times.
 *   --help             This text, the model's inputs and outputs with their shapes.
 *   Options also take the `--option=VALUE` form.
 *
 * Errors: one line on stderr, starting "run_model: ", naming what is wrong. Exit codes:
 *   0 success, 2 usage or input error, 1 model_run failure or an output that cannot be written.
 *
 * Memory: no malloc. Inputs, outputs and the arena are static buffers sized by model.h
 * (MODEL_INPUT_ELEMS_TOTAL, MODEL_OUTPUT_ELEMS_TOTAL, MODEL_ARENA_SIZE); the arena is
 * 16-byte aligned.
 *
 * Bare metal (QC_BARE_METAL, set by the Makefile for the Cortex-M boards): argc/argv come from
 * the board's startup code (boards/cortex-m/startup.c, semihosting SYS_GET_CMDLINE) and files
 * are opened on the host through semihosting; nothing else here differs but the optional
 * directory creation and timing, both compiled only for POSIX hosts.
 */
#if !defined(QC_BARE_METAL) && (defined(__unix__) || defined(__APPLE__))
#define QC_POSIX_HOST 1
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdir, clock_gettime */
#endif
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#ifdef QC_POSIX_HOST
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#endif

#define EXIT_RUN_FAILURE 1
#define EXIT_USAGE 2
#define PATH_SIZE 1024
#define MAX_TIMED_RUNS 100000

/* Static buffers; +1 / +16 keep them non-empty, +16 leaves room to align the arena. */
static float g_input_data[MODEL_INPUT_ELEMS_TOTAL + 1];
static float g_output_data[MODEL_OUTPUT_ELEMS_TOTAL + 1];
#if defined(__GNUC__)
static unsigned char g_arena[MODEL_ARENA_SIZE + 16] __attribute__((aligned(16)));
#else
static unsigned char g_arena[MODEL_ARENA_SIZE + 16];
#endif
static char g_path[PATH_SIZE];
#ifdef QC_POSIX_HOST
static double g_times_us[MAX_TIMED_RUNS];
#endif

static void print_shape(FILE *f, const model_tensor_info_t *t) {
    int32_t d;
    fputc('[', f);
    for (d = 0; d < t->ndim; ++d) fprintf(f, "%s%ld", d ? "," : "", (long)t->dims[d]);
    fputc(']', f);
}

/* Valid input names, comma-separated, for error messages. */
static void print_input_names(FILE *f) {
    int i;
    for (i = 0; i < MODEL_NUM_INPUTS; ++i) fprintf(f, "%s%s", i ? ", " : "", model_input_info[i].name);
}

static void print_usage(FILE *f) {
    int i;
    fprintf(f, "usage: run_model --input NAME=FILE.bin ... [--output-dir DIR] [--repeat N]\n"
               "Runs the model on raw float32 input files and writes each output to\n"
               "DIR/<name>.bin ('/' and '\\' in a name become '_'). Exit codes: 0 ok,\n"
               "2 usage or input error, 1 run failure.\n");
    fprintf(f, "inputs (float32):\n");
    for (i = 0; i < MODEL_NUM_INPUTS; ++i) {
        fprintf(f, "  %s ", model_input_info[i].name);
        print_shape(f, &model_input_info[i]);
        fprintf(f, " %ld bytes\n", (long)model_input_info[i].size * 4L);
    }
    fprintf(f, "outputs (float32):\n");
    for (i = 0; i < MODEL_NUM_OUTPUTS; ++i) {
        fprintf(f, "  %s ", model_output_info[i].name);
        print_shape(f, &model_output_info[i]);
        fprintf(f, "\n");
    }
}

static int find_input(const char *name, size_t len) {
    int i;
    for (i = 0; i < MODEL_NUM_INPUTS; ++i) {
        const char *n = model_input_info[i].name;
        if (strlen(n) == len && strncmp(n, name, len) == 0) return i;
    }
    return -1;
}

/* Reads input `index` from `file` into `dst`; the file must hold exactly its bytes. */
static int read_input(int index, const char *file, float *dst) {
    const model_tensor_info_t *t = &model_input_info[index];
    size_t want = (size_t)t->size * sizeof(float);
    size_t got;
    unsigned long extra = 0;
    FILE *f;
    errno = 0;
    f = fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "run_model: input '%s': cannot open file '%s': %s\n", t->name, file,
                errno ? strerror(errno) : "unknown error");
        return EXIT_USAGE;
    }
    got = want ? fread(dst, 1, want, f) : 0;
    if (got == want) {
        char scratch[256];
        size_t n;
        while ((n = fread(scratch, 1, sizeof(scratch), f)) > 0) extra += (unsigned long)n;
    }
    fclose(f);
    if (got != want || extra != 0) {
        fprintf(stderr, "run_model: input '%s': file '%s' has %lu bytes, expected %lu (float32 ",
                t->name, file, (unsigned long)got + extra, (unsigned long)want);
        print_shape(stderr, t);
        fprintf(stderr, ")\n");
        return EXIT_USAGE;
    }
    return 0;
}

#ifdef QC_POSIX_HOST
/* mkdir -p */
static int make_dirs(const char *dir) {
    char *p;
    if (strlen(dir) >= PATH_SIZE) return -1;
    strcpy(g_path, dir);
    for (p = g_path + 1; *p != '\0'; ++p) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(g_path, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(g_path, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#endif

/* Writes output `index` to DIR/<name>.bin with '/' and '\' of the name replaced by '_'. */
static int write_output(const char *dir, int index, const float *src) {
    const model_tensor_info_t *t = &model_output_info[index];
    size_t dlen = strlen(dir), nlen = strlen(t->name), i;
    size_t bytes = (size_t)t->size * sizeof(float);
    char *p;
    FILE *f;
    if (dlen + nlen + 32 > PATH_SIZE) {
        fprintf(stderr, "run_model: output '%s': path too long\n", t->name);
        return EXIT_RUN_FAILURE;
    }
    memcpy(g_path, dir, dlen);
    p = g_path + dlen;
    if (dlen > 0 && dir[dlen - 1] != '/' && dir[dlen - 1] != '\\') *p++ = '/';
    if (nlen == 0) {
        sprintf(p, "output%d.bin", index);
    } else {
        for (i = 0; i < nlen; ++i) p[i] = (t->name[i] == '/' || t->name[i] == '\\') ? '_' : t->name[i];
        strcpy(p + nlen, ".bin");
    }
    errno = 0;
    f = fopen(g_path, "wb");
    if (f == NULL) {
        fprintf(stderr, "run_model: output '%s': cannot create file '%s': %s\n", t->name, g_path,
                errno ? strerror(errno) : "unknown error");
        return EXIT_RUN_FAILURE;
    }
    if ((bytes && fwrite(src, 1, bytes, f) != bytes) || fclose(f) != 0) {
        fprintf(stderr, "run_model: output '%s': cannot write file '%s'\n", t->name, g_path);
        return EXIT_RUN_FAILURE;
    }
    return 0;
}

/* `--name VALUE` or `--name=VALUE`: returns VALUE (advancing *i) or NULL if arg is not --name. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing) {
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0) return NULL;
    if (arg[len] == '=') return arg + len + 1;
    if (arg[len] != '\0') return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "run_model: option %s needs a value (see --help)\n", name);
        *missing = 1;
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

int main(int argc, char **argv) {
    const float *inputs[MODEL_NUM_INPUTS + 1];
    float *outputs[MODEL_NUM_OUTPUTS + 1];
    const char *files[MODEL_NUM_INPUTS + 1];
    const char *out_dir = NULL;
    long repeat = 1, r;
    int timed = 0;
    size_t offset;
    void *arena;
    int i, rc;

    for (i = 0; i < MODEL_NUM_INPUTS; ++i) files[i] = NULL;

    for (i = 1; i < argc; ++i) {
        const char *value;
        int missing = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return 0;
        } else if ((value = option_value(argc, argv, &i, "--input", &missing)) != NULL) {
            const char *eq = strchr(value, '=');
            const char *file = value;
            int index;
            if (eq != NULL) {
                index = find_input(value, (size_t)(eq - value));
                file = eq + 1;
                if (index < 0) {
                    fprintf(stderr, "run_model: unknown input name '%.*s' (inputs: ",
                            (int)(eq - value), value);
                    print_input_names(stderr);
                    fprintf(stderr, ")\n");
                    return EXIT_USAGE;
                }
            } else if (MODEL_NUM_INPUTS == 1) {
                index = 0;
            } else {
                fprintf(stderr, "run_model: --input '%s' needs NAME=FILE: the model has %d inputs (",
                        value, MODEL_NUM_INPUTS);
                print_input_names(stderr);
                fprintf(stderr, ")\n");
                return EXIT_USAGE;
            }
            if (files[index] != NULL) {
                fprintf(stderr, "run_model: input '%s' given twice\n", model_input_info[index].name);
                return EXIT_USAGE;
            }
            files[index] = file;
        } else if ((value = option_value(argc, argv, &i, "--output-dir", &missing)) != NULL) {
            out_dir = value;
        } else if ((value = option_value(argc, argv, &i, "--repeat", &missing)) != NULL) {
            char *end;
            repeat = strtol(value, &end, 10);
            timed = 1;
            if (*value == '\0' || *end != '\0' || repeat < 1
#ifdef QC_POSIX_HOST
                || repeat > MAX_TIMED_RUNS
#endif
            ) {
#ifdef QC_POSIX_HOST
                fprintf(stderr, "run_model: --repeat '%s' is not a count from 1 to %d\n", value,
                        MAX_TIMED_RUNS);
#else
                fprintf(stderr, "run_model: --repeat '%s' is not a positive count\n", value);
#endif
                return EXIT_USAGE;
            }
        } else if (missing) {
            return EXIT_USAGE;
        } else {
            fprintf(stderr, "run_model: unknown %s '%s' (see --help)\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            return EXIT_USAGE;
        }
    }

    (void)timed; /* read on POSIX hosts only */

    offset = 0;
    for (i = 0; i < MODEL_NUM_INPUTS; ++i) {
        const model_tensor_info_t *t = &model_input_info[i];
        if (files[i] == NULL) {
            fprintf(stderr, "run_model: missing input '%s' (give --input %s=FILE.bin, float32 ",
                    t->name, t->name);
            print_shape(stderr, t);
            fprintf(stderr, ")\n");
            return EXIT_USAGE;
        }
        rc = read_input(i, files[i], g_input_data + offset);
        if (rc != 0) return rc;
        inputs[i] = g_input_data + offset;
        offset += (size_t)t->size;
    }
    offset = 0;
    for (i = 0; i < MODEL_NUM_OUTPUTS; ++i) {
        outputs[i] = g_output_data + offset;
        offset += (size_t)model_output_info[i].size;
    }
    arena = (void *)(((uintptr_t)g_arena + 15u) & ~(uintptr_t)15u);

#ifdef QC_POSIX_HOST
    if (out_dir != NULL && make_dirs(out_dir) != 0) {
        fprintf(stderr, "run_model: cannot create output directory '%s'\n", out_dir);
        return EXIT_RUN_FAILURE;
    }
#endif

    for (r = 0; r < repeat; ++r) {
#ifdef QC_POSIX_HOST
        double t0 = now_us();
#endif
        rc = model_run(inputs, outputs, arena);
#ifdef QC_POSIX_HOST
        g_times_us[r] = now_us() - t0;
#endif
        if (rc != 0) {
            fprintf(stderr, "run_model: model_run failed (returned %d)\n", rc);
            return EXIT_RUN_FAILURE;
        }
    }

#ifdef QC_POSIX_HOST
    if (timed) {
        double median;
        qsort(g_times_us, (size_t)repeat, sizeof(double), compare_double);
        median = repeat % 2 ? g_times_us[repeat / 2]
                            : 0.5 * (g_times_us[repeat / 2 - 1] + g_times_us[repeat / 2]);
        printf("latency_us median=%.3f min=%.3f runs=%ld\n", median, g_times_us[0], repeat);
    }
#endif

    if (out_dir != NULL) {
        for (i = 0; i < MODEL_NUM_OUTPUTS; ++i) {
            rc = write_output(out_dir, i, outputs[i]);
            if (rc != 0) return rc;
        }
    }
    return 0;
}
