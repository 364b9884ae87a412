/* reports/yaml_plan.c — plan YAML (docs/plan-format.md): the schedule, its
 * simulated prediction, the trainer-facing summary (checkpoints, selective,
 * multilevel, per-trainer fragments) and the embedded profile. The reader re-runs
 * the simulator: a plan file's numbers are never trusted. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"
#include "reports/yamlio.h"

#define PLAN_FORMAT_VERSION 1

/* ---------------------------------------------------------------- trainers */

/* A checkpoint path is a numbered block when it ends in ".N"; prefix receives the
 * part before ".N" (e.g. "transformer.h"). */
static bool numbered_block(const char *path, char *prefix, size_t n, long *idx)
{
    const char *dot = strrchr(path, '.');
    if (!dot || !dot[1])
        return false;
    for (const char *c = dot + 1; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    size_t len = (size_t)(dot - path);
    if (len + 1 > n)
        return false;
    memcpy(prefix, path, len);
    prefix[len] = 0;
    *idx = strtol(dot + 1, NULL, 10);
    return true;
}

/* Number of distinct numbered blocks with the given prefix among the graph's ops. */
static int count_blocks(const graph *g, const char *prefix)
{
    size_t pl = strlen(prefix);
    long last = -1;
    int n = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const char *m = g->ops[i].module;
        if (strncmp(m, prefix, pl) != 0 || m[pl] != '.' || !isdigit((unsigned char)m[pl + 1]))
            continue;
        long b = strtol(m + pl + 1, NULL, 10);
        if (b != last) {
            n++;
            last = b;
        }
    }
    return n;
}

/* A checkpoint entry as a range of numbered blocks: "P.i" (one block) or
 * "P.i..P.j" (blocks i to j wrapped as one segment, same P). */
static bool block_range(const char *entry, char *prefix, size_t n, long *lo, long *hi)
{
    const char *dd = strstr(entry, "..");
    if (!dd)
        return numbered_block(entry, prefix, n, lo) && (*hi = *lo, true);
    char first[512], p2[512];
    size_t len = (size_t)(dd - entry);
    if (len + 1 > sizeof first)
        return false;
    memcpy(first, entry, len);
    first[len] = 0;
    return numbered_block(first, prefix, n, lo) && numbered_block(dd + 2, p2, sizeof p2, hi) &&
           strcmp(prefix, p2) == 0 && *hi >= *lo;
}

/* What the checkpoint list looks like in terms of numbered blocks, for the
 * trainers that can only name layers (Hugging Face, Megatron). */
typedef struct block_view {
    bool all_blocks;  /* every entry is a block or block range with one prefix */
    int nblocks;      /* blocks with that prefix in the graph */
    int nseg;         /* entries */
    int covered;      /* blocks inside some entry */
    bool every_single;/* each block checkpointed on its own, all of them */
    int first_k;      /* > 0: entries are exactly blocks 0..k-1, one each */
    int uniform;      /* > 0: entries tile all blocks in groups of this size */
    int mean_len;     /* rounded mean entry length */
} block_view;

static block_view view_blocks(const graph *g, const plan *pl)
{
    block_view v = {.all_blocks = pl->n_checkpoints > 0, .nseg = pl->n_checkpoints};
    char prefix[512] = "", pfx[512];
    long lo, hi, next = 0, len0 = -1;
    bool singles = true, tiles = true, from_zero = true;
    for (int i = 0; i < pl->n_checkpoints && v.all_blocks; i++) {
        if (!block_range(pl->checkpoints[i], pfx, sizeof pfx, &lo, &hi) ||
            (prefix[0] && strcmp(prefix, pfx) != 0)) {
            v.all_blocks = false;
            break;
        }
        if (!prefix[0])
            snprintf(prefix, sizeof prefix, "%s", pfx);
        singles = singles && lo == hi;
        from_zero = from_zero && lo == next;
        if (len0 < 0)
            len0 = hi - lo + 1;
        tiles = tiles && lo == next && hi - lo + 1 == len0;
        next = hi + 1;
        v.covered += (int)(hi - lo + 1);
    }
    if (!v.all_blocks)
        return v;
    v.nblocks = count_blocks(g, prefix);
    v.mean_len = v.nseg ? (v.covered + v.nseg / 2) / v.nseg : 0;
    if (singles && from_zero)
        v.first_k = v.nseg;
    v.every_single = v.first_k > 0 && v.first_k == v.nblocks;
    if (tiles && next == v.nblocks && v.nblocks % len0 == 0)
        v.uniform = (int)len0;
    return v;
}

static void emit_trainers(ye *e, const profile *p, const plan *pl)
{
    block_view v = view_blocks(&p->g, pl);
    bool none = pl->n_checkpoints == 0 && !pl->multilevel;

    ye_key(e, "trainers");
    ye_map(e, false);

    ye_key(e, "pytorch");
    ye_map(e, false);
    ye_key(e, "checkpoint_modules");
    ye_seq(e, false);
    for (int i = 0; i < pl->n_checkpoints; i++)
        ye_str(e, pl->checkpoints[i]);
    ye_seq_end(e);
    ye_kbool(e, "use_reentrant", false);
    if (pl->n_selective) {
        ye_key(e, "selective_policy");
        ye_map(e, false);
        for (int i = 0; i < pl->n_selective; i++)
            ye_kstr(e, pl->selective[i].op,
                    pl->selective[i].save ? "MUST_SAVE" : "PREFER_RECOMPUTE");
        ye_map_end(e);
    }
    ye_kstr(e, "apply", pl->multilevel
                            ? "multilevel schedule: run it with remat's executor; "
                              "torch.utils.checkpoint cannot express it"
                            : "wrap each listed module (A..B: modules A through B as one "
                              "segment) with torch.utils.checkpoint.checkpoint(use_reentrant="
                              "False); python3 -m remat_torch PLAN (contrib/pytorch) shows how");
    ye_map_end(e);

    ye_key(e, "huggingface");
    ye_map(e, false);
    ye_kbool(e, "gradient_checkpointing", pl->n_checkpoints > 0 || pl->multilevel);
    ye_key(e, "gradient_checkpointing_kwargs");
    ye_map(e, true);
    ye_kbool(e, "use_reentrant", false);
    ye_map_end(e);
    ye_kstr(e, "layers", none ? "none" : v.every_single ? "all" : "listed");
    ye_kbool(e, "exact", none || (v.every_single && !pl->multilevel && pl->n_selective == 0));
    ye_map_end(e);

    ye_key(e, "megatron");
    ye_map(e, false);
    char flags[160] = "";
    bool exact = none;
    if (v.uniform > 0) {
        snprintf(flags, sizeof flags, "--recompute-granularity full --recompute-method uniform "
                                      "--recompute-num-layers %d", v.uniform);
        exact = true;
    } else if (v.first_k > 0) {
        snprintf(flags, sizeof flags, "--recompute-granularity full --recompute-method block "
                                      "--recompute-num-layers %d", v.first_k);
        exact = true;
    } else if (v.all_blocks && v.mean_len > 1) {
        snprintf(flags, sizeof flags, "--recompute-granularity full --recompute-method uniform "
                                      "--recompute-num-layers %d", v.mean_len);
    } else if (v.all_blocks) {
        snprintf(flags, sizeof flags, "--recompute-granularity full --recompute-method block "
                                      "--recompute-num-layers %d", v.covered);
    }
    ye_kstr(e, "flags", flags);
    ye_kbool(e, "exact", exact && !pl->multilevel && pl->n_selective == 0);
    ye_map_end(e);

    ye_key(e, "deepspeed");
    ye_map(e, false);
    ye_key(e, "activation_checkpointing");
    ye_map(e, false);
    ye_kbool(e, "partition_activations", false);
    ye_kbool(e, "cpu_checkpointing", false);
    ye_kbool(e, "contiguous_memory_optimization", false);
    ye_kint(e, "number_checkpoints", pl->n_checkpoints);
    ye_kbool(e, "synchronize_checkpoint_boundary", false);
    ye_kbool(e, "profile", false);
    ye_map_end(e);
    ye_map_end(e);

    ye_map_end(e);
}

/* ---------------------------------------------------------------- writer */

static const char *module_of_tensor(const graph *g, int t)
{
    int op = g->tensors[t].producer;
    return op >= 0 ? g->ops[op].module : "";
}

int yaml_write_plan(FILE *f, const profile *p, const plan *pl, remat_err *err)
{
    const graph *g = &p->g;
    ye e;
    ye_open(&e, f);
    ye_map(&e, false);
    ye_kint(&e, "format_version", PLAN_FORMAT_VERSION);
    ye_kint(&e, "budget_bytes", pl->budget_bytes);
    if (pl->max_checkpoints > 0)
        ye_kint(&e, "max_checkpoints", pl->max_checkpoints);
    ye_key(&e, "solver");
    ye_map(&e, false);
    ye_kstr(&e, "name", solver_name(pl->solver));
    ye_kstr(&e, "status", pl->status);
    /* an upper bound on the solve time, rounded up to 0.1, 1, 10, ... s: wall
     * time varies from run to run, the bound almost never does, so the same
     * command writes the same bytes (the exact time is on stderr) */
    double secs = 0.1;
    while (secs < pl->solve_s * (1.0 - 1e-9) && secs < 1e9)
        secs *= 10.0;
    ye_knum(&e, "seconds", secs);
    ye_knum(&e, "gap", pl->gap);
    ye_map_end(&e);
    ye_key(&e, "memory");
    ye_map(&e, false);
    ye_kstr(&e, "optimizer", optimizer_name(pl->mem.optimizer));
    ye_kbool(&e, "mixed", pl->mem.mixed);
    ye_kint(&e, "zero_stage", pl->mem.zero_stage);
    ye_kint(&e, "dp", pl->mem.dp);
    ye_kint(&e, "lora_rank", pl->mem.lora_rank);
    ye_kint(&e, "workspace_bytes", pl->mem.workspace_bytes);
    ye_kstr(&e, "allocator", allocator_name(pl->mem.allocator));
    ye_map_end(&e);
    const sim_result *r = &pl->pred;
    ye_key(&e, "predicted");
    ye_map(&e, false);
    ye_kint(&e, "peak_bytes", r->peak_bytes);
    ye_kint(&e, "static_bytes", r->static_bytes);
    ye_kint(&e, "activation_peak_bytes", r->activation_peak_bytes);
    ye_knum(&e, "compute_overhead", r->compute_overhead);
    ye_kint(&e, "recompute_forwards", r->recompute_forwards);
    ye_knum(&e, "compute_s", r->compute_s);
    ye_kint(&e, "peak_instruction", r->peak_ins);
    ye_map_end(&e);
    ye_key(&e, "live_at_peak");
    ye_seq(&e, false);
    for (int i = 0; i < r->n_live_at_peak; i++) {
        const live_entry *le = &r->live_at_peak[i];
        ye_map(&e, true);
        ye_kstr(&e, "tensor", g->tensors[le->tensor].name);
        ye_kbool(&e, "grad", le->grad);
        ye_kint(&e, "bytes", le->bytes);
        ye_kstr(&e, "module", module_of_tensor(g, le->tensor));
        ye_map_end(&e);
    }
    ye_seq_end(&e);
    ye_key(&e, "checkpoints");
    ye_seq(&e, false);
    for (int i = 0; i < pl->n_checkpoints; i++)
        ye_str(&e, pl->checkpoints[i]);
    ye_seq_end(&e);
    ye_key(&e, "selective");
    ye_seq(&e, false);
    for (int i = 0; i < pl->n_selective; i++) {
        ye_map(&e, true);
        ye_kstr(&e, "op", pl->selective[i].op);
        ye_kstr(&e, "policy", pl->selective[i].save ? "save" : "recompute");
        ye_map_end(&e);
    }
    ye_seq_end(&e);
    ye_kbool(&e, "multilevel", pl->multilevel);
    emit_trainers(&e, p, pl);
    ye_key(&e, "schedule");
    ye_seq(&e, false);
    for (int i = 0; i < pl->sched.n; i++) {
        const sched_ins *in = &pl->sched.ins[i];
        ye_seq(&e, true);
        ye_str(&e, ins_kind_name((ins_kind)in->kind));
        if (in->kind == INS_FWD || in->kind == INS_BWD)
            ye_str(&e, g->ops[in->arg].name);
        else if (in->kind == INS_FREE || in->kind == INS_FREE_GRAD)
            ye_str(&e, g->tensors[in->arg].name);
        if (in->flags & INS_RECOMPUTE)
            ye_key(&e, "r");
        ye_seq_end(&e);
    }
    ye_seq_end(&e);
    ye_key(&e, "profile");
    int rc = e.rc ? 0 : yaml_emit_profile_map(&e, p, err);
    ye_map_end(&e);
    int rc2 = ye_close(&e, rc ? NULL : err);
    return rc ? rc : rc2;
}

/* ---------------------------------------------------------------- reader */

static const char *const plan_keys[] = {"format_version", "budget_bytes", "max_checkpoints",
                                        "solver", "memory", "predicted", "live_at_peak",
                                        "checkpoints", "selective", "multilevel", "trainers",
                                        "schedule", "profile", NULL};
static const char *const solver_keys[] = {"name", "status", "seconds", "gap", NULL};
static const char *const memory_keys[] = {"optimizer", "mixed", "zero_stage", "dp", "lora_rank",
                                          "workspace_bytes", "allocator", NULL};

static int read_memory(yr *r, yaml_node_t *m, mem_config *mc)
{
    mem_config_default(mc);
    int rc = yr_fields(r, m, "memory", memory_keys);
    if (rc)
        return rc;
    yaml_node_t *v;
    const char *s;
    int64_t n;
    if ((v = yr_get(r, m, "optimizer"))) {
        if ((rc = yr_str(r, v, "optimizer", &s)))
            return rc;
        int k = optimizer_from_name(s);
        if (k < 0)
            return yr_fail(r, v, -EINVAL, "unknown optimizer '%s'", s);
        mc->optimizer = (optimizer_kind)k;
    }
    if ((v = yr_get(r, m, "allocator"))) {
        if ((rc = yr_str(r, v, "allocator", &s)))
            return rc;
        int k = allocator_from_name(s);
        if (k < 0)
            return yr_fail(r, v, -EINVAL, "unknown allocator '%s'", s);
        mc->allocator = (allocator_kind)k;
    }
    if ((v = yr_get(r, m, "mixed")) && (rc = yr_bool(r, v, "mixed", &mc->mixed)))
        return rc;
    if ((v = yr_get(r, m, "zero_stage"))) {
        if ((rc = yr_int(r, v, "zero_stage", 0, 3, &n)))
            return rc;
        mc->zero_stage = (int)n;
    }
    if ((v = yr_get(r, m, "dp"))) {
        if ((rc = yr_int(r, v, "dp", 1, 1 << 20, &n)))
            return rc;
        mc->dp = (int)n;
    }
    if ((v = yr_get(r, m, "lora_rank"))) {
        if ((rc = yr_int(r, v, "lora_rank", 0, 1 << 20, &n)))
            return rc;
        mc->lora_rank = (int)n;
    }
    if ((v = yr_get(r, m, "workspace_bytes")) &&
        (rc = yr_int(r, v, "workspace_bytes", 0, INT64_MAX / 4, &mc->workspace_bytes)))
        return rc;
    return 0;
}

static int read_schedule(yr *r, yaml_node_t *s, const graph *g, schedule *out)
{
    int n, rc = yr_seq_len(r, s, "schedule", &n);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        yaml_node_t *it = yr_item(r, s, i);
        int len;
        if ((rc = yr_seq_len(r, it, "a schedule instruction", &len)))
            return rc;
        if (len < 1 || len > 3)
            return yr_fail(r, it, -EINVAL, "a schedule instruction has 1 to 3 items");
        const char *kind, *arg = NULL;
        if ((rc = yr_str(r, yr_item(r, it, 0), "instruction", &kind)))
            return rc;
        int k = ins_kind_from_name(kind);
        if (k < 0)
            return yr_fail(r, it, -EINVAL, "unknown instruction '%s'", kind);
        unsigned flags = 0;
        int idx = 0;
        if (k != INS_OPT) {
            if (len < 2 || (rc = yr_str(r, yr_item(r, it, 1), "instruction argument", &arg)))
                return rc ? rc : yr_fail(r, it, -EINVAL, "'%s' needs a name", kind);
            idx = (k == INS_FWD || k == INS_BWD) ? graph_find_op(g, arg)
                                                  : graph_find_tensor(g, arg);
            if (idx < 0)
                return yr_fail(r, yr_item(r, it, 1), -EINVAL, "'%s' names no %s of the graph",
                               arg, (k == INS_FWD || k == INS_BWD) ? "op" : "tensor");
            if (len == 3) {
                const char *fl;
                if ((rc = yr_str(r, yr_item(r, it, 2), "flag", &fl)))
                    return rc;
                if (strcmp(fl, "r") != 0 || k != INS_FWD)
                    return yr_fail(r, yr_item(r, it, 2), -EINVAL,
                                   "only fwd takes a flag, and only 'r' (recompute)");
                flags = INS_RECOMPUTE;
            }
        } else if (len != 1) {
            return yr_fail(r, it, -EINVAL, "opt takes no argument");
        }
        if (schedule_push(out, (ins_kind)k, idx, flags))
            return remat_fail(r->err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* True when name is an op's module path or a dot-prefix of one. */
static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True when name[0..len) is the module path of some op or a dot prefix of one.
 * mods: every op's module path, sorted, so this is a binary search (plans of
 * 10^5 ops name up to 10^5 checkpoints). */
static bool is_module(const char *const *mods, int n, const char *name, size_t len)
{
    int lo = 0, hi = n;
    while (lo < hi) { /* first entry >= name[0..len) */
        int mid = lo + (hi - lo) / 2;
        if (strncmp(mods[mid], name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int i = lo; i < n && strncmp(mods[i], name, len) == 0; i++)
        if (mods[i][len] == 0 || mods[i][len] == '.')
            return true;
    return false;
}

/* Every checkpoint entry names modules of the graph: "M" or "A..B". */
static int check_checkpoints(yr *r, yaml_node_t *s, const graph *g, const plan *pl)
{
    const char **mods = malloc((size_t)(g->n_ops > 0 ? g->n_ops : 1) * sizeof *mods);
    if (!mods)
        return remat_fail(r->err, -ENOMEM, "out of memory");
    for (int i = 0; i < g->n_ops; i++)
        mods[i] = g->ops[i].module;
    qsort(mods, (size_t)g->n_ops, sizeof *mods, cmp_cstr);
    int rc = 0;
    for (int i = 0; i < pl->n_checkpoints && !rc; i++) {
        const char *c = pl->checkpoints[i], *dd = strstr(c, "..");
        size_t len = dd ? (size_t)(dd - c) : strlen(c);
        if (len == 0 || !is_module(mods, g->n_ops, c, len) ||
            (dd && !is_module(mods, g->n_ops, dd + 2, strlen(dd + 2))))
            rc = yr_fail(r, yr_item(r, s, i), -EINVAL,
                         "checkpoint '%s' names no module of the graph", c);
    }
    free(mods);
    return rc;
}

static int read_strings(yr *r, yaml_node_t *s, const char *what, char ***out, int *count)
{
    int n, rc = yr_seq_len(r, s, what, &n);
    if (rc)
        return rc;
    *out = calloc((size_t)(n ? n : 1), sizeof **out);
    if (!*out)
        return remat_fail(r->err, -ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *v;
        if ((rc = yr_str(r, yr_item(r, s, i), what, &v)))
            return rc;
        if (!((*out)[i] = strdup(v)))
            return remat_fail(r->err, -ENOMEM, "out of memory");
        *count = i + 1;
    }
    return 0;
}

static int read_selective(yr *r, yaml_node_t *s, const graph *g, plan *pl)
{
    static const char *const keys[] = {"op", "policy", NULL};
    int n, rc = yr_seq_len(r, s, "selective", &n);
    if (rc)
        return rc;
    pl->selective = calloc((size_t)(n ? n : 1), sizeof *pl->selective);
    if (!pl->selective)
        return remat_fail(r->err, -ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        yaml_node_t *it = yr_item(r, s, i), *v;
        const char *op, *pol;
        if ((rc = yr_fields(r, it, "a selective entry", keys)) ||
            (rc = yr_need(r, it, "op", &v)) || (rc = yr_str(r, v, "op", &op)))
            return rc;
        if (graph_find_op(g, op) < 0)
            return yr_fail(r, v, -EINVAL, "selective op '%s' is not in the graph", op);
        if ((rc = yr_need(r, it, "policy", &v)) || (rc = yr_str(r, v, "policy", &pol)))
            return rc;
        if (strcmp(pol, "save") && strcmp(pol, "recompute"))
            return yr_fail(r, v, -EINVAL, "policy must be save or recompute, not '%s'", pol);
        if (!(pl->selective[i].op = strdup(op)))
            return remat_fail(r->err, -ENOMEM, "out of memory");
        pl->selective[i].save = strcmp(pol, "save") == 0;
        pl->n_selective = i + 1;
    }
    return 0;
}

int yaml_read_plan(const char *path, profile *p, plan *pl, remat_err *err)
{
    memset(p, 0, sizeof *p);
    memset(pl, 0, sizeof *pl);
    yr r;
    int rc = yr_load(&r, path, err);
    if (rc)
        return rc;
    yaml_node_t *root = yr_root(&r), *v;
    int64_t n;
    if ((rc = yr_fields(&r, root, "the plan", plan_keys)) ||
        (rc = yr_need(&r, root, "format_version", &v)) ||
        (rc = yr_int(&r, v, "format_version", 0, 1000, &n)))
        goto out;
    if (n != PLAN_FORMAT_VERSION) {
        rc = yr_fail(&r, v, -EINVAL, "plan format_version %lld is not supported (expected %d)",
                     (long long)n, PLAN_FORMAT_VERSION);
        goto out;
    }
    if ((rc = yr_need(&r, root, "profile", &v)) || (rc = yaml_profile_from_node(&r, v, p)))
        goto out;
    if ((rc = yr_need(&r, root, "budget_bytes", &v)) ||
        (rc = yr_int(&r, v, "budget_bytes", 0, INT64_MAX, &pl->budget_bytes)))
        goto out;
    if ((v = yr_get(&r, root, "max_checkpoints"))) {
        if ((rc = yr_int(&r, v, "max_checkpoints", 1, 1 << 20, &n)))
            goto out;
        pl->max_checkpoints = (int)n;
    }
    yaml_node_t *sv;
    const char *s;
    if ((rc = yr_need(&r, root, "solver", &sv)) ||
        (rc = yr_fields(&r, sv, "solver", solver_keys)) || (rc = yr_need(&r, sv, "name", &v)) ||
        (rc = yr_str(&r, v, "solver name", &s)))
        goto out;
    int k = solver_from_name(s);
    if (k < 0) {
        rc = yr_fail(&r, v, -EINVAL, "unknown solver '%s'", s);
        goto out;
    }
    pl->solver = (solver_kind)k;
    if ((v = yr_get(&r, sv, "status"))) {
        if ((rc = yr_str(&r, v, "status", &s)))
            goto out;
        if (strcmp(s, "optimal") && strcmp(s, "feasible") && strcmp(s, "infeasible") &&
            strcmp(s, "no-solution")) {
            rc = yr_fail(&r, v, -EINVAL,
                         "unknown solver status '%s' (optimal, feasible, infeasible or "
                         "no-solution)",
                         s);
            goto out;
        }
        snprintf(pl->status, sizeof pl->status, "%s", s);
    }
    if ((v = yr_get(&r, sv, "seconds")) &&
        (rc = yr_num(&r, v, "seconds", 0, 1e9, &pl->solve_s)))
        goto out;
    if ((v = yr_get(&r, sv, "gap")) && (rc = yr_num(&r, v, "gap", 0, 1e30, &pl->gap)))
        goto out;
    if ((v = yr_get(&r, root, "memory")) && (rc = read_memory(&r, v, &pl->mem)))
        goto out;
    if (!v)
        mem_config_default(&pl->mem);
    if ((v = yr_get(&r, root, "checkpoints")) &&
        ((rc = read_strings(&r, v, "checkpoints", &pl->checkpoints, &pl->n_checkpoints)) ||
         (rc = check_checkpoints(&r, v, &p->g, pl))))
        goto out;
    if ((v = yr_get(&r, root, "selective")) && (rc = read_selective(&r, v, &p->g, pl)))
        goto out;
    if ((v = yr_get(&r, root, "multilevel")) &&
        (rc = yr_bool(&r, v, "multilevel", &pl->multilevel)))
        goto out;
    if ((rc = yr_need(&r, root, "schedule", &v)) ||
        (rc = read_schedule(&r, v, &p->g, &pl->sched)))
        goto out;
    rc = simulate(p, &pl->mem, &pl->sched, &pl->pred, err);
    if (rc) {
        /* point at the offending instruction when the simulator names one, else
         * at the schedule */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        int idx = -1;
        yaml_node_t *at = v;
        if (sscanf(msg, "instruction %d", &idx) == 1 && idx >= 0 && idx < pl->sched.n)
            at = yr_item(&r, v, idx);
        rc = yr_fail(&r, at, rc, "the schedule does not simulate: %s", msg);
    }
out:
    yr_free(&r);
    if (rc) {
        plan_free(pl);
        profile_free(p);
    }
    return rc;
}
