/*
 * report.c — `secureai report RUN_DIR`: one self-contained HTML page per run.
 *
 * Everything is inline (CSS in a <style>, charts as inline SVG), and a
 * Content-Security-Policy of default-src 'none' makes sure that even a
 * string that slipped through cannot make the browser fetch anything. Every
 * string taken from run.json or the provenance statement is HTML-escaped:
 * those files passed through the untrusted host.
 *
 * What the page shows, first: the verdict it computed itself. With a verify
 * policy (`secureai report RUN_DIR --policy POLICY`) the report runs the
 * checks of `secureai verify` on provenance.json and the model file
 * (sai_provenance_verify_files), and takes the TEE kind, what it protects,
 * the metrics and the per-epoch test curves, the model hash, the dataset
 * identity and the measurement from that verified statement only. Anything
 * that comes only from run.json (throughput, timings, the training-progress
 * curve, file names) is marked "host-written (unverified)"; without a policy
 * the page says "not verified: no policy given" and shows nothing as
 * verified. Tests: tests/pipeline/test_report.c,
 * tests/redteam/test_rt_report.sh.
 */
#include "secureai/pipeline.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/weaken.h"
#include "secureai/util.h"

/* The page, uncapped as before; the first failure sticks. */
typedef struct buf {
    sai_buf_t s;
    bool    oom;
} buf;

SAI_PRINTF(2, 3)
static void bprintf(buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (sai_buf_vprintf(&b->s, fmt, ap) != 0)
        b->oom = true;
    va_end(ap);
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

/* A line chart of up to 4 series from hist[] (x = member xkey, "step" or
 * "epoch"). */
typedef struct series { const char *key, *label, *color; } series;

static void chart(buf *b, const cJSON *hist, const char *xkey, const char *title, const series *ss, size_t ns)
{
    const double W = 560, H = 220, L = 50, R = 10, T = 24, B = 30;
    int n = cJSON_GetArraySize(hist);
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        const cJSON *h = cJSON_GetArrayItem(hist, i);
        double x, y;
        if (!jnum(h, xkey, &x))
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
    bprintf(b, "<text x='%.0f' y='%.0f' font-size='10'>%s %.0f</text>", L, H - 8, xkey, xmin);
    bprintf(b, "<text x='%.0f' y='%.0f' font-size='10' text-anchor='end'>%s %.0f</text>", W - R, H - 8, xkey,
            xmax);
    for (size_t s = 0; s < ns; s++) {
        bprintf(b, "<polyline fill='none' stroke='%s' stroke-width='2' points='", ss[s].color);
        for (int i = 0; i < n; i++) {
            const cJSON *h = cJSON_GetArrayItem(hist, i);
            double x, y;
            if (jnum(h, xkey, &x) && jnum(h, ss[s].key, &y))
                bprintf(b, "%.1f,%.1f ", PX(x), PY(y));
        }
        bprintf(b, "'/>");
        for (int i = 0; i < n; i++) {
            const cJSON *h = cJSON_GetArrayItem(hist, i);
            double x, y;
            if (jnum(h, xkey, &x) && jnum(h, ss[s].key, &y))
                bprintf(b, "<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>", PX(x), PY(y), ss[s].color);
        }
        bprintf(b, "<text x='%.0f' y='%.0f' font-size='11' fill='%s'>", W - R - 150, T + 14.0 * (double)(s + 1),
                ss[s].color);
        besc(b, ss[s].label);
        bprintf(b, "</text>");
    }
#undef PX
#undef PY
    bprintf(b, "</svg></figure>\n");
}


static const char UNVERIFIED[] = "host-written (unverified)";

/* A row whose value came from run.json: marked as such. */
static void row_host(buf *b, const char *k, const char *v)
{
    bprintf(b, "<tr><th>");
    besc(b, k);
    bprintf(b, "</th><td><code>");
    besc(b, v ? v : "(none)");
    bprintf(b, "</code> <span class='host'>%s</span></td></tr>\n", UNVERIFIED);
}

static void rownum_host(buf *b, const char *k, const cJSON *o, const char *key, int decimals)
{
    double v;
    char s[64] = "(none)";
    if (jnum(o, key, &v))
        snprintf(s, sizeof s, "%.*f", decimals, v);
    row_host(b, k, s);
}

int sai_report_render(char **html, size_t *len, const char *run_json, size_t run_len,
                      const char *provenance, size_t prov_len, const sai_report_check_t *chk, sai_error_t *err)
{
    *html = NULL;
    cJSON *run = cJSON_ParseWithLength(run_json, run_len);
    if (!cJSON_IsObject(run)) {
        cJSON_Delete(run);
        return sai_error_set(err, SAI_EFORMAT, "run.json is not a JSON object");
    }
    /* Only a statement this report verified itself (same bytes) is shown as
     * verified; run.json passed through the untrusted host and may say
     * anything. */
    bool verified = chk != NULL && chk->policy_given && chk->rc == 0 && provenance != NULL;
    bool weak = SAI_WEAKENED("report_verify");   /* red-team build: trust run.json as before */
    cJSON *stmt = verified ? sai_provenance_payload(provenance, prov_len) : NULL;
    if (stmt == NULL)
        verified = false;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(stmt, "predicate");
    const cJSON *vmet = cJSON_GetObjectItemCaseSensitive(pr, "metrics");
    buf b = {0};
    sai_buf_init(&b.s, SIZE_MAX);
    const char *name = jstr(run, "name");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(run, "throughput");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(run, "history");
    const cJSON *tim = cJSON_GetObjectItemCaseSensitive(run, "timing");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(run, "attestation");
    const char *tee = verified ? jstr(pr, "tee") : NULL;
    if (weak) {
        verified = true;
        tee = jstr(run, "tee");
        vmet = cJSON_GetObjectItemCaseSensitive(run, "metrics");
    }

    bprintf(&b, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
                "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
                "style-src 'unsafe-inline'; img-src data:\">\n<title>SecureAI run ");
    besc(&b, name ? name : "(unnamed)");
    bprintf(&b, "</title>\n<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
                "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:4px 8px;"
                "text-align:left;vertical-align:top}th{background:#f6f6f6;font-weight:normal;width:14em}"
                "code{word-break:break-all}.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.6em 1em}"
                ".verdict{font-size:1.2em;padding:.6em 1em;border:2px solid}"
                ".verdict.ok{border-color:#0a7b24}.verdict.bad{border-color:#b00020;background:#fdecee}"
                ".ok{color:#0a7b24;font-weight:bold}.bad{color:#b00020;font-weight:bold}"
                ".host{color:#8a6d00;font-size:.85em}"
                "ol.chain li{margin:.3em 0}figure{display:inline-block;margin:.5em}</style>\n"
                "</head><body>\n<h1>SecureAI run: ");
    besc(&b, name ? name : "(unnamed)");
    bprintf(&b, " <span class='host'>(name %s)</span></h1>\n", UNVERIFIED);

    /* The verdict this report computed, first and prominent. */
    bprintf(&b, "<h2>Verification</h2>\n");
    if (verified && !weak) {
        bprintf(&b, "<p class='verdict ok'><span class='ok'>VERIFIED</span>: the provenance statement, its "
                    "attestation evidence and the model file (SHA-256) were checked by this report against "
                    "the verify policy (the checks of <code>secureai verify</code>). Values marked "
                    "<em>verified</em> below come from that statement.</p>\n");
    } else if (weak) {
        bprintf(&b, "<p class='verdict ok'><span class='ok'>VERIFIED</span> (red-team build: run.json "
                    "trusted)</p>\n");
    } else if (chk == NULL || !chk->policy_given) {
        bprintf(&b, "<p class='verdict bad'><span class='bad'>not verified: no policy given</span>. Nothing on "
                    "this page is verified; everything shown is %s. Run <code>secureai report RUN_DIR --policy "
                    "POLICY</code> to verify.</p>\n", UNVERIFIED);
    } else {
        bprintf(&b, "<p class='verdict bad'><span class='bad'>NOT VERIFIED</span>: ");
        besc(&b, provenance == NULL ? "no provenance statement in this run directory" : chk->reason);
        bprintf(&b, ". Nothing on this page is verified; everything shown is %s.</p>\n", UNVERIFIED);
    }

    bprintf(&b, "<h2>What the TEE protects</h2>\n");
    if (verified) {
        bool emulated = !weak && chk->res.emulated;
        bool sim = tee == NULL || strcmp(tee, "sim") == 0 || emulated;
        bprintf(&b, "<p class='%s'><strong>TEE kind: ", sim ? "warn" : "");
        besc(&b, tee ? tee : "unknown");
        bprintf(&b, "</strong> <span class='ok'>verified</span>. ");
        if (!weak && chk->res.protection != NULL) {
            bprintf(&b, "<strong>");
            besc(&b, chk->res.protection);
            bprintf(&b, ".</strong> ");
        }
        if (!emulated)   /* an emulation's evidence protects nothing the TEE kind's line promises */
            besc(&b, sai_pipeline_tee_statement(tee));
        bprintf(&b, "</p>\n");
        if (!weak && strcmp(chk->res.kbs_channel, "insecure-http") == 0)
            bprintf(&b, "<p class='warn'><strong>WARNING: the enclave fetched its keys over plain HTTP "
                        "(kbs.insecure_http)</strong>: anyone on the network path could read or replace them.</p>\n");
    } else {
        const char *claimed = jstr(run, "tee");
        bprintf(&b, "<p class='warn'><strong>TEE kind: not verified.</strong> run.json claims <code>");
        besc(&b, claimed ? claimed : "(none)");
        bprintf(&b, "</code> <span class='host'>%s</span>; no protection is established by this page.</p>\n",
                UNVERIFIED);
    }

    bprintf(&b, "<h2>Results</h2>\n<table>\n");
    if (verified) {
        rownum(&b, "test accuracy (verified)", vmet, "test_accuracy", 4);
        rownum(&b, "test loss (verified)", vmet, "test_loss", 4);
        rownum(&b, "final train loss (verified)", vmet, "train_loss", 4);
    } else {
        const cJSON *hm = cJSON_GetObjectItemCaseSensitive(run, "metrics");
        rownum_host(&b, "test accuracy", hm, "test_accuracy", 4);
        rownum_host(&b, "test loss", hm, "test_loss", 4);
        rownum_host(&b, "final train loss", hm, "train_loss", 4);
    }
    rownum_host(&b, "training throughput (images/s)", thr, "train_images_per_s", 1);
    rownum_host(&b, "inference throughput (images/s)", thr, "infer_images_per_s", 1);
    rownum_host(&b, "attestation + key release (s)", tim, "attest_s", 3);
    rownum_host(&b, "ingest: decrypt + decode (s)", tim, "ingest_s", 3);
    rownum_host(&b, "training (s)", tim, "train_s", 3);
    rownum_host(&b, "evaluation (s)", tim, "evaluate_s", 3);
    rownum_host(&b, "checkpoint sealing (s)", tim, "seal_s", 3);
    rownum_host(&b, "wall time (s)", tim, "total_s", 3);
    bprintf(&b, "</table>\n");

    bprintf(&b, "<h2>Test curves per epoch</h2>\n");
    static const series tacc[] = {{"test_accuracy", "test accuracy", "#1e8449"}};
    static const series tloss[] = {{"test_loss", "test loss", "#8e44ad"}};
    if (verified) {
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(vmet, "epochs");
        bprintf(&b, "<p>From the <span class='ok'>verified</span> statement's metrics (the enclave evaluated "
                    "the test set at the end of every epoch).</p>\n");
        chart(&b, ep, "epoch", "test accuracy per epoch (verified)", tacc, 1);
        chart(&b, ep, "epoch", "test loss per epoch (verified)", tloss, 1);
    } else {
        bprintf(&b, "<p>Not drawn: the per-epoch test metrics are shown only from a verified statement.</p>\n");
    }
    bprintf(&b, "<h2>Training progress</h2>\n<p class='host'>From run.json: %s.</p>\n", UNVERIFIED);
    static const series loss[] = {{"loss", "train loss", "#c0392b"}};
    static const series acc[] = {{"train_acc", "train accuracy", "#2471a3"}};
    chart(&b, hist, "step", "train loss (host-written)", loss, 1);
    chart(&b, hist, "step", "train accuracy (host-written)", acc, 1);

    bprintf(&b, "<h2>Attestation</h2>\n<table>\n");
    const char *verdict = jstr(att, "verdict");
    bprintf(&b, "<tr><th>key broker verdict</th><td>");
    besc(&b, verdict ? verdict : "(none)");
    bprintf(&b, " <span class='host'>%s</span></td></tr>\n", UNVERIFIED);
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
    row_host(&b, "key broker", kbuf);
    row_host(&b, "detail", jstr(att, "detail"));
    if (verified && !weak) {
        row(&b, "evidence format (verified)", chk->res.evidence_format);
        row(&b, "launch measurement (SHA-384, verified)", jstr(pr, "launch_measurement"));
        row(&b, "spec hash (SHA-256, verified = HOST_DATA)", jstr(pr, "spec_sha256"));
        row(&b, "statement time (verified)", chk->res.time);
        const char *kc = chk->res.kbs_channel;
        row(&b, "KBS channel (verified)", kc[0] ? kc : "(not recorded)");
    } else if (weak) {
        row(&b, "launch measurement (SHA-384, verified)", jstr(run, "measurement"));
        row(&b, "spec hash (SHA-256, verified)", jstr(run, "spec_sha256"));
    } else {
        row_host(&b, "launch measurement (SHA-384)", jstr(run, "measurement"));
        row_host(&b, "spec hash (SHA-256)", jstr(run, "spec_sha256"));
    }
    bprintf(&b, "</table>\n");

    bprintf(&b, "<h2>Provenance chain</h2>\n");
    if (!verified || weak) {
        bprintf(&b, "<p class='bad'>%s</p>\n", provenance == NULL ? "No provenance statement in this run directory."
                                                                 : "Not shown: the statement was not verified.");
    } else {
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(pr, "dataset");
        const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(stmt, "subject"), 0);
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(pr, "evidence");
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(pr, "signing_key");
        bprintf(&b, "<p>Every value in this chain is from the verified statement.</p>\n");
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
        bprintf(&b, "</code> at <code>");
        besc(&b, jstr(pr, "time"));
        bprintf(&b, "</code>, engine <code>");
        besc(&b, jstr(cJSON_GetObjectItemCaseSensitive(pr, "engine"), "version"));
        bprintf(&b, "</code></li>\n<li><strong>model</strong> <code>");
        besc(&b, jstr(s0, "name"));
        bprintf(&b, "</code> SHA-256 <code>");
        besc(&b, jstr(cJSON_GetObjectItemCaseSensitive(s0, "digest"), "sha256"));
        bprintf(&b, "</code> %s</li>\n</ol>\n",
                chk->model_checked ? "<span class='ok'>= the model file's SHA-256 (checked)</span>" : "");
    }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(run, "outputs");
    bprintf(&b, "<h2>Files</h2>\n<table>\n");
    row_host(&b, "sealed model", jstr(outs, "model"));
    row_host(&b, "model SHA-256", jstr(outs, "model_sha256"));
    row_host(&b, "provenance statement", jstr(outs, "provenance"));
    bprintf(&b, "</table>\n<p><small>secureai ");
    besc(&b, SAI_VERSION);
    bprintf(&b, " &middot; this page loads nothing from the network.</small></p>\n</body></html>\n");

    cJSON_Delete(run);
    cJSON_Delete(stmt);
    if (b.oom) {
        sai_buf_free(&b.s);
        return sai_error_set(err, SAI_ENOMEM, "out of memory rendering the report");
    }
    *html = (char *)sai_buf_take(&b.s, len);
    return 0;
}

/* The model file named by run.json (a plain file name in the run
 * directory; its bytes are hashed against the statement, so the name only
 * locates it). */
static void model_path(char *out, size_t cap, const char *run_dir, const uint8_t *run, size_t run_len)
{
    cJSON *r = cJSON_ParseWithLength((const char *)run, run_len);
    const char *m = jstr(cJSON_GetObjectItemCaseSensitive(r, "outputs"), "model");
    if (m == NULL || m[0] == '\0' || m[0] == '.' || strchr(m, '/') != NULL)
        m = "model.sealed";
    snprintf(out, cap, "%s/%s", run_dir, m);
    cJSON_Delete(r);
}

int sai_report_write_verified(const char *run_dir, const char *policy_path, int64_t max_age, char *out_path,
                              size_t out_cap, bool *verified, sai_error_t *err)
{
    char path[4096];
    uint8_t *run = NULL, *prov = NULL;
    size_t run_len = 0, prov_len = 0;
    char *html = NULL;
    size_t hlen = 0;
    int rc;
    sai_report_check_t *chk = NULL;
    if (verified)
        *verified = false;
    if (snprintf(path, sizeof path, "%s/run.json", run_dir) >= (int)sizeof path)
        return sai_error_set(err, SAI_EINVAL, "run directory path too long");
    if ((rc = sai_read_file(path, 16u << 20, &run, &run_len, err)))
        return sai_error_prefix(err, "%s", path);
    snprintf(path, sizeof path, "%s/provenance.json", run_dir);
    sai_error_t perr = {0};
    if (sai_read_file(path, SAI_PROVENANCE_MAX_BYTES, &prov, &prov_len, &perr) != 0)
        prov = NULL;
    if (policy_path != NULL) {
        sai_verify_policy_t pol;
        if ((rc = sai_verify_policy_load(&pol, policy_path, err)))
            goto out;
        if ((chk = calloc(1, sizeof *chk)) == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        chk->policy_given = true;
        if (prov == NULL) {
            chk->rc = perr.code ? perr.code : SAI_ENOTFOUND;
            snprintf(chk->reason, sizeof chk->reason, "provenance.json: %.400s", perr.msg);
        } else {
            char mp[4200];
            sai_error_t verr = {0};
            model_path(mp, sizeof mp, run_dir, run, run_len);
            chk->rc = sai_provenance_verify_files(mp, prov, prov_len, &pol, max_age, 0, &chk->res, &verr);
            snprintf(chk->reason, sizeof chk->reason, "%s", verr.msg);
            chk->model_checked = chk->rc == 0;
        }
        if (verified)
            *verified = chk->rc == 0 || SAI_WEAKENED("report_verify");
    }
    rc = sai_report_render(&html, &hlen, (const char *)run, run_len, (const char *)prov, prov_len, chk, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/report.html", run_dir);
        rc = sai_write_file_atomic(path, html, hlen, 0644, false, err);
        if (rc == 0 && out_path != NULL)
            snprintf(out_path, out_cap, "%s", path);
    }
out:
    free(chk);
    free(run);
    free(prov);
    free(html);
    return rc;
}

int sai_report_write(const char *run_dir, char *out_path, size_t out_cap, sai_error_t *err)
{
    return sai_report_write_verified(run_dir, NULL, 0, out_path, out_cap, NULL, err);
}
