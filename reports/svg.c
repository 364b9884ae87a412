/* reports/svg.c — the pictures: a memory timeline of one plan (live bytes per
 * schedule instruction, stacked by kind, with the budget and the peak marked) and a
 * Pareto plot of budget sweeps (budget against compute overhead, one line per
 * solver). Plain C writing SVG text: valid XML (every name escaped), no ids (so
 * several pictures can be inlined in one HTML page), no prolog, fixed number
 * formats so the same input always gives the same bytes. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"

/* ---------------------------------------------------------------- text */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not start one. */
static int utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    int n;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1fu;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0fu;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
        cp == 0xffff)
        return 0;
    return n;
}

void xml_write_escaped(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned char c = *p;
        switch (c) {
        case '&': fputs("&amp;", f); p++; continue;
        case '<': fputs("&lt;", f); p++; continue;
        case '>': fputs("&gt;", f); p++; continue;
        case '"': fputs("&quot;", f); p++; continue;
        case '\'': fputs("&#39;", f); p++; continue;
        default: break;
        }
        if (c < 0x20) {
            if (c == '\t' || c == '\n' || c == '\r')
                fputc(c, f);
            p++;
            continue;
        }
        int n = utf8_len(p);
        if (n == 0) {
            fputc('?', f);
            p++;
            continue;
        }
        fwrite(p, 1, (size_t)n, f);
        p += n;
    }
}

/* Escaped, cut to at most max bytes (at a character boundary) with "..." added. */
static void xml_write_clipped(FILE *f, const char *s, size_t max)
{
    s = s ? s : "";
    size_t len = strlen(s);
    if (len <= max) {
        xml_write_escaped(f, s);
        return;
    }
    size_t cut = max > 3 ? max - 3 : max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    char *tmp = malloc(cut + 4);
    if (!tmp) {
        xml_write_escaped(f, "...");
        return;
    }
    memcpy(tmp, s, cut);
    memcpy(tmp + cut, "...", 4);
    xml_write_escaped(f, tmp);
    free(tmp);
}

/* ---------------------------------------------------------------- axes */

/* A step of 1, 2 or 5 times a power of ten giving at most `target` steps over span. */
static double nice_step(double span, int target)
{
    if (!(span > 0))
        return 1.0;
    double raw = span / target;
    double p = pow(10.0, floor(log10(raw)));
    static const double m[] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++)
        if (m[i] * p >= raw)
            return m[i] * p;
    return 10 * p;
}

static int step_decimals(double step)
{
    if (step >= 1)
        return 0;
    int d = (int)ceil(-log10(step) - 1e-9);
    return d > 6 ? 6 : d;
}

/* Binary unit for an axis whose largest value is max. */
static void byte_unit(double max, double *unit, const char **name)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int k = 0;
    double u = 1;
    while (k < 5 && max >= u * 1024.0) {
        u *= 1024.0;
        k++;
    }
    *unit = u;
    *name = names[k];
}

static const char *const series_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                            "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
#define N_SERIES_COLORS ((int)(sizeof series_colors / sizeof series_colors[0]))

static const char *const svg_font = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

/* Horizontal tick lines and labels for a byte axis on [0, ymax]. */
static void byte_axis_y(FILE *f, double ymax, double x0, double x1, double y0, double y1)
{
    double unit;
    const char *uname;
    byte_unit(ymax, &unit, &uname);
    double step = nice_step(ymax / unit, 6);
    int dec = step_decimals(step);
    for (int k = 0;; k++) {
        double v = k * step;
        if (v * unit > ymax * (1 + 1e-9))
            break;
        double y = y0 - (v * unit / ymax) * (y0 - y1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                x0, y, x1, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.*f %s</text>\n",
                x0 - 6, y + 4, dec, v, uname);
    }
}

/* ---------------------------------------------------------------- breakdown */

int mem_breakdown_compute(const profile *p, const plan *pl, mem_breakdown *out, remat_err *err)
{
    (void)p;
    memset(out, 0, sizeof *out);
    const sim_result *r = &pl->pred;
    int n = pl->sched.n;
    if (n <= 0 || !pl->sched.ins)
        return remat_fail(err, -EINVAL, "the plan has no schedule");
    if (r->n != n || !r->act_after || !r->grad_after || !r->tmp_during || !r->peak_during)
        return remat_fail(err, -EINVAL, "the plan has no simulated prediction of its %d instructions",
                          n);
    out->act = malloc((size_t)n * sizeof *out->act);
    out->grad = malloc((size_t)n * sizeof *out->grad);
    out->tmp = malloc((size_t)n * sizeof *out->tmp);
    if (!out->act || !out->grad || !out->tmp) {
        mem_breakdown_free(out);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    out->n = n;
    out->static_bytes = r->static_bytes;
    for (int i = 0; i < n; i++) {
        /* a FWD or BWD only allocates, so its high point is after it plus its
         * temporaries; any other instruction's high point is the state before it */
        int k = pl->sched.ins[i].kind == INS_FWD || pl->sched.ins[i].kind == INS_BWD || i == 0 ? i : i - 1;
        out->act[i] = r->act_after[k];
        out->grad[i] = r->grad_after[k];
        out->tmp[i] = k == i ? r->tmp_during[i] : 0;
        if (out->act[i] + out->grad[i] + out->tmp[i] != r->peak_during[i]) {
            int64_t got = out->act[i] + out->grad[i] + out->tmp[i];
            mem_breakdown_free(out);
            return remat_fail(err, -EINVAL, "instruction %d: the breakdown (%lld bytes) does not add up "
                              "to the simulator's high point (%lld bytes)", i, (long long)got,
                              (long long)r->peak_during[i]);
        }
    }
    return 0;
}

void mem_breakdown_free(mem_breakdown *b)
{
    if (!b)
        return;
    free(b->act);
    free(b->grad);
    free(b->tmp);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- timeline */

#define TL_W 960.0
#define TL_H 480.0
#define TL_X0 92.0   /* plot left */
#define TL_X1 940.0  /* plot right */
#define TL_Y1 64.0   /* plot top */
#define TL_Y0 420.0  /* plot bottom */
#define TL_MAX_COLS 1200

/* A column of the picture: instructions [first, last], drawn with the values of
 * the highest one (pick). */
typedef struct tl_col {
    int first, last, pick;
} tl_col;

static int64_t bd_total(const mem_breakdown *b, int i)
{
    return b->static_bytes + b->act[i] + b->grad[i] + b->tmp[i];
}

/* Step-shaped filled area from the baseline to top(i) for every column. */
static void tl_area(FILE *f, const tl_col *cols, int nc, double xs, double ys, const int64_t *top,
                    const char *fill, const char *label)
{
    fprintf(f, "<path fill=\"%s\" stroke=\"none\" d=\"M%.1f %.1f", fill, TL_X0, TL_Y0);
    for (int c = 0; c < nc; c++) {
        double xa = TL_X0 + cols[c].first * xs, xb = TL_X0 + (cols[c].last + 1) * xs;
        double y = TL_Y0 - (double)top[c] * ys;
        fprintf(f, " L%.1f %.1f L%.1f %.1f", xa, y, xb, y);
    }
    fprintf(f, " L%.1f %.1f Z\"><title>%s</title></path>\n",
            TL_X0 + (cols[nc - 1].last + 1) * xs, TL_Y0, label);
}

int svg_memory_timeline(FILE *f, const profile *p, const plan *pl, remat_err *err)
{
    mem_breakdown b;
    int rc = mem_breakdown_compute(p, pl, &b, err);
    if (rc)
        return rc;
    const graph *g = &p->g;
    int n = b.n;

    /* columns */
    int per = (n + TL_MAX_COLS - 1) / TL_MAX_COLS;
    int nc = (n + per - 1) / per;
    tl_col *cols = calloc((size_t)nc, sizeof *cols);
    int64_t *tops = calloc((size_t)nc * 4, sizeof *tops);
    if (!cols || !tops) {
        free(cols);
        free(tops);
        mem_breakdown_free(&b);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    int peak_i = 0;
    for (int i = 1; i < n; i++)
        if (bd_total(&b, i) > bd_total(&b, peak_i))
            peak_i = i;
    if (pl->pred.peak_ins >= 0 && pl->pred.peak_ins < n)
        peak_i = pl->pred.peak_ins;
    int64_t ymax_b = bd_total(&b, peak_i);
    for (int c = 0; c < nc; c++) {
        cols[c].first = c * per;
        cols[c].last = (c + 1) * per - 1 < n - 1 ? (c + 1) * per - 1 : n - 1;
        cols[c].pick = cols[c].first;
        for (int i = cols[c].first; i <= cols[c].last; i++) {
            if (i == peak_i) {
                cols[c].pick = i;
                break;
            }
            if (bd_total(&b, i) > bd_total(&b, cols[c].pick))
                cols[c].pick = i;
        }
        int k = cols[c].pick;
        int64_t *t = &tops[(size_t)c * 4];
        t[0] = b.static_bytes;
        t[1] = t[0] + b.act[k];
        t[2] = t[1] + b.grad[k];
        t[3] = t[2] + b.tmp[k];
        if (t[3] > ymax_b)
            ymax_b = t[3];
    }
    /* a budget far above the peak is named, not drawn: the picture keeps its scale */
    bool budget_drawn = pl->budget_bytes > 0 && pl->budget_bytes <= ymax_b + ymax_b / 2;
    if (budget_drawn && pl->budget_bytes > ymax_b)
        ymax_b = pl->budget_bytes;
    double ymax = (double)(ymax_b > 0 ? ymax_b : 1) * 1.08;
    double ys = (TL_Y0 - TL_Y1) / ymax;
    double xs = (TL_X1 - TL_X0) / n;

    char b1[32], b2[32], b3[32];
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" %s font-size=\"12\">\n",
            TL_W, TL_H, TL_W, TL_H, svg_font);
    fputs("<title>Memory timeline of ", f);
    xml_write_escaped(f, g->model);
    fprintf(f, " under solver %s</title>\n", solver_name(pl->solver));
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", TL_W, TL_H);
    fputs("<text x=\"92\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Memory timeline: ", f);
    xml_write_clipped(f, g->model, 40);
    fprintf(f, ", solver %s", solver_name(pl->solver));
    if (pl->budget_bytes > 0)
        fprintf(f, ", budget %s", remat_format_bytes(pl->budget_bytes, b1, sizeof b1));
    fputs("</text>\n", f);

    /* legend */
    static const struct {
        const char *color, *label;
    } legend[] = {{"#9e9e9e", "static"},
                  {"#4e79a7", "activations"},
                  {"#f28e2b", "gradients"},
                  {"#e15759", "temporaries"}};
    double lx = TL_X0;
    for (int k = 0; k < 4; k++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"36\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"46\">%s</text>\n",
                lx, legend[k].color, lx + 16, legend[k].label);
        lx += 30 + 7.0 * (double)strlen(legend[k].label);
    }
    if (budget_drawn) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"42\" x2=\"%.1f\" y2=\"42\" stroke=\"#000000\" "
                   "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"46\">budget</text>\n",
                lx, lx + 24, lx + 28);
        lx += 90;
    }
    /* grid and y axis */
    byte_axis_y(f, ymax, TL_X0, TL_X1, TL_Y0, TL_Y1);

    /* stacked areas, drawn from the highest layer down */
    static const char *const fills[] = {"#9e9e9e", "#4e79a7", "#f28e2b", "#e15759"};
    static const char *const labels[] = {"static", "activations", "gradients", "temporaries"};
    int64_t *layer = malloc((size_t)nc * sizeof *layer);
    if (!layer) {
        free(cols);
        free(tops);
        mem_breakdown_free(&b);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (int k = 3; k >= 0; k--) {
        for (int c = 0; c < nc; c++)
            layer[c] = tops[(size_t)c * 4 + (size_t)k];
        tl_area(f, cols, nc, xs, ys, layer, fills[k], labels[k]);
    }
    free(layer);

    /* start of the backward pass */
    for (int i = 0; i < n; i++) {
        if (pl->sched.ins[i].kind == INS_BWD) {
            double x = TL_X0 + i * xs;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\" "
                       "stroke-dasharray=\"2 3\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" "
                       "fill=\"#555555\">backward</text>\n",
                    x, TL_Y0, x, TL_Y1, x + 3, TL_Y1 - 4);
            break;
        }
    }

    /* budget line */
    if (pl->budget_bytes > 0 && !budget_drawn)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">budget %s "
                   "(above the plot)</text>\n",
                TL_X1, TL_Y1 - 4, remat_format_bytes(pl->budget_bytes, b1, sizeof b1));
    if (budget_drawn) {
        double y = TL_Y0 - (double)pl->budget_bytes * ys;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\" "
                   "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
                TL_X0, y, TL_X1, y);
        bool peak_right = TL_X0 + (peak_i + 0.5) * xs > (TL_X0 + TL_X1) / 2;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"11\">budget %s</text>\n",
                peak_right ? TL_X1 - 4 : TL_X0 + 4, y - 4, peak_right ? "end" : "start",
                remat_format_bytes(pl->budget_bytes, b1, sizeof b1));
    }

    /* axes */
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", TL_X0,
            TL_Y0, TL_X1, TL_Y0);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", TL_X0,
            TL_Y0, TL_X0, TL_Y1);
    double xstep = nice_step((double)n, 8);
    if (xstep < 1)
        xstep = 1;
    for (int k = 0;; k++) {
        double v = k * xstep;
        if (v > n)
            break;
        double x = TL_X0 + v * xs;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%.0f</text>\n",
                x, TL_Y0, x, TL_Y0 + 4, x, TL_Y0 + 17, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">schedule instruction "
               "(%d in all: forward, recompute, backward, free, optimizer)</text>\n",
            (TL_X0 + TL_X1) / 2, TL_Y0 + 36, n);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
               "live memory</text>\n",
            (TL_Y0 + TL_Y1) / 2, (TL_Y0 + TL_Y1) / 2);

    /* the peak */
    int64_t peak_total = b.static_bytes + pl->pred.peak_during[peak_i];
    double px = TL_X0 + (peak_i + 0.5) * xs;
    double py = TL_Y0 - (double)peak_total * ys;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#7b3294\" "
               "stroke-width=\"1.5\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#7b3294\"/>\n",
            px, TL_Y0, px, py, px, py);
    const sched_ins *pk = &pl->sched.ins[peak_i];
    const char *what = "";
    if ((pk->kind == INS_FWD || pk->kind == INS_BWD) && pk->arg >= 0 && pk->arg < g->n_ops)
        what = g->ops[pk->arg].name;
    else if ((pk->kind == INS_FREE || pk->kind == INS_FREE_GRAD) && pk->arg >= 0 &&
             pk->arg < g->n_tensors)
        what = g->tensors[pk->arg].name;
    int nl = pl->pred.n_live_at_peak < 5 ? pl->pred.n_live_at_peak : 5;
    int lines = 2 + nl + (pl->pred.n_live_at_peak > nl ? 1 : 0);
    double bw = 430, bh = 16.0 * lines + 10;
    bool left = px > (TL_X0 + TL_X1) / 2;
    double bx = left ? TL_X0 + 10 : TL_X1 - bw - 10;
    double by = TL_Y1 + 8;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" "
               "fill-opacity=\"0.9\" stroke=\"#7b3294\"/>\n",
            bx, by, bw, bh);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\" fill=\"#7b3294\">peak %s "
               "(static %s + dynamic %s)</text>\n",
            bx + 8, by + 17, remat_format_bytes(peak_total, b1, sizeof b1),
            remat_format_bytes(b.static_bytes, b2, sizeof b2),
            remat_format_bytes(peak_total - b.static_bytes, b3, sizeof b3));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">at #%d: %s%s ", bx + 8, by + 33, peak_i,
            ins_kind_name((ins_kind)pk->kind), (pk->flags & INS_RECOMPUTE) ? " (recompute)" : "");
    xml_write_clipped(f, what, 44);
    fputs("</text>\n", f);
    for (int k = 0; k < nl; k++) {
        const live_entry *e = &pl->pred.live_at_peak[k];
        const char *name = e->tensor >= 0 && e->tensor < g->n_tensors ? g->tensors[e->tensor].name : "?";
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%s  %s", bx + 14,
                by + 49 + 16.0 * k, remat_format_bytes(e->bytes, b1, sizeof b1),
                e->grad ? "grad of " : "");
        xml_write_clipped(f, name, e->grad ? 40 : 48);
        fputs("</text>\n", f);
    }
    if (pl->pred.n_live_at_peak > nl) {
        int64_t rest = 0;
        for (int k = nl; k < pl->pred.n_live_at_peak; k++)
            rest += pl->pred.live_at_peak[k].bytes;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">... and %d more tensors, %s</text>\n",
                bx + 14, by + 49 + 16.0 * nl, pl->pred.n_live_at_peak - nl,
                remat_format_bytes(rest, b1, sizeof b1));
    }
    fputs("</svg>\n", f);
    free(cols);
    free(tops);
    mem_breakdown_free(&b);
    return ferror(f) ? remat_fail(err, -EIO, "write error") : 0;
}

/* ---------------------------------------------------------------- pareto */

#define PA_W 780.0
#define PA_H 480.0
#define PA_X0 84.0
#define PA_X1 600.0
#define PA_Y1 52.0
#define PA_Y0 370.0

typedef struct pa_sorted {
    const pareto_point *pt;
    int idx;
} pa_sorted;

static int pa_cmp(const void *a, const void *b)
{
    const pa_sorted *x = a, *y = b;
    if (x->pt->budget_bytes != y->pt->budget_bytes)
        return x->pt->budget_bytes < y->pt->budget_bytes ? -1 : 1;
    return x->idx - y->idx;
}

int svg_pareto(FILE *f, const pareto_series *s, int n_series, const char *title, remat_err *err)
{
    if (!s || n_series <= 0)
        return remat_fail(err, -EINVAL, "no series to plot");
    double bmin = 0, bmax = 0, omax = 0;
    bool any = false;
    for (int k = 0; k < n_series; k++) {
        if (s[k].n < 0 || (s[k].n > 0 && !s[k].pts))
            return remat_fail(err, -EINVAL, "series %d has no points", k);
        for (int i = 0; i < s[k].n; i++) {
            const pareto_point *q = &s[k].pts[i];
            double bb = (double)q->budget_bytes;
            if (!any || bb < bmin)
                bmin = bb;
            if (!any || bb > bmax)
                bmax = bb;
            any = true;
            if (q->feasible && q->overhead > omax && isfinite(q->overhead))
                omax = q->overhead;
        }
    }
    if (!any)
        return remat_fail(err, -EINVAL, "no points to plot");
    double span = bmax - bmin;
    if (span <= 0)
        span = bmax > 0 ? bmax * 0.2 : 1.0;
    double xlo = bmin - 0.04 * span, xhi = bmax + 0.04 * span;
    if (bmax == bmin) {
        xlo = bmin - span / 2;
        xhi = bmax + span / 2;
    }
    if (xlo < 0)
        xlo = 0;
    double ymax = omax * 100 * 1.15;
    if (ymax < 1)
        ymax = 1;
    double xs = (PA_X1 - PA_X0) / (xhi - xlo), ys = (PA_Y0 - PA_Y1) / ymax;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" %s font-size=\"12\">\n",
            PA_W, PA_H, PA_W, PA_H, svg_font);
    fputs("<title>", f);
    xml_write_escaped(f, title ? title : "Budget against compute overhead");
    fputs("</title>\n", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", PA_W, PA_H);
    fputs("<text x=\"84\" y=\"26\" font-size=\"15\" font-weight=\"bold\">", f);
    xml_write_clipped(f, title ? title : "Budget against compute overhead", 80);
    fputs("</text>\n", f);

    /* y grid (percent) */
    double ystep = nice_step(ymax, 6);
    int ydec = step_decimals(ystep);
    for (int k = 0;; k++) {
        double v = k * ystep;
        if (v > ymax * (1 + 1e-9))
            break;
        double y = PA_Y0 - v * ys;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.*f%%</text>\n",
                PA_X0, y, PA_X1, y, PA_X0 - 6, y + 4, ydec, v);
    }
    /* x grid (bytes) */
    double unit;
    const char *uname;
    byte_unit(xhi, &unit, &uname);
    double xstep = nice_step((xhi - xlo) / unit, 7);
    int xdec = step_decimals(xstep);
    for (long k = (long)ceil(xlo / unit / xstep - 1e-9);; k++) {
        double v = (double)k * xstep;
        if (v * unit > xhi * (1 + 1e-12))
            break;
        double x = PA_X0 + (v * unit - xlo) * xs;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%.*f %s</text>\n",
                x, PA_Y0, x, PA_Y1, x, PA_Y0 + 17, xdec, fabs(v) < xstep * 1e-9 ? 0.0 : v, uname);
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", PA_X0,
            PA_Y0, PA_X1, PA_Y0);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000000\"/>\n", PA_X0,
            PA_Y0, PA_X0, PA_Y1);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">memory budget "
               "(device memory the step may use)</text>\n",
            (PA_X0 + PA_X1) / 2, PA_Y0 + 36);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\">"
               "compute overhead (recompute / base time)</text>\n",
            (PA_Y0 + PA_Y1) / 2, (PA_Y0 + PA_Y1) / 2);
    double strip = PA_Y0 + 56;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#555555\">"
               "infeasible</text>\n",
            PA_X0 - 6, strip + 4 + 3.5 * ((n_series < 6 ? n_series : 6) - 1));

    char b1[32], b2[32];
    for (int k = 0; k < n_series; k++) {
        const char *col = series_colors[k % N_SERIES_COLORS];
        pa_sorted *srt = malloc((size_t)(s[k].n ? s[k].n : 1) * sizeof *srt);
        if (!srt)
            return remat_fail(err, -ENOMEM, "out of memory");
        for (int i = 0; i < s[k].n; i++)
            srt[i] = (pa_sorted){&s[k].pts[i], i};
        qsort(srt, (size_t)s[k].n, sizeof *srt, pa_cmp);
        fprintf(f, "<g stroke=\"%s\" fill=\"%s\">\n", col, col);
        /* line segments over consecutive feasible points */
        bool open = false;
        for (int i = 0; i < s[k].n; i++) {
            const pareto_point *q = srt[i].pt;
            if (!q->feasible || !isfinite(q->overhead)) {
                if (open)
                    fputs("\"/>\n", f);
                open = false;
                continue;
            }
            double x = PA_X0 + ((double)q->budget_bytes - xlo) * xs;
            double y = PA_Y0 - q->overhead * 100 * ys;
            if (!open)
                fprintf(f, "<path fill=\"none\" stroke-width=\"2\" d=\"M%.1f %.1f", x, y);
            else
                fprintf(f, " L%.1f %.1f", x, y);
            open = true;
        }
        if (open)
            fputs("\"/>\n", f);
        for (int i = 0; i < s[k].n; i++) {
            const pareto_point *q = srt[i].pt;
            double x = PA_X0 + ((double)q->budget_bytes - xlo) * xs;
            remat_format_bytes(q->budget_bytes, b1, sizeof b1);
            if (q->feasible && isfinite(q->overhead)) {
                double y = PA_Y0 - q->overhead * 100 * ys;
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>", x, y);
                xml_write_escaped(f, s[k].name);
                fprintf(f, " @ %s: +%.1f%% compute, peak %s</title></circle>\n", b1,
                        q->overhead * 100, remat_format_bytes(q->peak_bytes, b2, sizeof b2));
            } else {
                double y = strip + 7.0 * (k % 6);
                fprintf(f, "<path fill=\"none\" stroke-width=\"1.5\" d=\"M%.1f %.1f L%.1f %.1f "
                           "M%.1f %.1f L%.1f %.1f\"><title>",
                        x - 3, y - 3, x + 3, y + 3, x - 3, y + 3, x + 3, y - 3);
                xml_write_escaped(f, s[k].name);
                fprintf(f, " @ %s: infeasible</title></path>\n", b1);
            }
        }
        fputs("</g>\n", f);
        free(srt);
    }

    /* legend */
    double ly = PA_Y1 + 4;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"160\" height=\"%.1f\" fill=\"#ffffff\" "
               "stroke=\"#bbbbbb\"/>\n",
            PA_X1 + 14, ly, 20.0 * n_series + 30);
    for (int k = 0; k < n_series; k++) {
        const char *col = series_colors[k % N_SERIES_COLORS];
        double y = ly + 18 + 20.0 * k;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">",
                PA_X1 + 22, y, PA_X1 + 46, y, col, PA_X1 + 34, y, col, PA_X1 + 52, y + 4);
        xml_write_clipped(f, s[k].name, 16);
        fputs("</text>\n", f);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555555\">&#215; infeasible "
               "budget</text>\n",
            PA_X1 + 22, ly + 20.0 * n_series + 20);
    fputs("</svg>\n", f);
    return ferror(f) ? remat_fail(err, -EIO, "write error") : 0;
}
