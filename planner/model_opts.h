/* planner/model_opts.h — the model options every subcommand shares (--model,
 * --set, --hf-config, --model-file, --batch, --seq, --image, --dtype, --dropout,
 * --target, --measure), their parsing, and building a profile from them. */
#ifndef REMAT_PLANNER_MODEL_OPTS_H
#define REMAT_PLANNER_MODEL_OPTS_H

#include <stdio.h>

#include "profiler/profile.h"

#define MODEL_OPTS_MAX_SET 16

typedef struct model_opts {
    model_spec spec;            /* --model, --set, --batch, --seq, --image, --dtype, --dropout */
    const char *hf_config;      /* --hf-config FILE */
    const char *model_file;     /* --model-file FILE */
    const char *target;         /* --target DEVICE (default "h100") */
    profile_source measure;     /* --measure analytic|cpu|cuda */
    int n_storage;
    char *set_storage[MODEL_OPTS_MAX_SET]; /* copies behind spec.set_* */
    bool sized;                 /* a size/dtype/dropout option was given */
    bool any;                   /* any model source option was given */
    bool target_given;          /* --target was given */
} model_opts;

/* The CPU measurement step of --measure cpu: times every op with the real CPU
 * kernels and fills p's times (source cpu): the executor's profile_measure_cpu,
 * a pointer so a test or another front end can replace it. Returns 0 or -errno. */
extern int (*profile_measure_cpu_hook)(profile *p, int repeats, remat_err *err);
/* The same for --measure cuda (CUPTI); NULL when remat was built without CUDA. */
extern int (*profile_measure_cuda_hook)(profile *p, int repeats, remat_err *err);

void model_opts_init(model_opts *mo);
void model_opts_free(model_opts *mo);

/* Consumes argv[*i] when it is a model option ("--batch 8" or "--batch=8"),
 * advancing *i past its value. Returns 1 when consumed, 0 when argv[*i] is not a
 * model option, or -EINVAL with a one-line message (bad value, missing value). */
int model_opts_parse(model_opts *mo, int argc, char **argv, int *i, remat_err *err);

/* Prints the shared options' help, one line each. */
void model_opts_usage(FILE *f);

/* Builds the graph (zoo, Hugging Face config or model file), profiles it
 * analytically on the target device and then runs the --measure step. Exactly one
 * of --model, --hf-config, --model-file must be given. Returns 0 or -errno; on
 * error *p is left empty. */
int model_opts_build_profile(const model_opts *mo, profile *p, remat_err *err);

#endif
