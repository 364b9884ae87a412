/* planner/model_opts.h — the model options every subcommand shares (--model,
 * --set, --hf-config, --model-file, --profile, sizes, dtype, dropout, --target,
 * --measure) and building the profile they describe. */
#ifndef REMAT_PLANNER_MODEL_OPTS_H
#define REMAT_PLANNER_MODEL_OPTS_H

#include "profiler/profile.h"

typedef struct model_opts {
    model_spec spec;
    char *set_storage[16];
    int n_storage;
    const char *hf_config;
    const char *model_file;
    const char *profile_file; /* only where allow_profile */
    const char *target;
    const char *measure;      /* analytic | cpu | cuda */
    int repeats;
    bool allow_profile;
    bool target_given;        /* --target was on the command line */
} model_opts;

void model_opts_init(model_opts *o, bool allow_profile);
void model_opts_free(model_opts *o);

/* Tries argv[*i] as a model option. Returns 1 when consumed (*i advanced past its
 * value), 0 when it is not a model option, -1 on a usage error (printed to stderr
 * prefixed with "remat CMD: "). */
int model_opts_parse(model_opts *o, int argc, char **argv, int *i, const char *cmd);

/* Builds the profile the options describe. Returns 0 or -errno with *err set. */
int model_opts_profile(const model_opts *o, profile *p, remat_err *err);

/* The options' help text, for --help. */
extern const char model_opts_help[];

/* Shared small parsers for subcommands: strict integers and sizes. They print
 * "remat CMD: ..." and return -1 on error. */
int opt_int(const char *cmd, const char *flag, const char *v, int64_t min, int64_t max,
            int64_t *out);
int opt_double(const char *cmd, const char *flag, const char *v, double min, double max,
               double *out);
int opt_size(const char *cmd, const char *flag, const char *v, int64_t *out);

#endif
