/* bench/bench_step.c — times one full training step (forward, loss, backward,
 * AdamW) of a zoo model on remat's CPU executor, without checkpointing. Used by
 * bench/bench_vs_torch.py, which times the same step in PyTorch in the same run.
 *
 * usage: bench_step MODEL [--set k=v,...] [--batch B] [--seq T] [--steps N]
 *                         [--warmup N] [--threads N]
 * prints two lines: key=value pairs with times in seconds (medians over the steps),
 * then "config" and the model's resolved configuration as key=value pairs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"

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

static int usage(void)
{
    fprintf(stderr, "usage: bench_step MODEL [--set k=v,...] [--batch B] [--seq T] [--steps N] "
                    "[--warmup N] [--threads N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = argv[1];
    sp.dtype = -1;
    sp.dropout = -1;
    int steps = 5, warmup = 1, threads = 0;
    const char *set = NULL;
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            return usage();
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--set"))
            set = v;
        else if (!strcmp(k, "--batch"))
            sp.batch = atoll(v);
        else if (!strcmp(k, "--seq"))
            sp.seq = atoll(v);
        else if (!strcmp(k, "--steps"))
            steps = atoi(v);
        else if (!strcmp(k, "--warmup"))
            warmup = atoi(v);
        else if (!strcmp(k, "--threads"))
            threads = atoi(v);
        else
            return usage();
    }
    if (steps < 1 || warmup < 0)
        return usage();
    remat_err e;
    char *storage = NULL;
    graph g;
    if ((set && model_spec_parse_set(&sp, set, &storage, &e)) || zoo_build(&sp, &g, &e)) {
        fprintf(stderr, "bench_step: %s\n", e.msg);
        free(storage);
        return 1;
    }
    mem_config mc;
    mem_config_default(&mc);
    exec_opts o;
    exec_opts_default(&o);
    o.threads = threads;
    cpu_exec x;
    schedule s;
    if (cpu_exec_init(&x, &g, &mc, &o, &e) || exec_schedule_store_all(&g, &s, &e)) {
        fprintf(stderr, "bench_step: %s\n", e.msg);
        free(storage);
        graph_free(&g);
        return 1;
    }
    double *t = calloc((size_t)steps, sizeof *t), *tf = calloc((size_t)steps, sizeof *tf);
    double *tb = calloc((size_t)steps, sizeof *tb), *to = calloc((size_t)steps, sizeof *to);
    int rc = !t || !tf || !tb || !to;
    for (int k = 0; k < warmup + steps && !rc; k++) {
        if (cpu_exec_step(&x, &s, &e)) {
            fprintf(stderr, "bench_step: %s\n", e.msg);
            rc = 1;
            break;
        }
        if (k >= warmup) {
            t[k - warmup] = x.trace.step_s;
            tf[k - warmup] = x.trace.fwd_s;
            tb[k - warmup] = x.trace.bwd_s;
            to[k - warmup] = x.trace.opt_s;
        }
    }
    if (!rc)
        printf("model=%s params=%lld batch=%lld seq=%lld steps=%d threads=%d step_s=%.6f "
               "fwd_s=%.6f bwd_s=%.6f opt_s=%.6f loss=%.6f peak_bytes=%lld\n",
               sp.name, (long long)graph_param_count(&g, false), (long long)g.batch,
               (long long)g.seq, steps, threads, median(t, steps), median(tf, steps),
               median(tb, steps), median(to, steps), (double)x.trace.loss,
               (long long)x.trace.peak_bytes);
    if (!rc) {
        printf("config");
        for (int i = 0; i < g.n_config; i++)
            printf(" %s=%s", g.config[i].key, g.config[i].value);
        printf("\n");
    }
    free(t);
    free(tf);
    free(tb);
    free(to);
    schedule_free(&s);
    cpu_exec_free(&x);
    graph_free(&g);
    free(storage);
    return rc;
}
