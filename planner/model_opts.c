/* planner/model_opts.c — shared model options and profile construction. */
#include "planner/model_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "executor/executor.h"
#include "reports/reports.h"

const char model_opts_help[] =
    "model options:\n"
    "  --model NAME          a zoo model or preset (see `remat models`)\n"
    "  --set K=V[,K=V...]    model configuration keys (repeatable)\n"
    "  --hf-config FILE      build gpt2/llama from a Hugging Face config.json\n"
    "  --model-file FILE     a YAML model file (docs/model-format.md)\n"
    "  --batch N             batch size (default 1)\n"
    "  --seq N               sequence length (default: the model's)\n"
    "  --image N             image size for CNNs (default 224)\n"
    "  --dtype fp32|bf16|fp16  activation and weight dtype (default fp32)\n"
    "  --dropout P           dropout probability (default 0)\n"
    "  --target DEVICE       device table entry for times and the default budget\n"
    "                        (h100, h200, a100-80gb, a100-40gb, rtx4090, l4, cpu; default h100)\n"
    "  --measure analytic|cpu|cuda  where op times come from (default analytic)\n"
    "  --repeats N           timed repeats per op for --measure cpu|cuda (default 5)\n";

void model_opts_init(model_opts *o, bool allow_profile)
{
    memset(o, 0, sizeof *o);
    o->spec.dtype = -1;
    o->spec.dropout = -1.0;
    o->target = "h100";
    o->measure = "analytic";
    o->repeats = 5;
    o->allow_profile = allow_profile;
}

void model_opts_free(model_opts *o)
{
    for (int i = 0; i < o->n_storage; i++)
        free(o->set_storage[i]);
    o->n_storage = 0;
}

int opt_int(const char *cmd, const char *flag, const char *v, int64_t min, int64_t max,
            int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || !*v || *end || errno) {
        fprintf(stderr, "remat %s: %s needs an integer, got '%s'\n", cmd, flag, v ? v : "");
        return -1;
    }
    if (x < 1 && min == 1) {
        fprintf(stderr, "remat %s: %s must be a positive integer, got '%s'\n", cmd, flag, v);
        return -1;
    }
    if (x < min || x > max) {
        fprintf(stderr, "remat %s: %s %lld is out of range [%lld, %lld]\n", cmd, flag, x,
                (long long)min, (long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

int opt_double(const char *cmd, const char *flag, const char *v, double min, double max,
               double *out)
{
    char *end = NULL;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || errno || !isfinite(x)) {
        fprintf(stderr, "remat %s: %s needs a number, got '%s'\n", cmd, flag, v ? v : "");
        return -1;
    }
    if (!(x >= min && x <= max)) {
        fprintf(stderr, "remat %s: %s %g is out of range [%g, %g]\n", cmd, flag, x, min, max);
        return -1;
    }
    *out = x;
    return 0;
}

int opt_size(const char *cmd, const char *flag, const char *v, int64_t *out)
{
    remat_err e;
    if (remat_parse_size(v, out, &e) != 0) {
        fprintf(stderr, "remat %s: %s: %s\n", cmd, flag, e.msg);
        return -1;
    }
    return 0;
}

int model_opts_parse(model_opts *o, int argc, char **argv, int *i, const char *cmd)
{
    static const char *const with_value[] = {"--model", "--set", "--hf-config", "--model-file",
                                             "--profile", "--batch", "--seq", "--image",
                                             "--dtype", "--dropout", "--target", "--measure",
                                             "--repeats", NULL};
    const char *a = argv[*i];
    bool known = false;
    for (int k = 0; with_value[k] && !known; k++)
        known = strcmp(a, with_value[k]) == 0;
    if (!known || (strcmp(a, "--profile") == 0 && !o->allow_profile))
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "remat %s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    int64_t n;
    if (strcmp(a, "--model") == 0) {
        o->spec.name = v;
    } else if (strcmp(a, "--set") == 0) {
        remat_err e;
        if (o->n_storage >= (int)(sizeof o->set_storage / sizeof o->set_storage[0])) {
            fprintf(stderr, "remat %s: too many --set options\n", cmd);
            return -1;
        }
        if (model_spec_parse_set(&o->spec, v, &o->set_storage[o->n_storage++], &e) != 0) {
            fprintf(stderr, "remat %s: %s\n", cmd, e.msg);
            return -1;
        }
    } else if (strcmp(a, "--hf-config") == 0) {
        o->hf_config = v;
    } else if (strcmp(a, "--model-file") == 0) {
        o->model_file = v;
    } else if (strcmp(a, "--profile") == 0) {
        o->profile_file = v;
    } else if (strcmp(a, "--batch") == 0) {
        if (opt_int(cmd, a, v, 1, INT64_C(1) << 32, &n))
            return -1;
        o->spec.batch = n;
    } else if (strcmp(a, "--seq") == 0) {
        if (opt_int(cmd, a, v, 1, INT64_C(1) << 32, &n))
            return -1;
        o->spec.seq = n;
    } else if (strcmp(a, "--image") == 0) {
        if (opt_int(cmd, a, v, 1, INT64_C(1) << 20, &n))
            return -1;
        o->spec.image = n;
    } else if (strcmp(a, "--dtype") == 0) {
        int dt = dtype_from_name(v);
        if (dt != DT_F32 && dt != DT_BF16 && dt != DT_F16) {
            fprintf(stderr, "remat %s: --dtype must be fp32, bf16 or fp16, got '%s'\n", cmd, v);
            return -1;
        }
        o->spec.dtype = dt;
    } else if (strcmp(a, "--dropout") == 0) {
        if (opt_double(cmd, a, v, 0.0, 0.999, &o->spec.dropout))
            return -1;
    } else if (strcmp(a, "--target") == 0) {
        if (!device_find(v)) {
            fprintf(stderr, "remat %s: unknown target device '%s' (h100, h200, a100-80gb, "
                            "a100-40gb, rtx4090, l4, cpu)\n",
                    cmd, v);
            return -1;
        }
        o->target = v;
        o->target_given = true;
    } else if (strcmp(a, "--measure") == 0) {
        if (strcmp(v, "analytic") && strcmp(v, "cpu") && strcmp(v, "cuda")) {
            fprintf(stderr, "remat %s: --measure must be analytic, cpu or cuda, got '%s'\n", cmd,
                    v);
            return -1;
        }
        o->measure = v;
    } else if (strcmp(a, "--repeats") == 0) {
        if (opt_int(cmd, a, v, 1, 1000, &n))
            return -1;
        o->repeats = (int)n;
    }
    return 1;
}

int model_opts_profile(const model_opts *o, profile *p, remat_err *err)
{
    int sources = (o->spec.name != NULL) + (o->hf_config != NULL) + (o->model_file != NULL) +
                  (o->profile_file != NULL);
    if (sources == 0)
        return remat_fail(err, -EINVAL, o->allow_profile
                                            ? "no model: give --model, --hf-config, "
                                              "--model-file or --profile"
                                            : "no model: give --model, --hf-config or --model-file");
    if (sources > 1)
        return remat_fail(err, -EINVAL,
                          "give only one of --model, --hf-config, --model-file, --profile");
    bool sized = o->spec.n_set || o->spec.batch || o->spec.seq || o->spec.image ||
                 o->spec.dtype >= 0 || o->spec.dropout >= 0;
    if (o->profile_file) {
        if (sized || o->target_given || strcmp(o->measure, "analytic") != 0)
            return remat_fail(err, -EINVAL, "--set, --batch, --seq, --image, --dtype, --dropout, "
                              "--target and --measure do not apply to --profile (the profile "
                              "fixes them)");
        return yaml_read_profile(o->profile_file, p, err);
    }
    graph g;
    int rc;
    if (o->model_file) {
        if (sized)
            return remat_fail(err, -EINVAL,
                              "--set, --batch, --seq, --image, --dtype and --dropout do not "
                              "apply to --model-file (the file fixes the shapes)");
        rc = modelfile_read(o->model_file, &g, err);
    } else if (o->hf_config) {
        rc = zoo_build_hf_config(o->hf_config, &o->spec, &g, err);
    } else {
        rc = zoo_build(&o->spec, &g, err);
    }
    if (rc)
        return rc;
    const device_spec *dev = device_find(o->target);
    rc = profile_analytic(p, &g, dev, err);
    graph_free(&g);
    if (rc)
        return rc;
    if (strcmp(o->measure, "cpu") == 0) {
        rc = profile_measure_cpu(p, o->repeats, err);
    } else if (strcmp(o->measure, "cuda") == 0) {
#if HAVE_CUDA
        rc = profile_measure_cuda(p, o->repeats, err);
#else
        rc = remat_fail(err, -ENOTSUP, "--measure cuda: remat was built without CUDA");
#endif
    }
    if (rc)
        profile_free(p);
    return rc;
}
