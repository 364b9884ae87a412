/* executor/cpu/measure.c — `remat profile --measure cpu`: times every op's forward
 * and backward with the real CPU kernels, one op at a time on synthetic data, and
 * writes the medians into the profile (source cpu). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/cpu/ops.h"
#include "executor/executor.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The CPU model from /proc/cpuinfo ("model name"), or "unknown CPU". */
static char *cpu_model(void)
{
    char line[512], *res = NULL;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0)
            continue;
        char *c = strchr(line, ':');
        if (!c)
            continue;
        c++;
        while (*c == ' ' || *c == '\t')
            c++;
        c[strcspn(c, "\n")] = 0;
        res = strdup(c);
        break;
    }
    if (f)
        fclose(f);
    return res ? res : strdup("unknown CPU");
}

/* Buffers of one op's measurement; everything from one tracked allocator. */
typedef struct op_bench {
    tracked_alloc a;
    void **data;
    float **grad;
    void *ws;
    int64_t ws_bytes;
} op_bench;

static void bench_release(const graph *g, op_bench *b)
{
    for (int t = 0; t < g->n_tensors; t++) {
        tfree(&b->a, b->data[t], g->tensors[t].bytes);
        tfree(&b->a, b->grad[t], g->tensors[t].bytes);
        b->data[t] = NULL;
        b->grad[t] = NULL;
    }
    tfree(&b->a, b->ws, b->ws_bytes);
    b->ws = NULL;
}

static int ensure(op_bench *b, const graph *g, int t, bool zero)
{
    if (!b->data[t] && !(b->data[t] = talloc(&b->a, g->tensors[t].bytes, zero)))
        return -ENOMEM;
    return 0;
}

static void fill_normal(float *p, int64_t n, uint64_t seed, float scale)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = scale * (float)kernel_normal(seed, (uint64_t)i);
}

/* Sets up op i's inputs (synthetic), parameters, outputs and gradients. */
static int bench_setup(const graph *g, int i, op_bench *b)
{
    const graph_op *o = &g->ops[i];
    for (int k = 0; k < o->n_in; k++) {
        int t = o->in[k];
        if (b->data[t])
            continue;
        if (ensure(b, g, t, false))
            return -ENOMEM;
        if (g->tensors[t].role == ROLE_INPUT)
            cpu_input_init(g, t, 99, b->data[t]);
        else if (g->tensors[t].dtype == DT_F32)
            fill_normal(b->data[t], g->tensors[t].numel, 7 + (uint64_t)t, 1.0f);
        else
            memset(b->data[t], 1, (size_t)g->tensors[t].bytes);
    }
    for (int k = 0; k < o->n_param; k++) {
        int t = o->param[k];
        if (b->data[t])
            continue;
        if (ensure(b, g, t, false))
            return -ENOMEM;
        cpu_param_init(g, t, 1234, b->data[t]);
        if (!g->tensors[t].frozen &&
            !(b->grad[t] = talloc(&b->a, g->tensors[t].bytes, true)))
            return -ENOMEM;
    }
    if (ensure(b, g, o->out, false))
        return -ENOMEM;
    for (int k = 0; k < o->n_extra; k++)
        if (ensure(b, g, o->extra[k], false))
            return -ENOMEM;
    if (i != g->n_ops - 1) {
        const graph_tensor *out = &g->tensors[o->out];
        if (!(b->grad[o->out] = talloc(&b->a, out->bytes, false)))
            return -ENOMEM;
        fill_normal(b->grad[o->out], out->numel, 11, 0.01f);
    }
    for (int k = 0; k < o->n_in; k++) {
        const graph_tensor *t = &g->tensors[o->in[k]];
        if (t->role == ROLE_ACT && t->needs_grad && !b->grad[o->in[k]] &&
            !(b->grad[o->in[k]] = talloc(&b->a, t->bytes, true)))
            return -ENOMEM;
    }
    b->ws_bytes = o->ws_fwd > o->ws_bwd ? o->ws_fwd : o->ws_bwd;
    if (b->ws_bytes > 0 && !(b->ws = talloc(&b->a, b->ws_bytes, false)))
        return -ENOMEM;
    return 0;
}

int profile_measure_cpu(profile *p, int repeats, remat_err *err)
{
    const graph *g = &p->g;
    mem_config mc;
    mem_config_default(&mc);
    int rc = cpu_exec_check(g, &mc, err);
    if (rc)
        return rc;
    if (repeats < 1)
        return remat_fail(err, -EINVAL, "repeats must be at least 1");
    if (!p->ops)
        return remat_fail(err, -EINVAL, "profile has no per-op table");
    op_bench b;
    memset(&b, 0, sizeof b);
    b.data = calloc((size_t)g->n_tensors, sizeof *b.data);
    b.grad = calloc((size_t)g->n_tensors, sizeof *b.grad);
    double *times = calloc((size_t)repeats, sizeof *times);
    char *model = cpu_model(), *target = strdup("cpu");
    if (!b.data || !b.grad || !times || !model || !target) {
        rc = remat_fail(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->n_ops && !rc; i++) {
        op_dims d;
        rc = cpu_op_dims(g, i, &d, err);
        if (rc)
            break;
        if (bench_setup(g, i, &b)) {
            rc = remat_fail(err, -ENOMEM, "out of memory measuring op '%s'", g->ops[i].name);
            break;
        }
        for (int r = -1; r < repeats; r++) {
            double t0 = now_s();
            cpu_op_forward(g, i, &d, b.data, b.ws);
            if (r >= 0)
                times[r] = now_s() - t0;
        }
        double tf = median(times, repeats);
        for (int r = -1; r < repeats; r++) {
            double t0 = now_s();
            cpu_op_backward(g, i, &d, b.data, b.grad, 1.0f, b.ws);
            if (r >= 0)
                times[r] = now_s() - t0;
        }
        p->ops[i].time_fwd_s = tf;
        p->ops[i].time_bwd_s = median(times, repeats);
        bench_release(g, &b);
    }
    if (!rc) {
        free(p->target);
        free(p->device_desc);
        p->target = target;
        p->device_desc = model;
        target = model = NULL;
        p->source = SRC_CPU;
        profile_compute_totals(p);
    }
out:
    if (b.data && b.grad)
        bench_release(g, &b);
    free(b.data);
    free(b.grad);
    free(times);
    free(model);
    free(target);
    return rc;
}
