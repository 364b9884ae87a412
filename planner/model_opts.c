/* planner/model_opts.c — the shared model options of `remat profile`, `plan`,
 * `sweep` and `validate`: parsing them from argv and turning them into a profile
 * (zoo / Hugging Face config / model file -> graph -> analytic profile on the
 * target device -> optional measurement on the CPU or a CUDA GPU). */
#include "planner/model_opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "executor/executor.h"

int (*profile_measure_cpu_hook)(profile *p, int repeats, remat_err *err) = profile_measure_cpu;
int (*profile_measure_cuda_hook)(profile *p, int repeats, remat_err *err) = NULL;

#define MEASURE_REPEATS 5

void model_opts_init(model_opts *mo)
{
    memset(mo, 0, sizeof *mo);
    mo->spec.dtype = -1;
    mo->spec.dropout = -1.0;
    mo->target = "h100";
    mo->measure = SRC_ANALYTIC;
}

void model_opts_free(model_opts *mo)
{
    for (int i = 0; i < mo->n_storage; i++)
        free(mo->set_storage[i]);
    mo->n_storage = 0;
}

void model_opts_usage(FILE *f)
{
    int n;
    const device_spec *d = device_list(&n);
    fprintf(f,
            "model options (exactly one of --model, --hf-config, --model-file):\n"
            "  --model NAME          a zoo model or preset (see `remat models`)\n"
            "  --set K=V[,K=V...]    override configuration keys (repeatable)\n"
            "  --hf-config FILE      build gpt2 or llama from a Hugging Face config.json\n"
            "  --model-file FILE     a YAML model file (docs/model-format.md)\n"
            "  --batch N             batch size (default 1)\n"
            "  --seq N               sequence length (default: the model's)\n"
            "  --image N             image size for CNNs (default 224)\n"
            "  --dtype T             activation dtype: fp32, bf16 or fp16 (default fp32)\n"
            "  --dropout P           dropout probability in [0, 1) (default 0)\n"
            "  --target DEVICE       device for analytic times and the default budget\n"
            "                        (default h100; one of:");
    for (int i = 0; i < n; i++)
        fprintf(f, " %s", d[i].name);
    fprintf(f, ")\n"
               "  --measure M           analytic (default), cpu (time the CPU kernels) or\n"
               "                        cuda (CUPTI on the GPU)\n");
}

/* The value of option argv[*i]: "--opt=value" or the next argument. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val,
                     remat_err *err)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (a[n] == '=') {
        *val = a + n + 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return remat_fail(err, -EINVAL, "%s needs a value", name);
    *val = argv[++*i];
    return 0;
}

static bool opt_is(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=');
}

static int parse_positive(const char *name, const char *s, int64_t *out, remat_err *err)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || errno || *end || v <= 0)
        return remat_fail(err, -EINVAL, "%s must be a positive integer, not '%s'", name, s);
    *out = v;
    return 0;
}

int model_opts_parse(model_opts *mo, int argc, char **argv, int *i, remat_err *err)
{
    const char *a = argv[*i], *v = NULL;
    int rc;
    static const char *const opts[] = {"--model", "--set", "--hf-config", "--model-file",
                                       "--batch", "--seq", "--image", "--dtype", "--dropout",
                                       "--target", "--measure", NULL};
    int k = 0;
    while (opts[k] && !opt_is(a, opts[k]))
        k++;
    if (!opts[k])
        return 0;
    const char *name = opts[k];
    if ((rc = opt_value(argc, argv, i, name, &v, err)))
        return rc;
    if (strcmp(name, "--model") == 0) {
        if (!*v)
            return remat_fail(err, -EINVAL, "--model needs a name (see `remat models`)");
        mo->spec.name = v;
        mo->any = true;
    } else if (strcmp(name, "--set") == 0) {
        if (mo->n_storage >= MODEL_OPTS_MAX_SET)
            return remat_fail(err, -EINVAL, "too many --set options (at most %d)",
                              MODEL_OPTS_MAX_SET);
        rc = model_spec_parse_set(&mo->spec, v, &mo->set_storage[mo->n_storage], err);
        if (mo->set_storage[mo->n_storage])
            mo->n_storage++;
        if (rc)
            return rc;
        if (mo->spec.n_set == 0)
            return remat_fail(err, -EINVAL, "--set needs key=value");
    } else if (strcmp(name, "--hf-config") == 0) {
        mo->hf_config = v;
        mo->any = true;
    } else if (strcmp(name, "--model-file") == 0) {
        mo->model_file = v;
        mo->any = true;
    } else if (strcmp(name, "--batch") == 0) {
        rc = parse_positive(name, v, &mo->spec.batch, err);
        mo->sized = true;
    } else if (strcmp(name, "--seq") == 0) {
        rc = parse_positive(name, v, &mo->spec.seq, err);
        mo->sized = true;
    } else if (strcmp(name, "--image") == 0) {
        rc = parse_positive(name, v, &mo->spec.image, err);
        mo->sized = true;
    } else if (strcmp(name, "--dtype") == 0) {
        int dt = dtype_from_name(v);
        if (dt != DT_F32 && dt != DT_BF16 && dt != DT_F16)
            return remat_fail(err, -EINVAL, "--dtype '%s' is not one of fp32, bf16, fp16", v);
        mo->spec.dtype = dt;
        mo->sized = true;
    } else if (strcmp(name, "--dropout") == 0) {
        char *end = NULL;
        errno = 0;
        double p = strtod(v, &end);
        if (!*v || errno || *end || !isfinite(p) || p < 0.0 || p >= 1.0)
            return remat_fail(err, -EINVAL, "--dropout must be a number in [0, 1), not '%s'", v);
        mo->spec.dropout = p;
        mo->sized = true;
    } else if (strcmp(name, "--target") == 0) {
        if (!device_find(v)) {
            int n;
            const device_spec *d = device_list(&n);
            char known[256] = "";
            for (int j = 0; j < n; j++) {
                strncat(known, d[j].name, sizeof known - strlen(known) - 1);
                if (j + 1 < n)
                    strncat(known, ", ", sizeof known - strlen(known) - 1);
            }
            return remat_fail(err, -EINVAL, "unknown target '%s' (known: %s)", v, known);
        }
        mo->target = v;
        mo->target_given = true;
    } else { /* --measure */
        int s = profile_source_from_name(v);
        if (s < 0)
            return remat_fail(err, -EINVAL, "--measure '%s' is not one of analytic, cpu, cuda",
                              v);
        mo->measure = (profile_source)s;
    }
    if (rc)
        return rc;
    (*i)++;
    return 1;
}

/* The --measure step on an analytic profile. */
static int measure(const model_opts *mo, profile *p, remat_err *err)
{
    switch (mo->measure) {
    case SRC_ANALYTIC:
        return 0;
    case SRC_CPU:
        if (!profile_measure_cpu_hook)
            return remat_fail(err, -ENOTSUP, "--measure cpu is not available: remat was built "
                              "without the CPU executor");
        return profile_measure_cpu_hook(p, MEASURE_REPEATS, err);
    case SRC_CUDA:
        if (!HAVE_CUDA)
            return remat_fail(err, -ENOTSUP, "--measure cuda is not available: remat was built "
                              "without CUDA");
        if (!profile_measure_cuda_hook)
            return remat_fail(err, -ENOTSUP, "--measure cuda is not available: remat was built "
                              "without CUDA profiling (CUPTI)");
        return profile_measure_cuda_hook(p, MEASURE_REPEATS, err);
    default:
        return remat_fail(err, -EINVAL, "unknown measurement source");
    }
}

int model_opts_build_profile(const model_opts *mo, profile *p, remat_err *err)
{
    memset(p, 0, sizeof *p);
    int sources = (mo->spec.name != NULL) + (mo->hf_config != NULL) + (mo->model_file != NULL);
    if (sources == 0)
        return remat_fail(err, -EINVAL, "no model given: use --model NAME (see `remat models`), "
                          "--hf-config FILE or --model-file FILE");
    if (sources > 1)
        return remat_fail(err, -EINVAL, "give only one of --model, --hf-config, --model-file");
    const device_spec *dev = device_find(mo->target);
    if (!dev)
        return remat_fail(err, -EINVAL, "unknown target '%s'", mo->target);
    graph g;
    memset(&g, 0, sizeof g);
    int rc;
    if (mo->model_file) {
        if (mo->sized || mo->spec.n_set > 0)
            return remat_fail(err, -EINVAL, "--set, --batch, --seq, --image, --dtype and "
                              "--dropout do not apply to --model-file (the file fixes them)");
        rc = modelfile_read(mo->model_file, &g, err);
    } else if (mo->hf_config) {
        rc = zoo_build_hf_config(mo->hf_config, &mo->spec, &g, err);
    } else {
        rc = zoo_build(&mo->spec, &g, err);
    }
    if (rc)
        return rc;
    rc = profile_analytic(p, &g, dev, err);
    graph_free(&g);
    if (rc)
        return rc;
    if ((rc = measure(mo, p, err)))
        profile_free(p);
    return rc;
}
