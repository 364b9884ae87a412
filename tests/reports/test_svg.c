/* tests/reports/test_svg.c — the SVG pictures and the HTML page: escaping, XML
 * well-formedness (a small checker below), determinism, the per-instruction memory
 * breakdown against the simulator, and the files the render test opens. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reports/reports.h"
#include "tests/zoo_fixture.h"

/* ---------------------------------------------------------------- helpers */

/* Renders a writer into a malloc'ed string. */
typedef int (*render_fn)(FILE *f, void *ctx);

__attribute__((noinline)) static char *render(render_fn fn, void *ctx)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(f, ctx), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* A small XML well-formedness check: one root element, tags balanced and
 * properly nested, attribute values quoted, no raw '<' or '&' outside markup
 * other than entity and character references, no control characters. Returns
 * NULL when well-formed, else a static message. */
static const char *xml_check(const char *s, bool allow_html_doctype)
{
    static char msg[256];
    const char *stack[512];
    size_t stack_len[512];
    int depth = 0, roots = 0;
    const char *p = s;
    while (*p) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
            return "control character";
        if (c == '&') {
            const char *semi = strchr(p, ';');
            if (!semi || semi - p > 10)
                return "bare &";
            bool ok = strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                      strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
                      strncmp(p, "&apos;", 6) == 0 || p[1] == '#';
            if (!ok)
                return "unknown entity";
            p = semi + 1;
            continue;
        }
        if (c != '<') {
            p++;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *e = strstr(p, "-->");
            if (!e)
                return "open comment";
            p = e + 3;
            continue;
        }
        if (strncmp(p, "<!DOCTYPE", 9) == 0) {
            if (!allow_html_doctype)
                return "doctype";
            p = strchr(p, '>');
            if (!p)
                return "open doctype";
            p++;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + (closing ? 2 : 1);
        size_t nl = strcspn(name, " \t\n/>");
        if (nl == 0)
            return "empty tag name";
        const char *q = name + nl;
        bool self = false;
        while (*q && *q != '>') {
            if (*q == '"' || *q == '\'') {
                const char *e = strchr(q + 1, *q);
                if (!e)
                    return "unterminated attribute";
                for (const char *r = q + 1; r < e; r++)
                    if (*r == '<')
                        return "< in attribute";
                q = e + 1;
                continue;
            }
            if (*q == '=' && q[1] != '"' && q[1] != '\'')
                return "unquoted attribute";
            if (*q == '/' && q[1] == '>')
                self = true;
            q++;
        }
        if (!*q)
            return "unterminated tag";
        if (closing) {
            if (depth == 0)
                return "close without open";
            depth--;
            if (stack_len[depth] != nl || strncmp(stack[depth], name, nl) != 0) {
                snprintf(msg, sizeof msg, "</%.*s> closes <%.*s>", (int)nl, name, (int)stack_len[depth],
                         stack[depth]);
                return msg;
            }
        } else if (!self && !(allow_html_doctype && ((nl == 4 && strncmp(name, "meta", 4) == 0)))) {
            if (depth == 0)
                roots++;
            if (depth == 512)
                return "too deep";
            stack[depth] = name;
            stack_len[depth++] = nl;
        } else if (depth == 0) {
            roots++;
        }
        p = q + 1;
    }
    if (depth != 0)
        return "unclosed element";
    if (roots != 1)
        return "not exactly one root element";
    return NULL;
}

static void assert_well_formed(const char *s, bool html)
{
    const char *m = xml_check(s, html);
    if (m)
        fail_msg("not well-formed: %s", m);
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Plans p with solver k at budget (0: unlimited) through the real solver and
 * simulator; returns solver_plan's status. */
static int make_plan(const profile *p, solver_kind k, int64_t budget, plan *pl)
{
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    o.budget_bytes = budget > 0 ? budget : INT64_C(1) << 40;
    memset(pl, 0, sizeof *pl);
    remat_err e;
    int rc = solver_plan(p, &mc, k, &o, pl, NULL, &e);
    if (rc && rc != -ENOSPC)
        fail_msg("%s", e.msg);
    return rc;
}

static void build_profile_b(profile *p, const char *model, const char *set, int64_t batch)
{
    zoo_profile(p, model, set, batch, 0, "cpu");
}

static void build_profile(profile *p, const char *model, const char *set)
{
    build_profile_b(p, model, set, 4);
}

/* ---------------------------------------------------------------- escaping */

static int write_escaped(FILE *f, void *ctx)
{
    xml_write_escaped(f, ctx);
    return 0;
}

static void test_escape(void **state)
{
    (void)state;
    char *s = render(write_escaped, "a<b>&\"c'd");
    assert_string_equal(s, "a&lt;b&gt;&amp;&quot;c&#39;d");
    free(s);
    s = render(write_escaped, "tab\tbell\x07nul-free \xc3\xa9t\xc3\xa9 bad\xff\xc3 end");
    assert_string_equal(s, "tab\tbellnul-free \xc3\xa9t\xc3\xa9 bad?? end");
    free(s);
    s = render(write_escaped, "\xed\xa0\x80 surrogate \xf0\x9f\x98\x80 emoji");
    assert_string_equal(s, "??? surrogate \xf0\x9f\x98\x80 emoji");
    free(s);
}

static void test_xml_checker_catches(void **state)
{
    (void)state;
    assert_null(xml_check("<svg a=\"1\"><g><line/></g></svg>", false));
    assert_non_null(xml_check("<svg><g></svg>", false));
    assert_non_null(xml_check("<svg>a & b</svg>", false));
    assert_non_null(xml_check("<svg a=1></svg>", false));
    assert_non_null(xml_check("<svg></svg><svg></svg>", false));
    assert_non_null(xml_check("<svg><text>x<y</text></svg>", false));
}

/* ---------------------------------------------------------------- pareto */

static const pareto_point pts_dp[] = {
    {2000000000, true, 0.31, 1990000000}, {1000000000, false, 0, 0},
    {3000000000, true, 0.12, 2900000000}, {4000000000, true, 0.0, 3500000000}};
static const pareto_point pts_sqrt[] = {
    {1000000000, false, 0, 0}, {2000000000, false, 0, 0},
    {3000000000, true, 0.33, 2950000000}, {4000000000, true, 0.33, 2950000000}};

static int write_pareto(FILE *f, void *ctx)
{
    const pareto_series s[] = {{"dp", 4, pts_dp}, {"sqrt <&> \"n\"", 4, pts_sqrt}};
    remat_err e;
    return svg_pareto(f, s, 2, ctx, &e);
}

static int write_pareto_w(FILE *f, void *ctx, remat_err *err)
{
    (void)err;
    return write_pareto(f, ctx);
}

static void test_pareto(void **state)
{
    (void)state;
    char *a = render(write_pareto, "Sweep of gpt2 & friends");
    char *b = render(write_pareto, "Sweep of gpt2 & friends");
    assert_string_equal(a, b); /* deterministic */
    remat_err we;
    assert_int_equal(report_write_atomic("pareto.svg", write_pareto_w, "Sweep of gpt2 & friends", &we), 0);
    assert_well_formed(a, false);
    assert_non_null(strstr(a, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(a, "gpt2 &amp; friends"));
    assert_non_null(strstr(a, "sqrt &lt;&amp;&gt; &quot;n&quot;"));
    assert_null(strstr(a, "id=")); /* inlinable: no ids to clash */
    /* 5 feasible points (circles in the plot) + 2 legend markers; 3 infeasible crosses */
    assert_int_equal(count(a, "<circle"), 7);
    assert_int_equal(count(a, ": infeasible</title>"), 3);
    assert_non_null(strstr(a, "dp @ 1.86 GiB: +31.0% compute"));
    /* human units on the budget axis, percent on the overhead axis */
    assert_non_null(strstr(a, " GiB</text>"));
    assert_non_null(strstr(a, "%</text>"));
    free(a);
    free(b);

    remat_err e;
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(svg_pareto(f, NULL, 0, NULL, &e), -EINVAL);
    const pareto_series empty = {"x", 0, NULL};
    assert_int_equal(svg_pareto(f, &empty, 1, NULL, &e), -EINVAL);
    fclose(f);
}

/* ---------------------------------------------------------------- timeline */

typedef struct tl_ctx {
    const profile *p;
    const plan *pl;
} tl_ctx;

static int write_timeline(FILE *f, void *ctx)
{
    tl_ctx *c = ctx;
    remat_err e;
    int rc = svg_memory_timeline(f, c->p, c->pl, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    return rc;
}

static int write_timeline_w(FILE *f, void *ctx, remat_err *err)
{
    tl_ctx *c = ctx;
    return svg_memory_timeline(f, c->p, c->pl, err);
}

static void test_breakdown_store_all(void **state)
{
    (void)state;
    profile p;
    build_profile_b(&p, "mlp", "depth=4,width=64", 256);
    plan pl;
    assert_int_equal(make_plan(&p, SOLVER_NONE, 0, &pl), 0);
    mem_breakdown b;
    remat_err e;
    int rc = mem_breakdown_compute(&p, &pl, &b, &e);
    if (rc)
        fail_msg("%s", e.msg);
    assert_int_equal(b.n, pl.sched.n);
    assert_int_equal(b.static_bytes, pl.pred.static_bytes);
    int first_bwd = -1;
    int64_t gmax = 0;
    for (int i = 0; i < b.n; i++) {
        /* every column adds up to the simulator's high point (also checked inside) */
        assert_int_equal(b.act[i] + b.grad[i] + b.tmp[i], pl.pred.peak_during[i]);
        if (pl.sched.ins[i].kind == INS_FWD)
            assert_int_equal(b.act[i], pl.pred.act_after[i]);
        if (pl.sched.ins[i].kind == INS_BWD && first_bwd < 0)
            first_bwd = i;
        gmax = b.grad[i] > gmax ? b.grad[i] : gmax;
    }
    /* the backward starts with everything saved live, and gradients do appear */
    assert_true(first_bwd > 0);
    assert_int_equal(b.act[first_bwd], graph_saved_bytes(&p.g));
    assert_true(gmax > 0);
    mem_breakdown_free(&b);

    /* a plan without a simulated prediction is refused */
    plan pb = pl;
    memset(&pb.pred, 0, sizeof pb.pred);
    assert_int_equal(mem_breakdown_compute(&p, &pb, &b, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "no simulated prediction"));

    tl_ctx c = {&p, &pl};
    char *s1 = render(write_timeline, &c);
    char *s2 = render(write_timeline, &c);
    assert_string_equal(s1, s2);
    assert_well_formed(s1, false);
    assert_non_null(strstr(s1, "activations"));
    assert_non_null(strstr(s1, ">backward</text>"));
    char want[96], buf[32];
    snprintf(want, sizeof want, "peak %s (", remat_format_bytes(pl.pred.peak_bytes, buf, sizeof buf));
    assert_non_null(strstr(s1, want));
    free(s1);
    free(s2);

    /* under a budget: the budget line, labelled */
    int64_t budget = pl.pred.peak_bytes + pl.pred.peak_bytes / 4;
    plan_free(&pl);
    assert_int_equal(make_plan(&p, SOLVER_SQRT, budget, &pl), 0);
    assert_int_equal(pl.budget_bytes, budget);
    /* left in the test folder for the render test (xmllint, Chromium) */
    assert_int_equal(report_write_atomic("timeline_mlp.svg", write_timeline_w, &c, &e), 0);
    s1 = render(write_timeline, &c);
    assert_well_formed(s1, false);
    snprintf(want, sizeof want, "budget %s</text>", remat_format_bytes(budget, buf, sizeof buf));
    assert_non_null(strstr(s1, want));
    free(s1);
    plan_free(&pl);
    profile_free(&p);
}

/* The HTML page: self-contained, well-formed, deterministic, both pictures inline. */
typedef struct html_ctx {
    html_report_input in;
} html_ctx;

static int write_html(FILE *f, void *ctx, remat_err *err)
{
    return html_report(f, &((html_ctx *)ctx)->in, err);
}

static int write_html_r(FILE *f, void *ctx)
{
    remat_err e;
    int rc = write_html(f, ctx, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    return rc;
}

static void test_html(void **state)
{
    (void)state;
    profile p;
    build_profile_b(&p, "mlp", "depth=6,width=128", 512); /* activations above static memory */
    plan pl[2];
    assert_int_equal(make_plan(&p, SOLVER_NONE, 0, &pl[0]), 0);
    assert_int_equal(make_plan(&p, SOLVER_SQRT, 1000, &pl[1]), -ENOSPC);
    char **keep = pl[0].checkpoints;
    int keep_n = pl[0].n_checkpoints;
    char *cp[] = {"layers.1", "layers.<3>&"};
    pl[0].n_checkpoints = 2;
    pl[0].checkpoints = cp;
    const pareto_series s[] = {{"dp", 4, pts_dp}, {"sqrt", 4, pts_sqrt}};
    html_ctx c = {{.prof = &p, .plans = pl, .n_plans = 2, .chosen = 0, .series = s, .n_series = 2}};
    char *a = render(write_html_r, &c);
    char *b = render(write_html_r, &c);
    assert_string_equal(a, b);
    assert_well_formed(a, true);
    assert_int_equal(count(a, "<svg xmlns="), 2);
    assert_non_null(strstr(a, "<style>"));
    assert_null(strstr(a, "<script"));
    assert_null(strstr(a, "src="));
    assert_null(strstr(a, "href="));
    assert_non_null(strstr(a, "layers.&lt;3&gt;&amp;"));
    assert_non_null(strstr(a, "<td>infeasible</td>"));
    assert_non_null(strstr(a, "<title>remat report: mlp</title>"));
    remat_err e;
    assert_int_equal(report_write_atomic("report_mlp.html", write_html, &c, &e), 0);
    free(a);
    free(b);
    html_ctx bad = {{.prof = &p, .plans = pl, .n_plans = 2, .chosen = 5}};
    assert_int_equal(html_report(stdout, &bad.in, &e), -EINVAL);
    pl[0].checkpoints = keep;
    pl[0].n_checkpoints = keep_n;
    plan_free(&pl[0]);
    plan_free(&pl[1]);
    profile_free(&p);
}

/* A long schedule is drawn in at most 1200 columns and keeps its peak. */
static void test_timeline_long(void **state)
{
    (void)state;
    profile p;
    build_profile(&p, "chain", "length=1500,width=8");
    plan pl;
    assert_int_equal(make_plan(&p, SOLVER_NONE, 0, &pl), 0);
    assert_true(pl.sched.n > 3000);
    tl_ctx c = {&p, &pl};
    char *s = render(write_timeline, &c);
    assert_well_formed(s, false);
    assert_true(strlen(s) < 600000);
    /* the peak named in the picture is the highest instruction of all */
    mem_breakdown b;
    remat_err e;
    assert_int_equal(mem_breakdown_compute(&p, &pl, &b, &e), 0);
    int64_t peak = 0;
    for (int i = 0; i < b.n; i++) {
        int64_t t = b.static_bytes + b.act[i] + b.grad[i] + b.tmp[i];
        peak = t > peak ? t : peak;
    }
    mem_breakdown_free(&b);
    char want[64], buf[32];
    snprintf(want, sizeof want, "peak %s (", remat_format_bytes(peak, buf, sizeof buf));
    assert_non_null(strstr(s, want));
    free(s);
    plan_free(&pl);
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_xml_checker_catches),
        cmocka_unit_test(test_pareto),
        cmocka_unit_test(test_breakdown_store_all),
        cmocka_unit_test(test_timeline_long),
        cmocka_unit_test(test_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
