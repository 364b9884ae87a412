/* planner/cmd_validate.c — `remat validate --plan FILE --device cpu`: runs the real
 * training step under the plan and without checkpointing, and reports predicted
 * against measured peak memory and compute overhead, whether the gradients match,
 * and where the memory timelines part. Writes a YAML report with -o. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config.h"
#include "executor/executor.h"
#include "planner/commands.h"
#include "planner/model_opts.h"
#include "reports/reports.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: remat validate --plan FILE [--device cpu|cuda] [--steps N] [--warmup N]\n"
            "                      [--tolerance PCT] [--threads N] [--seed N] [-o FILE]\n\n"
            "Runs warm-up and measured training steps (forward, loss, backward, AdamW) of\n"
            "the plan's model with the plan's schedule and without checkpointing, from the\n"
            "same weights, and prints predicted against measured peak memory (bytes and %%)\n"
            "and compute overhead (measured: step time with the plan / without - 1), and\n"
            "whether the gradients are bitwise identical. Exits 1 when the peak differs by\n"
            "more than the tolerance or the gradients differ, naming the first instruction\n"
            "where the predicted and measured memory timelines part.\n\n"
            "  --plan FILE       a plan written by `remat plan`\n"
            "  --device D        cpu (default); cuda needs a CUDA build\n"
            "  --steps N         measured steps (default 3)\n"
            "  --warmup N        warm-up steps, not timed (default 1)\n"
            "  --tolerance PCT   allowed peak difference in %% of the prediction (default 0:\n"
            "                    on the CPU the bytes must be identical)\n"
            "  --threads N       OpenBLAS threads (default: OpenBLAS's own)\n"
            "  --seed N          weights and synthetic data (default 1234)\n"
            "  -o FILE           write the YAML report to FILE ('-' for stdout; cpu only:\n"
            "                    the cuda report is printed)\n");
}

typedef struct vctx {
    const char *plan_path;
    const profile *p;
    const plan *pl;
    const sim_result *pred;
    const validate_opts *vo;
    const validate_result *r;
    bool resimulated;
    const char *device_desc;
} vctx;

/* ---------------------------------------------------------------- YAML report */

typedef struct emit {
    yaml_emitter_t em;
    int rc;
} emit;

static void ev(emit *e, yaml_event_t *evt, int ok)
{
    if (e->rc == 0 && (!ok || !yaml_emitter_emit(&e->em, evt)))
        e->rc = -EIO;
}

static void e_scalar(emit *e, const char *s, bool plain)
{
    yaml_event_t evt;
    ev(e, &evt,
       yaml_scalar_event_initialize(&evt, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain,
                                    !plain, plain ? YAML_PLAIN_SCALAR_STYLE
                                                  : YAML_DOUBLE_QUOTED_SCALAR_STYLE));
}

static void e_map(emit *e)
{
    yaml_event_t evt;
    ev(e, &evt, yaml_mapping_start_event_initialize(&evt, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static void e_map_end(emit *e)
{
    yaml_event_t evt;
    ev(e, &evt, yaml_mapping_end_event_initialize(&evt));
}

static void k_str(emit *e, const char *k, const char *v)
{
    e_scalar(e, k, true);
    e_scalar(e, v, false);
}

static void k_int(emit *e, const char *k, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    e_scalar(e, k, true);
    e_scalar(e, b, true);
}

static void k_num(emit *e, const char *k, double v)
{
    char b[40];
    snprintf(b, sizeof b, "%.9g", v);
    e_scalar(e, k, true);
    e_scalar(e, b, true);
}

static void k_bool(emit *e, const char *k, bool v)
{
    e_scalar(e, k, true);
    e_scalar(e, v ? "true" : "false", true);
}

static const char *ins_subject(const graph *g, const sched_ins *in)
{
    if (in->kind == INS_FWD || in->kind == INS_BWD)
        return g->ops[in->arg].name;
    if (in->kind == INS_FREE || in->kind == INS_FREE_GRAD)
        return g->tensors[in->arg].name;
    return "";
}

static int write_report(FILE *f, void *ctx, remat_err *err)
{
    const vctx *c = ctx;
    const validate_result *r = c->r;
    const graph *g = &c->p->g;
    emit e = {.rc = 0};
    if (!yaml_emitter_initialize(&e.em))
        return remat_fail(err, -ENOMEM, "out of memory");
    yaml_emitter_set_output_file(&e.em, f);
    yaml_emitter_set_unicode(&e.em, 1);
    yaml_emitter_set_width(&e.em, 100);
    yaml_event_t evt;
    ev(&e, &evt, yaml_stream_start_event_initialize(&evt, YAML_UTF8_ENCODING));
    ev(&e, &evt, yaml_document_start_event_initialize(&evt, NULL, NULL, NULL, 1));
    e_map(&e);
    k_int(&e, "version", 1);
    k_str(&e, "plan", c->plan_path);
    k_str(&e, "model", g->model ? g->model : "");
    k_str(&e, "solver", solver_name(c->pl->solver));
    k_int(&e, "budget_bytes", c->pl->budget_bytes);
    k_str(&e, "device", "cpu");
    k_str(&e, "device_desc", c->device_desc);
    k_int(&e, "steps", c->vo->steps);
    k_int(&e, "warmup", c->vo->warmup);
    k_num(&e, "tolerance_pct", c->vo->tolerance_pct);
    k_str(&e, "allocator", allocator_name(ALLOC_EXACT));
    k_bool(&e, "resimulated", c->resimulated);
    e_scalar(&e, "peak", true);
    e_map(&e);
    k_int(&e, "predicted_bytes", r->predicted_peak);
    k_int(&e, "measured_bytes", r->measured_peak);
    k_int(&e, "difference_bytes", r->measured_peak - r->predicted_peak);
    k_num(&e, "difference_pct", r->peak_diff_pct);
    k_int(&e, "predicted_static_bytes", r->predicted_static);
    k_int(&e, "measured_static_bytes", r->measured_static);
    k_int(&e, "predicted_instruction", r->predicted_peak_ins);
    k_int(&e, "measured_instruction", r->measured_peak_ins);
    k_bool(&e, "within_tolerance", r->peak_ok);
    e_map_end(&e);
    e_scalar(&e, "compute_overhead", true);
    e_map(&e);
    k_num(&e, "predicted", r->predicted_overhead);
    k_num(&e, "measured", r->measured_overhead);
    k_num(&e, "step_with_plan_s", r->step_plan_s);
    k_num(&e, "step_without_checkpointing_s", r->step_ref_s);
    k_num(&e, "recompute_s", r->recompute_s);
    e_map_end(&e);
    e_scalar(&e, "gradients", true);
    e_map(&e);
    k_bool(&e, "bitwise_identical", r->grads_match);
    k_bool(&e, "loss_identical", r->loss_match);
    k_num(&e, "loss_with_plan", r->loss_plan);
    k_num(&e, "loss_without_checkpointing", r->loss_ref);
    if (!r->grads_match) {
        k_int(&e, "first_differing_step", r->grad_step);
        k_int(&e, "differing_values", r->grad_mismatches);
        k_num(&e, "max_abs_difference", r->grad_max_abs_diff);
    }
    e_map_end(&e);
    e_scalar(&e, "timeline", true);
    e_map(&e);
    k_int(&e, "instructions", c->pl->sched.n);
    k_bool(&e, "identical", r->timeline_ins < 0);
    if (r->timeline_ins >= 0 && r->timeline_ins < c->pl->sched.n) {
        const sched_ins *in = &c->pl->sched.ins[r->timeline_ins];
        e_scalar(&e, "first_difference", true);
        e_map(&e);
        k_int(&e, "instruction", r->timeline_ins);
        k_str(&e, "kind", ins_kind_name((ins_kind)in->kind));
        k_str(&e, "name", ins_subject(g, in));
        k_int(&e, "predicted_live_bytes", c->pred->static_bytes + r->timeline_pred_live);
        k_int(&e, "measured_live_bytes", r->measured_static + r->timeline_meas_live);
        k_int(&e, "predicted_high_bytes", c->pred->static_bytes + r->timeline_pred_peak);
        k_int(&e, "measured_high_bytes", r->measured_static + r->timeline_meas_peak);
        e_map_end(&e);
    }
    e_map_end(&e);
    k_str(&e, "result", r->pass ? "pass" : "fail");
    e_map_end(&e);
    ev(&e, &evt, yaml_document_end_event_initialize(&evt, 1));
    ev(&e, &evt, yaml_stream_end_event_initialize(&evt));
    if (e.rc == 0 && !yaml_emitter_flush(&e.em))
        e.rc = -EIO;
    yaml_emitter_delete(&e.em);
    return e.rc ? remat_fail(err, e.rc, "cannot write the validation report") : 0;
}

/* ---------------------------------------------------------------- text */

static char *cpu_desc(void)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    char *res = NULL;
    while (f && !res && fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && c) {
            c += strspn(c + 1, " \t") + 1;
            c[strcspn(c, "\n")] = 0;
            res = strdup(c);
        }
    }
    if (f)
        fclose(f);
    return res ? res : strdup("unknown CPU");
}

static void print_result(const vctx *c)
{
    const validate_result *r = c->r;
    const graph *g = &c->p->g;
    char a[32], b[32];
    printf("validate %s: %s, solver %s, %d instructions, on %s (%d step%s after %d warm-up)\n",
           c->plan_path, g->model ? g->model : "model", solver_name(c->pl->solver),
           c->pl->sched.n, c->device_desc, c->vo->steps, c->vo->steps == 1 ? "" : "s",
           c->vo->warmup);
    if (c->resimulated)
        printf("  (prediction re-simulated with the exact allocator: the CPU has no caching "
               "allocator)\n");
    printf("  peak memory       predicted %lld B (%s)  measured %lld B (%s)  difference %+lld B "
           "(%+.4f%%)  %s\n",
           (long long)r->predicted_peak, remat_format_bytes(r->predicted_peak, a, sizeof a),
           (long long)r->measured_peak, remat_format_bytes(r->measured_peak, b, sizeof b),
           (long long)(r->measured_peak - r->predicted_peak), r->peak_diff_pct,
           r->peak_ok ? "ok" : "OUT OF TOLERANCE");
    printf("  static memory     predicted %lld B  measured %lld B\n",
           (long long)r->predicted_static, (long long)r->measured_static);
    printf("  compute overhead  predicted %.2f%%  measured %.2f%%  (step %.4f s with the plan, "
           "%.4f s without; recomputation %.4f s)\n",
           100.0 * r->predicted_overhead, 100.0 * r->measured_overhead, r->step_plan_s,
           r->step_ref_s, r->recompute_s);
    if (r->grads_match && r->loss_match)
        printf("  gradients         bitwise identical to the run without checkpointing (loss "
               "%.6f)\n",
               (double)r->loss_plan);
    else if (!r->grads_match)
        printf("  gradients         DIFFER from the run without checkpointing: step %d, %lld "
               "values, largest difference %.3g\n",
               r->grad_step, (long long)r->grad_mismatches, r->grad_max_abs_diff);
    else
        printf("  gradients         identical, but the loss differs (%.9g vs %.9g)\n",
               (double)r->loss_plan, (double)r->loss_ref);
    if (r->timeline_ins < 0) {
        printf("  memory timeline   identical to the prediction at every instruction\n");
    } else if (r->timeline_ins < c->pl->sched.n) {
        const sched_ins *in = &c->pl->sched.ins[r->timeline_ins];
        printf("  memory timeline   parts at instruction %d (%s %s): predicted live %lld B, "
               "high %lld B; measured live %lld B, high %lld B\n",
               r->timeline_ins, ins_kind_name((ins_kind)in->kind), ins_subject(g, in),
               (long long)(c->pred->static_bytes + r->timeline_pred_live),
               (long long)(c->pred->static_bytes + r->timeline_pred_peak),
               (long long)(r->measured_static + r->timeline_meas_live),
               (long long)(r->measured_static + r->timeline_meas_peak));
    }
    printf("  result            %s\n", r->pass ? "PASS" : "FAIL");
}

/* ---------------------------------------------------------------- command */

int cmd_validate(int argc, char **argv)
{
    const char *plan_path = NULL, *out = NULL, *device = "cpu";
    validate_opts vo;
    validate_opts_default(&vo);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "remat validate: %s needs a value (see --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        int64_t n;
        double d;
        if (!strcmp(a, "--plan")) {
            plan_path = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out = v;
        } else if (!strcmp(a, "--device")) {
            device = v;
        } else if (!strcmp(a, "--steps")) {
            if (opt_int("validate", a, v, 1, 100000, &n))
                return 2;
            vo.steps = (int)n;
        } else if (!strcmp(a, "--warmup")) {
            if (opt_int("validate", a, v, 0, 100000, &n))
                return 2;
            vo.warmup = (int)n;
        } else if (!strcmp(a, "--threads")) {
            if (opt_int("validate", a, v, 1, 4096, &n))
                return 2;
            vo.exec.threads = (int)n;
        } else if (!strcmp(a, "--seed")) {
            if (opt_int("validate", a, v, 0, INT64_MAX, &n))
                return 2;
            vo.exec.seed = (uint64_t)n;
        } else if (!strcmp(a, "--tolerance")) {
            if (opt_double("validate", a, v, 0.0, 1e6, &d))
                return 2;
            vo.tolerance_pct = d;
        } else {
            fprintf(stderr, "remat validate: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!plan_path) {
        fprintf(stderr, "remat validate: --plan FILE is required\n");
        return 2;
    }
    bool cuda = strcmp(device, "cuda") == 0;
    if (!cuda && strcmp(device, "cpu") != 0) {
        fprintf(stderr, "remat validate: --device must be cpu or cuda, got '%s'\n", device);
        return 2;
    }
#if !HAVE_CUDA
    if (cuda) {
        fprintf(stderr, "remat validate: --device cuda: remat was built without CUDA\n");
        return 1;
    }
#endif
    profile p;
    plan pl;
    remat_err err;
    if (yaml_read_plan(plan_path, &p, &pl, &err) != 0) {
        fprintf(stderr, "remat validate: %s\n", err.msg);
        return 1;
    }
    int status = 1;
#if HAVE_CUDA
    if (cuda) {
        int rc = validate_cuda(&p.g, &pl.mem, &pl.sched, &pl.pred, vo.steps, vo.warmup,
                               vo.tolerance_pct, stdout, &err);
        if (rc < 0)
            fprintf(stderr, "remat validate: %s\n", err.msg);
        plan_free(&pl);
        profile_free(&p);
        return rc < 0 ? 1 : rc;
    }
#endif
    char *desc = cpu_desc();
    sim_result exact;
    memset(&exact, 0, sizeof exact);
    const sim_result *pred = &pl.pred;
    mem_config mc = pl.mem;
    bool resim = false;
    if (mc.allocator != ALLOC_EXACT) {
        /* the CPU has no caching allocator: predict the same program with exact bytes */
        mc.allocator = ALLOC_EXACT;
        if (simulate(&p, &mc, &pl.sched, &exact, &err) != 0) {
            fprintf(stderr, "remat validate: %s\n", err.msg);
            goto done;
        }
        pred = &exact;
        resim = true;
    }
    if (cpu_exec_check(&p.g, &mc, &err) != 0) {
        fprintf(stderr, "remat validate: cannot run this plan on the CPU: %s\n", err.msg);
        goto done;
    }
    validate_result r;
    if (cpu_validate(&p.g, &mc, &pl.sched, pred, &vo, &r, &err) != 0) {
        fprintf(stderr, "remat validate: %s\n", err.msg);
        goto done;
    }
    vctx c = {plan_path, &p, &pl, pred, &vo, &r, resim, desc ? desc : "CPU"};
    if (out && strcmp(out, "-") == 0) {
        if (write_report(stdout, &c, &err) != 0) {
            fprintf(stderr, "remat validate: %s\n", err.msg);
            goto done;
        }
    } else {
        print_result(&c);
        if (out && report_write_atomic(out, write_report, &c, &err) != 0) {
            fprintf(stderr, "remat validate: %s\n", err.msg);
            goto done;
        }
    }
    status = r.pass ? 0 : 1;
done:
    free(desc);
    sim_result_free(&exact);
    plan_free(&pl);
    profile_free(&p);
    return status;
}
