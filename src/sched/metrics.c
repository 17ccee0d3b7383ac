/*
 * metrics.c — the simulator's outputs: a JSON metrics object per run, the
 * `sched compare` table, and an SVG bar chart comparing policies (mean and
 * p95 waiting time, makespan, violations). Plain stdio; the SVG is written
 * by hand because it is a handful of rectangles.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "secureai/sched.h"

static void jnum(FILE *o, const char *k, double v, bool comma)
{
    if (!isfinite(v)) v = 0;
    fprintf(o, "  \"%s\": %.6g%s\n", k, v, comma ? "," : "");
}

int sai_sched_metrics_json(FILE *o, const sai_sched_cluster_t *c, const sai_sched_metrics_t *m)
{
    fprintf(o, "{\n  \"policy\": \"%s\",\n", m->policy);
    fprintf(o, "  \"jobs\": %llu,\n  \"completed\": %llu,\n  \"unschedulable\": %llu,\n",
            (unsigned long long)m->jobs, (unsigned long long)m->completed,
            (unsigned long long)m->unschedulable);
    fprintf(o, "  \"events\": %llu,\n  \"violations\": %llu,\n  \"invariant_failures\": %llu,\n",
            (unsigned long long)m->events, (unsigned long long)m->violations,
            (unsigned long long)m->invariant_failures);
    fprintf(o, "  \"on_tee\": %llu,\n  \"sgx_paged\": %llu,\n", (unsigned long long)m->on_tee,
            (unsigned long long)m->paged);
    jnum(o, "makespan_s", m->makespan, true);
    jnum(o, "throughput_jobs_per_h", m->throughput_per_h, true);
    jnum(o, "wait_mean_s", m->wait_mean, true);
    jnum(o, "wait_p50_s", m->wait_p50, true);
    jnum(o, "wait_p95_s", m->wait_p95, true);
    jnum(o, "wait_p99_s", m->wait_p99, true);
    jnum(o, "wait_max_s", m->wait_max, true);
    jnum(o, "slowdown_mean", m->slowdown_mean, true);
    jnum(o, "slowdown_p95", m->slowdown_p95, true);
    jnum(o, "cost_provisioned", m->cost_provisioned, true);
    jnum(o, "cost_used", m->cost_used, true);
    fprintf(o, "  \"pools\": [");
    for (size_t p = 0; p < m->npools && c != NULL && p < c->npools; p++) {
        fprintf(o, "%s\n    {\"name\": \"%s\", \"tee\": \"%s\", \"nodes\": %u, \"jobs\": %llu, "
                "\"cpu_util\": %.4f, \"mem_util\": %.4f, \"epc_util\": %.4f}",
                p ? "," : "", c->pools[p].name, sai_sched_tee_name(c->pools[p].tee), c->pools[p].count,
                (unsigned long long)m->pools[p].jobs, m->pools[p].cpu_util, m->pools[p].mem_util,
                m->pools[p].epc_util);
    }
    fprintf(o, "\n  ]\n}\n");
    return ferror(o) ? SAI_EIO : 0;
}

static void hms(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    long long t = llround(s);
    snprintf(buf, n, "%lldh%02lld", t / 3600, (t / 60) % 60);
}

void sai_sched_compare_table(FILE *o, const sai_sched_metrics_t *m, size_t n)
{
    fprintf(o, "%-17s %7s %9s %9s %9s %9s %10s %8s %6s %6s %10s\n", "policy", "done", "wait_mean",
            "wait_p50", "wait_p95", "wait_p99", "makespan", "slowdown", "viol", "paged", "cost_used");
    for (size_t i = 0; i < n; i++) {
        char ms[32];
        hms(ms, sizeof ms, m[i].makespan);
        fprintf(o, "%-17s %7llu %9.1f %9.1f %9.1f %9.1f %10s %8.2f %6llu %6llu %10.2f\n",
                m[i].policy, (unsigned long long)m[i].completed, m[i].wait_mean, m[i].wait_p50,
                m[i].wait_p95, m[i].wait_p99, ms, m[i].slowdown_mean,
                (unsigned long long)m[i].violations, (unsigned long long)m[i].paged, m[i].cost_used);
    }
}

int sai_sched_compare_svg(FILE *o, const sai_sched_metrics_t *m, size_t n, const char *title)
{
    const int W = 760, H = 420, left = 70, top = 50, bottom = 90, ch = H - top - bottom;
    double maxv = 1;
    for (size_t i = 0; i < n; i++)
        if (m[i].wait_p95 > maxv) maxv = m[i].wait_p95;
    for (size_t i = 0; i < n; i++)
        if (m[i].wait_mean > maxv) maxv = m[i].wait_mean;
    double gw = n ? (double)(W - left - 20) / (double)n : 1;
    fprintf(o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(o, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(o, "<text x=\"%d\" y=\"24\" font-size=\"15\">", left);
    for (const char *p = title ? title : "policies"; *p; p++) {
        if (*p == '<') fputs("&lt;", o);
        else if (*p == '&') fputs("&amp;", o);
        else fputc(*p, o);
    }
    fprintf(o, "</text>\n");
    fprintf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, top,
            left, top + ch);
    fprintf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", left, top + ch,
            W - 10, top + ch);
    for (int t = 0; t <= 4; t++) {
        double v = maxv * t / 4;
        int y = top + ch - (int)(ch * t / 4);
        fprintf(o, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f s</text>\n", left - 4, y + 4, v);
    }
    for (size_t i = 0; i < n; i++) {
        double x0 = left + gw * (double)i + gw * 0.15, bw = gw * 0.3;
        double hm = ch * m[i].wait_mean / maxv, hp = ch * m[i].wait_p95 / maxv;
        fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4477aa\"/>\n",
                x0, top + ch - hm, bw, hm);
        fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ee6677\"/>\n",
                x0 + bw, top + ch - hp, bw, hp);
        fprintf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x0 + bw,
                top + ch + 16, m[i].policy);
        fprintf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">"
                "makespan %.0f s</text>\n", x0 + bw, top + ch + 30, m[i].makespan);
        fprintf(o, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\"%s>"
                "violations %llu</text>\n", x0 + bw, top + ch + 44,
                m[i].violations ? " fill=\"red\"" : "", (unsigned long long)m[i].violations);
    }
    fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#4477aa\"/>"
            "<text x=\"%d\" y=\"%d\">mean wait</text>\n", left, H - 24, left + 16, H - 14);
    fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"#ee6677\"/>"
            "<text x=\"%d\" y=\"%d\">p95 wait</text>\n", left + 110, H - 24, left + 126, H - 14);
    fprintf(o, "</svg>\n");
    return ferror(o) ? SAI_EIO : 0;
}
