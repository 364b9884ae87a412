/* reports/yamlio.c — libyaml emitter and document-reader helpers for reports/. */
#include "reports/yamlio.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- emitter */

static void ye_emit(ye *e, yaml_event_t *ev, int made)
{
    if (!made) {
        e->rc = -ENOMEM;
        return;
    }
    if (!yaml_emitter_emit(&e->em, ev))
        e->rc = -EIO;
}

void ye_open(ye *e, FILE *f)
{
    memset(e, 0, sizeof *e);
    if (!yaml_emitter_initialize(&e->em)) {
        e->rc = -ENOMEM;
        return;
    }
    e->open = true;
    yaml_emitter_set_output_file(&e->em, f);
    yaml_emitter_set_unicode(&e->em, 1);
    yaml_emitter_set_width(&e->em, 4096);
    yaml_event_t ev;
    ye_emit(e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (!e->rc)
        ye_emit(e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
}

int ye_close(ye *e, remat_err *err)
{
    yaml_event_t ev;
    if (!e->rc)
        ye_emit(e, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (!e->rc)
        ye_emit(e, &ev, yaml_stream_end_event_initialize(&ev));
    if (!e->rc && !yaml_emitter_flush(&e->em))
        e->rc = -EIO;
    const char *problem = e->em.problem;
    int rc = e->rc;
    if (e->open)
        yaml_emitter_delete(&e->em);
    e->open = false;
    if (rc)
        return remat_fail(err, rc, "YAML output failed: %s", problem ? problem : strerror(-rc));
    return 0;
}

static void ye_scalar(ye *e, const char *s, bool plain_ok)
{
    if (e->rc)
        return;
    yaml_event_t ev;
    ye_emit(e, &ev,
            yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
                                         plain_ok, 1,
                                         plain_ok ? YAML_PLAIN_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE));
}

/* True when s, written plain, would not read back as a string under YAML's core
 * or 1.1 schemas (a number, a boolean, null, a sexagesimal or underscored
 * number): such strings are quoted, every other string is written plain. */
static bool plain_is_typed(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y", "n",
                                        "null", "~", ".inf", "+.inf", "-.inf", ".nan", NULL};
    if (!*s)
        return true;
    for (int i = 0; words[i]; i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    char *end = NULL;
    (void)strtod(s, &end);
    if (end && end != s && *end == 0)
        return true;
    const char *p = s + (*s == '-' || *s == '+');
    if (*p < '0' || *p > '9')
        return false;
    return strspn(p, "0123456789_:.") == strlen(p) || strncmp(p, "0o", 2) == 0 ||
           strncmp(p, "0x", 2) == 0 || strncmp(p, "0b", 2) == 0;
}

void ye_str(ye *e, const char *s)
{
    s = s ? s : "";
    if (e->rc)
        return;
    yaml_event_t ev;
    ye_emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
                                                 (int)strlen(s), !plain_is_typed(s), 1,
                                                 YAML_ANY_SCALAR_STYLE));
}

void ye_int(ye *e, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    ye_scalar(e, b, true);
}

void ye_num(ye *e, double v)
{
    char b[40];
    if (!isfinite(v)) {
        snprintf(b, sizeof b, "%s", isnan(v) ? ".nan" : v > 0 ? ".inf" : "-.inf");
    } else {
        snprintf(b, sizeof b, "%.15g", v);
        if (strtod(b, NULL) != v)
            snprintf(b, sizeof b, "%.17g", v);
        if (!strpbrk(b, ".eEn"))
            strcat(b, ".0");
    }
    ye_scalar(e, b, true);
}

void ye_bool(ye *e, bool v) { ye_scalar(e, v ? "true" : "false", true); }

void ye_map(ye *e, bool flow)
{
    if (e->rc)
        return;
    yaml_event_t ev;
    ye_emit(e, &ev,
            yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                flow ? YAML_FLOW_MAPPING_STYLE
                                                     : YAML_BLOCK_MAPPING_STYLE));
}

void ye_map_end(ye *e)
{
    if (e->rc)
        return;
    yaml_event_t ev;
    ye_emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

void ye_seq(ye *e, bool flow)
{
    if (e->rc)
        return;
    yaml_event_t ev;
    ye_emit(e, &ev,
            yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                 flow ? YAML_FLOW_SEQUENCE_STYLE
                                                      : YAML_BLOCK_SEQUENCE_STYLE));
}

void ye_seq_end(ye *e)
{
    if (e->rc)
        return;
    yaml_event_t ev;
    ye_emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

void ye_key(ye *e, const char *k) { ye_str(e, k); }

void ye_kstr(ye *e, const char *k, const char *v)
{
    ye_str(e, k);
    ye_str(e, v);
}

void ye_kint(ye *e, const char *k, int64_t v)
{
    ye_str(e, k);
    ye_int(e, v);
}

void ye_knum(ye *e, const char *k, double v)
{
    ye_str(e, k);
    ye_num(e, v);
}

void ye_kbool(ye *e, const char *k, bool v)
{
    ye_str(e, k);
    ye_bool(e, v);
}

/* ---------------------------------------------------------------- reader */

int yr_fail(yr *r, const yaml_node_t *n, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return remat_fail(r->err, code, "%s:%zu:%zu: %s", r->path, n->start_mark.line + 1,
                          n->start_mark.column + 1, msg);
    return remat_fail(r->err, code, "%s: %s", r->path, msg);
}

int yr_load(yr *r, const char *path, remat_err *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->err = err;
    FILE *f = fopen(path, "rb");
    if (!f)
        return remat_fail(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    /* refuse binary garbage early: NUL bytes are never valid YAML text */
    int c, line = 1, col = 1;
    long nbytes = 0;
    while ((c = fgetc(f)) != EOF) {
        nbytes++;
        if (c == 0) {
            fclose(f);
            return remat_fail(err, -EINVAL, "%s:%d:%d: binary data (NUL byte), not YAML", path,
                              line, col);
        }
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (nbytes == 0) {
        fclose(f);
        return remat_fail(err, -EINVAL, "%s:1:1: empty file", path);
    }
    rewind(f);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&p, f);
    int rc = 0;
    if (!yaml_parser_load(&p, &r->doc)) {
        if (p.error == YAML_MEMORY_ERROR)
            rc = remat_fail(err, -ENOMEM, "%s: out of memory while parsing", path);
        else
            rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: YAML syntax error: %s%s%s", path,
                            p.problem_mark.line + 1, p.problem_mark.column + 1,
                            p.context ? p.context : "", p.context ? ": " : "",
                            p.problem ? p.problem : "malformed YAML");
    } else {
        r->loaded = true;
        yaml_document_t next;
        if (!yaml_document_get_root_node(&r->doc)) {
            rc = remat_fail(err, -EINVAL, "%s:1:1: empty document", path);
        } else if (!yaml_parser_load(&p, &next)) {
            /* whatever follows the document must parse too */
            rc = remat_fail(err, p.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL,
                            "%s:%zu:%zu: YAML syntax error: %s%s%s", path,
                            p.problem_mark.line + 1, p.problem_mark.column + 1,
                            p.context ? p.context : "", p.context ? ": " : "",
                            p.problem ? p.problem : "malformed YAML");
        } else {
            /* a second document would be silently ignored: refuse it */
            if (yaml_document_get_root_node(&next))
                rc = remat_fail(err, -EINVAL,
                                "%s:%zu:%zu: a second YAML document starts here (one expected)",
                                path, next.start_mark.line + 1, next.start_mark.column + 1);
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&p);
    fclose(f);
    if (rc)
        yr_free(r);
    return rc;
}

void yr_free(yr *r)
{
    if (r->loaded)
        yaml_document_delete(&r->doc);
    r->loaded = false;
}

yaml_node_t *yr_root(yr *r) { return yaml_document_get_root_node(&r->doc); }

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int yr_fields(yr *r, yaml_node_t *map, const char *what, const char *const *keys)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return yr_fail(r, map, -EINVAL, "%s must be a mapping", what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&r->doc, p->key);
        const char *ks = scalar(k);
        if (!ks)
            return yr_fail(r, k, -EINVAL, "%s has a non-scalar key", what);
        bool known = false;
        for (int i = 0; keys[i] && !known; i++)
            known = strcmp(keys[i], ks) == 0;
        if (!known)
            return yr_fail(r, k, -EINVAL, "unknown key '%s' in %s", ks, what);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (strcmp(scalar(yaml_document_get_node(&r->doc, q->key)), ks) == 0)
                return yr_fail(r, k, -EINVAL, "duplicate key '%s' in %s", ks, what);
    }
    return 0;
}

yaml_node_t *yr_get(yr *r, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *ks = scalar(yaml_document_get_node(&r->doc, p->key));
        if (ks && strcmp(ks, key) == 0)
            return yaml_document_get_node(&r->doc, p->value);
    }
    return NULL;
}

int yr_need(yr *r, yaml_node_t *map, const char *key, yaml_node_t **out)
{
    *out = yr_get(r, map, key);
    if (!*out)
        return yr_fail(r, map, -EINVAL, "missing key '%s'", key);
    return 0;
}

int yr_str(yr *r, yaml_node_t *n, const char *what, const char **out)
{
    const char *s = scalar(n);
    if (!s)
        return yr_fail(r, n, -EINVAL, "%s must be a string", what);
    *out = s;
    return 0;
}

int yr_int(yr *r, yaml_node_t *n, const char *what, int64_t min, int64_t max, int64_t *out)
{
    const char *s = scalar(n);
    if (!s || !*s)
        return yr_fail(r, n, -EINVAL, "%s must be an integer", what);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return yr_fail(r, n, -ERANGE, "%s '%s' overflows 64 bits", what, s);
    if (*end || end == s)
        return yr_fail(r, n, -EINVAL, "%s '%s' is not an integer", what, s);
    if (v < min || v > max)
        return yr_fail(r, n, -ERANGE, "%s %lld is out of range [%lld, %lld]", what, v,
                       (long long)min, (long long)max);
    *out = v;
    return 0;
}

int yr_num(yr *r, yaml_node_t *n, const char *what, double min, double max, double *out)
{
    const char *s = scalar(n);
    if (!s || !*s)
        return yr_fail(r, n, -EINVAL, "%s must be a number", what);
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || end == s || !isfinite(v) || errno == ERANGE)
        return yr_fail(r, n, -EINVAL, "%s '%s' is not a finite number", what, s);
    if (v < min || v > max)
        return yr_fail(r, n, -ERANGE, "%s %g is out of range [%g, %g]", what, v, min, max);
    *out = v;
    return 0;
}

int yr_bool(yr *r, yaml_node_t *n, const char *what, bool *out)
{
    const char *s = scalar(n);
    if (s && strcmp(s, "true") == 0)
        *out = true;
    else if (s && strcmp(s, "false") == 0)
        *out = false;
    else
        return yr_fail(r, n, -EINVAL, "%s must be true or false", what);
    return 0;
}

int yr_seq_len(yr *r, yaml_node_t *n, const char *what, int *len)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return yr_fail(r, n, -EINVAL, "%s must be a list", what);
    *len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    return 0;
}

yaml_node_t *yr_item(yr *r, yaml_node_t *seq, int i)
{
    return yaml_document_get_node(&r->doc, seq->data.sequence.items.start[i]);
}
