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

#endif
