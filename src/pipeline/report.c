/*
 * report.c — `secureai report RUN_DIR`: one self-contained HTML page per run.
 *
 * Everything is inline (CSS in a <style>, charts as inline SVG), and a
 * Content-Security-Policy of default-src 'none' makes sure that even a
 * string that slipped through cannot make the browser fetch anything. Every
 * string taken from run.json or the provenance statement is HTML-escaped:
 * those files passed through the untrusted host.
 *
 * What the page shows: the TEE kind and, in plain words, what it protects
 * (sai_pipeline_tee_statement); loss and accuracy curves; throughput; the
 * attestation result; the provenance chain from dataset to model.
 * Tests: tests/pipeline/test_report.c.
 */
#include "secureai/pipeline.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

typedef struct buf {
    char  *p;
    size_t len, cap;
    bool   oom;
} buf;

SAI_PRINTF(2, 3)
static void bprintf(buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
        char *np = realloc(b->p, nc);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

static void besc(buf *b, const char *s)
{
    if (s == NULL)
        return;
    for (; *s; s++) {
        switch (*s) {
        case '<': bprintf(b, "&lt;"); break;
        case '>': bprintf(b, "&gt;"); break;
        case '&': bprintf(b, "&amp;"); break;
        case '"': bprintf(b, "&quot;"); break;
        case '\'': bprintf(b, "&#39;"); break;
        default:
            if ((unsigned char)*s < 0x20)
                bprintf(b, " ");
            else
                bprintf(b, "%c", *s);
        }
    }
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *o, const char *k, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return false;
    *out = v->valuedouble;
    return true;
}

static void row(buf *b, const char *k, const char *v)
{
    bprintf(b, "<tr><th>");
    besc(b, k);
    bprintf(b, "</th><td><code>");
    besc(b, v ? v : "(none)");
    bprintf(b, "</code></td></tr>\n");
}

static void rownum(buf *b, const char *k, const cJSON *o, const char *key, int decimals)
{
    double v;
    char s[64] = "(none)";
    if (jnum(o, key, &v))
        snprintf(s, sizeof s, "%.*f", decimals, v);
    row(b, k, s);
}

/* A line chart of up to 4 series from history[] (x = series "step"). */
typedef struct series { const char *key, *label, *color; } series;

static void chart(buf *b, const cJSON *hist, const char *title, const series *ss, size_t ns)
{
    const double W = 560, H = 220, L = 50, R = 10, T = 24, B = 30;
    int n = cJSON_GetArraySize(hist);
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        const cJSON *h = cJSON_GetArrayItem(hist, i);
        double x, y;
        if (!jnum(h, "step", &x))
            continue;
        for (size_t s = 0; s < ns; s++)
            if (jnum(h, ss[s].key, &y)) {
                xmin = fmin(xmin, x); xmax = fmax(xmax, x);
                ymin = fmin(ymin, y); ymax = fmax(ymax, y);
            }
    }
    bprintf(b, "<figure><svg width='%.0f' height='%.0f' "
               "viewBox='0 0 %.0f %.0f' role='img' aria-label='", W, H, W, H);
    besc(b, title);
    bprintf(b, "'><rect width='100%%' height='100%%' fill='#fff' stroke='#ccc'/>"
               "<text x='%.0f' y='16' font-size='13' font-weight='bold'>", L);
    besc(b, title);
    bprintf(b, "</text>");
    if (!isfinite(xmin)) {
        bprintf(b, "<text x='%.0f' y='%.0f' font-size='12'>no data recorded</text></svg></figure>\n", L, H / 2);
        return;
    }
    if (xmax == xmin) xmax = xmin + 1;
    if (ymax == ymin) { ymax += 0.5; ymin -= 0.5; }
    double pad = (ymax - ymin) * 0.05;
    ymin -= pad; ymax += pad;
#define PX(x) (L + ((x) - xmin) / (xmax - xmin) * (W - L - R))
#define PY(y) (H - B - ((y) - ymin) / (ymax - ymin) * (H - T - B))
    bprintf(b, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#888'/>", L, H - B, W - R, H - B);
    bprintf(b, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='#888'/>", L, T, L, H - B);
    for (int t = 0; t <= 4; t++) {
        double y = ymin + (ymax - ymin) * t / 4.0;
        bprintf(b, "<text x='4' y='%.1f' font-size='10'>%.3g</text>"
                   "<line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#eee'/>",
                PY(y) + 3, y, L, PY(y), W - R, PY(y));
    }
    bprintf(b, "<text x='%.0f' y='%.0f' font-size='10'>step %.0f</text>", L, H - 8, xmin);
    bprintf(b, "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>step %.0f</text>", W - R, H - 8, xmax);
    for (size_t s = 0; s < ns; s++) {
        bprintf(b, "<polyline fill='none' stroke='%s' stroke-width='2' points='", ss[s].color);
        for (int i = 0; i < n; i++) {
            const cJSON *h = cJSON_GetArrayItem(hist, i);
            double x, y;
            if (jnum(h, "step", &x) && jnum(h, ss[s].key, &y))
                bprintf(b, "%.1f,%.1f ", PX(x), PY(y));
        }
        bprintf(b, "'/><text x='%.0f' y='%.0f' font-size='11' fill='%s'>", W - R - 150, T + 14.0 * (double)(s + 1),
                ss[s].color);
        besc(b, ss[s].label);
        bprintf(b, "</text>");
    }
#undef PX
#undef PY
    bprintf(b, "</svg></figure>\n");
}

int sai_report_render(char **html, size_t *len, const char *run_json, size_t run_len,
                      const char *provenance, size_t prov_len, sai_error *err)
{
    *html = NULL;
    cJSON *run = cJSON_ParseWithLength(run_json, run_len);
    if (!cJSON_IsObject(run)) {
        cJSON_Delete(run);
        return sai_error_set(err, SAI_EFORMAT, "run.json is not a JSON object");
    }
    cJSON *stmt = NULL, *env = NULL;
    if (provenance != NULL) {
        env = cJSON_ParseWithLength(provenance, prov_len);
        const char *p64 = jstr(env, "payload");
        uint8_t *pl = NULL;
        size_t pn = 0;
        if (p64 != NULL && sai_b64_decode(&pl, &pn, p64, strlen(p64), NULL) == 0) {
            stmt = cJSON_ParseWithLength((const char *)pl, pn);
            free(pl);
        }
    }
    buf b = {0};
    const char *name = jstr(run, "name");
    const char *tee = jstr(run, "tee");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(run, "metrics");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(run, "throughput");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(run, "attestation");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(run, "history");
    const cJSON *tim = cJSON_GetObjectItemCaseSensitive(run, "timing");

    bprintf(&b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
                "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
                "style-src 'unsafe-inline'; img-src data:\">\n<title>SecureAI run ");
    besc(&b, name ? name : "(unnamed)");
    bprintf(&b, "</title>\n<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
                "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:4px 8px;"
                "text-align:left;vertical-align:top}th{background:#f6f6f6;font-weight:normal;width:14em}"
                "code{word-break:break-all}.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.6em 1em}"
                ".ok{color:#0a7b24;font-weight:bold}.bad{color:#b00020;font-weight:bold}"
                "ol.chain li{margin:.3em 0}figure{display:inline-block;margin:.5em}</style>\n"
                "</head><body>\n<h1>SecureAI run: ");
    besc(&b, name ? name : "(unnamed)");
    bprintf(&b, "</h1>\n<h2>What the TEE protects</h2>\n<p class='%s'><strong>TEE kind: ",
            tee == NULL || strcmp(tee, "sim") == 0 ? "warn" : "");
    besc(&b, tee ? tee : "unknown");
    bprintf(&b, ".</strong> ");
    besc(&b, sai_pipeline_tee_statement(tee));
    bprintf(&b, "</p>\n");

    bprintf(&b, "<h2>Results</h2>\n<table>\n");
    rownum(&b, "test accuracy", metrics, "test_accuracy", 4);
    rownum(&b, "test loss", metrics, "test_loss", 4);
    rownum(&b, "final train loss", metrics, "train_loss", 4);
    rownum(&b, "training throughput (images/s)", thr, "train_images_per_s", 1);
    rownum(&b, "inference throughput (images/s)", thr, "infer_images_per_s", 1);
    rownum(&b, "attestation + key release (s)", tim, "attest_s", 3);
    rownum(&b, "ingest: decrypt + decode (s)", tim, "ingest_s", 3);
    rownum(&b, "training (s)", tim, "train_s", 3);
    rownum(&b, "evaluation (s)", tim, "evaluate_s", 3);
    rownum(&b, "checkpoint sealing (s)", tim, "seal_s", 3);
    rownum(&b, "wall time (s)", tim, "total_s", 3);
    bprintf(&b, "</table>\n");

    bprintf(&b, "<h2>Training curves</h2>\n");
    static const series loss[] = {{"loss", "train loss", "#c0392b"}, {"test_loss", "test loss", "#8e44ad"}};
    static const series acc[] = {{"train_acc", "train accuracy", "#2471a3"}, {"test_acc", "test accuracy", "#1e8449"}};
    chart(&b, hist, "loss", loss, 2);
    chart(&b, hist, "accuracy", acc, 2);

    bprintf(&b, "<h2>Attestation</h2>\n<table>\n");
    const char *verdict = jstr(att, "verdict");
    bprintf(&b, "<tr><th>verdict</th><td class='%s'>", verdict && strcmp(verdict, "affirming") == 0 ? "ok" : "bad");
    besc(&b, verdict ? verdict : "(none)");
    bprintf(&b, "</td></tr>\n");
    /* The KBS address as text without its scheme: the page must not carry
     * anything a browser could mistake for a resource to fetch. */
    const char *kbs = jstr(att, "kbs");
    char kbuf[300];
    if (kbs != NULL && strncmp(kbs, "https://", 8) == 0)
        snprintf(kbuf, sizeof kbuf, "%s (TLS)", kbs + 8);
    else if (kbs != NULL && strncmp(kbs, "http://", 7) == 0)
        snprintf(kbuf, sizeof kbuf, "%s (plain HTTP)", kbs + 7);
    else
        snprintf(kbuf, sizeof kbuf, "%s", kbs ? kbs : "(none)");
    row(&b, "key broker", kbuf);
    row(&b, "evidence format", jstr(att, "evidence_format"));
    row(&b, "detail", jstr(att, "detail"));
    row(&b, "launch measurement (SHA-384)", jstr(run, "measurement"));
    row(&b, "spec hash (SHA-256)", jstr(run, "spec_sha256"));
    bprintf(&b, "</table>\n");

    bprintf(&b, "<h2>Provenance chain</h2>\n");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(stmt, "predicate");
    if (pr == NULL) {
        bprintf(&b, "<p class='bad'>No provenance statement in this run directory.</p>\n");
    } else {
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(pr, "dataset");
        const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(stmt, "subject"), 0);
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(pr, "evidence");
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(pr, "signing_key");
        const cJSON *sig0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(env, "signatures"), 0);
        bprintf(&b, "<ol class='chain'>\n<li><strong>dataset</strong> identity <code>");
        besc(&b, jstr(ds, "identity"));
        bprintf(&b, "</code> (KBS resource <code>");
        besc(&b, jstr(ds, "resource"));
        bprintf(&b, "</code>)</li>\n<li><strong>enclave</strong> launch measurement <code>");
        besc(&b, jstr(pr, "launch_measurement"));
        bprintf(&b, "</code>, TEE <code>");
        besc(&b, jstr(pr, "tee"));
        bprintf(&b, "</code>, spec <code>");
        besc(&b, jstr(pr, "spec_sha256"));
        bprintf(&b, "</code></li>\n<li><strong>evidence</strong> (<code>");
        besc(&b, jstr(ev, "format"));
        bprintf(&b, "</code>) binds the signing key: report data = <code>");
        besc(&b, jstr(ev, "report_data"));
        bprintf(&b, "</code></li>\n<li><strong>statement</strong> signed <code>");
        besc(&b, jstr(sk, "alg"));
        bprintf(&b, "</code> by key <code>");
        besc(&b, jstr(sig0, "keyid"));
        bprintf(&b, "</code> at <code>");
        besc(&b, jstr(pr, "time"));
        bprintf(&b, "</code>, engine <code>");
        besc(&b, jstr(cJSON_GetObjectItemCaseSensitive(pr, "engine"), "version"));
        bprintf(&b, "</code></li>\n<li><strong>model</strong> <code>");
        besc(&b, jstr(s0, "name"));
        bprintf(&b, "</code> SHA-256 <code>");
        besc(&b, jstr(cJSON_GetObjectItemCaseSensitive(s0, "digest"), "sha256"));
        bprintf(&b, "</code></li>\n</ol>\n");
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(run, "verify");
    if (ver != NULL) {
        const char *vv = jstr(ver, "verdict");
        bprintf(&b, "<p>Offline verification (<code>secureai verify</code>): <span class='%s'>",
                vv && strcmp(vv, "ok") == 0 ? "ok" : "bad");
        besc(&b, vv ? vv : "?");
        bprintf(&b, "</span> ");
        besc(&b, jstr(ver, "reason"));
        bprintf(&b, "</p>\n");
    }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(run, "outputs");
    bprintf(&b, "<h2>Files</h2>\n<table>\n");
    row(&b, "sealed model", jstr(outs, "model"));
    row(&b, "model SHA-256", jstr(outs, "model_sha256"));
    row(&b, "provenance statement", jstr(outs, "provenance"));
    bprintf(&b, "</table>\n<p><small>secureai ");
    besc(&b, SAI_VERSION);
    bprintf(&b, " &middot; this page loads nothing from the network.</small></p>\n</body></html>\n");

    cJSON_Delete(run);
    cJSON_Delete(stmt);
    cJSON_Delete(env);
    if (b.oom) {
        free(b.p);
        return sai_error_set(err, SAI_ENOMEM, "out of memory rendering the report");
    }
    *html = b.p;
    if (len)
        *len = b.len;
    return 0;
}

int sai_report_write(const char *run_dir, char *out_path, size_t out_cap, sai_error *err)
{
    char path[4096];
    uint8_t *run = NULL, *prov = NULL;
    size_t run_len = 0, prov_len = 0;
    char *html = NULL;
    size_t hlen = 0;
    int rc;
    if (snprintf(path, sizeof path, "%s/run.json", run_dir) >= (int)sizeof path)
        return sai_error_set(err, SAI_EINVAL, "run directory path too long");
    if ((rc = sai_read_file(path, 16u << 20, &run, &run_len, err)))
        return sai_error_prefix(err, "%s", path);
    snprintf(path, sizeof path, "%s/provenance.json", run_dir);
    sai_error ignore = {0};
    if (sai_read_file(path, SAI_PROVENANCE_MAX_BYTES, &prov, &prov_len, &ignore) != 0)
        prov = NULL;
    rc = sai_report_render(&html, &hlen, (const char *)run, run_len, (const char *)prov, prov_len, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/report.html", run_dir);
        rc = sai_write_file_atomic(path, html, hlen, 0644, false, err);
        if (rc == 0 && out_path != NULL)
            snprintf(out_path, out_cap, "%s", path);
    }
    free(run);
    free(prov);
    free(html);
    return rc;
}
