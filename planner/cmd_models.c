/* planner/cmd_models.c — `remat models`: the zoo with one-line descriptions. */
#include <stdio.h>
#include <string.h>

#include "models/graph.h"
#include "planner/commands.h"

int cmd_models(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: remat models\n\nLists the model zoo: each name is usable as "
                   "--model NAME in profile, plan and sweep.\n");
            return 0;
        }
        fprintf(stderr, "remat models: unexpected argument '%s'\n", argv[i]);
        return 2;
    }
    int n;
    const zoo_entry *z = zoo_list(&n);
    for (int i = 0; i < n; i++)
        printf("%-14s %s\n", z[i].name, z[i].desc);
    return 0;
}
