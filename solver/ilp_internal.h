/* solver/ilp_internal.h — the Checkmate ILP's pieces, private to solver/ (and the
 * tests in tests/ilp/). docs/ilp.md explains the formulation and every modelling
 * choice; the three layers are:
 *   ilp_dag.c    the abstract training DAG (Checkmate's graph): forward nodes in
 *                topological order, then backward nodes in reverse, each with a
 *                compute cost, a temporary and the values (tensors) it produces;
 *                built from a graph at op, module or block granularity, or by hand.
 *   ilp_model.c  the formulation of Jain et al. (MLSys 2020) on such a DAG with
 *                frontier-advancing stages, solved by GLPK (exact MIP, or the LP
 *                relaxation with Checkmate's two-phase rounding); the same memory
 *                accounting in plain C (ilp_eval) for MIP starts and roundings.
 *   ilp.c        solve_ilp: graph -> DAG -> solve -> schedule, checked by the
 *                simulator, with budget tightening when the two disagree.
 * Checkmate gives every node one result; an op here produces several tensors with
 * different lifetimes (an output its forward consumers read, extras only its own
 * backward reads; a backward produces one gradient per input), so R is per node
 * (a computation) and S and FREE are per value (a tensor it produces). With one
 * value per node this is exactly Checkmate's formulation.
 * Stages and nodes are 0-based: stage t computes node t for the first time. */
#ifndef REMAT_SOLVER_ILP_INTERNAL_H
#define REMAT_SOLVER_ILP_INTERNAL_H

#include "solver/solver.h"

/* ---------------------------------------------------------------- training DAG */

typedef struct ilp_dag {
    int n;           /* nodes, in the frontier (topological) order */
    int n_fwd;       /* nodes [0, n_fwd) are forward (may be recomputed); [n_fwd, n) are
                      * backward: each runs exactly once, in its own stage */
    double *cost;    /* n: C_i, compute of node i (model cost units) */
    double *ws;      /* n: W_i, bytes held only while node i runs (model units) */
    double *mem;     /* n: memory of the one value of a node given no values by
                      * ilp_dag_add_value (hand-built Checkmate graphs) */
    int nv;          /* values: the tensors nodes produce */
    int *v_node;     /* nv: producing node */
    int *v_idx;      /* nv: index among its node's values (for names) */
    double *v_mem;   /* nv: M_v, bytes (model units) */
    int *v_last;     /* nv: the last stage at which v can be of use */
    int *out_off;    /* n+1: node i's values are out[out_off[i] .. out_off[i+1]) */
    int *out;
    int *read_off;   /* n+1: values node j reads, read[read_off[j] ..], ascending */
    int *read;
    int *user_off;   /* nv+1: nodes reading v, user[user_off[v] ..], ascending */
    int *user;
    int *last;       /* n: the last stage at which node i may usefully be computed */
    double *out_mem; /* n: sum of M_v over node i's values */
    /* graph mapping (NULL for hand-built DAGs) */
    int n_groups;    /* == n_fwd: forward node g runs ops [op_first[g], op_last[g]] ascending,
                      * backward node n-1-g runs the same ops' BWD descending */
    int *op_first, *op_last;
    char **group_name; /* n_groups: the module key the group was formed by */
    /* while building (freed by ilp_dag_finish) */
    int n_pend, cap_pend;
    int *pend;       /* 3 per entry: kind (0 value, 1 read of a value, 2 read of a node's
                      * values), a, b */
    int cap_v;
} ilp_dag;

/* Allocates a DAG of n nodes, n_fwd of them forward, costs/ws/mem zero.
 * Returns 0, -EINVAL (n < 1, n_fwd outside [1, n]) or -ENOMEM. */
int ilp_dag_init(ilp_dag *d, int n, int n_fwd, remat_err *err);
/* Adds a value of node i with mem bytes; returns its index (>= 0) or -errno. */
int ilp_dag_add_value(ilp_dag *d, int node, double mem, remat_err *err);
/* Node j reads value v (produced by an earlier node). Returns 0 or -errno. */
int ilp_dag_add_read(ilp_dag *d, int v, int j, remat_err *err);
/* Node `to` reads every value of node `from` (from < to): Checkmate's edge.
 * Returns 0 or -errno. */
int ilp_dag_add_edge(ilp_dag *d, int from, int to, remat_err *err);
/* Gives nodes without values one value of mem[i] bytes, builds the read/user
 * tables and last[], checks costs and memories are finite and >= 0 and that no
 * forward node reads a backward value. Returns 0 or -EINVAL/-ENOMEM. */
int ilp_dag_finish(ilp_dag *d, remat_err *err);
void ilp_dag_free(ilp_dag *d);

/* Module key of an op's module path at a granularity (docs/ilp.md): op -> the path;
 * module -> the path's parent (transformer.h.0.attn.c_attn -> transformer.h.0.attn);
 * block -> up to the first component ending in a digit (transformer.h.3,
 * model.layers.3, layer2), else the first component. Writes into buf (n bytes). */
void ilp_group_key(const char *module, granularity gran, char *buf, size_t n);

/* The training DAG of graph g at granularity gran: consecutive ops with the same
 * group key become one forward node and one backward node. Costs are the ops'
 * forward/backward times / cost_unit; tensor_bytes[t] is the bytes tensor t
 * occupies when allocated (allocator rounding applied by the caller), / mem_unit.
 * A forward node's values: the tensors its ops produce that outlive its forward
 * (read by a later group or saved for a backward), read by those; a backward
 * node's values: the gradients it allocates for tensors made by earlier groups,
 * read by the backward nodes that accumulate into them and by the producer's. The
 * rest, and op temporaries, are the node's ws. Returns 0 or -errno. */
int ilp_dag_from_profile(const profile *p, const int64_t *tensor_bytes, granularity gran,
                         double mem_unit, double cost_unit, ilp_dag *d, remat_err *err);

/* ---------------------------------------------------------------- solutions */

/* R[t*n + i] = 1 when node i is computed in stage t; S[t*nv + v] = 1 when value v
 * is held entering stage t. */
typedef struct ilp_sol {
    int n, nv;
    unsigned char *R, *S;
} ilp_sol;

int ilp_sol_alloc(ilp_sol *s, const ilp_dag *d); /* zeroed; 0 or -ENOMEM */
void ilp_sol_free(ilp_sol *s);

/* Checks (R, S) against the formulation's structure and dependency constraints and
 * evaluates it with Checkmate's memory accounting (a value is freed right after its
 * last reader in the stage unless held into the next). *cost = sum C_i R[t,i];
 * *peak = max over computed (t,k) of U[t,k] + W_k. Returns 0, or -EINVAL with the
 * first violated constraint in *err. */
int ilp_eval(const ilp_dag *d, const ilp_sol *s, double *cost, double *peak, remat_err *err);

/* Sets S to the least S that R needs: v is held into stage t exactly when a stage
 * >= t reads it before its node is computed again. */
void ilp_min_s(const ilp_dag *d, ilp_sol *s);

/* Drops recomputations whose values nothing in their stage reads and that are not
 * held, then sets S to ilp_min_s(R); repeated until nothing changes. */
void ilp_prune(const ilp_dag *d, ilp_sol *s);

/* Checkmate's second rounding phase: given S (entries outside the formulation's
 * support are ignored), sets R to the least R with R[t,t] = 1 that satisfies the
 * dependency and keep constraints, then ilp_prune. */
void ilp_r_from_s(const ilp_dag *d, ilp_sol *s);

/* ---------------------------------------------------------------- solving */

typedef struct ilp_params {
    double budget;        /* model units for U (static memory already subtracted); < 0: none */
    double time_limit_s;  /* > 0 */
    double mip_gap;       /* >= 0 */
    bool verbose;         /* GLPK messages and our notes on stderr */
    bool progress;        /* progress lines on stderr once a solve passes a second */
    const char *dump_lp;  /* write the model (CPLEX LP format) here, or NULL */
    const ilp_sol *seed;  /* MIP start candidate (checked with ilp_eval first), or NULL */
    const char *unit_note;/* problem name suffix naming the units, or NULL */
    int mem_limit_mb;     /* GLPK's memory limit; 0: half the machine */
} ilp_params;

typedef struct ilp_result {
    ilp_sol sol;          /* valid when status is optimal or feasible */
    char status[16];      /* "optimal", "feasible", "infeasible", "no-solution" */
    double cost;          /* objective of sol */
    double peak;          /* ilp_eval's peak of sol */
    double bound;         /* best lower bound on the objective known at the end */
    double gap;           /* (cost - bound) / cost, 0 when optimal */
    double solve_s;
    const char *start;    /* the MIP start GLPK took ("seed", "store-all",
                           * "recompute-all"), or NULL */
    bool from_start;      /* sol is that start (nothing better was found) */
    long long cols, rows, nnz;
} ilp_result;

/* Model size without building it (every stage's memory rows counted). */
void ilp_size(const ilp_dag *d, bool budget, long long *cols, long long *rows, long long *nnz);

/* Refuses models too large for GLPK in the memory and time available, with a message
 * suggesting a coarser --granularity. Returns 0 or -E2BIG. */
int ilp_check_size(const ilp_dag *d, bool lp_only, double time_limit_s, const char *gran_name,
                   remat_err *err);

/* Exact solve with glp_intopt. Returns 0 with res->status set (also when
 * infeasible or without a solution in time), or -errno when GLPK could not run
 * (bad arguments, GLPK error, out of memory) with a message. */
int ilp_solve_mip(const ilp_dag *d, const ilp_params *pa, ilp_result *res, remat_err *err);

/* LP relaxation (glp_simplex) and two-phase rounding over a range of thresholds;
 * the cheapest rounding within the budget wins. Status "feasible" (gap against the
 * LP bound) or "infeasible" when no rounding fits. Returns 0 or -errno. */
int ilp_solve_lp_round(const ilp_dag *d, const ilp_params *pa, ilp_result *res,
                       remat_err *err);

void ilp_result_free(ilp_result *r);

#endif
