/* reports/yaml_util.h — small libyaml helpers shared by the profile and plan
 * readers/writers (private to reports/). Writing: an emitter with a sticky failure
 * flag, one helper per construct, checked once at the end. Reading: the document
 * API, every error as "path:line:column: message" at the node at fault. */
#ifndef REMAT_REPORTS_YAML_UTIL_H
#define REMAT_REPORTS_YAML_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <yaml.h>

#include "models/graph.h"

/* ---------------------------------------------------------------- writing */

typedef struct yemit {
    yaml_emitter_t *em;
    bool failed;
} yemit;

void ye_str(yemit *e, const char *s);      /* any style libyaml finds safe */
void ye_quoted(yemit *e, const char *s);   /* always double-quoted */
void ye_int(yemit *e, int64_t v);
void ye_double(yemit *e, double v);        /* shortest text that reads back exactly */
void ye_bool(yemit *e, bool v);
void ye_null(yemit *e);
void ye_map_start(yemit *e, bool flow);
void ye_map_end(yemit *e);
void ye_seq_start(yemit *e, bool flow);
void ye_seq_end(yemit *e);
void ye_kv_str(yemit *e, const char *k, const char *v);
void ye_kv_int(yemit *e, const char *k, int64_t v);
void ye_kv_double(yemit *e, const char *k, double v);
void ye_kv_bool(yemit *e, const char *k, bool v);

/* Writes one complete YAML document to f: stream and document start, then
 * body(em, ctx, err), then the ends, flushed. Returns 0 or -errno (body's own
 * error, or -EIO for an emitter/write failure). */
typedef int (*ye_body)(yaml_emitter_t *em, const void *ctx, remat_err *err);
int ye_write_document(FILE *f, ye_body body, const void *ctx, remat_err *err);

/* ---------------------------------------------------------------- reading */

typedef struct yread {
    yaml_document_t *doc;
    const char *path;
    remat_err *err;
} yread;

/* Formats "path:line:col: message" at node n (path only when n is NULL). */
int yr_fail(const yread *r, const yaml_node_t *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

yaml_node_t *yr_node(const yread *r, int id);

/* Splits a mapping into the values of known keys (vals[i] for keys[i], NULL when
 * absent; keys NULL-terminated). Unknown and duplicate keys are errors. */
int yr_fields(const yread *r, yaml_node_t *map, const char *what, const char *const *keys,
              yaml_node_t **vals);
/* The error for a required key that is absent. */
int yr_missing(const yread *r, yaml_node_t *map, const char *key, const char *what);

int yr_text(const yread *r, yaml_node_t *n, const char *what, const char **out);
int yr_name(const yread *r, yaml_node_t *n, const char *what, const char **out); /* non-empty */
int yr_int(const yread *r, yaml_node_t *n, const char *what, int64_t min, int64_t max,
           int64_t *out);
int yr_double(const yread *r, yaml_node_t *n, const char *what, double min, double max,
              double *out);
int yr_bool(const yread *r, yaml_node_t *n, const char *what, bool *out);
int yr_seq(const yread *r, yaml_node_t *n, const char *what, int max, yaml_node_item_t **items,
           int *count);
int yr_map(const yread *r, yaml_node_t *n, const char *what);

/* Loads the single YAML document of a file. On success *doc is loaded (caller
 * deletes it). Errors: unreadable file, YAML syntax (path:line:col), empty file,
 * a second document. Returns 0 or -errno. */
int yr_load_file(const char *path, yaml_document_t *doc, remat_err *err);

#endif
