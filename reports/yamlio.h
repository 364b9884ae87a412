/* reports/yamlio.h — small libyaml helpers shared by the profile and plan
 * readers/writers (private to reports/). The emitter keeps a sticky status: after
 * the first failure every helper does nothing and ye_close reports it. The reader
 * helpers report `path:line:col: message`. */
#ifndef REMAT_REPORTS_YAMLIO_H
#define REMAT_REPORTS_YAMLIO_H

#include <stdio.h>
#include <yaml.h>

#include "models/graph.h"

typedef struct ye {
    yaml_emitter_t em;
    int rc;
    bool open;
} ye;

/* Starts a stream and one document on f. */
void ye_open(ye *e, FILE *f);
/* Ends the document and stream; returns 0 or -EIO with a message. */
int ye_close(ye *e, remat_err *err);
void ye_str(ye *e, const char *s);
void ye_int(ye *e, int64_t v);
void ye_num(ye *e, double v);   /* shortest text that reads back to the same double */
void ye_bool(ye *e, bool v);
void ye_map(ye *e, bool flow);
void ye_map_end(ye *e);
void ye_seq(ye *e, bool flow);
void ye_seq_end(ye *e);
void ye_key(ye *e, const char *k); /* a mapping key (plain) */
void ye_kstr(ye *e, const char *k, const char *v);
void ye_kint(ye *e, const char *k, int64_t v);
void ye_knum(ye *e, const char *k, double v);
void ye_kbool(ye *e, const char *k, bool v);

/* Reader: a loaded document and the file name for messages. */
typedef struct yr {
    yaml_document_t doc;
    const char *path;
    bool loaded;
    remat_err *err;
} yr;

/* Loads the single document of path. Empty files, parse errors and binary garbage
 * fail with path:line:col. Returns 0 or -errno. */
int yr_load(yr *r, const char *path, remat_err *err);
void yr_free(yr *r);
yaml_node_t *yr_root(yr *r);
/* Fails with path:line:col of node n. Returns code. */
int yr_fail(yr *r, const yaml_node_t *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Checks that map is a mapping whose keys are unique and all in keys (NULL-
 * terminated); what names the mapping in messages. */
int yr_fields(yr *r, yaml_node_t *map, const char *what, const char *const *keys);
/* The value of key in map, or NULL (optional) / an error (required). */
yaml_node_t *yr_get(yr *r, yaml_node_t *map, const char *key);
int yr_need(yr *r, yaml_node_t *map, const char *key, yaml_node_t **out);
int yr_str(yr *r, yaml_node_t *n, const char *what, const char **out);
int yr_int(yr *r, yaml_node_t *n, const char *what, int64_t min, int64_t max, int64_t *out);
int yr_num(yr *r, yaml_node_t *n, const char *what, double min, double max, double *out);
int yr_bool(yr *r, yaml_node_t *n, const char *what, bool *out);
/* Sequence access: count and item i. */
int yr_seq_len(yr *r, yaml_node_t *n, const char *what, int *len);
yaml_node_t *yr_item(yr *r, yaml_node_t *seq, int i);

/* The profile as one YAML mapping (for nesting in a plan), and back. */
struct profile;
int yaml_emit_profile_map(ye *e, const struct profile *p, remat_err *err);
int yaml_profile_from_node(yr *r, yaml_node_t *n, struct profile *p);

#endif
