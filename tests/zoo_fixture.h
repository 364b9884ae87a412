/* tests/zoo_fixture.h — building zoo models for tests, shared by the suites that
 * need a graph or an analytic profile of one (include after <cmocka.h> and the
 * area's header). Failures stop the test with the zoo's own message.
 *
 *   zoo_graph(&g, "gpt2", "n_layer=2,n_embd=32", batch, seq, image)
 *   zoo_profile(&p, "mlp", "depth=4", batch, image, "h100")
 * NULL or "" for set, 0 for batch/seq/image: the model's defaults. */
#ifndef REMAT_TESTS_ZOO_FIXTURE_H
#define REMAT_TESTS_ZOO_FIXTURE_H

static inline void zoo_graph(graph *g, const char *model, const char *set, int64_t batch,
                             int64_t seq, int64_t image)
{
    model_spec spec = {.name = model, .dtype = -1, .dropout = -1, .batch = batch, .seq = seq,
                       .image = image};
    char *storage = NULL;
    remat_err e;
    if (set && *set && model_spec_parse_set(&spec, set, &storage, &e) != 0)
        fail_msg("%s --set %s: %s", model, set, e.msg);
    int rc = zoo_build(&spec, g, &e);
    free(storage);
    if (rc != 0)
        fail_msg("%s: %s", model, e.msg);
}

static inline void zoo_profile(profile *p, const char *model, const char *set, int64_t batch,
                               int64_t image, const char *target)
{
    graph g;
    remat_err e;
    zoo_graph(&g, model, set, batch, 0, image);
    if (profile_analytic(p, &g, device_find(target), &e) != 0)
        fail_msg("%s: %s", model, e.msg);
}

/* Griewank & Walther's revolve optimum: with s checkpoints, a chain of n steps needs
 * t*n - C(s+t, t-1) forward steps beyond the first sweep, t the least with
 * C(s+t, s) >= n. */
static inline int64_t zoo_binom(int64_t n, int64_t k)
{
    if (k < 0 || k > n)
        return 0;
    int64_t r = 1;
    for (int64_t i = 1; i <= k; i++)
        r = r * (n - k + i) / i;
    return r;
}

static inline int64_t revolve_opt(int64_t n, int64_t s)
{
    int64_t t = 0;
    while (zoo_binom(s + t, s) < n)
        t++;
    return t * n - zoo_binom(s + t, t - 1);
}

#endif
