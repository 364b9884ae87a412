/* planner/cmd_profile.c — `remat profile`: builds a model from the shared model
 * options, profiles it (analytic roofline, or measured) and prints a readable
 * table on a terminal or writes the profile YAML (stdout, or -o FILE). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "planner/commands.h"
#include "planner/model_opts.h"
#include "reports/reports.h"

static void profile_usage(FILE *f)
{
    fprintf(f, "usage: remat profile (--model NAME | --hf-config FILE | --model-file FILE)\n"
               "                     [options] [-o FILE]\n"
               "       remat profile --profile FILE [-o FILE | --format F]\n\n"
               "Profiles one training step of a model: per-op output and saved bytes,\n"
               "forward/backward FLOPs and time, module rows and totals.\n"
               "On a terminal without -o it prints a table; otherwise it writes the profile\n"
               "YAML (docs/profile-format.md) to stdout or to FILE. --profile FILE reads a\n"
               "saved profile instead (to print it as a table, or to check and rewrite it).\n\n");
    model_opts_usage(f);
    fprintf(f, "\noutput:\n"
               "  --profile FILE        read a saved profile instead of building one\n"
               "  -o, --output FILE     write the profile YAML to FILE (atomically)\n"
               "  --format F            yaml or table (default: table on a terminal, else yaml)\n"
               "  -h, --help            this help\n");
}

static int write_profile(FILE *f, void *ctx, remat_err *err)
{
    return yaml_write_profile(f, ctx, err);
}

int cmd_profile(int argc, char **argv)
{
    model_opts mo;
    model_opts_init(&mo);
    remat_err err = {{0}};
    const char *out = NULL, *format = NULL, *from = NULL;
    int status = 2;
    for (int i = 1; i < argc;) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            profile_usage(stdout);
            model_opts_free(&mo);
            return 0;
        }
        int rc = model_opts_parse(&mo, argc, argv, &i, &err);
        if (rc < 0)
            goto usage_error;
        if (rc > 0)
            continue;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--format") == 0 ||
            strcmp(a, "--profile") == 0) {
            if (i + 1 >= argc) {
                remat_fail(&err, -EINVAL, "%s needs a value", a);
                goto usage_error;
            }
            if (strcmp(a, "--format") == 0)
                format = argv[i + 1];
            else if (strcmp(a, "--profile") == 0)
                from = argv[i + 1];
            else
                out = argv[i + 1];
            i += 2;
            continue;
        }
        remat_fail(&err, -EINVAL, "unknown option '%s' (see remat profile --help)", a);
        goto usage_error;
    }
    if (format && strcmp(format, "yaml") != 0 && strcmp(format, "table") != 0) {
        remat_fail(&err, -EINVAL, "--format '%s' is not one of yaml, table", format);
        goto usage_error;
    }
    if (out && !*out) {
        remat_fail(&err, -EINVAL, "-o needs a file name");
        goto usage_error;
    }
    if (out && format && strcmp(format, "table") == 0) {
        remat_fail(&err, -EINVAL, "-o writes YAML; --format table prints to the terminal");
        goto usage_error;
    }

    if (from && (mo.any || mo.sized || mo.spec.n_set > 0 || mo.target_given ||
                 mo.measure != SRC_ANALYTIC)) {
        remat_fail(&err, -EINVAL, "--profile reads a saved profile; it takes no model options");
        goto usage_error;
    }

    profile p;
    if ((from ? yaml_read_profile(from, &p, &err) : model_opts_build_profile(&mo, &p, &err)) != 0) {
        fprintf(stderr, "remat profile: %s\n", err.msg);
        model_opts_free(&mo);
        return 1;
    }
    int rc;
    bool table = format ? strcmp(format, "table") == 0 : (!out && isatty(STDOUT_FILENO));
    if (table) {
        rc = report_profile_table(stdout, &p, &err);
        if (rc == 0 && fflush(stdout) != 0)
            rc = remat_fail(&err, -EIO, "writing to stdout failed");
    } else {
        rc = report_write_atomic(out ? out : "-", write_profile, &p, &err);
    }
    profile_free(&p);
    model_opts_free(&mo);
    if (rc) {
        fprintf(stderr, "remat profile: %s\n", err.msg);
        return 1;
    }
    return 0;

usage_error:
    fprintf(stderr, "remat profile: %s\n", err.msg);
    model_opts_free(&mo);
    return status;
}
