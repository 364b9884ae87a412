/* models/graph.h — the graph IR every other part of remat reads.
 *
 * A graph is the forward pass of one training step as ops in topological order.
 * Every op has one output tensor, optional extra outputs (layernorm mean/rstd,
 * dropout masks, attention probabilities), the tensors its backward needs
 * ("saved"), its parameters, FLOPs, temporaries and the Hugging Face style module
 * path it belongs to. Tensors live in one table; ops refer to them by index.
 *
 * This header also holds the few helpers every layer shares: status/error
 * messages, dtypes, checked 64-bit arithmetic and the model zoo's entry points.
 */
#ifndef REMAT_MODELS_GRAPH_H
#define REMAT_MODELS_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------- errors */

/* Library functions return 0 (or an index >= 0) on success and a negative errno
 * on failure, with a one-line, human-readable message in *err when err != NULL. */
typedef struct remat_err {
    char msg[512];
} remat_err;

/* Formats msg into err (if non-NULL) and returns code (a negative errno). */
int remat_fail(remat_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- dtypes */

typedef enum remat_dtype {
    DT_F32 = 0,
    DT_BF16,
    DT_F16,
    DT_I32, /* token ids, targets */
    DT_U8,  /* dropout masks: one byte per element */
    DT_COUNT
} remat_dtype;

int64_t dtype_size(remat_dtype dt);
const char *dtype_name(remat_dtype dt);
/* Returns the dtype for "fp32"/"f32"/"float32", "bf16"/"bfloat16", "fp16"/"f16"/
 * "float16", "i32", "u8"; -EINVAL for anything else. */
int dtype_from_name(const char *name);

/* Checked arithmetic on byte and FLOP counts: return false on overflow. */
bool checked_mul64(int64_t a, int64_t b, int64_t *out);
bool checked_add64(int64_t a, int64_t b, int64_t *out);

/* Parses a size with unit: "24GB" "24 GiB" "1.5TB" "4096" (bytes). B, KB/MB/GB/TB are
 * powers of 1000, KiB/MiB/GiB/TiB powers of 1024. Returns 0 or -EINVAL / -ERANGE. */
int remat_parse_size(const char *s, int64_t *bytes, remat_err *err);
/* Formats bytes for people: "1.23 GiB", "512 B". Returns buf. */
char *remat_format_bytes(int64_t bytes, char *buf, size_t n);

/* ---------------------------------------------------------------- tensors */

#define GRAPH_MAX_DIMS 4
#define GRAPH_MAX_INPUTS 4
#define GRAPH_MAX_EXTRAS 3
#define GRAPH_MAX_SAVED 8
#define GRAPH_MAX_PARAMS 4
#define GRAPH_MAX_ATTRS 6

typedef enum tensor_role {
    ROLE_INPUT = 0, /* data fed to the step (tokens, targets, images): always live */
    ROLE_PARAM,     /* trainable (or frozen, see graph_tensor.frozen) parameter */
    ROLE_ACT,       /* the output of an op */
    ROLE_EXTRA,     /* an extra output of an op kept for its backward (stats, masks) */
    ROLE_COUNT
} tensor_role;

typedef struct graph_tensor {
    char *name;                     /* unique, e.g. "transformer.h.0.ln_1.out" */
    int ndim;
    int64_t shape[GRAPH_MAX_DIMS];  /* row-major, outermost first */
    remat_dtype dtype;
    tensor_role role;
    int64_t numel;
    int64_t bytes;                  /* numel * dtype_size, overflow-checked */
    int producer;                   /* op index for ACT/EXTRA, -1 otherwise */
    bool frozen;                    /* PARAM only: no gradient, no optimizer state (LoRA base) */
    bool needs_grad;                /* ACT only: some path to a trainable param/loss needs it */
} graph_tensor;

/* ---------------------------------------------------------------- ops */

/* X-macro: kind, name, short description. The executor and the analytic profiler
 * switch on these; see docs/model-format.md for each kind's inputs and attrs. */
#define OP_KINDS(X)                                                             \
    X(OP_EMBEDDING, "embedding", "token (+ position) embedding lookup")        \
    X(OP_MATMUL, "matmul", "Linear: out = in @ W^T (+ bias)")                  \
    X(OP_LAYERNORM, "layernorm", "LayerNorm over the last dim")               \
    X(OP_RMSNORM, "rmsnorm", "RMSNorm over the last dim")                     \
    X(OP_GELU, "gelu", "tanh-approximate GELU")                               \
    X(OP_SWIGLU, "swiglu", "silu(gate) * up")                                 \
    X(OP_ROPE, "rope", "rotary position embedding")                          \
    X(OP_ATTENTION, "attention", "causal softmax attention (GQA, dropout)")   \
    X(OP_SOFTMAX, "softmax", "softmax over the last dim")                     \
    X(OP_ADD, "add", "elementwise sum (residual)")                            \
    X(OP_DROPOUT, "dropout", "dropout with a seeded 1-byte mask")             \
    X(OP_LOSS, "loss", "softmax cross-entropy, mean over tokens")             \
    X(OP_CONV2D, "conv2d", "2-D convolution, NCHW")                           \
    X(OP_RELU, "relu", "ReLU")                                                \
    X(OP_MAXPOOL, "maxpool", "2-D max pooling")                               \
    X(OP_AVGPOOL, "avgpool", "global average pooling")                        \
    X(OP_BATCHNORM, "batchnorm", "2-D batch normalisation (training)")        \
    X(OP_CONCAT, "concat", "channel concatenation")                           \
    X(OP_UPSAMPLE, "upsample", "nearest-neighbour 2x upsampling")             \
    X(OP_STAGE, "stage", "generic chain stage y = tanh(x), unit cost")

typedef enum op_kind {
#define X(k, n, d) k,
    OP_KINDS(X)
#undef X
    OP_KIND_COUNT
} op_kind;

const char *op_kind_name(op_kind k);
const char *op_kind_desc(op_kind k);
/* Returns the kind for a name, or -EINVAL. */
int op_kind_from_name(const char *name);

/* Integer attributes, by op kind (unused slots are 0):
 *   MATMUL:    [0] has_bias, [1] flatten (treat input as [rows, prod(rest)])
 *   LAYERNORM/RMSNORM: none (eps fixed at 1e-5 / 1e-6; fattr[0] overrides when > 0)
 *   ATTENTION: [0] n_head, [1] n_kv_head, [2] head_dim, [3] causal, [4] fused_qkv
 *              (one input [B,T,(H+2KV)*D] instead of three), fattr[0] dropout p
 *   DROPOUT:   fattr[0] p, [0] seed
 *   CONV2D:    [0] kernel, [1] stride, [2] padding, [3] has_bias
 *   MAXPOOL:   [0] kernel, [1] stride
 *   ROPE:      [0] n_head, [1] head_dim; fattr[0] theta
 *   EMBEDDING: [0] with_positions (second param is the position table)
 *   STAGE:     [0] unit_cost (analytic time 1 s forward, 1 s backward)
 */
typedef struct graph_op {
    char *name;    /* unique op name, e.g. "transformer.h.0.attn.c_attn" */
    char *module;  /* module path (HF names), e.g. "transformer.h.0.attn.c_attn" */
    op_kind kind;
    int n_in;
    int in[GRAPH_MAX_INPUTS];       /* tensor indices: ACT, EXTRA or INPUT */
    int out;                        /* tensor index of the one output (ROLE_ACT) */
    int n_extra;
    int extra[GRAPH_MAX_EXTRAS];    /* ROLE_EXTRA tensors this op produces */
    int n_saved;
    int saved[GRAPH_MAX_SAVED];     /* tensors its backward reads (any role but PARAM) */
    int n_param;
    int param[GRAPH_MAX_PARAMS];    /* ROLE_PARAM tensors */
    int64_t attr[GRAPH_MAX_ATTRS];
    double fattr[2];
    int64_t flops_fwd;              /* 2mkn for a matmul */
    int64_t flops_bwd;              /* 4mkn for a matmul */
    int64_t ws_fwd;                 /* temporary bytes held only during forward */
    int64_t ws_bwd;                 /* temporary bytes held only during backward */
} graph_op;

/* One key=value of the model configuration, kept for the profile's `model.config`. */
typedef struct graph_kv {
    char *key;
    char *value;
} graph_kv;

typedef struct graph {
    char *model;          /* zoo name or "file" */
    int n_config;
    graph_kv *config;     /* the resolved configuration, in a stable order */
    int64_t batch, seq, image;
    remat_dtype dtype;    /* activation dtype */
    remat_dtype param_dtype;
    double dropout;

    int n_tensors, cap_tensors;
    graph_tensor *tensors;
    int n_ops, cap_ops;
    graph_op *ops;

    /* name -> index hash tables (open addressing, -1 = empty); internal */
    int *tensor_index, tensor_index_cap;
    int *op_index, op_index_cap;
} graph;

void graph_init(graph *g, const char *model);
void graph_free(graph *g);

/* Adds a config key/value (copied). Returns 0 or -ENOMEM. */
int graph_set_config(graph *g, const char *key, const char *value);
const char *graph_get_config(const graph *g, const char *key);

/* Adds a tensor; computes numel and bytes with overflow checks. Returns its index,
 * or -EINVAL (bad shape/dtype/duplicate name), -ERANGE (size overflow), -ENOMEM. */
int graph_add_tensor(graph *g, const char *name, tensor_role role, remat_dtype dt,
                     int ndim, const int64_t *shape, remat_err *err);

/* Appends a copy of *op (name and module are copied; the output and extras get
 * their producer set). Returns the op index or a negative errno. */
int graph_add_op(graph *g, const graph_op *op, remat_err *err);

/* Looks up by name through a hash table; -1 when absent. */
int graph_find_tensor(const graph *g, const char *name);
int graph_find_op(const graph *g, const char *name);

/* Checks: topological order (every input produced by an earlier op or an INPUT),
 * no dangling indices, one producer per ACT/EXTRA, saved tensors are inputs, the
 * output or extras of the op, shapes consistent per op kind, sizes without overflow.
 * Also computes needs_grad. Returns 0 or -EINVAL with the first problem in *err. */
int graph_validate(graph *g, remat_err *err);

/* Sum of bytes over a role (PARAM counts only trainable when trainable_only). */
int64_t graph_param_count(const graph *g, bool trainable_only);
int64_t graph_role_bytes(const graph *g, tensor_role role);

/* Bytes of every distinct tensor some op's backward reads (each counted once), i.e.
 * what a step without checkpointing holds after the forward, INPUTs excluded. */
int64_t graph_saved_bytes(const graph *g);
/* Bytes an op's backward reads that are activations (ACT/EXTRA), each counted once. */
int64_t graph_op_saved_bytes(const graph *g, int op);

/* Sets every op's ws_fwd/ws_bwd to the scratch the CPU kernels use (the rules in
 * docs/model-format.md: attention backward 2*T*T*4, conv2d im2col, else 0). */
void graph_set_workspace(graph *g);

/* Deep copy. Returns 0 or -ENOMEM. */
int graph_copy(graph *dst, const graph *src);

/* ---------------------------------------------------------------- model zoo */

/* What the user asked for: a zoo name plus key=value overrides and common sizes.
 * Zero/negative fields mean "the model's default". */
typedef struct model_spec {
    const char *name;     /* zoo name or preset: "gpt2", "gpt2-124m", "llama2-7b", ... */
    int n_set;
    const char *set_key[64];
    const char *set_value[64];
    int64_t batch;        /* default 1 */
    int64_t seq;          /* default: the model's n_positions / max_position_embeddings */
    int64_t image;        /* CNNs: default 224 */
    int dtype;            /* remat_dtype, or -1 for default fp32 */
    double dropout;       /* < 0: default (0) */
} model_spec;

typedef struct zoo_entry {
    const char *name;
    const char *desc;
} zoo_entry;

/* The list of zoo models and presets; *n receives the count. */
const zoo_entry *zoo_list(int *n);

/* Parses "k=v,k=v" into spec->set_* (pointers into a copy kept in *storage, which
 * the caller frees). Returns 0 or -EINVAL with the offending item in *err. */
int model_spec_parse_set(model_spec *spec, const char *text, char **storage, remat_err *err);

/* Builds and validates the graph for spec. Unknown model or key, non-positive
 * sizes, heads not dividing the width: -EINVAL with a one-line message. */
int zoo_build(const model_spec *spec, graph *g, remat_err *err);

/* Builds gpt2 or llama from a Hugging Face config.json (by its model_type), with
 * spec's batch/seq/dtype/dropout. Errors name the file (and line:column). */
int zoo_build_hf_config(const char *path, const model_spec *spec, graph *g, remat_err *err);

/* ---------------------------------------------------------------- model files */

/* The YAML model-file format (docs/model-format.md): a graph a user writes by hand
 * or that remat/contrib exports. libyaml types are forward-declared so this header
 * does not pull in yaml.h. */
struct yaml_emitter_s;
struct yaml_document_s;
struct yaml_node_s;

/* Reads a model file. Errors name path:line:column. Returns 0 or -errno; on error
 * *g is left empty (freed). */
int modelfile_read(const char *path, graph *g, remat_err *err);
/* Builds a graph from an already-parsed YAML mapping node (a profile's `graph:`
 * section, say); path is used in messages only. */
int modelfile_from_node(struct yaml_document_s *doc, struct yaml_node_s *node, const char *path,
                        graph *g, remat_err *err);
/* Emits the graph as one YAML mapping (events only: no stream/document start), so
 * it can be nested inside a profile or plan. Returns 0 or -EIO. */
int modelfile_emit(struct yaml_emitter_s *em, const graph *g, remat_err *err);
/* Writes a complete model file to f. Returns 0 or -errno. */
int modelfile_write(FILE *f, const graph *g, remat_err *err);

#endif
