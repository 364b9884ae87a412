/* planner/cmd_profile.c — `remat profile`: per-op bytes, FLOPs and time of a
 * model, as a table on a terminal or as profile YAML (stdout or -o FILE). With
 * --profile it reads a saved profile instead (to view it, or to check and
 * rewrite it). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "planner/commands.h"
#include "planner/model_opts.h"
#include "reports/reports.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: remat profile (--model NAME | --hf-config FILE | --model-file FILE) "
               "[options] [-o FILE]\n"
               "       remat profile --profile FILE [--format table|yaml] [-o FILE]\n\n"
               "Profiles a model: per-op output and saved bytes, FLOPs and time, module rows\n"
               "and totals. Prints a table on a terminal; writes YAML (docs/profile-format.md)\n"
               "with -o FILE, or to stdout when it is not a terminal (or with -o -).\n\n%s"
               "  --profile FILE        read a saved profile instead of building one\n\n"
               "output:\n"
               "  -o FILE               write the profile YAML to FILE (atomically)\n"
               "  --format table|yaml   force the stdout format (default: table on a\n"
               "                        terminal, YAML otherwise)\n"
               "  -h, --help            this help\n",
            model_opts_help);
}

static int write_profile(FILE *f, void *ctx, remat_err *err)
{
    return yaml_write_profile(f, ctx, err);
}

int cmd_profile(int argc, char **argv)
{
    model_opts mo;
    model_opts_init(&mo, true);
    const char *out = NULL, *format = NULL;
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
        } else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--format") == 0) &&
                   i + 1 >= argc) {
            fprintf(stderr, "remat profile: %s needs a value\n", argv[i]);
            goto done;
        } else if (strcmp(argv[i], "-o") == 0) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--format") == 0) {
            format = argv[++i];
            if (strcmp(format, "table") != 0 && strcmp(format, "yaml") != 0) {
                fprintf(stderr, "remat profile: --format must be table or yaml, got '%s'\n",
                        format);
                goto done;
            }
        } else {
            fprintf(stderr, "remat profile: unknown option '%s' (see --help)\n", argv[i]);
            goto done;
        }
    }
    if (out && !*out) {
        fprintf(stderr, "remat profile: -o needs a file name\n");
        goto done;
    }
    if (out && format && strcmp(format, "table") == 0) {
        fprintf(stderr, "remat profile: -o writes YAML; --format table prints to stdout\n");
        goto done;
    }
    profile p;
    remat_err err;
    if (model_opts_profile(&mo, &p, &err) != 0) {
        fprintf(stderr, "remat profile: %s\n", err.msg);
        status = 1;
        goto done;
    }
    status = 0;
    bool table = format ? strcmp(format, "table") == 0 : !out && isatty(STDOUT_FILENO);
    if (table) {
        table_profile(stdout, &p);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "remat profile: writing to stdout failed\n");
            status = 1;
        }
    } else if (report_write_atomic(out ? out : "-", write_profile, &p, &err) != 0) {
        fprintf(stderr, "remat profile: %s\n", err.msg);
        status = 1;
    }
    profile_free(&p);
done:
    model_opts_free(&mo);
    return status;
}
