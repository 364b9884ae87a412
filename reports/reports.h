/* reports/reports.h — everything a person or a trainer reads: YAML model files,
 * profiles and plans (read and write), text tables, SVG/HTML reports, and the
 * atomic file writing every output goes through. */
#ifndef REMAT_REPORTS_REPORTS_H
#define REMAT_REPORTS_REPORTS_H

#include <stdio.h>

#include "solver/solver.h"

/* ---------------------------------------------------------------- profiles
 * The profile YAML (docs/profile-format.md): model, target, source, device,
 * totals, module rows, per-op numbers and the graph itself (model-file format),
 * so a profile is self-contained. Output is deterministic: the same profile
 * always gives the same bytes. */
#define PROFILE_FORMAT_VERSION 1

/* Emits the profile as one YAML mapping (events only, no stream/document), so a
 * plan can nest it. Returns 0 or -errno. */
int yaml_emit_profile(struct yaml_emitter_s *em, const profile *p, remat_err *err);
/* Writes a complete profile YAML document to f. Returns 0 or -errno. */
int yaml_write_profile(FILE *f, const profile *p, remat_err *err);
/* Builds *p from a parsed profile mapping (a file's root or a plan's `profile`):
 * the graph from `graph`, per-op FLOPs and times from `ops` (checked against the
 * graph: same names, kinds, modules and bytes), totals recomputed. path is for
 * messages (path:line:column). Returns 0 or -errno; on error *p is left empty. */
int profile_from_node(struct yaml_document_s *doc, struct yaml_node_s *node, const char *path,
                      profile *p, remat_err *err);
/* Reads a profile file. Returns 0 or -errno; on error *p is left empty. */
int yaml_read_profile(const char *path, profile *p, remat_err *err);

/* A readable text table of p: header (model, target, source), one row per module
 * (block and sub-block level, children indented) and the totals, in human units
 * (KiB/MiB/GiB, GFLOP/TFLOP, us/ms/s). Returns 0 or -EIO. */
int report_profile_table(FILE *f, const profile *p, remat_err *err);

/* Writes a file atomically: calls write(f, ctx) on a temporary file next to path,
 * then fsyncs and renames it over path. On any error the temporary is removed and
 * path is left untouched. path "-" writes to stdout. Returns 0 or -errno. */
typedef int (*report_writer)(FILE *f, void *ctx, remat_err *err);
int report_write_atomic(const char *path, report_writer write, void *ctx, remat_err *err);

#endif
