/* models/hf_config.c — builds gpt2 or llama from a Hugging Face config.json. JSON
 * is read with libyaml (a JSON object parses as a YAML flow mapping); the keys the
 * zoo knows are mapped onto its --set keys, the rest of the file is ignored. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "models/graph.h"

typedef struct hf_map {
    const char *model_type;
    const char *zoo_name;
    const char *const *keys; /* config.json keys that are also zoo keys */
} hf_map;

static const char *const gpt2_keys[] = {"n_layer", "n_head", "n_embd", "vocab_size",
                                        "n_positions", NULL};
static const char *const llama_keys[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                                         "num_attention_heads", "num_key_value_heads",
                                         "vocab_size", "max_position_embeddings", "rope_theta",
                                         "tie_word_embeddings", NULL};
static const hf_map maps[] = {
    {"gpt2", "gpt2", gpt2_keys},
    {"llama", "llama", llama_keys},
};

static const char *scalar_of(yaml_document_t *d, yaml_node_t *map, const char *key,
                             yaml_node_t **node)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0) {
            *node = yaml_document_get_node(d, p->value);
            return *node && (*node)->type == YAML_SCALAR_NODE ? (char *)(*node)->data.scalar.value
                                                              : NULL;
        }
    }
    *node = NULL;
    return NULL;
}

static bool user_sets(const model_spec *spec, const char *key)
{
    for (int i = 0; i < spec->n_set; i++)
        if (strcmp(spec->set_key[i], key) == 0)
            return true;
    return false;
}

int zoo_build_hf_config(const char *path, const model_spec *spec, graph *g, remat_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return remat_fail(err, -errno, "%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&parser, f);
    int rc = 0;
    bool loaded = yaml_parser_load(&parser, &doc);
    if (!loaded)
        rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                        parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "malformed JSON");
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc)
        return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    model_spec s = *spec;
    char values[64][32];
    int nv = 0;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: a config.json must be one JSON object", path,
                        root ? root->start_mark.line + 1 : 1,
                        root ? root->start_mark.column + 1 : 1);
        goto out;
    }
    /* a repeated key would be silently shadowed by its first occurrence */
    for (yaml_node_pair_t *a = root->data.mapping.pairs.start; a < root->data.mapping.pairs.top;
         a++) {
        yaml_node_t *ka = yaml_document_get_node(&doc, a->key);
        if (!ka || ka->type != YAML_SCALAR_NODE)
            continue;
        for (yaml_node_pair_t *b = root->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *kb = yaml_document_get_node(&doc, b->key);
            if (kb && kb->type == YAML_SCALAR_NODE &&
                strcmp((char *)ka->data.scalar.value, (char *)kb->data.scalar.value) == 0) {
                rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: duplicate key '%s'", path,
                                ka->start_mark.line + 1, ka->start_mark.column + 1,
                                (char *)ka->data.scalar.value);
                goto out;
            }
        }
    }
    yaml_node_t *n;
    const char *type = scalar_of(&doc, root, "model_type", &n);
    const hf_map *m = NULL;
    for (size_t i = 0; type && i < sizeof maps / sizeof maps[0]; i++)
        if (strcmp(maps[i].model_type, type) == 0)
            m = &maps[i];
    if (!m) {
        yaml_mark_t mk = n ? n->start_mark : root->start_mark;
        rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: model_type %s%s%s is not supported (gpt2, llama)",
                        path, mk.line + 1, mk.column + 1, type ? "'" : "",
                        type ? type : "missing", type ? "'" : "");
        goto out;
    }
    s.name = m->zoo_name;
    for (int k = 0; m->keys[k]; k++) {
        if (user_sets(spec, m->keys[k]))
            continue; /* --set overrides the file */
        const char *v = scalar_of(&doc, root, m->keys[k], &n);
        if (!n)
            continue;
        if (!v || !*v || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
            rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: %s must be a number", path,
                            n->start_mark.line + 1, n->start_mark.column + 1, m->keys[k]);
            goto out;
        }
        if (strcmp(v, "null") == 0)
            continue;
        if (strlen(v) >= sizeof values[0]) {
            rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: %s: the value is too long for a number",
                            path, n->start_mark.line + 1, n->start_mark.column + 1, m->keys[k]);
            goto out;
        }
        if (s.n_set >= (int)(sizeof s.set_key / sizeof s.set_key[0]) || nv >= 64) {
            rc = remat_fail(err, -EINVAL, "%s: too many configuration keys", path);
            goto out;
        }
        /* JSON booleans become 1/0 for the zoo's integer keys */
        snprintf(values[nv], sizeof values[nv], "%s",
                 strcmp(v, "true") == 0 ? "1" : strcmp(v, "false") == 0 ? "0" : v);
        s.set_key[s.n_set] = m->keys[k];
        s.set_value[s.n_set] = values[nv++];
        s.n_set++;
    }
    rc = zoo_build(&s, g, err);
    if (rc) {
        /* the zoo names the offending key as KEY=VALUE: point at it in the file */
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        const char *first = NULL;
        yaml_node_t *at = NULL;
        for (int k = 0; m->keys[k]; k++) {
            char pat[64];
            snprintf(pat, sizeof pat, "%s=", m->keys[k]);
            const char *hit = strstr(msg, pat);
            yaml_node_t *node = NULL;
            if (hit && (hit == msg || hit[-1] == ' ') && (!first || hit < first) &&
                scalar_of(&doc, root, m->keys[k], &node) && node && !user_sets(spec, m->keys[k])) {
                first = hit;
                at = node;
            }
        }
        if (at)
            remat_fail(err, rc, "%s:%zu:%zu: %s", path, at->start_mark.line + 1,
                       at->start_mark.column + 1, msg);
        else
            remat_fail(err, rc, "%s: %s", path, msg);
    }
out:
    yaml_document_delete(&doc);
    return rc;
}
