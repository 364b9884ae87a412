/* reports/yaml_profile.c — profile YAML: writer and reader (docs/profile-format.md).
 * A profile embeds its graph in model-file form, so it can be planned anywhere. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"
#include "reports/yamlio.h"

#define PROFILE_FORMAT_VERSION 1

int yaml_emit_profile_map(ye *e, const profile *p, remat_err *err)
{
    const graph *g = &p->g;
    ye_map(e, false);
    ye_kint(e, "format_version", PROFILE_FORMAT_VERSION);
    ye_key(e, "model");
    ye_map(e, false);
    ye_kstr(e, "name", g->model);
    ye_key(e, "config");
    ye_map(e, true);
    for (int i = 0; i < g->n_config; i++)
        ye_kstr(e, g->config[i].key, g->config[i].value);
    ye_map_end(e);
    ye_kint(e, "batch", g->batch);
    ye_kint(e, "seq", g->seq);
    ye_kint(e, "image", g->image);
    ye_kstr(e, "dtype", dtype_name(g->dtype));
    ye_knum(e, "dropout", g->dropout);
    ye_map_end(e);
    ye_kstr(e, "target", p->target);
    ye_kstr(e, "source", profile_source_name(p->source));
    ye_kstr(e, "device", p->device_desc);
    const profile_totals *t = &p->totals;
    ye_key(e, "totals");
    ye_map(e, false);
    ye_kint(e, "params", t->params);
    ye_kint(e, "param_bytes", t->param_bytes);
    ye_kint(e, "saved_activation_bytes", t->saved_activation_bytes);
    ye_kint(e, "flops_fwd", t->flops_fwd);
    ye_kint(e, "flops_bwd", t->flops_bwd);
    ye_knum(e, "time_fwd_s", t->time_fwd_s);
    ye_knum(e, "time_bwd_s", t->time_bwd_s);
    ye_map_end(e);

    module_profile *m = NULL;
    int nm = 0;
    int rc = profile_modules(p, &m, &nm, err);
    if (rc)
        return rc;
    ye_key(e, "modules");
    ye_seq(e, false);
    for (int i = 0; i < nm; i++) {
        ye_map(e, true);
        ye_kstr(e, "name", m[i].name);
        ye_kint(e, "saved_bytes", m[i].saved_bytes);
        ye_kint(e, "flops_fwd", m[i].flops_fwd);
        ye_kint(e, "flops_bwd", m[i].flops_bwd);
        ye_knum(e, "time_fwd_s", m[i].time_fwd_s);
        ye_knum(e, "time_bwd_s", m[i].time_bwd_s);
        ye_map_end(e);
    }
    ye_seq_end(e);
    profile_free_modules(m, nm);

    ye_key(e, "ops");
    ye_seq(e, false);
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        const op_profile *r = &p->ops[i];
        ye_map(e, true);
        ye_kstr(e, "name", o->name);
        ye_kstr(e, "module", o->module);
        ye_kstr(e, "kind", op_kind_name(o->kind));
        ye_kint(e, "out_bytes", r->out_bytes);
        ye_kint(e, "saved_bytes", r->saved_bytes);
        ye_kint(e, "flops_fwd", r->flops_fwd);
        ye_kint(e, "flops_bwd", r->flops_bwd);
        ye_knum(e, "time_fwd_s", r->time_fwd_s);
        ye_knum(e, "time_bwd_s", r->time_bwd_s);
        ye_map_end(e);
    }
    ye_seq_end(e);
    ye_key(e, "graph");
    if (e->rc == 0) {
        rc = modelfile_emit(&e->em, g, err);
        if (rc)
            return rc;
    }
    ye_map_end(e);
    return e->rc ? remat_fail(err, e->rc, "YAML output failed") : 0;
}

int yaml_write_profile(FILE *f, const profile *p, remat_err *err)
{
    ye e;
    ye_open(&e, f);
    int rc = yaml_emit_profile_map(&e, p, err);
    int rc2 = ye_close(&e, rc ? NULL : err);
    return rc ? rc : rc2;
}

static const char *const top_keys[] = {"format_version", "model", "target", "source", "device",
                                       "totals", "modules", "ops", "graph", NULL};
static const char *const op_keys[] = {"name", "module", "kind", "out_bytes", "saved_bytes",
                                      "flops_fwd", "flops_bwd", "time_fwd_s", "time_bwd_s", NULL};

/* The optional descriptive fields of an ops entry must agree with the graph:
 * they are derived from it, and a disagreement means the file was edited or
 * truncated inconsistently. */
static int check_op_consistent(yr *r, yaml_node_t *row, const graph *g, int i,
                               const op_profile *o)
{
    const graph_op *op = &g->ops[i];
    yaml_node_t *v;
    const char *s;
    int64_t n;
    int rc;
    if ((v = yr_get(r, row, "module"))) {
        if ((rc = yr_str(r, v, "module", &s)))
            return rc;
        if (strcmp(s, op->module) != 0)
            return yr_fail(r, v, -EINVAL, "op '%s': module '%s' differs from the graph's '%s'",
                           op->name, s, op->module);
    }
    if ((v = yr_get(r, row, "kind"))) {
        if ((rc = yr_str(r, v, "kind", &s)))
            return rc;
        if (strcmp(s, op_kind_name(op->kind)) != 0)
            return yr_fail(r, v, -EINVAL, "op '%s': kind '%s' differs from the graph's '%s'",
                           op->name, s, op_kind_name(op->kind));
    }
    if ((v = yr_get(r, row, "out_bytes"))) {
        if ((rc = yr_int(r, v, "out_bytes", 0, INT64_MAX, &n)))
            return rc;
        if (n != o->out_bytes)
            return yr_fail(r, v, -EINVAL, "op '%s': out_bytes %lld differs from the graph's %lld",
                           op->name, (long long)n, (long long)o->out_bytes);
    }
    if ((v = yr_get(r, row, "saved_bytes"))) {
        if ((rc = yr_int(r, v, "saved_bytes", 0, INT64_MAX, &n)))
            return rc;
        if (n != o->saved_bytes)
            return yr_fail(r, v, -EINVAL,
                           "op '%s': saved_bytes %lld differs from the graph's %lld", op->name,
                           (long long)n, (long long)o->saved_bytes);
    }
    return 0;
}

int yaml_profile_from_node(yr *r, yaml_node_t *root, profile *p)
{
    memset(p, 0, sizeof *p);
    int rc = yr_fields(r, root, "the profile", top_keys);
    if (rc)
        return rc;
    yaml_node_t *n;
    int64_t ver;
    if ((rc = yr_need(r, root, "format_version", &n)) ||
        (rc = yr_int(r, n, "format_version", 0, 1000, &ver)))
        return rc;
    if (ver != PROFILE_FORMAT_VERSION)
        return yr_fail(r, n, -EINVAL, "profile format_version %lld is not supported (expected %d)",
                       (long long)ver, PROFILE_FORMAT_VERSION);
    const char *target, *source, *device = "";
    if ((rc = yr_need(r, root, "target", &n)) || (rc = yr_str(r, n, "target", &target)))
        return rc;
    if ((rc = yr_need(r, root, "source", &n)) || (rc = yr_str(r, n, "source", &source)))
        return rc;
    int src = profile_source_from_name(source);
    if (src < 0)
        return yr_fail(r, n, -EINVAL, "unknown source '%s' (analytic, cpu or cuda)", source);
    if ((n = yr_get(r, root, "device")) && (rc = yr_str(r, n, "device", &device)))
        return rc;
    yaml_node_t *gn, *ops;
    if ((rc = yr_need(r, root, "graph", &gn)) || (rc = yr_need(r, root, "ops", &ops)))
        return rc;
    rc = modelfile_from_node(&r->doc, gn, r->path, &p->g, r->err);
    if (rc)
        return rc;
    int nops;
    if ((rc = yr_seq_len(r, ops, "ops", &nops)))
        goto fail;
    if (nops != p->g.n_ops) {
        rc = yr_fail(r, ops, -EINVAL, "ops lists %d ops but the graph has %d", nops, p->g.n_ops);
        goto fail;
    }
    p->source = (profile_source)src;
    p->target = strdup(target);
    p->device_desc = strdup(device);
    p->ops = calloc((size_t)(nops ? nops : 1), sizeof *p->ops);
    if (!p->target || !p->device_desc || !p->ops) {
        rc = remat_fail(r->err, -ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < nops; i++) {
        yaml_node_t *row = yr_item(r, ops, i), *v;
        const char *name;
        op_profile *o = &p->ops[i];
        if ((rc = yr_fields(r, row, "an ops entry", op_keys)) || (rc = yr_need(r, row, "name", &v)) ||
            (rc = yr_str(r, v, "op name", &name)))
            goto fail;
        if (strcmp(name, p->g.ops[i].name) != 0) {
            rc = yr_fail(r, v, -EINVAL, "ops entry %d is '%s' but the graph's op %d is '%s'", i,
                         name, i, p->g.ops[i].name);
            goto fail;
        }
        o->out_bytes = p->g.tensors[p->g.ops[i].out].bytes;
        o->saved_bytes = graph_op_saved_bytes(&p->g, i);
        if ((rc = check_op_consistent(r, row, &p->g, i, o)))
            goto fail;
        o->flops_fwd = p->g.ops[i].flops_fwd;
        o->flops_bwd = p->g.ops[i].flops_bwd;
        if ((v = yr_get(r, row, "flops_fwd")) &&
            (rc = yr_int(r, v, "flops_fwd", 0, INT64_MAX, &o->flops_fwd)))
            goto fail;
        if ((v = yr_get(r, row, "flops_bwd")) &&
            (rc = yr_int(r, v, "flops_bwd", 0, INT64_MAX, &o->flops_bwd)))
            goto fail;
        if ((rc = yr_need(r, row, "time_fwd_s", &v)) ||
            (rc = yr_num(r, v, "time_fwd_s", 0, 1e9, &o->time_fwd_s)) ||
            (rc = yr_need(r, row, "time_bwd_s", &v)) ||
            (rc = yr_num(r, v, "time_bwd_s", 0, 1e9, &o->time_bwd_s)))
            goto fail;
    }
    profile_compute_totals(p);
    return 0;
fail:
    profile_free(p);
    return rc;
}

int yaml_read_profile(const char *path, profile *p, remat_err *err)
{
    yr r;
    memset(p, 0, sizeof *p);
    int rc = yr_load(&r, path, err);
    if (rc)
        return rc;
    rc = yaml_profile_from_node(&r, yr_root(&r), p);
    yr_free(&r);
    return rc;
}
