/*
 * cmd_infer.c — `secureai infer`: the attesting client of `secureai serve`
 * (docs/serving.md). The server's evidence is checked against the policy
 * inside the TLS handshake (sai_serve_client_connect); a mismatch aborts
 * the handshake, so no image byte is ever sent to a server that fails it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "secureai/nn.h"
#include "secureai/serve.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai infer --endpoint https://HOST:PORT --policy POLICY [--top K] IMAGE...\n"
    "       secureai infer --endpoint https://HOST:PORT --policy POLICY --get PATH\n"
    "\n"
    "Verify the server's RA-TLS evidence against POLICY (JSON: measurement,\n"
    "model_sha256, allow_simulated, attestation_policy; docs/serving.md) during\n"
    "the TLS 1.3 handshake, then send the images and print one JSON line of\n"
    "top-K classes per image (as `secureai predict --json`). Nothing is sent to a\n"
    "server that fails the policy. IMAGE: a raw uint8 CxHxW image of the model's\n"
    "input size or an IDX image file (plain or .gz).\n"
    "\n"
    "options:\n"
    "  --top K       classes per image (default 5)\n"
    "  --get PATH    after verification, GET PATH (/v1/model, /metrics, /healthz) and print it\n";

/* The images of one file, appended to body; *count images of img bytes. */
static int add_file(sai_buf_t *body, const char *path, size_t img, size_t *count, sai_error_t *err)
{
    uint8_t *buf = NULL, *payload = NULL;
    size_t len = 0, plen = 0;
    int rc = sai_read_file(path, SAI_NN_DATA_MAX_BYTES, &buf, &len, err), nd;
    uint32_t dims[4];
    if (rc)
        return sai_error_prefix(err, "%s", path);
    if (len == img) {
        rc = sai_buf_append(body, buf, len);
        *count += 1;
    } else if (len >= 4 && ((buf[0] == 0 && buf[1] == 0) || (buf[0] == 0x1f && buf[1] == 0x8b))) {
        rc = sai_nn_idx_parse(buf, len, &payload, &plen, &nd, dims, err);
        if (rc == 0 && (nd != 3 || (size_t)dims[1] * dims[2] != img))
            rc = sai_error_set(err, SAI_EINVAL, "%s: IDX images do not match the model's input", path);
        if (rc == 0) {
            rc = sai_buf_append(body, payload, (size_t)dims[0] * img);
            *count += dims[0];
        }
    } else {
        rc = sai_error_set(err, SAI_EINVAL, "%s: %zu bytes is neither one image of the model's input (%zu bytes) "
                           "nor an IDX file", path, len, img);
    }
    if (rc == SAI_ELIMIT || rc == SAI_ENOMEM)
        rc = sai_error_set(err, rc, "%s: too many images", path);
    free(buf);
    free(payload);
    return rc;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"policy", required_argument, NULL, 'p'},
        {"top", required_argument, NULL, 'k'},      {"get", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    const char *endpoint = NULL, *policy = NULL, *get = NULL;
    long long top = 5;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'e': endpoint = optarg; break;
        case 'p': policy = optarg; break;
        case 'k': top = sai_cli_parse_size(optarg); break;
        case 'g': get = optarg; break;
        default: return sai_cli_usage_error("infer: unknown option");
        }
    }
    if (endpoint == NULL || policy == NULL)
        return sai_cli_usage_error("infer: --endpoint and --policy are required");
    if (top < 1 || top > SAI_SERVE_CLASSES_MAX)
        return sai_cli_usage_error("infer: bad --top");
    if ((get == NULL) == (optind >= argc))
        return sai_cli_usage_error("infer: images or --get PATH (not both)");
    sai_error_t err = {0};
    sai_serve_policy_t pol;
    sai_serve_verified_t v;
    sai_serve_client_t *cl = NULL;
    char *resp = NULL;
    size_t rlen = 0;
    int status = 0, ret = 1;
    cJSON *j = NULL;
    sai_buf_t body;
    sai_buf_init(&body, (size_t)1 << 30);
    if (sai_serve_policy_load(&pol, policy, &err) != 0)
        return sai_cli_fail(&err, "infer");
    if (sai_serve_client_connect(&cl, endpoint, &pol, &v, &err) != 0)
        return sai_cli_fail(&err, "infer: %s", endpoint);
    char mh[97];
    sai_hex_encode(mh, v.measurement, 48);
    fprintf(stderr, "secureai: infer: verified %s evidence%s: measurement %.16s..., the policy's model\n", v.tee,
            v.simulated ? " (SIMULATED: allowed by the policy)" : "", mh);
    if (get != NULL) {
        if (sai_serve_client_request(cl, "GET", get, NULL, NULL, NULL, 0, &status, &resp, &rlen, &err) != 0) {
            sai_cli_fail(&err, "infer: GET %s", get);
            goto out;
        }
        fwrite(resp, 1, rlen, stdout);
        if (rlen && resp[rlen - 1] != '\n')
            fputc('\n', stdout);
        ret = status == 200 ? 0 : 1;
        goto out;
    }
    if (sai_serve_client_request(cl, "GET", "/v1/model", NULL, NULL, NULL, 0, &status, &resp, &rlen, &err) != 0) {
        sai_cli_fail(&err, "infer: GET /v1/model");
        goto out;
    }
    j = cJSON_ParseWithLength(resp, rlen);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    int dim[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        const cJSON *d = cJSON_GetArrayItem(in, i);
        dim[i] = cJSON_IsNumber(d) && d->valuedouble >= 1 && d->valuedouble <= 4096 ? (int)d->valuedouble : 0;
    }
    if (status != 200 || dim[0] == 0 || dim[1] == 0 || dim[2] == 0) {
        fprintf(stderr, "secureai: infer: /v1/model does not say the model's input\n");
        goto out;
    }
    size_t img = (size_t)dim[0] * (size_t)dim[1] * (size_t)dim[2], count = 0;
    for (int i = optind; i < argc; i++)
        if (add_file(&body, argv[i], img, &count, &err) != 0) {
            sai_cli_fail(&err, "infer");
            goto out;
        }
    char shape[64], path[64];
    snprintf(shape, sizeof shape, "%zu,%d,%d,%d", count, dim[0], dim[1], dim[2]);
    snprintf(path, sizeof path, "/v1/predict?top=%lld", top);
    free(resp);
    resp = NULL;
    cJSON_Delete(j);
    j = NULL;
    if (sai_serve_client_request(cl, "POST", path, "application/x-secureai-u8", shape, body.data, body.len, &status,
                                 &resp, &rlen, &err) != 0) {
        sai_cli_fail(&err, "infer: POST /v1/predict");
        goto out;
    }
    j = cJSON_ParseWithLength(resp, rlen);
    const cJSON *preds = cJSON_GetObjectItemCaseSensitive(j, "predictions");
    if (status != 200 || !cJSON_IsArray(preds)) {
        fprintf(stderr, "secureai: infer: the server answered %d: %.300s\n", status, resp);
        goto out;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, preds) {
        char *line = cJSON_PrintUnformatted(p);
        if (line != NULL)
            printf("%s\n", line);
        free(line);
    }
    ret = 0;
out:
    cJSON_Delete(j);
    free(resp);
    sai_buf_free(&body);
    sai_serve_client_free(cl);
    return ret;
}

const sai_cmd_t sai_cmd_infer = {"infer", "verify a model server's TEE evidence, then send it images", usage, run};
