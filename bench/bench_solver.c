/* bench/bench_solver.c — solver benchmarks (docs/benchmarks.md, Solver section):
 *   1. dp (Rotor multi-level DP, 500 slots) on heterogeneous chains of 100, 200,
 *      500 and 1000 stages, at a budget halfway between dp's minimum and the
 *      no-checkpoint peak; the time of one solver_plan call (which also runs the
 *      segment DP and the baselines it must not be worse than) and its slots;
 *   2. simulator throughput (instructions per second) on a 100000-op chain;
 *   3. for each zoo model present (gpt2-124m, llama2-7b; vgg16 and resnet50 at batch
 *      32; mlp and chain) at several budgets, each solver's compute overhead against
 *      the best solver at that budget.
 * Usage: bench_solver [--quick]   (--quick: 100 and 200 stages only) */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "solver/solver.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process: the machine is shared, so wall time overstates. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A heterogeneous chain: n matmuls x [B, w_i] -> [B, w_{i+1}] with widths drawn
 * from a fixed pseudo-random sequence in [256, 4096], then a loss. */
static int hetero_chain(int n, profile *p, remat_err *err)
{
    graph g;
    graph_init(&g, "hetero");
    const int64_t B = 8;
    uint64_t s = 88172645463325252ULL;
    int64_t w = 1024;
    int64_t shp[2] = {B, w};
    int x = graph_add_tensor(&g, "input", ROLE_INPUT, DT_F32, 2, shp, err);
    int64_t s1[1] = {B};
    int tg = graph_add_tensor(&g, "targets", ROLE_INPUT, DT_I32, 1, s1, err);
    char name[64];
    for (int i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        int64_t w2 = 256 + (int64_t)(s % 3841);
        snprintf(name, sizeof name, "layers.%d.weight", i);
        int64_t ws[2] = {w2, w};
        int W = graph_add_tensor(&g, name, ROLE_PARAM, DT_F32, 2, ws, err);
        snprintf(name, sizeof name, "layers.%d.out", i);
        int64_t os[2] = {B, w2};
        int y = graph_add_tensor(&g, name, ROLE_ACT, DT_F32, 2, os, err);
        snprintf(name, sizeof name, "layers.%d", i);
        graph_op o = {.name = name, .module = name, .kind = OP_MATMUL, .n_in = 1, .in = {x},
                      .out = y, .n_saved = 1, .saved = {x}, .n_param = 1, .param = {W},
                      .flops_fwd = 2 * B * w * w2, .flops_bwd = 4 * B * w * w2};
        if (W < 0 || y < 0 || graph_add_op(&g, &o, err) < 0) {
            graph_free(&g);
            return -EINVAL;
        }
        x = y;
        w = w2;
    }
    int64_t one[1] = {1};
    int lo = graph_add_tensor(&g, "loss.out", ROLE_ACT, DT_F32, 1, one, err);
    int lse = graph_add_tensor(&g, "loss.lse", ROLE_EXTRA, DT_F32, 1, s1, err);
    graph_op o = {.name = "loss", .kind = OP_LOSS, .n_in = 2, .in = {x, tg}, .out = lo,
                  .n_extra = 1, .extra = {lse}, .n_saved = 3, .saved = {x, tg, lse},
                  .flops_fwd = 5 * B * w, .flops_bwd = 3 * B * w};
    int rc = graph_add_op(&g, &o, err) < 0 ? -EINVAL : graph_validate(&g, err);
    if (rc == 0)
        rc = profile_analytic(p, &g, device_find("h100"), err);
    if (rc)
        graph_free(&g);
    return rc;
}

static int zoo_profile(const char *model, const char *set, int64_t batch, profile *p,
                       remat_err *err)
{
    model_spec spec = {.name = model, .dtype = -1, .dropout = -1, .batch = batch};
    char *storage = NULL;
    graph g;
    int rc = model_spec_parse_set(&spec, set ? set : "", &storage, err);
    if (rc == 0)
        rc = zoo_build(&spec, &g, err);
    free(storage);
    if (rc == 0)
        rc = profile_analytic(p, &g, device_find("h100"), err);
    return rc;
}

static void bench_dp(int n)
{
    profile p;
    remat_err e;
    if (hetero_chain(n, &p, &e)) {
        printf("dp %d stages: cannot build the chain: %s\n", n, e.msg);
        return;
    }
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    plan pl;
    chain c;
    int stages = chain_build(&p, &c, &e) == 0 ? c.n : -1;
    chain_free(&c);
    if (solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e)) {
        printf("dp %d stages: %s\n", n, e.msg);
        profile_free(&p);
        return;
    }
    int64_t none_peak = pl.pred.peak_bytes, st = pl.pred.static_bytes;
    plan_free(&pl);
    /* halfway between storing only the chain input's need and storing everything */
    o.budget_bytes = st + (none_peak - st) / 2;
    double t0 = now_s(), c0 = cpu_s();
    int rc = solver_plan(&p, &mc, SOLVER_DP, &o, &pl, NULL, &e);
    double dt = now_s() - t0, dc = cpu_s() - c0;
    if (rc)
        printf("| %d | %d | %.3f | %.3f | %s |\n", n, stages, dc, dt, e.msg);
    else
        printf("| %d | %d | %.3f | %.3f | %s, overhead %.3f, peak %.1f%% of budget%s |\n", n,
               stages, dc, dt, pl.status, pl.pred.compute_overhead,
               100.0 * (double)(pl.pred.peak_bytes - st) / (double)(o.budget_bytes - st),
               pl.multilevel ? ", multilevel" : "");
    plan_free(&pl);
    profile_free(&p);
}

static void bench_sim(void)
{
    profile p;
    remat_err e;
    if (zoo_profile("chain", "length=100000,width=64", 0, &p, &e)) {
        printf("simulator: %s\n", e.msg);
        return;
    }
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    plan pl;
    double t0 = now_s();
    if (solver_plan(&p, &mc, SOLVER_SQRT, &o, &pl, NULL, &e)) {
        printf("simulator: %s\n", e.msg);
        profile_free(&p);
        return;
    }
    double t_plan = now_s() - t0;
    int reps = 20;
    t0 = cpu_s();
    for (int i = 0; i < reps; i++) {
        sim_result r;
        if (simulate(&p, &mc, &pl.sched, &r, &e) == 0)
            sim_result_free(&r);
    }
    double dt = (cpu_s() - t0) / reps;
    printf("| chain, 100000 ops, sqrt plan | %d | %.4f | %.2e | %.3f |\n", pl.sched.n, dt,
           (double)pl.sched.n / dt, t_plan);
    plan_free(&pl);
    profile_free(&p);
}

static void bench_overheads(const char *model, const char *set, int64_t batch)
{
    profile p;
    remat_err e;
    if (zoo_profile(model, set, batch, &p, &e)) {
        printf("| %s | not available in this build (%s) |\n", model, e.msg);
        return;
    }
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    plan pl;
    if (solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e)) {
        printf("| %s | %s |\n", model, e.msg);
        profile_free(&p);
        return;
    }
    int64_t hi = pl.pred.peak_bytes, st = pl.pred.static_bytes;
    plan_free(&pl);
    int64_t lo = 0;
    if (solver_min_budget(&p, &mc, SOLVER_DP, &o, &lo, &e)) {
        printf("| %s | %s |\n", model, e.msg);
        profile_free(&p);
        return;
    }
    static const double frac[] = {0.0, 0.25, 0.5, 0.75, 1.0};
    static const solver_kind ks[] = {SOLVER_NONE, SOLVER_FULL, SOLVER_SQRT, SOLVER_GREEDY,
                                     SOLVER_SEGMENT, SOLVER_DP};
    enum { NK = sizeof ks / sizeof ks[0] };
    for (size_t f = 0; f < sizeof frac / sizeof frac[0]; f++) {
        o.budget_bytes = lo + (int64_t)((double)(hi - lo) * frac[f]);
        double ov[NK], secs[NK], best = INFINITY;
        bool ok[NK];
        for (int k = 0; k < NK; k++) {
            ok[k] = solver_plan(&p, &mc, ks[k], &o, &pl, NULL, &e) == 0;
            ov[k] = ok[k] ? pl.pred.compute_overhead : 0;
            secs[k] = pl.solve_s;
            if (ok[k] && ov[k] < best)
                best = ov[k];
            plan_free(&pl);
        }
        char b[32];
        remat_format_bytes(o.budget_bytes - st, b, sizeof b);
        printf("| %s | %s |", model, b);
        for (int k = 0; k < NK; k++) {
            if (ok[k])
                printf(" %.3f (+%.3f) %.2fs |", ov[k], ov[k] - best, secs[k]);
            else
                printf(" — |");
        }
        printf("\n");
    }
    profile_free(&p);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    printf("## dp on heterogeneous chains (500 slots)\n\n");
    printf("| stages requested | chain stages | CPU seconds | wall seconds | result |\n"
           "|---|---|---|---|---|\n");
    static const int sizes[] = {100, 200, 500, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (quick && sizes[i] > 200)
            break;
        bench_dp(sizes[i]);
        fflush(stdout);
    }
    printf("\n## simulator\n\n| schedule | instructions | CPU seconds per run | instructions/s | "
           "plan wall seconds |\n|---|---|---|---|---|\n");
    bench_sim();
    fflush(stdout);
    printf("\n## compute overhead per solver (dynamic budget between dp's minimum and the "
           "no-checkpoint peak; overhead (+ over the best) and solve seconds)\n\n");
    printf("| model | dynamic budget | none | full | sqrt | greedy | segment | dp |\n"
           "|---|---|---|---|---|---|---|---|\n");
    bench_overheads("gpt2-124m", NULL, 0);
    bench_overheads("llama2-7b", NULL, 0);
    /* CNNs at batch 32: at batch 1 the first convolutions' im2col temporaries, which
     * no plan can avoid, set the peak */
    bench_overheads("vgg16", NULL, 32);
    bench_overheads("resnet50", NULL, 32);
    bench_overheads("mlp", "depth=48,width=1024,classes=10", 0);
    bench_overheads("chain", "length=100,width=4096", 0);
    return 0;
}
