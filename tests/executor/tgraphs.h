/* tests/executor/tgraphs.h — small hand-built graphs and schedules for the executor
 * tests: GPT-2 and Llama shaped transformers (every transformer op kind, tied
 * embeddings, fused and separate q/k/v, GQA, dropout), a small CNN (conv2d,
 * batchnorm, relu, maxpool, upsample, concat, avgpool, flattened matmul), a
 * checkpointing schedule builder and an independent replay of the memory rules. */
#ifndef REMAT_TESTS_EXECUTOR_TGRAPHS_H
#define REMAT_TESTS_EXECUTOR_TGRAPHS_H

#include "executor/executor.h"

typedef struct tg_cfg {
    int64_t B, T, C, H, KV, L, V, F; /* F: MLP width (gpt2: 4C when 0) */
    double dropout;                  /* gpt2: residual and attention dropout */
} tg_cfg;

/* Build and validate; return 0 or fail the calling test. */
void tg_gpt2(graph *g, const tg_cfg *c);
void tg_llama(graph *g, const tg_cfg *c);
void tg_cnn(graph *g);

/* A schedule that keeps only the activations with keep[t] set after the forward
 * (NULL: keep nothing but the step inputs) and recomputes the rest on demand
 * during the backward; ends with OPT when with_opt. */
void tg_checkpoint_schedule(const graph *g, const bool *keep, bool with_opt, schedule *out);

/* Replays the schedule's memory rules (solver.h) independently of the runner:
 * dynamic bytes live after and at the high point of each instruction. Arrays of
 * s->n entries, caller frees. */
void tg_replay(const graph *g, const schedule *s, int64_t **live_after, int64_t **peak_during);

/* Static bytes the runner must hold: params, grads and states of trainable params
 * (states: 2 for adam/adamw), inputs. */
int64_t tg_static_bytes(const graph *g, int n_states);

#endif
