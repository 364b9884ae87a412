/* profiler/cupti.cu — `remat profile --measure cuda` and the CUPTI collectors behind
 * it and behind the CUDA executor's memory measurement.
 *
 * Tracing (Activity API, no special rights needed): CONCURRENT_KERNEL records give
 * every kernel's start/end; EXTERNAL_CORRELATION records (emitted with the RUNTIME
 * and DRIVER API records, so those kinds are enabled too) map each launch to the id
 * pushed around an op (cuptiActivityPushExternalCorrelationId, CUSTOM0), so kernel
 * time is attributed to (op, forward|backward, repeat) whatever library launched
 * it (our kernels, cuBLAS, cuBLASLt). MEMORY2 records (one per allocation and per
 * release) are replayed in timestamp order into a running device-memory total for
 * the executor; while profiling, allocations made inside an op's region (by a
 * library, since remat allocates outside) are counted and named in the profile.
 *
 * FLOPs (Range Profiler + Profiler Host API, counters need profiling rights): one
 * user range per op direction, user replay until every pass is submitted; FLOPs =
 * 2*ffma + fadd + fmul for the fp32, fp16 (h*) and fp64 (d*) SASS counters, plus
 * the tensor-pipe ops counters (sm__ops_path_tensor_src_*_dst_*) the chip offers.
 * Without the rights (CUPTI_ERROR_INSUFFICIENT_PRIVILEGES) or on any other counter
 * error, the profile keeps the analytic FLOPs and says so in its device text. */
#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <cuda.h>
#include <cuda_runtime.h>
#include <cupti.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "executor/executor.h"
#include "profiler/profile.h"
}
#include "executor/cuda/device.h"
#include "executor/cuda/ops.h"
#include "profiler/cupti.h"

/* ---------------------------------------------------------------- collector */

namespace {

struct kernel_rec {
    uint32_t corr;
    uint64_t start, end;
};

struct mem_rec {
    uint64_t ts;
    uint64_t address, bytes;
    uint32_t corr;
    bool alloc;
};

struct collector {
    std::mutex mu;
    std::vector<kernel_rec> kernels;
    std::unordered_map<uint32_t, uint64_t> ext; /* correlation id -> external id */
    std::vector<mem_rec> mem;
    /* memory replay state */
    std::unordered_map<uint64_t, uint64_t> live; /* address -> bytes */
    int64_t current = 0, peak = 0, n_alloc = 0, n_free = 0;
    unsigned enabled = 0;
    bool registered = false;
};

collector &col()
{
    static collector *c = new collector; /* never destroyed: CUPTI may call back late */
    return *c;
}

const size_t kBufBytes = 8u << 20;

void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = (uint8_t *)aligned_alloc(8, kBufBytes);
    *size = *buffer ? kBufBytes : 0;
    *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t *buffer, size_t, size_t valid)
{
    collector &c = col();
    CUpti_Activity *rec = NULL;
    std::lock_guard<std::mutex> lock(c.mu);
    while (buffer && cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        switch (rec->kind) {
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
        case CUPTI_ACTIVITY_KIND_KERNEL: {
            const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
            c.kernels.push_back({k->correlationId, k->start, k->end});
            break;
        }
        case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
            const CUpti_ActivityExternalCorrelation *e =
                (const CUpti_ActivityExternalCorrelation *)rec;
            if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0)
                c.ext[e->correlationId] = e->externalId;
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMORY2: {
            const CUpti_ActivityMemory4 *m = (const CUpti_ActivityMemory4 *)rec;
            if (m->memoryKind != CUPTI_ACTIVITY_MEMORY_KIND_DEVICE)
                break;
            if (m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION)
                c.mem.push_back({m->timestamp, m->address, m->bytes, m->correlationId, true});
            else if (m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE)
                c.mem.push_back({m->timestamp, m->address, m->bytes, m->correlationId, false});
            break;
        }
        default:
            break;
        }
    }
    free(buffer);
}

const char *cupti_str(CUptiResult r)
{
    const char *s = NULL;
    if (cuptiGetResultString(r, &s) != CUPTI_SUCCESS || !s)
        s = "unknown CUPTI error";
    return s;
}

void flush_all()
{
    cudaDeviceSynchronize();
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
}

} // namespace

const int kNumKinds = 5;
const CUpti_ActivityKind kKinds[kNumKinds] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
    CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER, CUPTI_ACTIVITY_KIND_MEMORY2};
const unsigned kNeed[kNumKinds] = {CUPTI_TRACE_KERNELS, CUPTI_TRACE_KERNELS,
                                   CUPTI_TRACE_KERNELS, CUPTI_TRACE_KERNELS,
                                   CUPTI_TRACE_MEMORY};

extern "C" int cupti_trace_begin(unsigned what, remat_err *err)
{
    collector &c = col();
    CUptiResult r;
    if (!c.registered) {
        r = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
        if (r != CUPTI_SUCCESS)
            return remat_fail(err, -ENOTSUP, "CUPTI activity tracing unavailable: %s",
                              cupti_str(r));
        c.registered = true;
    }
    cupti_trace_end();
    {
        std::lock_guard<std::mutex> lock(c.mu);
        c.kernels.clear();
        c.ext.clear();
        c.mem.clear();
        c.live.clear();
        c.current = c.peak = c.n_alloc = c.n_free = 0;
    }
    /* External correlation records accompany API records only, so kernel attribution
     * also needs the runtime and driver API kinds (their records are dropped). */
    for (int i = 0; i < kNumKinds; i++) {
        if (!(what & kNeed[i]))
            continue;
        r = cuptiActivityEnable(kKinds[i]);
        if (r != CUPTI_SUCCESS) {
            cupti_trace_end();
            return remat_fail(err, -ENOTSUP, "CUPTI activity tracing unavailable: %s",
                              cupti_str(r));
        }
        c.enabled |= 1u << i;
    }
    return 0;
}

extern "C" void cupti_trace_end(void)
{
    collector &c = col();
    if (!c.enabled)
        return;
    flush_all();
    for (int i = 0; i < kNumKinds; i++)
        if (c.enabled & (1u << i))
            cuptiActivityDisable(kKinds[i]);
    c.enabled = 0;
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
}

extern "C" void cupti_corr_push(uint64_t id)
{
    cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, id);
}

extern "C" void cupti_corr_pop(void)
{
    uint64_t last = 0;
    cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last);
}

extern "C" void cupti_kernel_times(int64_t n, double *seconds, int64_t *counts,
                                   int64_t *alloc_bytes, int64_t *allocs)
{
    flush_all();
    collector &c = col();
    std::lock_guard<std::mutex> lock(c.mu);
    for (const kernel_rec &k : c.kernels) {
        auto it = c.ext.find(k.corr);
        if (it == c.ext.end() || it->second < 1 || (int64_t)it->second > n)
            continue;
        seconds[it->second] += 1e-9 * (double)(k.end - k.start);
        counts[it->second]++;
    }
    if (alloc_bytes && allocs) {
        for (const mem_rec &m : c.mem) {
            auto it = c.ext.find(m.corr);
            if (!m.alloc || it == c.ext.end() || it->second < 1 || (int64_t)it->second > n)
                continue;
            alloc_bytes[it->second] += (int64_t)m.bytes;
            allocs[it->second]++;
        }
        c.mem.clear();
    }
    c.kernels.clear();
    c.ext.clear();
}

static void memory_process(collector &c)
{
    std::stable_sort(c.mem.begin(), c.mem.end(),
                     [](const mem_rec &a, const mem_rec &b) { return a.ts < b.ts; });
    for (const mem_rec &m : c.mem) {
        if (m.alloc) {
            c.live[m.address] = m.bytes;
            c.current += (int64_t)m.bytes;
            c.n_alloc++;
            if (c.current > c.peak)
                c.peak = c.current;
        } else {
            auto it = c.live.find(m.address);
            uint64_t b = it != c.live.end() ? it->second : m.bytes;
            if (it != c.live.end())
                c.live.erase(it);
            c.current -= (int64_t)b;
            c.n_free++;
        }
    }
    c.mem.clear();
}

extern "C" void cupti_memory_update(cupti_mem_state *st)
{
    flush_all();
    collector &c = col();
    size_t dropped = 0;
    cuptiActivityGetNumDroppedRecords(NULL, 0, &dropped);
    std::lock_guard<std::mutex> lock(c.mu);
    memory_process(c);
    st->current = c.current;
    st->peak = c.peak;
    st->n_alloc = c.n_alloc;
    st->n_free = c.n_free;
    st->dropped = (int64_t)dropped;
}

extern "C" void cupti_memory_window(void)
{
    flush_all();
    collector &c = col();
    std::lock_guard<std::mutex> lock(c.mu);
    memory_process(c);
    c.peak = c.current;
}

/* ---------------------------------------------------------------- FLOP counters */

namespace {

/* A CUPTI parameter struct: zeroed, with its structSize set. */
template <typename P> P cupti_params(size_t size)
{
    P p;
    memset(&p, 0, sizeof p);
    p.structSize = size;
    return p;
}
#define PARAMS(T) cupti_params<T>(T##_STRUCT_SIZE)

const char *const kSassFlops[] = {
    /* name, weight: FMAs count twice */
    "sm__sass_thread_inst_executed_op_ffma_pred_on.sum", "sm__sass_thread_inst_executed_op_fadd_pred_on.sum",
    "sm__sass_thread_inst_executed_op_fmul_pred_on.sum", "sm__sass_thread_inst_executed_op_hfma_pred_on.sum",
    "sm__sass_thread_inst_executed_op_hadd_pred_on.sum", "sm__sass_thread_inst_executed_op_hmul_pred_on.sum",
    "sm__sass_thread_inst_executed_op_dfma_pred_on.sum", "sm__sass_thread_inst_executed_op_dadd_pred_on.sum",
    "sm__sass_thread_inst_executed_op_dmul_pred_on.sum"};
const double kSassWeight[] = {2, 1, 1, 2, 1, 1, 2, 1, 1};

struct flops_session {
    std::string chip;
    std::vector<std::string> names; /* metric names with rollup */
    std::vector<const char *> cnames;
    std::vector<double> weights;
    std::vector<uint8_t> config, counter_data;
    CUpti_Profiler_Host_Object *host = NULL;
    CUpti_RangeProfiler_Object *rp = NULL;
    bool profiler_init = false;
};

/* "why" for a failed CUPTI call, with the permission case spelled out. */
int flops_fail(char *why, size_t n, const char *call, CUptiResult r)
{
    if (r == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)
        snprintf(why, n,
                 "analytic (CUPTI profiling counters not permitted: "
                 "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES in %s; run as root or load the driver "
                 "with NVreg_RestrictProfilingToAdminUsers=0)",
                 call);
    else
        snprintf(why, n, "analytic (CUPTI range profiler unavailable: %s: %s)", call,
                 cupti_str(r));
    return r == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES ? -EPERM : -ENOTSUP;
}

#define FL_TRY(call, params)                                                                \
    do {                                                                                    \
        CUptiResult r_ = call(&params);                                                     \
        if (r_ != CUPTI_SUCCESS)                                                            \
            return flops_fail(why, why_n, #call, r_);                                       \
    } while (0)

void flops_end(flops_session *f)
{
    if (f->rp) {
        CUpti_RangeProfiler_Disable_Params d = PARAMS(CUpti_RangeProfiler_Disable_Params);
        d.pRangeProfilerObject = f->rp;
        cuptiRangeProfilerDisable(&d);
        f->rp = NULL;
    }
    if (f->host) {
        CUpti_Profiler_Host_Deinitialize_Params d = PARAMS(CUpti_Profiler_Host_Deinitialize_Params);
        d.pHostObject = f->host;
        cuptiProfilerHostDeinitialize(&d);
        f->host = NULL;
    }
    if (f->profiler_init) {
        CUpti_Profiler_DeInitialize_Params d = PARAMS(CUpti_Profiler_DeInitialize_Params);
        cuptiProfilerDeInitialize(&d);
        f->profiler_init = false;
    }
}

/* Sets up a range profiler for up to max_ranges user ranges with the FLOP metrics
 * this chip offers. Returns 0 or -EPERM / -ENOTSUP with the reason in why. */
int flops_begin(flops_session *f, size_t max_ranges, char *why, size_t why_n)
{
    CUpti_Profiler_Initialize_Params ip = PARAMS(CUpti_Profiler_Initialize_Params);
    FL_TRY(cuptiProfilerInitialize, ip);
    f->profiler_init = true;
    int dev = 0;
    cudaGetDevice(&dev);
    CUpti_Device_GetChipName_Params cp = PARAMS(CUpti_Device_GetChipName_Params);
    cp.deviceIndex = (size_t)dev;
    FL_TRY(cuptiDeviceGetChipName, cp);
    f->chip = cp.pChipName;

    CUpti_Profiler_Host_Initialize_Params hp = PARAMS(CUpti_Profiler_Host_Initialize_Params);
    hp.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    hp.pChipName = f->chip.c_str();
    hp.pCounterAvailabilityImage = NULL;
    FL_TRY(cuptiProfilerHostInitialize, hp);
    f->host = hp.pHostObject;

    /* the FLOP counters this chip has */
    CUpti_Profiler_Host_GetBaseMetrics_Params bm = PARAMS(CUpti_Profiler_Host_GetBaseMetrics_Params);
    bm.pHostObject = f->host;
    bm.metricType = CUPTI_METRIC_TYPE_COUNTER;
    FL_TRY(cuptiProfilerHostGetBaseMetrics, bm);
    std::vector<std::string> base(bm.ppMetricNames, bm.ppMetricNames + bm.numMetrics);
    for (size_t i = 0; i < sizeof kSassFlops / sizeof kSassFlops[0]; i++) {
        std::string full = kSassFlops[i], stem = full.substr(0, full.size() - 4);
        if (std::find(base.begin(), base.end(), stem) != base.end()) {
            f->names.push_back(full);
            f->weights.push_back(kSassWeight[i]);
        }
    }
    for (const std::string &b : base)
        if (b.rfind("sm__ops_path_tensor_src_", 0) == 0 && b.find("_dst_") != std::string::npos) {
            f->names.push_back(b + ".sum");
            f->weights.push_back(1.0);
        }
    if (f->names.empty()) {
        snprintf(why, why_n, "analytic (chip %s offers none of the FLOP counters)",
                 f->chip.c_str());
        return -ENOTSUP;
    }
    for (const std::string &s : f->names)
        f->cnames.push_back(s.c_str());

    CUpti_Profiler_Host_ConfigAddMetrics_Params am = PARAMS(CUpti_Profiler_Host_ConfigAddMetrics_Params);
    am.pHostObject = f->host;
    am.ppMetricNames = f->cnames.data();
    am.numMetrics = f->cnames.size();
    FL_TRY(cuptiProfilerHostConfigAddMetrics, am);
    CUpti_Profiler_Host_GetConfigImageSize_Params cs = PARAMS(CUpti_Profiler_Host_GetConfigImageSize_Params);
    cs.pHostObject = f->host;
    FL_TRY(cuptiProfilerHostGetConfigImageSize, cs);
    f->config.resize(cs.configImageSize);
    CUpti_Profiler_Host_GetConfigImage_Params ci = PARAMS(CUpti_Profiler_Host_GetConfigImage_Params);
    ci.pHostObject = f->host;
    ci.configImageSize = f->config.size();
    ci.pConfigImage = f->config.data();
    FL_TRY(cuptiProfilerHostGetConfigImage, ci);

    /* the target side: enable on the current context */
    CUcontext ctx = NULL;
    void *fn = NULL;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &q) !=
            cudaSuccess ||
        !fn || ((CUresult(*)(CUcontext *))fn)(&ctx) != CUDA_SUCCESS || !ctx) {
        (void)cudaGetLastError();
        snprintf(why, why_n, "analytic (no CUDA context for the range profiler)");
        return -ENOTSUP;
    }
    CUpti_RangeProfiler_Enable_Params ep = PARAMS(CUpti_RangeProfiler_Enable_Params);
    ep.ctx = ctx;
    FL_TRY(cuptiRangeProfilerEnable, ep);
    f->rp = ep.pRangeProfilerObject;

    CUpti_RangeProfiler_GetCounterDataSize_Params ds = PARAMS(CUpti_RangeProfiler_GetCounterDataSize_Params);
    ds.pRangeProfilerObject = f->rp;
    ds.pMetricNames = f->cnames.data();
    ds.numMetrics = f->cnames.size();
    ds.maxNumOfRanges = max_ranges;
    ds.maxNumRangeTreeNodes = (uint32_t)max_ranges;
    FL_TRY(cuptiRangeProfilerGetCounterDataSize, ds);
    f->counter_data.assign(ds.counterDataSize, 0);
    CUpti_RangeProfiler_CounterDataImage_Initialize_Params di = PARAMS(CUpti_RangeProfiler_CounterDataImage_Initialize_Params);
    di.pRangeProfilerObject = f->rp;
    di.counterDataSize = f->counter_data.size();
    di.pCounterData = f->counter_data.data();
    FL_TRY(cuptiRangeProfilerCounterDataImageInitialize, di);

    CUpti_RangeProfiler_SetConfig_Params sc = PARAMS(CUpti_RangeProfiler_SetConfig_Params);
    sc.pRangeProfilerObject = f->rp;
    sc.configSize = f->config.size();
    sc.pConfig = f->config.data();
    sc.counterDataImageSize = f->counter_data.size();
    sc.pCounterDataImage = f->counter_data.data();
    sc.range = CUPTI_UserRange;
    sc.replayMode = CUPTI_UserReplay;
    sc.maxRangesPerPass = max_ranges;
    sc.numNestingLevels = 1;
    sc.minNestingLevel = 1;
    sc.passIndex = 0;
    sc.targetNestingLevel = 1;
    FL_TRY(cuptiRangeProfilerSetConfig, sc);
    return 0;
}

} // namespace

/* ---------------------------------------------------------------- per-op benchmark */

namespace {

/* One op's buffers on the device, from one tracked allocator. */
struct op_bench {
    const graph *g;
    remat_dtype dt;
    cudaStream_t s;
    tracked_alloc a = {};
    std::vector<void *> data, grad;
    void *ws = NULL;
    int64_t ws_bytes = 0;

    void release()
    {
        for (int t = 0; t < g->n_tensors; t++) {
            cuda_tfree(&a, data[t], g->tensors[t].bytes);
            cuda_tfree(&a, grad[t], g->tensors[t].bytes);
            data[t] = grad[t] = NULL;
        }
        cuda_tfree(&a, ws, ws_bytes);
        ws = NULL;
    }

    bool ensure(int t, bool zero)
    {
        if (!data[t])
            data[t] = cuda_talloc(&a, g->tensors[t].bytes, zero, s);
        return data[t] != NULL;
    }

    /* Synthetic data for a tensor the op reads: ids in range, else N(0,1). */
    int fill(int t, uint64_t seed)
    {
        const graph_tensor *x = &g->tensors[t];
        if (x->dtype == DT_I32)
            return cuda_fill_ids((int32_t *)data[t], x->numel, seed, cpu_input_bound(g, t), s);
        if (x->dtype == DT_U8)
            return cudaMemsetAsync(data[t], 1, (size_t)x->bytes, s);
        return cuda_fill_normal(data[t], x->numel, seed, 1.0f, x->dtype, s);
    }

    /* Op i's inputs, parameters, output, extras, gradients and scratch. */
    int setup(int i)
    {
        const graph_op *o = &g->ops[i];
        int rc = 0;
        for (int k = 0; k < o->n_in && !rc; k++)
            rc = ensure(o->in[k], false) ? fill(o->in[k], 7 + (uint64_t)o->in[k]) : -ENOMEM;
        for (int k = 0; k < o->n_param && !rc; k++) {
            int t = o->param[k];
            if (!ensure(t, false))
                return -ENOMEM;
            rc = cuda_fill_normal(data[t], g->tensors[t].numel, 1234 + (uint64_t)t, 0.02f, dt, s);
            if (!rc && !g->tensors[t].frozen &&
                !(grad[t] = cuda_talloc(&a, g->tensors[t].bytes, true, s)))
                rc = -ENOMEM;
        }
        if (rc)
            return rc < 0 ? rc : -EIO;
        if (!ensure(o->out, false))
            return -ENOMEM;
        for (int k = 0; k < o->n_extra; k++)
            if (!ensure(o->extra[k], false))
                return -ENOMEM;
        if (i != g->n_ops - 1) {
            const graph_tensor *out = &g->tensors[o->out];
            if (!(grad[o->out] = cuda_talloc(&a, out->bytes, false, s)))
                return -ENOMEM;
            if (cuda_fill_normal(grad[o->out], out->numel, 11, 0.01f, dt, s))
                return -EIO;
        }
        for (int k = 0; k < o->n_in; k++) {
            const graph_tensor *t = &g->tensors[o->in[k]];
            if (t->role == ROLE_ACT && t->needs_grad && !grad[o->in[k]] &&
                !(grad[o->in[k]] = cuda_talloc(&a, t->bytes, true, s)))
                return -ENOMEM;
        }
        ws_bytes = o->ws_fwd > o->ws_bwd ? o->ws_fwd : o->ws_bwd;
        if (ws_bytes > 0 && !(ws = cuda_talloc(&a, ws_bytes, false, s)))
            return -ENOMEM;
        return 0;
    }
};

double median(std::vector<double> v)
{
    if (v.empty())
        return 0.0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Whether word occurs in text delimited by non-alphanumerics (or the ends). */
bool has_word(const std::string &text, const std::string &word)
{
    for (size_t pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) {
        size_t end = pos + word.size();
        bool left = pos == 0 || !isalnum((unsigned char)text[pos - 1]);
        bool right = end == text.size() || !isalnum((unsigned char)text[end]);
        if (left && right)
            return true;
    }
    return false;
}

/* The device table's name for this GPU (every '-' token of the table name is a word
 * of the lower-cased GPU name: "a100-80gb" for "NVIDIA A100-SXM4-80GB", not "l4"
 * for an L40S; the longest such name wins), else the GPU's name. */
std::string table_name(const char *gpu)
{
    std::string low(gpu);
    for (char &ch : low)
        ch = (char)tolower((unsigned char)ch);
    int n = 0;
    const device_spec *d = device_list(&n);
    std::string best;
    for (int i = 0; i < n; i++) {
        std::string nm = d[i].name;
        if (nm == "cpu")
            continue;
        bool all = true;
        size_t pos = 0;
        while (all && pos <= nm.size()) {
            size_t e = nm.find('-', pos);
            if (e == std::string::npos)
                e = nm.size();
            all = has_word(low, nm.substr(pos, e - pos));
            pos = e + 1;
        }
        if (all && nm.size() > best.size())
            best = nm;
    }
    return best.empty() ? std::string(gpu) : best;
}

/* FLOPs per (op, direction) from the range profiler; fills fl[2*i + dir]. */
int measure_flops(const graph *g, remat_dtype dt, cuda_blas *blas, cudaStream_t s,
                  std::vector<op_dims> &dims, std::vector<double> &fl, char *why, size_t why_n,
                  remat_err *err)
{
    flops_session f;
    size_t nranges = (size_t)g->n_ops * 2;
    int rc = flops_begin(&f, nranges, why, why_n);
    if (rc) {
        flops_end(&f);
        return rc;
    }
    op_bench b;
    b.g = g;
    b.dt = dt;
    b.s = s;
    b.data.assign((size_t)g->n_tensors, NULL);
    b.grad.assign((size_t)g->n_tensors, NULL);
    bool all_done = false;
    for (int pass = 0; !all_done && pass < 64 && !rc; pass++) {
        CUpti_RangeProfiler_Start_Params st = PARAMS(CUpti_RangeProfiler_Start_Params);
        st.pRangeProfilerObject = f.rp;
        CUptiResult r = cuptiRangeProfilerStart(&st);
        if (r != CUPTI_SUCCESS) {
            rc = flops_fail(why, why_n, "cuptiRangeProfilerStart", r);
            break;
        }
        for (int i = 0; i < g->n_ops && !rc; i++) {
            rc = b.setup(i);
            if (rc) {
                rc = remat_fail(err, -ENOMEM, "out of device memory measuring op '%s'",
                                g->ops[i].name);
                break;
            }
            for (int dir = 0; dir < 2 && !rc; dir++) {
                char name[32];
                snprintf(name, sizeof name, "%d/%d", i, dir);
                CUpti_RangeProfiler_PushRange_Params pp = PARAMS(CUpti_RangeProfiler_PushRange_Params);
                pp.pRangeProfilerObject = f.rp;
                pp.pRangeName = name;
                cuptiRangeProfilerPushRange(&pp);
                int lrc = dir == 0 ? cuda_op_forward(g, i, &dims[(size_t)i], b.data.data(), b.ws,
                                                     dt, blas)
                                   : cuda_op_backward(g, i, &dims[(size_t)i], b.data.data(),
                                                      b.grad.data(), 1.0f, b.ws, dt, blas);
                CUpti_RangeProfiler_PopRange_Params pop = PARAMS(CUpti_RangeProfiler_PopRange_Params);
                pop.pRangeProfilerObject = f.rp;
                cuptiRangeProfilerPopRange(&pop);
                if (lrc)
                    rc = remat_fail(err, -EIO, "op '%s': %s", g->ops[i].name,
                                    cuda_kernels_errstr(lrc));
            }
            cudaStreamSynchronize(s);
            b.release();
        }
        CUpti_RangeProfiler_Stop_Params sp = PARAMS(CUpti_RangeProfiler_Stop_Params);
        sp.pRangeProfilerObject = f.rp;
        r = cuptiRangeProfilerStop(&sp);
        if (!rc && r != CUPTI_SUCCESS)
            rc = flops_fail(why, why_n, "cuptiRangeProfilerStop", r);
        all_done = sp.isAllPassSubmitted != 0;
    }
    b.release();
    if (!rc && !all_done) {
        snprintf(why, why_n, "analytic (the range profiler wanted more than 64 passes)");
        rc = -ENOTSUP;
    }
    if (!rc) {
        CUpti_RangeProfiler_DecodeData_Params dd = PARAMS(CUpti_RangeProfiler_DecodeData_Params);
        dd.pRangeProfilerObject = f.rp;
        CUptiResult r = cuptiRangeProfilerDecodeData(&dd);
        if (r != CUPTI_SUCCESS)
            rc = flops_fail(why, why_n, "cuptiRangeProfilerDecodeData", r);
    }
    size_t nr = 0;
    if (!rc) {
        CUpti_RangeProfiler_GetCounterDataInfo_Params ci = PARAMS(CUpti_RangeProfiler_GetCounterDataInfo_Params);
        ci.pCounterDataImage = f.counter_data.data();
        ci.counterDataImageSize = f.counter_data.size();
        CUptiResult r = cuptiRangeProfilerGetCounterDataInfo(&ci);
        if (r != CUPTI_SUCCESS)
            rc = flops_fail(why, why_n, "cuptiRangeProfilerGetCounterDataInfo", r);
        nr = ci.numTotalRanges;
    }
    std::vector<double> vals(f.cnames.size());
    std::vector<bool> seen(nranges, false);
    for (size_t ri = 0; ri < nr && !rc; ri++) {
        CUpti_RangeProfiler_CounterData_GetRangeInfo_Params gi = PARAMS(CUpti_RangeProfiler_CounterData_GetRangeInfo_Params);
        gi.pCounterDataImage = f.counter_data.data();
        gi.counterDataImageSize = f.counter_data.size();
        gi.rangeIndex = ri;
        gi.rangeDelimiter = "/";
        int op = -1, dir = -1;
        if (cuptiRangeProfilerCounterDataGetRangeInfo(&gi) != CUPTI_SUCCESS || !gi.rangeName ||
            sscanf(gi.rangeName, "%d/%d", &op, &dir) != 2 || op < 0 || op >= g->n_ops || dir < 0 ||
            dir > 1)
            continue;
        CUpti_Profiler_Host_EvaluateToGpuValues_Params ev = PARAMS(CUpti_Profiler_Host_EvaluateToGpuValues_Params);
        ev.pHostObject = f.host;
        ev.pCounterDataImage = f.counter_data.data();
        ev.counterDataImageSize = f.counter_data.size();
        ev.rangeIndex = ri;
        ev.ppMetricNames = f.cnames.data();
        ev.numMetrics = f.cnames.size();
        ev.pMetricValues = vals.data();
        CUptiResult r = cuptiProfilerHostEvaluateToGpuValues(&ev);
        if (r != CUPTI_SUCCESS) {
            rc = flops_fail(why, why_n, "cuptiProfilerHostEvaluateToGpuValues", r);
            break;
        }
        double total = 0.0;
        for (size_t m = 0; m < vals.size(); m++)
            total += f.weights[m] * vals[m];
        fl[(size_t)op * 2 + (size_t)dir] = total;
        seen[(size_t)op * 2 + (size_t)dir] = true;
    }
    if (!rc && std::count(seen.begin(), seen.end(), true) != (long)nranges) {
        snprintf(why, why_n, "analytic (the range profiler returned %zu of %zu ranges)", nr,
                 nranges);
        rc = -ENOTSUP;
    }
    if (!rc) {
        bool tensor = std::any_of(f.names.begin(), f.names.end(), [](const std::string &n) {
            return n.find("tensor") != std::string::npos;
        });
        snprintf(why, why_n, "CUPTI range profiler (%zu counters: SASS fp32/fp16/fp64 %s)",
                 f.cnames.size(),
                 tensor ? "and tensor-pipe ops" : "only; this chip has no tensor-pipe ops counter");
    }
    flops_end(&f);
    return rc;
}

} // namespace

extern "C" void cupti_device_table_name(const char *gpu, char *out, size_t n)
{
    snprintf(out, n, "%s", table_name(gpu).c_str());
}

extern "C" int profile_measure_cuda(profile *p, int repeats, remat_err *err)
{
    const graph *g = &p->g;
    char desc[256];
    int rc = cuda_device_probe(desc, sizeof desc, err);
    if (rc)
        return rc;
    if (repeats < 1)
        return remat_fail(err, -EINVAL, "repeats must be at least 1");
    if (!p->ops)
        return remat_fail(err, -EINVAL, "profile has no per-op table");
    remat_dtype dt;
    if ((rc = cuda_graph_dtype(g, &dt, err)))
        return rc;
    std::vector<op_dims> dims((size_t)g->n_ops);
    for (int i = 0; i < g->n_ops; i++)
        if ((rc = cuda_op_dims(g, i, &dims[(size_t)i], err)))
            return rc;

    cudaStream_t s = NULL;
    cuda_blas *blas = NULL;
    tracked_alloc wsa = {};
    const int64_t blas_ws = 32 << 20; /* cuBLAS workspace while profiling */
    void *wsp = NULL;
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess ||
        !(wsp = cuda_talloc(&wsa, blas_ws, false, s))) {
        (void)cudaGetLastError();
        if (s)
            cudaStreamDestroy(s);
        return remat_fail(err, -ENOMEM, "cannot set up a CUDA stream and cuBLAS workspace");
    }
    int lrc = cuda_blas_create(&blas, s, wsp, (size_t)blas_ws);
    if (lrc) {
        cuda_tfree(&wsa, wsp, blas_ws);
        cudaStreamDestroy(s);
        return remat_fail(err, -EIO, "cuBLAS: %s", cuda_kernels_errstr(lrc));
    }
    rc = cupti_trace_begin(CUPTI_TRACE_KERNELS | CUPTI_TRACE_MEMORY, err);

    op_bench b;
    b.g = g;
    b.dt = dt;
    b.s = s;
    b.data.assign((size_t)g->n_tensors, NULL);
    b.grad.assign((size_t)g->n_tensors, NULL);
    std::vector<double> tf((size_t)g->n_ops), tb((size_t)g->n_ops);
    std::vector<double> secs((size_t)(2 * repeats + 1));
    std::vector<int64_t> counts((size_t)(2 * repeats + 1));
    std::vector<int64_t> abytes((size_t)(2 * repeats + 1)), allocs((size_t)(2 * repeats + 1));
    int64_t lib_allocs = 0, lib_bytes = 0, worst_bytes = 0;
    std::string worst;
    for (int i = 0; i < g->n_ops && !rc; i++) {
        if (b.setup(i)) {
            rc = remat_fail(err, -ENOMEM, "out of device memory measuring op '%s'",
                            g->ops[i].name);
            break;
        }
        std::fill(secs.begin(), secs.end(), 0.0);
        std::fill(counts.begin(), counts.end(), 0);
        std::fill(abytes.begin(), abytes.end(), 0);
        std::fill(allocs.begin(), allocs.end(), 0);
        for (int dir = 0; dir < 2 && !rc; dir++)
            for (int r = -1; r < repeats && !rc; r++) {
                if (r >= 0)
                    cupti_corr_push((uint64_t)(1 + dir * repeats + r));
                lrc = dir == 0 ? cuda_op_forward(g, i, &dims[(size_t)i], b.data.data(), b.ws, dt,
                                                 blas)
                               : cuda_op_backward(g, i, &dims[(size_t)i], b.data.data(),
                                                  b.grad.data(), 1.0f, b.ws, dt, blas);
                if (r >= 0)
                    cupti_corr_pop();
                if (lrc)
                    rc = remat_fail(err, -EIO, "op '%s': %s", g->ops[i].name,
                                    cuda_kernels_errstr(lrc));
            }
        if (!rc && cudaStreamSynchronize(s) != cudaSuccess)
            rc = remat_fail(err, -EIO, "op '%s': %s", g->ops[i].name,
                            cudaGetErrorString(cudaGetLastError()));
        if (!rc) {
            cupti_kernel_times(2 * repeats, secs.data(), counts.data(), abytes.data(),
                               allocs.data());
            for (int dir = 0; dir < 2; dir++) {
                int64_t b = 0, k = 0;
                for (int r = 0; r < repeats; r++) {
                    b += abytes[(size_t)(1 + dir * repeats + r)];
                    k += allocs[(size_t)(1 + dir * repeats + r)];
                }
                lib_allocs += k;
                lib_bytes += b;
                if (b > worst_bytes) {
                    worst_bytes = b;
                    worst = std::string(g->ops[i].name) + (dir ? " backward" : " forward");
                }
            }
            std::vector<double> vf(secs.begin() + 1, secs.begin() + 1 + repeats);
            std::vector<double> vb(secs.begin() + 1 + repeats, secs.end());
            tf[(size_t)i] = median(vf);
            tb[(size_t)i] = median(vb);
        }
        b.release();
    }
    cupti_trace_end();

    char why[512] = "";
    std::vector<double> fl((size_t)g->n_ops * 2, 0.0);
    bool have_flops = false;
    if (!rc) {
        int frc = measure_flops(g, dt, blas, s, dims, fl, why, sizeof why, err);
        if (frc == -ENOMEM || frc == -EIO)
            rc = frc;
        have_flops = frc == 0;
    }
    cuda_blas_destroy(blas);
    cuda_tfree(&wsa, wsp, blas_ws);
    cudaStreamDestroy(s);
    if (rc)
        return rc;

    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    std::string target = table_name(prop.name);
    char allocs_note[384];
    if (lib_allocs == 0)
        snprintf(allocs_note, sizeof allocs_note, "none inside ops");
    else
        snprintf(allocs_note, sizeof allocs_note,
                 "%lld inside ops by libraries, %lld bytes over %d runs of each op (most in "
                 "%s), outside the memory model",
                 (long long)lib_allocs, (long long)lib_bytes, repeats, worst.c_str());
    char note[1536];
    snprintf(note, sizeof note,
             "%s; times: CUPTI kernel activity, median of %d per op direction; device "
             "allocations (CUPTI MEMORY2): %s; FLOPs: %s",
             desc, repeats, allocs_note, why);
    char *t = strdup(target.c_str()), *d = strdup(note);
    if (!t || !d) {
        free(t);
        free(d);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_ops; i++) {
        p->ops[i].time_fwd_s = tf[(size_t)i];
        p->ops[i].time_bwd_s = tb[(size_t)i];
        if (have_flops) {
            p->ops[i].flops_fwd = (int64_t)llround(fl[(size_t)i * 2]);
            p->ops[i].flops_bwd = (int64_t)llround(fl[(size_t)i * 2 + 1]);
        }
    }
    free(p->target);
    free(p->device_desc);
    p->target = t;
    p->device_desc = d;
    p->source = SRC_CUDA;
    profile_compute_totals(p);
    return 0;
}
