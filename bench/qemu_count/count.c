/* count.c: a qemu TCG plugin counting the guest instructions executed inside address ranges.
 *
 *   gcc -O2 -shared -fPIC -o libcount.so count.c
 *   qemu-aarch64 -plugin ./libcount.so,range=0x400123-0x400200,range=0x400300-0x400340 \
 *       -d plugin -D count.log ./prog args
 *   qemu-system-arm -M mps2-an386 ... -plugin ./libcount.so,range=0x1a0-0x1f0 -d plugin ...
 *
 * Each `range=LO-HI` (hex with 0x, or decimal; half-open [LO, HI); bit 0 of LO is cleared so a
 * Thumb symbol address from `nm` works as is; up to 64 ranges) gets one counter. At exit the
 * plugin prints one line per range, in the order given, to qemu's log (`-d plugin`; `-D FILE`
 * sends it to FILE instead of stderr):
 *
 *   qemu_count range=0x400123-0x400200 insns=123456
 *
 * An instruction is counted once each time it starts executing (an inline add before it), in
 * every range that holds its address. The counts are deterministic: the same program and
 * inputs give the same numbers run after run (qemu is not cycle-accurate; compare
 * instruction counts, not times). Bench helper: bench/qemu_count.py.
 *
 * Plugin API version 1 (QEMU 4.2 to 7.2; Debian 12 ships 7.2). Debian does not ship
 * qemu-plugin.h, so the few declarations used are written out below; build with
 * -DQC_USE_QEMU_PLUGIN_H -I<dir of qemu-plugin.h> to use the real header instead.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef QC_USE_QEMU_PLUGIN_H
#include <qemu-plugin.h>
#else
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);
#endif

#define EXPORT __attribute__((visibility("default")))
#define MAX_RANGES 64

EXPORT int qemu_plugin_version = 1;

typedef struct {
    uint64_t lo, hi; /* [lo, hi) */
    uint64_t count;  /* updated by the inline ops; single vCPU, so not atomic */
} range_t;

static range_t ranges[MAX_RANGES];
static int num_ranges;

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb), i;
    int r;
    (void)id;
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        for (r = 0; r < num_ranges; ++r) {
            if (pc >= ranges[r].lo && pc < ranges[r].hi) {
                qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64,
                                                           &ranges[r].count, 1);
            }
        }
    }
}

static void print_counts(qemu_plugin_id_t id, void *userdata) {
    char line[128];
    int r;
    (void)id;
    (void)userdata;
    for (r = 0; r < num_ranges; ++r) {
        snprintf(line, sizeof(line), "qemu_count range=0x%" PRIx64 "-0x%" PRIx64 " insns=%" PRIu64 "\n",
                 ranges[r].lo, ranges[r].hi, ranges[r].count);
        qemu_plugin_outs(line);
    }
}

/* "LO-HI" -> range; returns 0 on success. */
static int parse_range(const char *text, range_t *out) {
    char *end;
    unsigned long long lo, hi;
    lo = strtoull(text, &end, 0);
    if (end == text || *end != '-') return -1;
    text = end + 1;
    hi = strtoull(text, &end, 0);
    if (end == text || *end != '\0') return -1;
    out->lo = (uint64_t)lo & ~(uint64_t)1;
    out->hi = (uint64_t)hi;
    out->count = 0;
    return out->lo < out->hi ? 0 : -1;
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                               char **argv) {
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        const char *arg = argv[i];
        if (strncmp(arg, "range=", 6) == 0) {
            if (num_ranges == MAX_RANGES) {
                fprintf(stderr, "qemu_count: more than %d ranges\n", MAX_RANGES);
                return -1;
            }
            if (parse_range(arg + 6, &ranges[num_ranges]) != 0) {
                fprintf(stderr, "qemu_count: bad range '%s' (want range=LO-HI, LO < HI)\n", arg + 6);
                return -1;
            }
            ++num_ranges;
        } else {
            fprintf(stderr, "qemu_count: unknown argument '%s' (want range=LO-HI)\n", arg);
            return -1;
        }
    }
    if (num_ranges == 0) {
        fprintf(stderr, "qemu_count: no range=LO-HI given\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_atexit_cb(id, print_counts, NULL);
    return 0;
}
