/* profiler/profile.h — a graph plus per-op numbers (bytes, FLOPs, time) and where
 * they came from. Profiles are produced analytically (roofline on a device table),
 * by timing the CPU kernels, or by CUPTI on a GPU; all three fill the same struct,
 * and reports/ reads and writes it as YAML so a profile can be planned anywhere. */
#ifndef REMAT_PROFILER_PROFILE_H
#define REMAT_PROFILER_PROFILE_H

#include "models/graph.h"

typedef enum profile_source {
    SRC_ANALYTIC = 0,
    SRC_CPU,
    SRC_CUDA,
    SRC_COUNT
} profile_source;

const char *profile_source_name(profile_source s);
int profile_source_from_name(const char *name); /* or -EINVAL */

/* One row of the device table: peak dense FLOP/s per dtype, memory bandwidth and
 * size. Figures are the vendors' datasheet numbers (docs/profile-format.md). */
typedef struct device_spec {
    const char *name;        /* "h100", "a100-80gb", "cpu", ... */
    const char *desc;
    double flops[DT_COUNT];  /* peak FLOP/s by activation dtype (fp32, bf16, fp16) */
    double mem_bw;           /* bytes/s */
    int64_t mem_bytes;       /* device memory */
} device_spec;

const device_spec *device_find(const char *name); /* NULL when unknown */
const device_spec *device_list(int *n);

typedef struct op_profile {
    int64_t out_bytes;       /* bytes of the output tensor */
    int64_t saved_bytes;     /* activation bytes its backward reads, each once */
    int64_t flops_fwd, flops_bwd;
    double time_fwd_s, time_bwd_s;
} op_profile;

typedef struct profile_totals {
    int64_t params;          /* parameter count (all, trainable and frozen) */
    int64_t param_bytes;
    int64_t saved_activation_bytes; /* graph_saved_bytes: a step without checkpointing */
    int64_t flops_fwd, flops_bwd;
    double time_fwd_s, time_bwd_s;
} profile_totals;

typedef struct profile {
    graph g;                 /* owned */
    profile_source source;
    char *target;            /* device table name, or the measured device's name */
    char *device_desc;       /* free text: CPU model, GPU name and driver */
    op_profile *ops;         /* g.n_ops entries */
    profile_totals totals;
} profile;

/* Aggregates by module path prefix at block and sub-block level (for the YAML's
 * `modules` and the text table). */
typedef struct module_profile {
    char *name;
    int first_op, last_op;   /* op range (modules are contiguous in topological order) */
    int64_t saved_bytes, flops_fwd, flops_bwd;
    double time_fwd_s, time_bwd_s;
} module_profile;

/* Takes ownership of *g (left empty). Fills every op by the roofline on dev:
 * time = max(flops / peak(dtype), bytes moved / bandwidth). STAGE ops with
 * attr[0] unit_cost get 1 s forward and 1 s backward. Returns 0 or -errno. */
int profile_analytic(profile *p, graph *g, const device_spec *dev, remat_err *err);

/* Recomputes totals from ops. */
void profile_compute_totals(profile *p);

/* Module rows, sorted by first op; caller frees with profile_free_modules. */
int profile_modules(const profile *p, module_profile **out, int *n, remat_err *err);
void profile_free_modules(module_profile *m, int n);

void profile_free(profile *p);

#include "config.h"
#if HAVE_CUDA
/* `remat profile --measure cuda` (profiler/cupti.cu): times every op's forward and
 * backward kernels on CUDA device 0 with the CUPTI Activity API (one op at a time on
 * synthetic data, median of `repeats` after one warm-up), reads per-op FLOPs from
 * CUPTI's range profiler counters where profiling is permitted (else keeps the
 * analytic FLOPs and says why in device_desc), sets source cuda, target (the device
 * table's name for the GPU, else the GPU's name) and device_desc, and recomputes the
 * totals. Returns 0, -ENODEV ("no CUDA device found ...") or another -errno. */
int profile_measure_cuda(profile *p, int repeats, remat_err *err);
#endif

#endif
