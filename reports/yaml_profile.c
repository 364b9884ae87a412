/* reports/yaml_profile.c — the profile YAML (docs/profile-format.md): writer and
 * reader. The writer emits model, target, source, device, totals, module rows,
 * one flow mapping per op and the graph in model-file form, so the file is
 * self-contained and deterministic. The reader rebuilds the graph from `graph`,
 * takes per-op FLOPs and times from `ops` after checking them against the graph,
 * and recomputes everything derived (totals, modules) rather than trusting it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"
#include "reports/yaml_util.h"

/* ================================================================ writing */

static void emit_totals(yemit *e, const profile_totals *t)
{
    ye_str(e, "totals");
    ye_map_start(e, false);
    ye_kv_int(e, "params", t->params);
    ye_kv_int(e, "param_bytes", t->param_bytes);
    ye_kv_int(e, "saved_activation_bytes", t->saved_activation_bytes);
    ye_kv_int(e, "flops_fwd", t->flops_fwd);
    ye_kv_int(e, "flops_bwd", t->flops_bwd);
    ye_kv_double(e, "time_fwd_s", t->time_fwd_s);
    ye_kv_double(e, "time_bwd_s", t->time_bwd_s);
    ye_map_end(e);
}

static void emit_model(yemit *e, const graph *g)
{
    ye_str(e, "model");
    ye_map_start(e, false);
    ye_kv_str(e, "name", g->model);
    ye_str(e, "config");
    ye_map_start(e, true);
    for (int i = 0; i < g->n_config; i++)
        ye_kv_str(e, g->config[i].key, g->config[i].value);
    ye_map_end(e);
    ye_kv_int(e, "batch", g->batch);
    ye_kv_int(e, "seq", g->seq);
    ye_kv_int(e, "image", g->image);
    ye_kv_str(e, "dtype", dtype_name(g->dtype));
    ye_kv_double(e, "dropout", g->dropout);
    ye_map_end(e);
}

int yaml_emit_profile(yaml_emitter_t *em, const profile *p, remat_err *err)
{
    module_profile *mods = NULL;
    int n_mods = 0;
    int rc = profile_modules(p, &mods, &n_mods, err);
    if (rc)
        return rc;
    yemit e = {em, false};
    ye_map_start(&e, false);
    ye_kv_int(&e, "format_version", PROFILE_FORMAT_VERSION);
    emit_model(&e, &p->g);
    ye_kv_str(&e, "target", p->target ? p->target : "");
    ye_kv_str(&e, "source", profile_source_name(p->source));
    ye_kv_str(&e, "device", p->device_desc ? p->device_desc : "");
    emit_totals(&e, &p->totals);

    ye_str(&e, "modules");
    ye_seq_start(&e, false);
    for (int i = 0; i < n_mods; i++) {
        const module_profile *m = &mods[i];
        ye_map_start(&e, true);
        ye_kv_str(&e, "name", m->name);
        ye_kv_int(&e, "saved_bytes", m->saved_bytes);
        ye_kv_int(&e, "flops_fwd", m->flops_fwd);
        ye_kv_int(&e, "flops_bwd", m->flops_bwd);
        ye_kv_double(&e, "time_fwd_s", m->time_fwd_s);
        ye_kv_double(&e, "time_bwd_s", m->time_bwd_s);
        ye_map_end(&e);
    }
    ye_seq_end(&e);
    profile_free_modules(mods, n_mods);

    ye_str(&e, "ops");
    ye_seq_start(&e, false);
    for (int i = 0; i < p->g.n_ops; i++) {
        const graph_op *o = &p->g.ops[i];
        const op_profile *r = &p->ops[i];
        ye_map_start(&e, true);
        ye_kv_str(&e, "name", o->name);
        ye_kv_str(&e, "module", o->module);
        ye_kv_str(&e, "kind", op_kind_name(o->kind));
        ye_kv_int(&e, "out_bytes", r->out_bytes);
        ye_kv_int(&e, "saved_bytes", r->saved_bytes);
        ye_kv_int(&e, "flops_fwd", r->flops_fwd);
        ye_kv_int(&e, "flops_bwd", r->flops_bwd);
        ye_kv_double(&e, "time_fwd_s", r->time_fwd_s);
        ye_kv_double(&e, "time_bwd_s", r->time_bwd_s);
        ye_map_end(&e);
    }
    ye_seq_end(&e);

    ye_str(&e, "graph");
    if (e.failed)
        return remat_fail(err, -EIO, "cannot emit the profile: %s",
                          em->problem ? em->problem : "write error");
    if ((rc = modelfile_emit(em, &p->g, err)))
        return rc;
    ye_map_end(&e);
    if (e.failed)
        return remat_fail(err, -EIO, "cannot emit the profile: %s",
                          em->problem ? em->problem : "write error");
    return 0;
}

static int profile_body(yaml_emitter_t *em, const void *ctx, remat_err *err)
{
    return yaml_emit_profile(em, ctx, err);
}

int yaml_write_profile(FILE *f, const profile *p, remat_err *err)
{
    return ye_write_document(f, profile_body, p, err);
}

/* ================================================================ reading */

enum { PK_VERSION, PK_MODEL, PK_TARGET, PK_SOURCE, PK_DEVICE, PK_TOTALS, PK_MODULES, PK_OPS,
       PK_GRAPH, PK_COUNT };
static const char *const profile_keys[PK_COUNT + 1] = {
    "format_version", "model", "target", "source", "device", "totals", "modules", "ops",
    "graph", NULL};

enum { OK_NAME, OK_MODULE, OK_KIND, OK_OUT, OK_SAVED, OK_FF, OK_FB, OK_TF, OK_TB, OK_COUNT };
static const char *const op_keys[OK_COUNT + 1] = {
    "name", "module", "kind", "out_bytes", "saved_bytes", "flops_fwd", "flops_bwd",
    "time_fwd_s", "time_bwd_s", NULL};

#define MAX_FLOPS (INT64_C(1) << 62)
#define MAX_SECONDS 1e9

/* One entry of `ops`, checked against graph op i. */
static int read_op(const yread *r, yaml_node_t *n, const graph *g, int i, op_profile *out)
{
    yaml_node_t *v[OK_COUNT];
    int rc = yr_fields(r, n, "an entry of ops", op_keys, v);
    if (rc)
        return rc;
    for (int k = 0; k < OK_COUNT; k++)
        if (!v[k])
            return yr_missing(r, n, op_keys[k], "an entry of ops");
    const graph_op *o = &g->ops[i];
    const char *s;
    if ((rc = yr_name(r, v[OK_NAME], "name", &s)))
        return rc;
    if (strcmp(s, o->name) != 0)
        return yr_fail(r, v[OK_NAME], -EINVAL, "ops[%d] is '%s' but the graph's op %d is '%s'",
                       i, s, i, o->name);
    if ((rc = yr_text(r, v[OK_MODULE], "module", &s)))
        return rc;
    if (strcmp(s, o->module) != 0)
        return yr_fail(r, v[OK_MODULE], -EINVAL, "op '%s': module '%s' differs from the "
                       "graph's '%s'", o->name, s, o->module);
    if ((rc = yr_name(r, v[OK_KIND], "kind", &s)))
        return rc;
    if (strcmp(s, op_kind_name(o->kind)) != 0)
        return yr_fail(r, v[OK_KIND], -EINVAL, "op '%s': kind '%s' differs from the graph's "
                       "'%s'", o->name, s, op_kind_name(o->kind));
    int64_t out_bytes, saved_bytes;
    if ((rc = yr_int(r, v[OK_OUT], "out_bytes", 0, INT64_MAX, &out_bytes)) ||
        (rc = yr_int(r, v[OK_SAVED], "saved_bytes", 0, INT64_MAX, &saved_bytes)) ||
        (rc = yr_int(r, v[OK_FF], "flops_fwd", 0, MAX_FLOPS, &out->flops_fwd)) ||
        (rc = yr_int(r, v[OK_FB], "flops_bwd", 0, MAX_FLOPS, &out->flops_bwd)) ||
        (rc = yr_double(r, v[OK_TF], "time_fwd_s", 0, MAX_SECONDS, &out->time_fwd_s)) ||
        (rc = yr_double(r, v[OK_TB], "time_bwd_s", 0, MAX_SECONDS, &out->time_bwd_s)))
        return rc;
    out->out_bytes = g->tensors[o->out].bytes;
    out->saved_bytes = graph_op_saved_bytes(g, i);
    if (out_bytes != out->out_bytes)
        return yr_fail(r, v[OK_OUT], -EINVAL, "op '%s': out_bytes %lld differs from the "
                       "graph's %lld", o->name, (long long)out_bytes, (long long)out->out_bytes);
    if (saved_bytes != out->saved_bytes)
        return yr_fail(r, v[OK_SAVED], -EINVAL, "op '%s': saved_bytes %lld differs from the "
                       "graph's %lld", o->name, (long long)saved_bytes,
                       (long long)out->saved_bytes);
    return 0;
}

static int read_profile(const yread *r, yaml_node_t *root, profile *p)
{
    yaml_node_t *v[PK_COUNT];
    int rc = yr_fields(r, root, "the profile", profile_keys, v);
    if (rc)
        return rc;
    static const int required[] = {PK_VERSION, PK_TARGET, PK_SOURCE, PK_OPS, PK_GRAPH};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (!v[required[k]])
            return yr_missing(r, root, profile_keys[required[k]], "the profile");
    int64_t ver;
    if ((rc = yr_int(r, v[PK_VERSION], "format_version", INT64_MIN, INT64_MAX, &ver)))
        return rc;
    if (ver != PROFILE_FORMAT_VERSION)
        return yr_fail(r, v[PK_VERSION], -EINVAL, "unsupported profile format_version %lld "
                       "(this remat reads version %d)", (long long)ver, PROFILE_FORMAT_VERSION);
    /* derived sections: only their shape is checked, the numbers are recomputed */
    if ((v[PK_MODEL] && (rc = yr_map(r, v[PK_MODEL], "model"))) ||
        (v[PK_TOTALS] && (rc = yr_map(r, v[PK_TOTALS], "totals"))))
        return rc;
    yaml_node_item_t *items;
    int n;
    if (v[PK_MODULES] && (rc = yr_seq(r, v[PK_MODULES], "modules", 1 << 24, &items, &n)))
        return rc;
    const char *target, *source, *device = "";
    if ((rc = yr_name(r, v[PK_TARGET], "target", &target)) ||
        (rc = yr_name(r, v[PK_SOURCE], "source", &source)) ||
        (v[PK_DEVICE] && (rc = yr_text(r, v[PK_DEVICE], "device", &device))))
        return rc;
    int src = profile_source_from_name(source);
    if (src < 0)
        return yr_fail(r, v[PK_SOURCE], -EINVAL, "source '%s' is not one of analytic, cpu, "
                       "cuda", source);

    if ((rc = modelfile_from_node(r->doc, v[PK_GRAPH], r->path, &p->g, r->err)))
        return rc;
    p->source = (profile_source)src;
    p->target = strdup(target);
    p->device_desc = strdup(device);
    p->ops = calloc((size_t)p->g.n_ops + 1, sizeof *p->ops);
    if (!p->target || !p->device_desc || !p->ops)
        return remat_fail(r->err, -ENOMEM, "out of memory");
    if ((rc = yr_seq(r, v[PK_OPS], "ops", 1 << 24, &items, &n)))
        return rc;
    if (n != p->g.n_ops)
        return yr_fail(r, v[PK_OPS], -EINVAL, "ops has %d entries but the graph has %d ops", n,
                       p->g.n_ops);
    for (int i = 0; i < n; i++)
        if ((rc = read_op(r, yr_node(r, items[i]), &p->g, i, &p->ops[i])))
            return rc;
    profile_compute_totals(p);
    return 0;
}

int profile_from_node(yaml_document_t *doc, yaml_node_t *node, const char *path, profile *p,
                      remat_err *err)
{
    memset(p, 0, sizeof *p);
    yread r = {doc, path ? path : "<profile>", err};
    int rc = read_profile(&r, node, p);
    if (rc)
        profile_free(p);
    return rc;
}

int yaml_read_profile(const char *path, profile *p, remat_err *err)
{
    memset(p, 0, sizeof *p);
    yaml_document_t doc;
    int rc = yr_load_file(path, &doc, err);
    if (rc)
        return rc;
    rc = profile_from_node(&doc, yaml_document_get_root_node(&doc), path, p, err);
    yaml_document_delete(&doc);
    return rc;
}
