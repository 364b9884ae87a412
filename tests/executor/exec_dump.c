/* tests/executor/exec_dump.c — test helper for the PyTorch parity test
 * (tests/python/test_parity.py): runs one training step (no checkpointing, AdamW)
 * of a model on the CPU executor and writes, into OUTDIR, the initial parameters
 * (params.bin), the step's inputs (inputs.bin), the parameter gradients
 * (grads.bin), the parameters after the optimizer step (after.bin), the loss
 * (loss.txt) and the resolved configuration (config.txt, key=value lines, plus
 * seed.OP=N for every op that draws a dropout mask).
 *
 * usage: exec_dump MODEL OUTDIR [k=v,k=v...]
 *   MODEL: a zoo name (keys: the model's --set keys plus batch, seq, dropout), or
 *   tg-gpt2 / tg-llama / tg-cnn, the hand-built test graphs (keys B, T, C, H, KV,
 *   L, V, F, dropout). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "executor/executor.h"
#include "tests/executor/tgraphs.h"

static int write_dump(const cpu_exec *x, int what, const char *dir, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "exec_dump: cannot write %s\n", path);
        return 1;
    }
    remat_err e;
    int rc = cpu_exec_dump(x, what, f, &e);
    if (fclose(f) != 0 || rc) {
        fprintf(stderr, "exec_dump: %s: write error\n", path);
        return 1;
    }
    return 0;
}

static int build(const char *model, char *kv, graph *g, FILE *cfg)
{
    remat_err e;
    if (strncmp(model, "tg-", 3) == 0) {
        tg_cfg c = {.B = 2, .T = 6, .C = 16, .H = 4, .KV = 2, .L = 2, .V = 23, .F = 0};
        for (char *save = NULL, *it = strtok_r(kv, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(it, '=');
            if (!eq)
                return fprintf(stderr, "exec_dump: bad item '%s'\n", it), 2;
            *eq = 0;
            double v = atof(eq + 1);
            if (!strcmp(it, "B")) c.B = (int64_t)v;
            else if (!strcmp(it, "T")) c.T = (int64_t)v;
            else if (!strcmp(it, "C")) c.C = (int64_t)v;
            else if (!strcmp(it, "H")) c.H = (int64_t)v;
            else if (!strcmp(it, "KV")) c.KV = (int64_t)v;
            else if (!strcmp(it, "L")) c.L = (int64_t)v;
            else if (!strcmp(it, "V")) c.V = (int64_t)v;
            else if (!strcmp(it, "F")) c.F = (int64_t)v;
            else if (!strcmp(it, "dropout")) c.dropout = v;
            else
                return fprintf(stderr, "exec_dump: unknown key '%s'\n", it), 2;
        }
        if (!strcmp(model, "tg-gpt2"))
            tg_gpt2(g, &c);
        else if (!strcmp(model, "tg-llama"))
            tg_llama(g, &c);
        else if (!strcmp(model, "tg-cnn"))
            tg_cnn(g);
        else
            return fprintf(stderr, "exec_dump: unknown model %s\n", model), 2;
        fprintf(cfg, "model=%s\nB=%lld\nT=%lld\nC=%lld\nH=%lld\nKV=%lld\nL=%lld\nV=%lld\nF=%lld\n"
                     "dropout=%.17g\n",
                model, (long long)c.B, (long long)c.T, (long long)c.C, (long long)c.H,
                (long long)(c.KV ? c.KV : c.H), (long long)c.L, (long long)c.V, (long long)c.F,
                c.dropout);
        return 0;
    }
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = model;
    sp.dtype = -1;
    sp.dropout = -1;
    /* batch/seq/dropout are common sizes, the rest model keys */
    for (char *save = NULL, *it = strtok_r(kv, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(it, '=');
        if (!eq)
            return fprintf(stderr, "exec_dump: bad item '%s'\n", it), 2;
        *eq = 0;
        if (!strcmp(it, "batch"))
            sp.batch = atoll(eq + 1);
        else if (!strcmp(it, "seq"))
            sp.seq = atoll(eq + 1);
        else if (!strcmp(it, "dropout"))
            sp.dropout = atof(eq + 1);
        else if (sp.n_set < 64) {
            sp.set_key[sp.n_set] = it;
            sp.set_value[sp.n_set++] = eq + 1;
        }
    }
    if (zoo_build(&sp, g, &e)) {
        fprintf(stderr, "exec_dump: %s\n", e.msg);
        return 1;
    }
    fprintf(cfg, "model=%s\nbatch=%lld\nseq=%lld\ndropout=%.17g\n", model, (long long)g->batch,
            (long long)g->seq, g->dropout);
    for (int i = 0; i < g->n_config; i++)
        fprintf(cfg, "%s=%s\n", g->config[i].key, g->config[i].value);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: exec_dump MODEL OUTDIR [k=v,...]\n");
        return 2;
    }
    const char *dir = argv[2];
    char kv[1024];
    snprintf(kv, sizeof kv, "%s", argc == 4 ? argv[3] : "");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.txt", dir);
    FILE *cfg = fopen(path, "w");
    if (!cfg) {
        fprintf(stderr, "exec_dump: cannot write %s\n", path);
        return 1;
    }
    graph g;
    int rc = build(argv[1], kv, &g, cfg);
    for (int i = 0; !rc && i < g.n_ops; i++) {
        const graph_op *op = &g.ops[i];
        if (op->kind == OP_DROPOUT)
            fprintf(cfg, "seed.%s=%lld\n", op->name, (long long)op->attr[0]);
        if (op->kind == OP_ATTENTION)
            fprintf(cfg, "seed.%s=%lld\n", op->name, (long long)op->attr[5]);
    }
    fclose(cfg);
    if (rc)
        return rc;
    mem_config mc;
    mem_config_default(&mc);
    exec_opts o;
    exec_opts_default(&o);
    o.threads = 1;
    remat_err e;
    cpu_exec x;
    schedule s;
    if (cpu_exec_init(&x, &g, &mc, &o, &e) || exec_schedule_store_all(&g, &s, &e)) {
        fprintf(stderr, "exec_dump: %s\n", e.msg);
        graph_free(&g);
        return 1;
    }
    rc = write_dump(&x, EXEC_DUMP_PARAMS, dir, "params.bin") ||
         write_dump(&x, EXEC_DUMP_INPUTS, dir, "inputs.bin");
    if (!rc && cpu_exec_step(&x, &s, &e)) {
        fprintf(stderr, "exec_dump: %s\n", e.msg);
        rc = 1;
    }
    if (!rc)
        rc = write_dump(&x, EXEC_DUMP_GRADS, dir, "grads.bin") ||
             write_dump(&x, EXEC_DUMP_PARAMS, dir, "after.bin");
    if (!rc) {
        snprintf(path, sizeof path, "%s/loss.txt", dir);
        FILE *f = fopen(path, "w");
        rc = !f || fprintf(f, "%.9g\n", (double)x.trace.loss) < 0;
        if (f && fclose(f))
            rc = 1;
    }
    schedule_free(&s);
    cpu_exec_free(&x);
    graph_free(&g);
    return rc;
}
