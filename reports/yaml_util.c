/* reports/yaml_util.c — the libyaml emitter and document-reader helpers that the
 * profile and plan formats share (see yaml_util.h). */
#include "reports/yaml_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define YR_MAX_FILE (INT64_C(1) << 30)

/* ================================================================ writing */

static void ye_emit(yemit *e, yaml_event_t *ev, int initialized)
{
    if (!initialized || !yaml_emitter_emit(e->em, ev))
        e->failed = true;
}

static void ye_scalar(yemit *e, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    ye_emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
                                                 (int)strlen(s), 1, 1, style));
}

void ye_str(yemit *e, const char *s) { ye_scalar(e, s ? s : "", YAML_ANY_SCALAR_STYLE); }
void ye_quoted(yemit *e, const char *s)
{
    ye_scalar(e, s ? s : "", YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

void ye_int(yemit *e, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    ye_scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}

void ye_double(yemit *e, double v)
{
    char buf[40];
    if (isnan(v)) {
        snprintf(buf, sizeof buf, ".nan");
    } else if (isinf(v)) {
        snprintf(buf, sizeof buf, v > 0 ? ".inf" : "-.inf");
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    ye_scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}

void ye_bool(yemit *e, bool v) { ye_scalar(e, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE); }
void ye_null(yemit *e) { ye_scalar(e, "null", YAML_PLAIN_SCALAR_STYLE); }

void ye_map_start(yemit *e, bool flow)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    ye_emit(e, &ev, yaml_mapping_start_event_initialize(
                        &ev, NULL, NULL, 1, flow ? YAML_FLOW_MAPPING_STYLE
                                                 : YAML_BLOCK_MAPPING_STYLE));
}

void ye_map_end(yemit *e)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    ye_emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

void ye_seq_start(yemit *e, bool flow)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    ye_emit(e, &ev, yaml_sequence_start_event_initialize(
                        &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE
                                                 : YAML_BLOCK_SEQUENCE_STYLE));
}

void ye_seq_end(yemit *e)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    ye_emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

void ye_kv_str(yemit *e, const char *k, const char *v)
{
    ye_str(e, k);
    ye_str(e, v);
}

void ye_kv_int(yemit *e, const char *k, int64_t v)
{
    ye_str(e, k);
    ye_int(e, v);
}

void ye_kv_double(yemit *e, const char *k, double v)
{
    ye_str(e, k);
    ye_double(e, v);
}

void ye_kv_bool(yemit *e, const char *k, bool v)
{
    ye_str(e, k);
    ye_bool(e, v);
}

int ye_write_document(FILE *f, ye_body body, const void *ctx, remat_err *err)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        return remat_fail(err, -ENOMEM, "out of memory");
    yaml_emitter_set_output_file(&em, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    yemit e = {&em, false};
    ye_emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (!e.failed)
        ye_emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    int rc = e.failed ? 0 : body(&em, ctx, err);
    if (!e.failed && rc == 0)
        ye_emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (!e.failed && rc == 0)
        ye_emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
    if (!e.failed && rc == 0 && !yaml_emitter_flush(&em))
        e.failed = true;
    if (rc == 0 && (e.failed || ferror(f)))
        rc = remat_fail(err, -EIO, "cannot write YAML: %s",
                        em.problem ? em.problem : "write error");
    yaml_emitter_delete(&em);
    return rc;
}

/* ================================================================ reading */

int yr_fail(const yread *r, const yaml_node_t *n, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!n)
        return remat_fail(r->err, code, "%s: %s", r->path, msg);
    return remat_fail(r->err, code, "%s:%zu:%zu: %s", r->path, n->start_mark.line + 1,
                      n->start_mark.column + 1, msg);
}

yaml_node_t *yr_node(const yread *r, int id) { return yaml_document_get_node(r->doc, id); }

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "scalar";
    case YAML_SEQUENCE_NODE: return "sequence";
    case YAML_MAPPING_NODE: return "mapping";
    default: return "empty node";
    }
}

int yr_map(const yread *r, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_MAPPING_NODE)
        return yr_fail(r, n, -EINVAL, "%s must be a mapping, not a %s", what, node_kind(n));
    return 0;
}

int yr_text(const yread *r, yaml_node_t *n, const char *what, const char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return yr_fail(r, n, -EINVAL, "%s must be a scalar, not a %s", what, node_kind(n));
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length)
        return yr_fail(r, n, -EINVAL, "%s contains a NUL character", what);
    *out = s;
    return 0;
}

int yr_name(const yread *r, yaml_node_t *n, const char *what, const char **out)
{
    int rc = yr_text(r, n, what, out);
    if (rc == 0 && !**out)
        rc = yr_fail(r, n, -EINVAL, "%s is empty", what);
    return rc;
}

/* A plain (unquoted) scalar that must be a number. */
static int yr_number_text(const yread *r, yaml_node_t *n, const char *what, const char **out)
{
    int rc = yr_text(r, n, what, out);
    if (rc)
        return rc;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !**out)
        return yr_fail(r, n, -EINVAL, "%s must be a number, not the string '%s'", what, *out);
    return 0;
}

int yr_int(const yread *r, yaml_node_t *n, const char *what, int64_t min, int64_t max,
           int64_t *out)
{
    const char *s;
    int rc = yr_number_text(r, n, what, &s);
    if (rc)
        return rc;
    const char *p = s + (*s == '-' || *s == '+');
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return yr_fail(r, n, -EINVAL, "%s must be an integer, not '%s'", what, s);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return yr_fail(r, n, -EINVAL, "%s %s is out of range", what, s);
    if (v < min)
        return yr_fail(r, n, -EINVAL, "%s is %lld; it must be at least %lld", what, v,
                       (long long)min);
    if (v > max)
        return yr_fail(r, n, -EINVAL, "%s is %lld; it must be at most %lld", what, v,
                       (long long)max);
    *out = v;
    return 0;
}

int yr_double(const yread *r, yaml_node_t *n, const char *what, double min, double max,
              double *out)
{
    const char *s;
    int rc = yr_number_text(r, n, what, &s);
    if (rc)
        return rc;
    if (strpbrk(s, "nNiIxX"))
        return yr_fail(r, n, -EINVAL, "%s must be a finite number, not '%s'", what, s);
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end)
        return yr_fail(r, n, -EINVAL, "%s must be a number, not '%s'", what, s);
    if (errno == ERANGE || !isfinite(v))
        return yr_fail(r, n, -EINVAL, "%s %s is out of range", what, s);
    if (!(v >= min && v <= max))
        return yr_fail(r, n, -EINVAL, "%s is %g; it must be in [%g, %g]", what, v, min, max);
    *out = v;
    return 0;
}

int yr_bool(const yread *r, yaml_node_t *n, const char *what, bool *out)
{
    const char *s;
    int rc = yr_number_text(r, n, what, &s);
    if (rc == 0 && strcmp(s, "true") && strcmp(s, "false"))
        rc = yr_fail(r, n, -EINVAL, "%s must be true or false, not '%s'", what, s);
    if (rc)
        return rc;
    *out = strcmp(s, "true") == 0;
    return 0;
}

int yr_seq(const yread *r, yaml_node_t *n, const char *what, int max, yaml_node_item_t **items,
           int *count)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return yr_fail(r, n, -EINVAL, "%s must be a sequence, not a %s", what, node_kind(n));
    ptrdiff_t c = n->data.sequence.items.top - n->data.sequence.items.start;
    if (c > max)
        return yr_fail(r, n, -EINVAL, "%s has %td entries (at most %d)", what, c, max);
    *items = n->data.sequence.items.start;
    *count = (int)c;
    return 0;
}

int yr_fields(const yread *r, yaml_node_t *map, const char *what, const char *const *keys,
              yaml_node_t **vals)
{
    int rc = yr_map(r, map, what);
    if (rc)
        return rc;
    for (int i = 0; keys[i]; i++)
        vals[i] = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yr_node(r, p->key), *v = yr_node(r, p->value);
        const char *name;
        if ((rc = yr_text(r, k, "a key", &name)))
            return rc;
        int i = 0;
        while (keys[i] && strcmp(keys[i], name))
            i++;
        if (!keys[i])
            return yr_fail(r, k, -EINVAL, "unknown key '%s' in %s", name, what);
        if (vals[i])
            return yr_fail(r, k, -EINVAL, "duplicate key '%s' in %s", name, what);
        vals[i] = v;
    }
    return 0;
}

int yr_missing(const yread *r, yaml_node_t *map, const char *key, const char *what)
{
    return yr_fail(r, map, -EINVAL, "%s has no '%s'", what, key);
}

/* Turns a libyaml parser error into "path:line:col: message". Reader errors (bad
 * encoding) carry a byte offset instead of a mark. */
static int yr_parse_error(const yaml_parser_t *p, const char *path, const char *buf, size_t len,
                          remat_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return remat_fail(err, -ENOMEM, "%s: out of memory while parsing", path);
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        size_t off = p->problem_offset < len ? p->problem_offset : len;
        line = col = 1;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
    }
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        return remat_fail(err, -EINVAL, "%s:%zu:%zu: YAML error: %s %s (line %zu)", path, line,
                          col, p->context, problem, p->context_mark.line + 1);
    return remat_fail(err, -EINVAL, "%s:%zu:%zu: YAML error: %s", path, line, col, problem);
}

static int yr_slurp(const char *path, char **out, size_t *len, remat_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return remat_fail(err, -errno, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n + 1 >= cap) {
            if ((int64_t)cap >= YR_MAX_FILE) {
                rc = remat_fail(err, -EFBIG, "%s: larger than %lld bytes", path,
                                (long long)YR_MAX_FILE);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = remat_fail(err, -EIO, "%s: %s", path,
                                errno ? strerror(errno) : "read error");
            break;
        }
    }
    fclose(f);
    if (rc == -ENOMEM)
        remat_fail(err, rc, "%s: out of memory", path);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int yr_load_file(const char *path, yaml_document_t *doc, remat_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = yr_slurp(path, &buf, &len, err);
    if (rc)
        return rc;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = yr_parse_error(&parser, path, buf, len, err);
    } else {
        if (!yaml_document_get_root_node(doc))
            rc = remat_fail(err, -EINVAL, "%s:1:1: empty file", path);
        yaml_document_t next;
        if (rc == 0 && !yaml_parser_load(&parser, &next)) {
            rc = yr_parse_error(&parser, path, buf, len, err);
        } else if (rc == 0) {
            yaml_node_t *extra = yaml_document_get_root_node(&next);
            if (extra)
                rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: a second YAML document; the file "
                                "must hold one", path, extra->start_mark.line + 1,
                                extra->start_mark.column + 1);
            yaml_document_delete(&next);
        }
        if (rc)
            yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    free(buf);
    return rc;
}
