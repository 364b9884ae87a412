/* models/hf_config.c — `--hf-config config.json`: builds the zoo's gpt2 or llama from
 * a Hugging Face config.json, chosen by its model_type. JSON is read with libyaml
 * (a JSON document is YAML flow style), so every error names path:line:column.
 * The structural keys map one to one onto the zoo's keys (GPT2Config and
 * LlamaConfig names); keys that do not shape the graph (architectures, token ids,
 * torch_dtype, ...) are ignored. Batch, sequence, dtype and dropout come from the
 * spec; dropout defaults to the config's resid_pdrop (gpt2) or attention_dropout
 * (llama) when the spec leaves it unset. --set items override the file's values. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "models/zoo_internal.h"

typedef struct hf_key {
    const char *key;
    enum { HF_INT, HF_FLOAT, HF_BOOL } type;
} hf_key;

static const hf_key gpt2_keys[] = {
    {"n_layer", HF_INT}, {"n_head", HF_INT}, {"n_embd", HF_INT}, {"vocab_size", HF_INT},
    {"n_positions", HF_INT}, {NULL, HF_INT},
};

static const hf_key llama_keys[] = {
    {"hidden_size", HF_INT}, {"intermediate_size", HF_INT}, {"num_hidden_layers", HF_INT},
    {"num_attention_heads", HF_INT}, {"num_key_value_heads", HF_INT}, {"vocab_size", HF_INT},
    {"max_position_embeddings", HF_INT}, {"rope_theta", HF_FLOAT},
    {"tie_word_embeddings", HF_BOOL}, {NULL, HF_INT},
};

/* LlamaConfig defaults that differ from the zoo's llama2-7b defaults. */
static const struct {
    const char *key, *value;
} llama_hf_defaults[] = {{"max_position_embeddings", "2048"}};

#define HF_MAX_KEYS 16

typedef struct hf_ctx {
    const char *path;
    yaml_document_t *doc;
    remat_err *err;
    int n;
    const char *key[HF_MAX_KEYS];
    char value[HF_MAX_KEYS][40];
    yaml_node_t *node[HF_MAX_KEYS]; /* where the value came from, NULL for defaults */
} hf_ctx;

static int hf_fail(hf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int hf_fail(hf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return remat_fail(c->err, -EINVAL, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1,
                      n->start_mark.column + 1, msg);
}

static int hf_set(hf_ctx *c, const char *key, const char *value, yaml_node_t *n)
{
    int i = 0;
    while (i < c->n && strcmp(c->key[i], key))
        i++;
    if (i == c->n) {
        if (c->n == HF_MAX_KEYS)
            return remat_fail(c->err, -EINVAL, "%s: too many keys", c->path);
        c->key[c->n++] = key;
    }
    snprintf(c->value[i], sizeof c->value[i], "%s", value);
    c->node[i] = n;
    return 0;
}

/* Checks a scalar value's form for its type and stores it under key. */
static int hf_value(hf_ctx *c, const hf_key *k, yaml_node_t *v)
{
    if (v->type != YAML_SCALAR_NODE)
        return hf_fail(c, v, "%s must be a number, not a %s", k->key,
                       v->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
    const char *s = (const char *)v->data.scalar.value;
    bool quoted = v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (!quoted && strcmp(s, "null") == 0)
        return 0; /* HF writes null for "use the default" (num_key_value_heads) */
    if (k->type == HF_BOOL) {
        if (quoted || (strcmp(s, "true") && strcmp(s, "false")))
            return hf_fail(c, v, "%s must be true or false, not '%s'", k->key, s);
        return hf_set(c, k->key, strcmp(s, "true") == 0 ? "1" : "0", v);
    }
    char *end = NULL;
    errno = 0;
    if (k->type == HF_INT) {
        long long x = quoted ? 0 : strtoll(s, &end, 10);
        if (quoted || end == s || *end || errno || x < 1 || x > (1LL << 40))
            return hf_fail(c, v, "%s must be a positive integer, not '%s'", k->key, s);
    } else {
        double x = quoted ? 0 : strtod(s, &end);
        if (quoted || end == s || *end || errno || !isfinite(x) || x <= 0)
            return hf_fail(c, v, "%s must be a positive number, not '%s'", k->key, s);
    }
    if (strlen(s) >= sizeof c->value[0])
        return hf_fail(c, v, "%s value '%s' is too long", k->key, s);
    return hf_set(c, k->key, s, v);
}

/* Reads a dropout probability key into *p when the spec left dropout unset. */
static int hf_dropout(hf_ctx *c, yaml_node_t *v, const char *key, double *p)
{
    const char *s = (const char *)v->data.scalar.value;
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        strcmp(s, "null") == 0)
        return 0;
    char *end = NULL;
    double x = v->type == YAML_SCALAR_NODE ? strtod(s, &end) : -1;
    if (v->type != YAML_SCALAR_NODE || end == s || *end || !(x >= 0 && x < 1))
        return hf_fail(c, v, "%s must be a probability in [0, 1)", key);
    *p = x;
    return 0;
}

int zoo_build_hf_config(const char *path, const model_spec *spec, graph *g, remat_err *err)
{
    memset(g, 0, sizeof *g);
    yaml_document_t doc;
    int rc = remat_yaml_load(path, "config file", &doc, err);
    if (rc)
        return rc;
    hf_ctx c = {.path = path, .doc = &doc, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    const hf_key *keys = NULL;
    const char *model = NULL, *drop_key = NULL;
    double drop = 0;
    yaml_node_t *type_node = NULL, *head_dim = NULL;
    /* keys that change the graph's shape and that the zoo models do not express:
     * accepted only when null or false */
    static const char *const unsupported[] = {"n_inner", "attention_bias", "mlp_bias", NULL};
    if (root->type != YAML_MAPPING_NODE) {
        rc = hf_fail(&c, root, "a config.json must be an object");
        goto out;
    }
    /* first pass: model_type and duplicates */
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (k->type != YAML_SCALAR_NODE) {
            rc = hf_fail(&c, k, "keys must be strings");
            goto out;
        }
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++)
            if (strcmp((const char *)yaml_document_get_node(&doc, q->key)->data.scalar.value,
                       (const char *)k->data.scalar.value) == 0) {
                rc = hf_fail(&c, k, "duplicate key '%s'", (const char *)k->data.scalar.value);
                goto out;
            }
        if (strcmp((const char *)k->data.scalar.value, "model_type") == 0)
            type_node = v;
    }
    if (!type_node) {
        rc = hf_fail(&c, root, "no model_type (gpt2 or llama)");
        goto out;
    }
    const char *type = type_node->type == YAML_SCALAR_NODE
                           ? (const char *)type_node->data.scalar.value : "";
    if (strcmp(type, "gpt2") == 0) {
        keys = gpt2_keys;
        model = "gpt2";
        drop_key = "resid_pdrop";
    } else if (strcmp(type, "llama") == 0) {
        keys = llama_keys;
        model = "llama";
        drop_key = "attention_dropout";
        for (size_t i = 0; i < sizeof llama_hf_defaults / sizeof llama_hf_defaults[0]; i++)
            hf_set(&c, llama_hf_defaults[i].key, llama_hf_defaults[i].value, NULL);
    } else {
        rc = hf_fail(&c, type_node, "model_type '%s' is not supported (gpt2 or llama)", type);
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const char *name =
            (const char *)yaml_document_get_node(&doc, p->key)->data.scalar.value;
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        for (int i = 0; keys[i].key && rc == 0; i++)
            if (strcmp(keys[i].key, name) == 0)
                rc = hf_value(&c, &keys[i], v);
        if (rc == 0 && strcmp(name, drop_key) == 0)
            rc = hf_dropout(&c, v, drop_key, &drop);
        if (rc == 0 && strcmp(name, "head_dim") == 0)
            head_dim = v;
        for (int i = 0; unsupported[i] && rc == 0; i++)
            if (strcmp(name, unsupported[i]) == 0 && v->type == YAML_SCALAR_NODE &&
                v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                strcmp((const char *)v->data.scalar.value, "null") &&
                strcmp((const char *)v->data.scalar.value, "false"))
                rc = hf_fail(&c, v, "%s is not supported by remat's %s (only null or false)",
                             name, model);
        if (rc)
            goto out;
    }

    model_spec s = *spec;
    s.name = model;
    s.n_set = 0;
    for (int i = 0; i < c.n; i++) {
        s.set_key[s.n_set] = c.key[i];
        s.set_value[s.n_set++] = c.value[i];
    }
    for (int i = 0; i < spec->n_set; i++) { /* --set overrides the file */
        int j = 0;
        while (j < s.n_set && strcmp(s.set_key[j], spec->set_key[i]))
            j++;
        if (j == (int)(sizeof s.set_key / sizeof s.set_key[0])) {
            rc = remat_fail(err, -EINVAL, "%s: too many keys with --set", path);
            goto out;
        }
        if (j < c.n)
            c.node[j] = NULL;
        s.set_key[j] = spec->set_key[i];
        s.set_value[j] = spec->set_value[i];
        if (j == s.n_set)
            s.n_set++;
    }
    if (s.dropout < 0)
        s.dropout = drop;
    if (head_dim) { /* newer LlamaConfig files spell out head_dim: it must be C/H */
        long long C = 4096, H = 32, D = 0;
        for (int i = 0; i < s.n_set; i++) {
            if (strcmp(s.set_key[i], "hidden_size") == 0)
                C = atoll(s.set_value[i]);
            if (strcmp(s.set_key[i], "num_attention_heads") == 0)
                H = atoll(s.set_value[i]);
        }
        const char *hd = (const char *)head_dim->data.scalar.value;
        if (head_dim->type == YAML_SCALAR_NODE && strcmp(hd, "null") &&
            (H <= 0 || (D = atoll(hd)) != C / H)) {
            rc = hf_fail(&c, head_dim, "head_dim %s differs from hidden_size/num_attention_heads"
                         " = %lld, which remat's llama assumes", hd, H > 0 ? C / H : 0);
            goto out;
        }
    }
    remat_err e;
    rc = zoo_build(&s, g, &e);
    if (rc) {
        /* point at the key the message names first, else at model_type */
        yaml_node_t *at = type_node;
        const char *first = NULL;
        for (int i = 0; i < c.n; i++) {
            const char *hit = c.node[i] ? strstr(e.msg, c.key[i]) : NULL;
            if (hit && (!first || hit < first)) {
                first = hit;
                at = c.node[i];
            }
        }
        rc = remat_fail(err, rc, "%s:%zu:%zu: %s", path, at->start_mark.line + 1,
                        at->start_mark.column + 1, e.msg);
    }
out:
    yaml_document_delete(&doc);
    return rc;
}
