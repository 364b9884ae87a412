/* planner/cmd_profile.c — `remat profile`: per-op bytes, FLOPs and time. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "planner/commands.h"
#include "planner/model_opts.h"
#include "reports/reports.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: remat profile (--model NAME | --hf-config FILE | --model-file FILE) "
               "[options] [-o FILE]\n\n"
               "Profiles a model: per-op output and saved bytes, FLOPs and time. Prints a\n"
               "table on a terminal; writes YAML (docs/profile-format.md) with -o FILE, or\n"
               "to stdout when it is not a terminal (or with -o -).\n\n%s"
               "  -o FILE               write the profile YAML to FILE\n",
            model_opts_help);
}

static int write_profile(FILE *f, void *ctx, remat_err *err)
{
    return yaml_write_profile(f, ctx, err);
}

int cmd_profile(int argc, char **argv)
{
    model_opts mo;
    model_opts_init(&mo, false);
    const char *out = NULL;
    int status = 2;
    for (int i = 1; i < argc; i++) {
        int r = model_opts_parse(&mo, argc, argv, &i, "profile");
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            status = 0;
            goto done;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else {
            fprintf(stderr, "remat profile: unknown option '%s' (see --help)\n", argv[i]);
            goto done;
        }
    }
    profile p;
    remat_err err;
    if (model_opts_profile(&mo, &p, &err) != 0) {
        fprintf(stderr, "remat profile: %s\n", err.msg);
        status = 1;
        goto done;
    }
    status = 0;
    if (!out && isatty(STDOUT_FILENO)) {
        table_profile(stdout, &p);
    } else if (report_write_atomic(out ? out : "-", write_profile, &p, &err) != 0) {
        fprintf(stderr, "remat profile: %s\n", err.msg);
        status = 1;
    }
    profile_free(&p);
done:
    model_opts_free(&mo);
    return status;
}
