/* solver/schedule.c — the schedule instruction list, solver and option names,
 * defaults. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver.h"

int schedule_push(schedule *s, ins_kind kind, int arg, unsigned flags)
{
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 256;
        sched_ins *q = realloc(s->ins, (size_t)nc * sizeof *q);
        if (!q)
            return -ENOMEM;
        s->ins = q;
        s->cap = nc;
    }
    sched_ins *x = &s->ins[s->n++];
    memset(x, 0, sizeof *x); /* padding too: schedules are compared with memcmp */
    x->kind = (uint8_t)kind;
    x->flags = (uint8_t)flags;
    x->arg = arg;
    return 0;
}

void schedule_free(schedule *s)
{
    free(s->ins);
    memset(s, 0, sizeof *s);
}

static const char *const ins_names[] = {"fwd", "bwd", "free", "free_grad", "opt"};

const char *ins_kind_name(ins_kind k)
{
    return (unsigned)k < sizeof ins_names / sizeof ins_names[0] ? ins_names[k] : "?";
}

int ins_kind_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof ins_names / sizeof ins_names[0]; i++)
        if (strcmp(ins_names[i], name) == 0)
            return (int)i;
    return -EINVAL;
}

static const char *const solver_names[SOLVER_COUNT] = {
#define X(k, n, d) n,
    SOLVERS(X)
#undef X
};
static const char *const solver_descs[SOLVER_COUNT] = {
#define X(k, n, d) d,
    SOLVERS(X)
#undef X
};

const char *solver_name(solver_kind k) { return (unsigned)k < SOLVER_COUNT ? solver_names[k] : "?"; }
const char *solver_desc(solver_kind k) { return (unsigned)k < SOLVER_COUNT ? solver_descs[k] : "?"; }

int solver_from_name(const char *name)
{
    for (int i = 0; name && i < SOLVER_COUNT; i++)
        if (strcmp(solver_names[i], name) == 0)
            return i;
    return -EINVAL;
}

void solver_opts_default(solver_opts *o)
{
    memset(o, 0, sizeof *o);
    o->slots = 500;
    o->time_limit_s = 60.0;
    o->mip_gap = 0.0;
    o->gran = GRAN_OP;
}

void mem_config_default(mem_config *mc)
{
    memset(mc, 0, sizeof *mc);
    mc->optimizer = OPTIM_ADAMW;
    mc->dp = 1;
    mc->allocator = ALLOC_EXACT;
}

static const char *const optim_names[] = {"sgd", "momentum", "adam", "adamw"};
static const char *const alloc_names[] = {"exact", "pytorch"};

const char *optimizer_name(optimizer_kind k)
{
    return (unsigned)k < 4 ? optim_names[k] : "?";
}

int optimizer_from_name(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(optim_names[i], name) == 0)
            return i;
    return -EINVAL;
}

const char *allocator_name(allocator_kind k) { return (unsigned)k < 2 ? alloc_names[k] : "?"; }

int allocator_from_name(const char *name)
{
    for (int i = 0; name && i < 2; i++)
        if (strcmp(alloc_names[i], name) == 0)
            return i;
    return -EINVAL;
}
