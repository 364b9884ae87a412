/* profiler/profile.c — the device table, the analytic (roofline) profiler, totals
 * and module aggregation. */
#include "profiler/profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* a + b saturating at INT64_MAX: totals of absurd models stay finite and
 * non-negative instead of wrapping (byte counts that matter are checked where
 * they are used: static memory, the simulator). */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return checked_add64(a, b, &r) ? r : INT64_MAX;
}

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
        b = sat_add(b, g->tensors[o->in[k]].bytes);
    for (int k = 0; k < o->n_param; k++)
        b = sat_add(b, g->tensors[o->param[k]].bytes);
    for (int k = 0; k < o->n_extra; k++)
        b = sat_add(b, g->tensors[o->extra[k]].bytes);
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
        t->flops_fwd = sat_add(t->flops_fwd, p->ops[i].flops_fwd);
        t->flops_bwd = sat_add(t->flops_bwd, p->ops[i].flops_bwd);
        t->time_fwd_s += p->ops[i].time_fwd_s;
        t->time_bwd_s += p->ops[i].time_bwd_s;
    }
}

/* Module rows (docs/profile-format.md). A module path is cut into dot-separated
 * components; the first all-digit component marks a numbered block
 * ("transformer.h.3", "model.layers.7", "layer2.1", "features.5"). Each op belongs
 * to at most two rows: its block (the path up to and including that component)
 * and its sub-block (one component more: "transformer.h.3.attn",
 * "transformer.h.3.ln_1"), when its path is that deep. An op whose path has no
 * numbered component belongs to one row, its own full path ("transformer.wte",
 * "lm_head", "loss"). A row's numbers are sums over its ops, except saved_bytes:
 * the distinct activation/extra tensors its ops' backward reads, each once (so a
 * block's row includes its input, read by its first op). */
static int module_level_name(const char *path, int level, char *buf, size_t n)
{
    size_t len = strlen(path), end;
    int comp = 0, block_at = -1;
    size_t comp_end[64];
    int nc = 0;
    for (size_t i = 0; i <= len && nc < 64; i++) {
        if (path[i] == '.' || path[i] == 0) {
            size_t start = nc ? comp_end[nc - 1] + 1 : 0;
            bool digits = i > start;
            for (size_t k = start; k < i; k++)
                digits = digits && path[k] >= '0' && path[k] <= '9';
            if (digits && block_at < 0)
                block_at = comp;
            comp_end[nc++] = i;
            comp++;
        }
    }
    if (block_at < 0) {
        if (level != 0)
            return -1;
        end = len;
    } else {
        int want = block_at + level; /* component index of the row's last component */
        if (want >= nc)
            return -1;
        end = comp_end[want];
    }
    if (end == 0 || end + 1 > n)
        return -1;
    memcpy(buf, path, end);
    buf[end] = 0;
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int module_cmp(const void *a, const void *b)
{
    const module_profile *x = a, *y = b;
    if (x->first_op != y->first_op)
        return x->first_op < y->first_op ? -1 : 1;
    if (x->last_op != y->last_op)
        return x->last_op > y->last_op ? -1 : 1;
    size_t lx = strlen(x->name), ly = strlen(y->name);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

int profile_modules(const profile *p, module_profile **out, int *n, remat_err *err)
{
    const graph *g = &p->g;
    int n_ops = g->n_ops, cap = 2 * n_ops + 1, cnt = 0;
    int hcap = 16;
    while (hcap < 2 * cap)
        hcap *= 2;
    module_profile *m = calloc((size_t)cap, sizeof *m);
    int *rowof = malloc(2 * ((size_t)n_ops + 1) * sizeof *rowof);
    int *hash = malloc((size_t)hcap * sizeof *hash);
    int *stamp = malloc(((size_t)g->n_tensors + 1) * sizeof *stamp);
    int rc = 0;
    if (!m || !rowof || !hash || !stamp) {
        rc = remat_fail(err, -ENOMEM, "out of memory");
        goto done;
    }
    for (int h = 0; h < hcap; h++)
        hash[h] = -1;
    char buf[1024];
    for (int i = 0; i < n_ops; i++) {
        for (int level = 0; level < 2; level++) {
            rowof[2 * i + level] = -1;
            if (module_level_name(g->ops[i].module, level, buf, sizeof buf) != 0)
                continue;
            uint64_t h = fnv1a(buf) & (uint64_t)(hcap - 1);
            while (hash[h] >= 0 && strcmp(m[hash[h]].name, buf) != 0)
                h = (h + 1) & (uint64_t)(hcap - 1);
            int k = hash[h];
            if (k < 0) {
                k = cnt++;
                hash[h] = k;
                m[k].name = strdup(buf);
                if (!m[k].name) {
                    rc = remat_fail(err, -ENOMEM, "out of memory");
                    goto done;
                }
                m[k].first_op = i;
            }
            m[k].last_op = i;
            rowof[2 * i + level] = k;
            const op_profile *r = &p->ops[i];
            m[k].flops_fwd = sat_add(m[k].flops_fwd, r->flops_fwd);
            m[k].flops_bwd = sat_add(m[k].flops_bwd, r->flops_bwd);
            m[k].time_fwd_s += r->time_fwd_s;
            m[k].time_bwd_s += r->time_bwd_s;
        }
    }
    for (int t = 0; t < g->n_tensors; t++)
        stamp[t] = -1;
    for (int k = 0; k < cnt; k++) {
        for (int i = m[k].first_op; i <= m[k].last_op; i++) {
            if (rowof[2 * i] != k && rowof[2 * i + 1] != k)
                continue;
            const graph_op *o = &g->ops[i];
            for (int s = 0; s < o->n_saved; s++) {
                int t = o->saved[s];
                const graph_tensor *tt = &g->tensors[t];
                if ((tt->role == ROLE_ACT || tt->role == ROLE_EXTRA) && stamp[t] != k) {
                    stamp[t] = k;
                    m[k].saved_bytes = sat_add(m[k].saved_bytes, tt->bytes);
                }
            }
        }
    }
    qsort(m, (size_t)cnt, sizeof *m, module_cmp);
done:
    free(rowof);
    free(hash);
    free(stamp);
    if (rc) {
        profile_free_modules(m, cnt);
        return rc;
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
