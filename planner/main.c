/* planner/main.c — the `remat` command: dispatches to one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "planner/commands.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand subcommands[] = {
    {"models", cmd_models, "list the model zoo"},
    {"profile", cmd_profile, "per-op bytes, FLOPs and time of a model"},
    {"plan", cmd_plan, "choose checkpoints under a memory budget"},
    {"simulate", cmd_simulate, "memory timeline of a plan and what is live at its peak"},
    {"report", cmd_report, "one HTML page: profile, plans, memory timeline, Pareto plot"},
    {"sweep", cmd_sweep, "every solver over a range of budgets: CSV, Pareto SVG, table"},
    {"validate", cmd_validate, "run the training step under a plan and check the prediction"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: remat <command> [options]   (remat <command> --help for details)\n\n"
               "Plans activation checkpoints under a memory budget, simulates the step's\n"
               "memory and validates the prediction by running the step.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("remat %s\n", REMAT_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "remat: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
