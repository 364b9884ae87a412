/* planner/commands.h — one entry point per subcommand of the `remat` command. Each
 * returns the process exit status (0 success, 1 failure, 2 usage error). */
#ifndef REMAT_PLANNER_COMMANDS_H
#define REMAT_PLANNER_COMMANDS_H

int cmd_models(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_validate(int argc, char **argv);

#endif
