/* executor/cuda/runner.c — the CUDA step runner: executes a schedule instruction by
 * instruction with solver.h's semantics (the CPU runner's, check for check), every
 * device buffer from the tracked allocator, measuring device memory three ways
 * (tracked bytes, cudaMemGetInfo at each instruction's high point and after it,
 * CUPTI MEMORY2 records) and each instruction's GPU time with CUDA events. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/cuda/device.h"
#include "executor/cuda/ops.h"
#include "executor/step.h"
#include "profiler/cupti.h"

struct cuda_exec {
    const graph *g;           /* borrowed */
    mem_config mc;
    exec_opts opts;
    remat_dtype dt;           /* activations and parameters */
    remat_dtype sdt;          /* optimizer state: fp32, or bf16 when bf16 without mixed */
    char device[256];
    cudaStream_t stream;
    cuda_blas *blas;
    tracked_alloc alloc;
    void **data;              /* per tensor: device buffer while live */
    void **grad;              /* per tensor: ACT gradient while live; PARAM gradient */
    void **state1, **state2;  /* per trainable PARAM: moments / momentum, in sdt */
    float **master;           /* per trainable PARAM under mixed precision (fp32) */
    void *workspace;          /* mc.workspace_bytes, cuBLAS's workspace */
    int64_t opt_steps;
    unsigned char *bwd_done;
    op_dims *dims;
    cudaEvent_t *ev;          /* n_ev events: one before each instruction and one after */
    int n_ev;
    bool cupti;               /* this runner owns the MEMORY2 trace */
    exec_trace trace;
    cuda_mem_measure mem;
    int64_t *mi_after, *mi_during;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool trainable(const graph_tensor *t) { return t->role == ROLE_PARAM && !t->frozen; }

static int n_states(optimizer_kind k)
{
    return k == OPTIM_ADAM || k == OPTIM_ADAMW ? 2 : k == OPTIM_MOMENTUM ? 1 : 0;
}

/* Every buffer is allocated at its size under the plan's allocator model
 * (alloc_round: exact, or the PyTorch caching allocator's 512 B / 2 MiB blocks), so
 * the tracked bytes, the driver's and CUPTI's all see the modelled sizes. */
static void *dalloc(cuda_exec *x, int64_t bytes, bool zero)
{
    return cuda_talloc(&x->alloc, alloc_round(x->mc.allocator, bytes), zero, x->stream);
}

static void dfree(cuda_exec *x, void *p, int64_t bytes)
{
    cuda_tfree(&x->alloc, p, alloc_round(x->mc.allocator, bytes));
}

/* ---------------------------------------------------------------- checks */

static int check_mem_config(const graph *g, const mem_config *mc, remat_err *err)
{
    if (mc->mixed && g->dtype != DT_BF16)
        return remat_fail(err, -ENOTSUP,
                          "the CUDA executor runs mixed precision with bf16 activations and "
                          "parameters only (this graph's are %s)",
                          dtype_name(g->dtype));
    if (mc->zero_stage != 0 || mc->dp > 1)
        return remat_fail(err, -ENOTSUP,
                          "the CUDA executor runs one GPU: no ZeRO/FSDP sharding or data "
                          "parallelism (zero_stage %d, dp %d)",
                          mc->zero_stage, mc->dp);
    if (mc->lora_rank != 0)
        return remat_fail(err, -ENOTSUP,
                          "the CUDA executor takes LoRA from the graph's frozen parameters, not "
                          "from mem_config.lora_rank");
    if (mc->allocator != ALLOC_EXACT && mc->allocator != ALLOC_PYTORCH)
        return remat_fail(err, -EINVAL, "unknown allocator model");
    if ((unsigned)mc->optimizer > OPTIM_ADAMW)
        return remat_fail(err, -EINVAL, "unknown optimizer");
    if (mc->workspace_bytes < 0)
        return remat_fail(err, -EINVAL, "negative workspace");
    return 0;
}

static int check_graph(const graph *g, op_dims *dims, remat_err *err)
{
    if (g->n_ops == 0)
        return remat_fail(err, -EINVAL, "graph has no ops");
    remat_dtype dt;
    int rc = cuda_graph_dtype(g, &dt, err);
    if (rc)
        return rc;
    if (g->ops[g->n_ops - 1].kind != OP_LOSS)
        return remat_fail(err, -EINVAL, "the last op '%s' must be the loss",
                          g->ops[g->n_ops - 1].name);
    for (int i = 0; i < g->n_ops; i++) {
        op_dims tmp;
        rc = cuda_op_dims(g, i, dims ? &dims[i] : &tmp, err);
        if (rc)
            return rc;
    }
    return 0;
}

int cuda_exec_check(const graph *g, const mem_config *mc, remat_err *err)
{
    int rc = check_mem_config(g, mc, err);
    return rc ? rc : check_graph(g, NULL, err);
}

/* ---------------------------------------------------------------- setup */

static void sample_meminfo(cuda_exec *x, int64_t *slot)
{
    int64_t u = cuda_mem_used();
    int64_t v = u >= 0 ? u - x->mem.meminfo_base : -1;
    if (slot)
        *slot = v;
    if (v > x->mem.meminfo_peak)
        x->mem.meminfo_peak = v;
}

static void free_dynamic(cuda_exec *x)
{
    const graph *g = x->g;
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (t->role != ROLE_ACT && t->role != ROLE_EXTRA)
            continue;
        dfree(x, x->data[i], t->bytes);
        x->data[i] = NULL;
        dfree(x, x->grad[i], t->bytes);
        x->grad[i] = NULL;
    }
}

void cuda_exec_destroy(cuda_exec *x)
{
    if (!x)
        return;
    const graph *g = x->g;
    if (x->stream)
        cudaStreamSynchronize(x->stream);
    if (g && x->data) {
        free_dynamic(x);
        for (int i = 0; i < g->n_tensors; i++) {
            int64_t b = g->tensors[i].bytes;
            int64_t sb = g->tensors[i].numel * dtype_size(x->sdt);
            dfree(x, x->data[i], b);
            if (x->grad)
                dfree(x, x->grad[i], b);
            if (x->state1)
                dfree(x, x->state1[i], sb);
            if (x->state2)
                dfree(x, x->state2[i], sb);
            if (x->master)
                dfree(x, x->master[i], g->tensors[i].numel * 4);
        }
    }
    dfree(x, x->workspace, x->mc.workspace_bytes);
    if (x->cupti)
        cupti_trace_end();
    cuda_blas_destroy(x->blas);
    for (int i = 0; i < x->n_ev; i++)
        cudaEventDestroy(x->ev[i]);
    if (x->stream)
        cudaStreamDestroy(x->stream);
    (void)cudaGetLastError();
    free(x->ev);
    free(x->data);
    free(x->grad);
    free(x->state1);
    free(x->state2);
    free(x->master);
    free(x->bwd_done);
    free(x->dims);
    free(x->trace.live_after);
    free(x->trace.peak_during);
    free(x->trace.seconds);
    free(x->mi_after);
    free(x->mi_during);
    free(x);
}

int cuda_exec_create(cuda_exec **out, const graph *g, const mem_config *mc, const exec_opts *o,
                     bool cupti_memory, remat_err *err)
{
    *out = NULL;
    int rc = check_mem_config(g, mc, err);
    if (rc)
        return rc;
    cuda_exec *x = calloc(1, sizeof *x);
    if (!x)
        return remat_fail(err, -ENOMEM, "out of memory");
    x->g = g;
    x->mc = *mc;
    if (o)
        x->opts = *o;
    else
        exec_opts_default(&x->opts);
    x->dims = calloc((size_t)g->n_ops, sizeof *x->dims);
    if (!x->dims) {
        free(x);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    if ((rc = check_graph(g, x->dims, err)) != 0 ||
        (rc = cuda_device_probe(x->device, sizeof x->device, err)) != 0) {
        free(x->dims);
        free(x);
        return rc;
    }
    x->dt = g->dtype;
    x->sdt = x->dt == DT_BF16 && !mc->mixed ? DT_BF16 : DT_F32;
    x->trace.peak_ins = -1;
    size_t nt = (size_t)g->n_tensors;
    x->data = calloc(nt, sizeof *x->data);
    x->grad = calloc(nt, sizeof *x->grad);
    x->state1 = calloc(nt, sizeof *x->state1);
    x->state2 = calloc(nt, sizeof *x->state2);
    x->master = calloc(nt, sizeof *x->master);
    x->bwd_done = calloc((size_t)g->n_ops, 1);
    if (!x->data || !x->grad || !x->state1 || !x->state2 || !x->master || !x->bwd_done) {
        cuda_exec_destroy(x);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    if (cudaStreamCreateWithFlags(&x->stream, cudaStreamNonBlocking) != cudaSuccess) {
        x->stream = NULL;
        cuda_exec_destroy(x);
        return remat_fail(err, -EIO, "cannot create a CUDA stream: %s",
                          cudaGetErrorString(cudaGetLastError()));
    }
    /* cuBLAS handles before the baselines, so their own allocations are not ours; the
     * workspace is attached once it is allocated */
    int lrc = cuda_blas_create(&x->blas, x->stream, NULL, 0);
    if (lrc) {
        cuda_exec_destroy(x);
        return remat_fail(err, -EIO, "cuBLAS setup: %s", cuda_kernels_errstr(lrc));
    }
    cudaDeviceSynchronize();
    x->mem.meminfo_base = cuda_mem_used();
    if (cupti_memory) {
        remat_err ce;
        if (cupti_trace_begin(CUPTI_TRACE_MEMORY, &ce) == 0) {
            x->cupti = true;
            x->mem.cupti_ok = true;
        } else {
            size_t k = strlen(ce.msg);
            if (k >= sizeof x->mem.cupti_note)
                k = sizeof x->mem.cupti_note - 1;
            memcpy(x->mem.cupti_note, ce.msg, k);
            x->mem.cupti_note[k] = 0;
        }
    } else {
        snprintf(x->mem.cupti_note, sizeof x->mem.cupti_note, "not requested");
    }
    int ns = n_states(mc->optimizer);
    uint64_t seed = x->opts.seed;
    for (int i = 0; i < g->n_tensors && !rc; i++) {
        const graph_tensor *t = &g->tensors[i];
        int64_t f32 = t->numel * 4, sb = t->numel * dtype_size(x->sdt);
        if (t->role == ROLE_PARAM) {
            if (!(x->data[i] = dalloc(x, t->bytes, false))) {
                rc = -ENOMEM;
                break;
            }
            if (!t->frozen) {
                if (!(x->grad[i] = dalloc(x, t->bytes, true)) ||
                    (ns >= 1 && !(x->state1[i] = dalloc(x, sb, true))) ||
                    (ns >= 2 && !(x->state2[i] = dalloc(x, sb, true))) ||
                    (mc->mixed && !(x->master[i] = dalloc(x, f32, false)))) {
                    rc = -ENOMEM;
                    break;
                }
            }
            cudaStreamSynchronize(x->stream);
            rc = cuda_upload_param(g, i, seed, x->data[i], x->master[i], x->dt);
        } else if (t->role == ROLE_INPUT) {
            if (!(x->data[i] = dalloc(x, t->bytes, false))) {
                rc = -ENOMEM;
                break;
            }
            rc = cuda_upload_input(g, i, seed, x->data[i], x->dt);
        }
    }
    if (!rc && mc->workspace_bytes > 0 &&
        !(x->workspace = dalloc(x, mc->workspace_bytes, true)))
        rc = -ENOMEM;
    if (!rc && (lrc = cuda_blas_set_workspace(x->blas, x->workspace,
                                              (size_t)(x->workspace ? mc->workspace_bytes : 0)))) {
        cuda_exec_destroy(x);
        return remat_fail(err, -EIO, "cuBLAS workspace: %s", cuda_kernels_errstr(lrc));
    }
    if (rc) {
        cuda_exec_destroy(x);
        return remat_fail(err, rc, "%s setting up the CUDA executor's static memory",
                          rc == -ENOMEM ? "out of device memory" : "copy error");
    }
    cudaStreamSynchronize(x->stream);
    x->trace.static_bytes = x->mem.tracked_static = x->alloc.current;
    x->mem.meminfo_static = cuda_mem_used() - x->mem.meminfo_base;
    if (x->cupti) {
        cupti_mem_state st;
        cupti_memory_update(&st);
        x->mem.cupti_static = st.current;
    }
    *out = x;
    return 0;
}

/* ---------------------------------------------------------------- instructions */

static int oom(remat_err *err, int i, const graph_op *o)
{
    return remat_fail(err, -ENOMEM, "instruction %d (%s): out of device memory", i, o->name);
}

static int kfail(remat_err *err, int i, const graph_op *o, int code)
{
    return remat_fail(err, -EIO, "instruction %d (%s): %s", i, o->name, cuda_kernels_errstr(code));
}

static int run_fwd(cuda_exec *x, int i, const sched_ins *in, remat_err *err)
{
    const graph *g = x->g;
    const graph_op *o = &g->ops[in->arg];
    int rc = step_check_fwd(g, x->data, i, in, err);
    if (rc)
        return rc;
    if (!(x->data[o->out] = dalloc(x, g->tensors[o->out].bytes, false)))
        return oom(err, i, o);
    for (int k = 0; k < o->n_extra; k++)
        if (!(x->data[o->extra[k]] = dalloc(x, g->tensors[o->extra[k]].bytes, false)))
            return oom(err, i, o);
    void *ws = NULL;
    if (o->ws_fwd > 0 && !(ws = dalloc(x, o->ws_fwd, false)))
        return oom(err, i, o);
    sample_meminfo(x, x->mi_during ? &x->mi_during[i] : NULL);
    int lrc = cuda_op_forward(g, in->arg, &x->dims[in->arg], x->data, ws, x->dt, x->blas);
    dfree(x, ws, o->ws_fwd);
    if (lrc)
        return kfail(err, i, o, lrc);
    if (in->arg == g->n_ops - 1 &&
        cudaMemcpy(&x->trace.loss, x->data[o->out], sizeof(float), cudaMemcpyDeviceToHost) !=
            cudaSuccess)
        return kfail(err, i, o, (int)cudaGetLastError());
    return 0;
}

static int run_bwd(cuda_exec *x, int i, const sched_ins *in, remat_err *err)
{
    const graph *g = x->g;
    int op = in->arg;
    const graph_op *o = &g->ops[op];
    bool run;
    int rc = step_check_bwd(g, x->data, x->grad, x->bwd_done, i, in, &run, err);
    if (rc)
        return rc;
    for (int k = 0; k < o->n_in; k++) {
        int t = o->in[k];
        const graph_tensor *tt = &g->tensors[t];
        if (tt->role == ROLE_ACT && tt->needs_grad && !x->grad[t] &&
            !(x->grad[t] = dalloc(x, tt->bytes, true)))
            return oom(err, i, o);
    }
    void *ws = NULL;
    if (o->ws_bwd > 0 && !(ws = dalloc(x, o->ws_bwd, false)))
        return oom(err, i, o);
    sample_meminfo(x, x->mi_during ? &x->mi_during[i] : NULL);
    int lrc = 0;
    if (run)
        lrc = cuda_op_backward(g, op, &x->dims[op], x->data, x->grad, 1.0f, ws, x->dt, x->blas);
    dfree(x, ws, o->ws_bwd);
    if (lrc)
        return kfail(err, i, o, lrc);
    x->bwd_done[op] = 1;
    return 0;
}

static int run_opt(cuda_exec *x)
{
    const graph *g = x->g;
    const exec_opts *p = &x->opts;
    x->opt_steps++;
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (!trainable(t))
            continue;
        int lrc = 0;
        switch (x->mc.optimizer) {
        case OPTIM_SGD:
            lrc = sgd_step_cuda(x->data[i], x->master[i], NULL, x->grad[i], t->numel, p->lr, 0.0,
                                x->dt, x->sdt, x->stream);
            break;
        case OPTIM_MOMENTUM:
            lrc = sgd_step_cuda(x->data[i], x->master[i], x->state1[i], x->grad[i], t->numel,
                                p->lr, p->momentum, x->dt, x->sdt, x->stream);
            break;
        case OPTIM_ADAM:
        case OPTIM_ADAMW:
            lrc = adamw_step_cuda(x->data[i], x->master[i], x->state1[i], x->state2[i],
                                  x->grad[i], t->numel, p->lr, p->beta1, p->beta2, p->eps,
                                  x->mc.optimizer == OPTIM_ADAMW ? p->weight_decay : 0.0,
                                  x->opt_steps, x->dt, x->sdt, x->stream);
            break;
        }
        if (lrc)
            return lrc;
    }
    return 0;
}

static int run_ins(cuda_exec *x, int i, const sched_ins *in, remat_err *err)
{
    int rc = step_check_arg(x->g, i, in, err);
    if (rc)
        return rc;
    switch ((ins_kind)in->kind) {
    case INS_FWD:
        return run_fwd(x, i, in, err);
    case INS_BWD:
        return run_bwd(x, i, in, err);
    case INS_FREE:
    case INS_FREE_GRAD: {
        void **slot;
        rc = step_free_slot(x->g, x->data, x->grad, i, in, &slot, err);
        if (rc)
            return rc;
        dfree(x, *slot, x->g->tensors[in->arg].bytes);
        *slot = NULL;
        sample_meminfo(x, x->mi_during ? &x->mi_during[i] : NULL);
        return 0;
    }
    case INS_OPT: {
        sample_meminfo(x, x->mi_during ? &x->mi_during[i] : NULL);
        int lrc = run_opt(x);
        return lrc ? remat_fail(err, -EIO, "instruction %d (OPT): %s", i, cuda_kernels_errstr(lrc))
                   : 0;
    }
    }
    return 0; /* step_check_arg refused unknown kinds */
}

static int reserve(cuda_exec *x, int n)
{
    size_t c = (size_t)(n > 0 ? n : 1);
    int trc = step_trace_reserve(&x->trace, n);
    int64_t *ma = realloc(x->mi_after, c * sizeof *ma);
    if (ma)
        x->mi_after = ma;
    int64_t *md = realloc(x->mi_during, c * sizeof *md);
    if (md)
        x->mi_during = md;
    if (trc || !ma || !md)
        return -ENOMEM;
    if (x->n_ev < n + 1) {
        cudaEvent_t *ev = realloc(x->ev, (size_t)(n + 1) * sizeof *ev);
        if (!ev)
            return -ENOMEM;
        x->ev = ev;
        while (x->n_ev < n + 1) {
            if (cudaEventCreate(&x->ev[x->n_ev]) != cudaSuccess) {
                (void)cudaGetLastError();
                return -EIO;
            }
            x->n_ev++;
        }
    }
    return 0;
}

int cuda_exec_step(cuda_exec *x, const schedule *s, remat_err *err)
{
    const graph *g = x->g;
    exec_trace *tr = &x->trace;
    if (reserve(x, s->n))
        return remat_fail(err, -ENOMEM, "out of memory for the step's trace");
    step_trace_begin(tr);
    memset(x->bwd_done, 0, (size_t)g->n_ops);
    for (int i = 0; i < g->n_tensors; i++)
        if (trainable(&g->tensors[i]))
            cudaMemsetAsync(x->grad[i], 0, (size_t)g->tensors[i].bytes, x->stream);
    cudaStreamSynchronize(x->stream);
    int64_t base = x->alloc.current;
    x->alloc.peak = base;
    int64_t best = base;
    x->mem.meminfo_peak = x->mem.meminfo_static;
    if (x->cupti)
        cupti_memory_window();
    int rc = 0;
    double t0 = now_s();
    for (int i = 0; i < s->n; i++) {
        const sched_ins *in = &s->ins[i];
        talloc_mark(&x->alloc);
        x->mi_during[i] = -1;
        cudaEventRecord(x->ev[i], x->stream);
        rc = run_ins(x, i, in, err);
        if (rc)
            break;
        cudaEventRecord(x->ev[i + 1], x->stream);
        tr->live_after[i] = x->alloc.current - base;
        tr->peak_during[i] = x->alloc.mark_peak - base;
        sample_meminfo(x, &x->mi_after[i]);
        if (x->mi_during[i] < x->mi_after[i])
            x->mi_during[i] = x->mi_after[i];
        if (x->alloc.mark_peak > best) {
            best = x->alloc.mark_peak;
            tr->peak_ins = i;
        }
        tr->n = i + 1;
    }
    cudaError_t e = cudaStreamSynchronize(x->stream);
    tr->step_s = now_s() - t0;
    if (!rc && e != cudaSuccess)
        rc = remat_fail(err, -EIO, "CUDA error during the step: %s", cudaGetErrorString(e));
    for (int i = 0; i < tr->n; i++) {
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, x->ev[i], x->ev[i + 1]);
        double dt = 1e-3 * (double)ms;
        tr->seconds[i] = dt;
        step_trace_time(tr, &s->ins[i], dt);
    }
    (void)cudaGetLastError();
    if (!rc)
        rc = step_check_end(g, x->data, x->grad, x->bwd_done, err);
    tr->peak_bytes = x->alloc.peak;
    x->mem.tracked_peak = x->alloc.peak;
    if (x->cupti) {
        cupti_mem_state st;
        cupti_memory_update(&st);
        x->mem.cupti_peak = st.peak;
        x->mem.cupti_allocs = st.n_alloc;
        x->mem.cupti_frees = st.n_free;
        x->mem.cupti_dropped = st.dropped;
    }
    if (rc)
        free_dynamic(x);
    return rc;
}

/* ---------------------------------------------------------------- results */

const exec_trace *cuda_exec_trace(const cuda_exec *x) { return &x->trace; }
const cuda_mem_measure *cuda_exec_memory(const cuda_exec *x) { return &x->mem; }
const int64_t *cuda_exec_meminfo_after(const cuda_exec *x) { return x->mi_after; }
const int64_t *cuda_exec_meminfo_during(const cuda_exec *x) { return x->mi_during; }
const char *cuda_exec_device(const cuda_exec *x) { return x->device; }

int64_t cuda_exec_grad_count(const cuda_exec *x)
{
    int64_t n = 0;
    for (int i = 0; i < x->g->n_tensors; i++)
        if (trainable(&x->g->tensors[i]))
            n += x->g->tensors[i].numel;
    return n;
}

int cuda_exec_copy_grads(const cuda_exec *x, float *out, int64_t n, remat_err *err)
{
    if (n != cuda_exec_grad_count(x))
        return remat_fail(err, -EINVAL, "gradient buffer has %lld floats, need %lld",
                          (long long)n, (long long)cuda_exec_grad_count(x));
    int64_t off = 0;
    uint16_t *h = NULL;
    int rc = 0;
    for (int i = 0; i < x->g->n_tensors && !rc; i++) {
        const graph_tensor *t = &x->g->tensors[i];
        if (!trainable(t))
            continue;
        if (x->dt == DT_F32) {
            if (cudaMemcpy(out + off, x->grad[i], (size_t)t->bytes, cudaMemcpyDeviceToHost) !=
                cudaSuccess)
                rc = -EIO;
        } else {
            uint16_t *nh = realloc(h, (size_t)t->bytes);
            if (!nh) {
                rc = -ENOMEM;
                break;
            }
            h = nh;
            if (cudaMemcpy(h, x->grad[i], (size_t)t->bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
                rc = -EIO;
            for (int64_t e = 0; e < t->numel && !rc; e++)
                out[off + e] = cuda_bf16_to_f32(h[e]);
        }
        off += t->numel;
    }
    free(h);
    if (rc)
        (void)cudaGetLastError();
    return rc ? remat_fail(err, rc, "copying gradients from the device failed") : 0;
}
