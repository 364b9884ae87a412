/* profiler/profile.c — the device table, the analytic (roofline) profiler, totals
 * and module aggregation. */
#include "profiler/profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const source_names[SRC_COUNT] = {"analytic", "cpu", "cuda"};

const char *profile_source_name(profile_source s)
{
    return (unsigned)s < SRC_COUNT ? source_names[s] : "?";
}

int profile_source_from_name(const char *name)
{
    for (int i = 0; name && i < SRC_COUNT; i++)
        if (strcmp(source_names[i], name) == 0)
            return i;
    return -EINVAL;
}

#define TF 1e12
#define GBS 1e9
#define GIB (1024LL * 1024 * 1024)

/* Dense peak FLOP/s (no sparsity) and memory from the vendors' datasheets:
 * H100 SXM5 80GB: 67 TF fp32, 989 TF bf16/fp16 tensor, 3.35 TB/s;
 * H200 SXM 141GB: same compute, 4.8 TB/s; A100 SXM: 19.5 TF fp32, 312 TF bf16,
 * 2.039 TB/s (80 GB) / 1.555 TB/s (40 GB); RTX 4090: 82.6 TF fp32, 165 TF bf16
 * (fp32 accumulate), 1.008 TB/s, 24 GB; L4: 30.3 TF fp32, 121 TF bf16, 300 GB/s,
 * 24 GB. "cpu" is a nominal 2-core AVX2 machine: 100 GF fp32, 20 GB/s, 24 GiB. */
static const device_spec devices[] = {
    {"h100", "NVIDIA H100 SXM5 80GB", {[DT_F32] = 67 * TF, [DT_BF16] = 989 * TF, [DT_F16] = 989 * TF},
     3350 * GBS, 80 * GIB},
    {"h200", "NVIDIA H200 SXM 141GB", {[DT_F32] = 67 * TF, [DT_BF16] = 989 * TF, [DT_F16] = 989 * TF},
     4800 * GBS, 141LL * 1000 * 1000 * 1000},
    {"a100-80gb", "NVIDIA A100 SXM4 80GB",
     {[DT_F32] = 19.5 * TF, [DT_BF16] = 312 * TF, [DT_F16] = 312 * TF}, 2039 * GBS, 80 * GIB},
    {"a100-40gb", "NVIDIA A100 SXM4 40GB",
     {[DT_F32] = 19.5 * TF, [DT_BF16] = 312 * TF, [DT_F16] = 312 * TF}, 1555 * GBS, 40 * GIB},
    {"rtx4090", "NVIDIA GeForce RTX 4090 24GB",
     {[DT_F32] = 82.6 * TF, [DT_BF16] = 165.2 * TF, [DT_F16] = 165.2 * TF}, 1008 * GBS, 24 * GIB},
    {"l4", "NVIDIA L4 24GB", {[DT_F32] = 30.3 * TF, [DT_BF16] = 121 * TF, [DT_F16] = 121 * TF},
     300 * GBS, 24 * GIB},
    {"cpu", "nominal 2-core AVX2 CPU", {[DT_F32] = 0.1 * TF, [DT_BF16] = 0.05 * TF, [DT_F16] = 0.05 * TF},
     20 * GBS, 24 * GIB},
};

const device_spec *device_list(int *n)
{
    *n = (int)(sizeof devices / sizeof devices[0]);
    return devices;
}

const device_spec *device_find(const char *name)
{
    int n;
    const device_spec *d = device_list(&n);
    for (int i = 0; name && i < n; i++)
        if (strcmp(d[i].name, name) == 0)
            return &d[i];
    return NULL;
}

/* Bytes an op moves: inputs and params read, output and extras written (forward);
 * backward reads saved tensors, params and the output gradient and writes input and
 * parameter gradients — approximated as twice the forward traffic. */
static int64_t op_traffic(const graph *g, const graph_op *o)
{
    int64_t b = g->tensors[o->out].bytes;
    for (int k = 0; k < o->n_in; k++)
        b += g->tensors[o->in[k]].bytes;
    for (int k = 0; k < o->n_param; k++)
        b += g->tensors[o->param[k]].bytes;
    for (int k = 0; k < o->n_extra; k++)
        b += g->tensors[o->extra[k]].bytes;
    return b;
}

int profile_analytic(profile *p, graph *g, const device_spec *dev, remat_err *err)
{
    if (!dev)
        return remat_fail(err, -EINVAL, "no target device");
    memset(p, 0, sizeof *p);
    p->ops = calloc((size_t)(g->n_ops ? g->n_ops : 1), sizeof *p->ops);
    p->target = strdup(dev->name);
    p->device_desc = strdup(dev->desc);
    if (!p->ops || !p->target || !p->device_desc) {
        free(p->ops);
        free(p->target);
        free(p->device_desc);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    p->g = *g;
    memset(g, 0, sizeof *g);
    p->source = SRC_ANALYTIC;
    double peak = dev->flops[p->g.dtype] > 0 ? dev->flops[p->g.dtype] : dev->flops[DT_F32];
    for (int i = 0; i < p->g.n_ops; i++) {
        const graph_op *o = &p->g.ops[i];
        op_profile *r = &p->ops[i];
        r->out_bytes = p->g.tensors[o->out].bytes;
        r->saved_bytes = graph_op_saved_bytes(&p->g, i);
        r->flops_fwd = o->flops_fwd;
        r->flops_bwd = o->flops_bwd;
        if (o->kind == OP_STAGE && o->attr[0]) {
            r->time_fwd_s = 1.0;
            r->time_bwd_s = 1.0;
            continue;
        }
        double traffic = (double)op_traffic(&p->g, o);
        double tf = (double)o->flops_fwd / peak, tb = (double)o->flops_bwd / peak;
        double mf = traffic / dev->mem_bw, mb = 2.0 * traffic / dev->mem_bw;
        r->time_fwd_s = tf > mf ? tf : mf;
        r->time_bwd_s = tb > mb ? tb : mb;
    }
    profile_compute_totals(p);
    return 0;
}

void profile_compute_totals(profile *p)
{
    profile_totals *t = &p->totals;
    memset(t, 0, sizeof *t);
    t->params = graph_param_count(&p->g, false);
    t->param_bytes = graph_role_bytes(&p->g, ROLE_PARAM);
    t->saved_activation_bytes = graph_saved_bytes(&p->g);
    for (int i = 0; i < p->g.n_ops; i++) {
        t->flops_fwd += p->ops[i].flops_fwd;
        t->flops_bwd += p->ops[i].flops_bwd;
        t->time_fwd_s += p->ops[i].time_fwd_s;
        t->time_bwd_s += p->ops[i].time_bwd_s;
    }
}

/* Module rows: every proper prefix of an op's module path that ends at a numbered
 * block ("transformer.h.3") or one level below it ("transformer.h.3.attn"), plus
 * top-level modules without a block number (transformer.wte, lm_head). A prefix is
 * emitted once, over the contiguous op range that shares it. */
static int module_depth_prefix(const char *path, int level, char *buf, size_t n)
{
    /* level 0: up to and including the first all-digit component; level 1: one more */
    const char *p = path;
    int comps = 0, block_at = -1;
    const char *cuts[16];
    int nc = 0;
    while (*p && nc < 16) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        bool digits = len > 0;
        for (size_t i = 0; i < len; i++)
            digits = digits && p[i] >= '0' && p[i] <= '9';
        cuts[nc++] = p + len;
        if (digits && block_at < 0)
            block_at = comps;
        comps++;
        if (!dot)
            break;
        p = dot + 1;
    }
    int want = block_at < 0 ? (level == 0 ? 1 : -1) : block_at + 1 + level;
    if (want <= 0 || want > nc || (want == nc && level == 1))
        return -1;
    if (block_at < 0 && want == nc && nc > 1)
        want = nc - 1 > 0 ? nc - 1 : nc;
    size_t len = (size_t)(cuts[want - 1] - path);
    if (len + 1 > n)
        return -1;
    memcpy(buf, path, len);
    buf[len] = 0;
    return 0;
}

int profile_modules(const profile *p, module_profile **out, int *n, remat_err *err)
{
    int cap = 64, cnt = 0;
    module_profile *m = malloc((size_t)cap * sizeof *m);
    if (!m)
        return remat_fail(err, -ENOMEM, "out of memory");
    char buf[512];
    for (int level = 0; level < 2; level++) {
        int open = -1;
        for (int i = 0; i < p->g.n_ops; i++) {
            const char *mod = p->g.ops[i].module;
            if (module_depth_prefix(mod, level, buf, sizeof buf) != 0) {
                open = -1;
                continue;
            }
            if (open >= 0 && strcmp(m[open].name, buf) == 0 && m[open].last_op == i - 1) {
                m[open].last_op = i;
            } else {
                if (cnt == cap) {
                    cap *= 2;
                    module_profile *q = realloc(m, (size_t)cap * sizeof *m);
                    if (!q) {
                        profile_free_modules(m, cnt);
                        return remat_fail(err, -ENOMEM, "out of memory");
                    }
                    m = q;
                }
                memset(&m[cnt], 0, sizeof m[cnt]);
                m[cnt].name = strdup(buf);
                if (!m[cnt].name) {
                    profile_free_modules(m, cnt);
                    return remat_fail(err, -ENOMEM, "out of memory");
                }
                m[cnt].first_op = m[cnt].last_op = i;
                open = cnt++;
            }
        }
    }
    /* sort by first op, parents (longer ranges) before children */
    for (int i = 1; i < cnt; i++) {
        module_profile v = m[i];
        int j = i - 1;
        while (j >= 0 && (m[j].first_op > v.first_op ||
                          (m[j].first_op == v.first_op && m[j].last_op < v.last_op))) {
            m[j + 1] = m[j];
            j--;
        }
        m[j + 1] = v;
    }
    for (int k = 0; k < cnt; k++) {
        for (int i = m[k].first_op; i <= m[k].last_op; i++) {
            m[k].saved_bytes += p->ops[i].saved_bytes;
            m[k].flops_fwd += p->ops[i].flops_fwd;
            m[k].flops_bwd += p->ops[i].flops_bwd;
            m[k].time_fwd_s += p->ops[i].time_fwd_s;
            m[k].time_bwd_s += p->ops[i].time_bwd_s;
        }
    }
    *out = m;
    *n = cnt;
    return 0;
}

void profile_free_modules(module_profile *m, int n)
{
    for (int i = 0; i < n; i++)
        free(m[i].name);
    free(m);
}

void profile_free(profile *p)
{
    if (!p)
        return;
    graph_free(&p->g);
    free(p->ops);
    free(p->target);
    free(p->device_desc);
    memset(p, 0, sizeof *p);
}
