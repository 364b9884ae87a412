/* reports/reports.h — everything a person or a trainer reads: YAML model files,
 * profiles and plans (read and write), text tables, SVG/HTML reports, and the
 * atomic file writing every output goes through. */
#ifndef REMAT_REPORTS_REPORTS_H
#define REMAT_REPORTS_REPORTS_H

#include <stdio.h>

#include "solver/solver.h"

/* Writes a file atomically: calls write(f, ctx) on a temporary file next to path,
 * then fsyncs and renames it over path. On any error the temporary is removed and
 * path is left untouched. path "-" writes to stdout. Returns 0 or -errno. */
typedef int (*report_writer)(FILE *f, void *ctx, remat_err *err);
int report_write_atomic(const char *path, report_writer write, void *ctx, remat_err *err);

/* Profile YAML (docs/profile-format.md). write: a whole document on f. read:
 * errors name path:line:col; on error *p is left empty. Both return 0 or -errno. */
int yaml_write_profile(FILE *f, const profile *p, remat_err *err);
int yaml_read_profile(const char *path, profile *p, remat_err *err);

/* Plan YAML (docs/plan-format.md), with the profile embedded. The reader rebuilds
 * the schedule by name and re-simulates it (pl->pred), never trusting the file's
 * numbers. On error both outputs are left empty. Return 0 or -errno. */
int yaml_write_plan(FILE *f, const profile *p, const plan *pl, remat_err *err);
int yaml_read_plan(const char *path, profile *p, plan *pl, remat_err *err);

/* A human-readable table of the profile: module rows and totals. */
void table_profile(FILE *f, const profile *p);

#endif
