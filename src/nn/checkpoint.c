/*
 * checkpoint.c — the versioned binary checkpoint format, to and from memory
 * (the pipeline seals the buffer) and files.
 *
 * Layout, all integers little-endian:
 *   0   magic "SAINNCK\x01"        8   u32 version (1)   12  u32 flags (0)
 *   16  u64 total length, trailer included
 *   24  model name [32]            56  dataset name [16]
 *   72  u32 in_c, in_h, in_w, classes
 *   88  u64 step   96 u32 epoch   100 f32 lr, momentum, weight_decay
 *   112 u32 nesterov   116 u32 tensor count
 *   120 tensors: u16 name length, name, u8 ndim, u8 has_momentum,
 *       u32 dims[ndim], f32 data[numel], f32 momentum[numel] if present
 *   end SHA-256 of every byte before it
 * Magic, version and length are checked first (a truncated file says so),
 * then the checksum, then every name and shape against the model before a
 * single float is copied: a failed load leaves the model untouched.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/crypto.h"
#include "secureai/util.h"
#include "nn/nn_internal.h"

#define HDR_LEN 120u

typedef struct {
    uint8_t *p;
    size_t   len, cap;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    memcpy(w->p + w->len, src, n);
    w->len += n;
}
static void put32(wbuf *w, uint32_t v) { put(w, &v, 4); }
static void put64(wbuf *w, uint64_t v) { put(w, &v, 8); }
static void putf(wbuf *w, float v) { put(w, &v, 4); }

int sai_nn_ckpt_save_mem(const sai_nn_model_t *m, const sai_nn_ckpt_meta_t *meta, uint8_t **buf,
                         size_t *len, sai_error_t *err)
{
    *buf = NULL;
    *len = 0;
    size_t total = HDR_LEN + SAI_SHA256_LEN;
    for (int i = 0; i < m->ntensors; i++) {
        const nn_tensor *t = &m->tensors[i];
        total += 2 + strlen(t->name) + 2 + 4 * (size_t)t->ndim +
                 t->numel * sizeof(float) * (t->trainable ? 2 : 1);
    }
    wbuf w = {malloc(total), 0, total};
    if (w.p == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for a %zu-byte checkpoint", total);
    put(&w, SAI_NN_CKPT_MAGIC, 8);
    put32(&w, SAI_NN_CKPT_VERSION);
    put32(&w, 0);
    put64(&w, total);
    char name[32] = {0}, ds[16] = {0};
    snprintf(name, sizeof(name), "%s", m->name);
    if (meta != NULL)
        snprintf(ds, sizeof(ds), "%s", meta->dataset);
    put(&w, name, 32);
    put(&w, ds, 16);
    put32(&w, (uint32_t)m->in_c);
    put32(&w, (uint32_t)m->in_h);
    put32(&w, (uint32_t)m->in_w);
    put32(&w, (uint32_t)m->classes);
    put64(&w, meta ? meta->step : 0);
    put32(&w, meta ? meta->epoch : 0);
    putf(&w, meta ? meta->lr : 0.0f);
    putf(&w, meta ? meta->sgd.momentum : 0.0f);
    putf(&w, meta ? meta->sgd.weight_decay : 0.0f);
    put32(&w, meta && meta->sgd.nesterov ? 1 : 0);
    put32(&w, (uint32_t)m->ntensors);
    for (int i = 0; i < m->ntensors; i++) {
        const nn_tensor *t = &m->tensors[i];
        uint16_t nl = (uint16_t)strlen(t->name);
        put(&w, &nl, 2);
        put(&w, t->name, nl);
        uint8_t nd = (uint8_t)t->ndim, hm = t->trainable ? 1 : 0;
        put(&w, &nd, 1);
        put(&w, &hm, 1);
        for (int d = 0; d < t->ndim; d++)
            put32(&w, (uint32_t)t->shape[d]);
        put(&w, t->data, t->numel * sizeof(float));
        if (t->trainable) {
            if (t->mom != NULL) {
                put(&w, t->mom, t->numel * sizeof(float));
            } else {   /* inference-only model: no optimizer state to save */
                memset(w.p + w.len, 0, t->numel * sizeof(float));
                w.len += t->numel * sizeof(float);
            }
        }
    }
    int rc = sai_hash(SAI_SHA256, w.p + w.len, w.p, w.len, err);
    if (rc != 0) {
        free(w.p);
        return rc;
    }
    *buf = w.p;
    *len = total;
    return 0;
}

typedef struct {
    const uint8_t *p;
    size_t len, off;
} rbuf;

static bool get(rbuf *r, void *dst, size_t n)
{
    if (n > r->len - r->off)
        return false;
    if (dst != NULL)
        memcpy(dst, r->p + r->off, n);
    r->off += n;
    return true;
}

static int check_header(const uint8_t *buf, size_t len, sai_nn_ckpt_meta_t *meta, sai_error_t *err)
{
    if (len < 8 || memcmp(buf, SAI_NN_CKPT_MAGIC, 8) != 0)
        return sai_error_set(err, SAI_EFORMAT, "not a SecureAI checkpoint (bad magic)");
    if (len < HDR_LEN + SAI_SHA256_LEN)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint is truncated (%zu bytes, header "
                             "alone is %u)", len, HDR_LEN + SAI_SHA256_LEN);
    uint32_t ver;
    uint64_t total;
    memcpy(&ver, buf + 8, 4);
    memcpy(&total, buf + 16, 8);
    if (ver != SAI_NN_CKPT_VERSION)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint version %u is not supported (this "
                             "build reads version %u)", ver, SAI_NN_CKPT_VERSION);
    if (total > SAI_NN_CKPT_MAX)
        return sai_error_set(err, SAI_ELIMIT, "checkpoint claims %llu bytes, over the cap",
                             (unsigned long long)total);
    if (len < total)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint is truncated: %zu of %llu bytes",
                             len, (unsigned long long)total);
    if (len > total)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint has %zu trailing bytes",
                             len - (size_t)total);
    uint8_t digest[SAI_SHA256_LEN];
    int rc = sai_hash(SAI_SHA256, digest, buf, len - SAI_SHA256_LEN, err);
    if (rc != 0)
        return rc;
    if (!sai_ct_equal(digest, buf + len - SAI_SHA256_LEN, SAI_SHA256_LEN))
        return sai_error_set(err, SAI_EFORMAT, "checkpoint checksum mismatch (corrupt file)");
    memset(meta, 0, sizeof(*meta));
    memcpy(meta->model, buf + 24, 31);
    memcpy(meta->dataset, buf + 56, 15);
    uint32_t u[4];
    memcpy(u, buf + 72, 16);
    if (u[0] == 0 || u[0] > 16 || u[1] == 0 || u[1] > 1024 || u[2] == 0 || u[2] > 1024 ||
        u[3] < 2 || u[3] > 1000)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint has bad input dimensions");
    meta->in_c = (int)u[0]; meta->in_h = (int)u[1]; meta->in_w = (int)u[2];
    meta->classes = (int)u[3];
    memcpy(&meta->step, buf + 88, 8);
    memcpy(&meta->epoch, buf + 96, 4);
    memcpy(&meta->lr, buf + 100, 4);
    memcpy(&meta->sgd.momentum, buf + 104, 4);
    memcpy(&meta->sgd.weight_decay, buf + 108, 4);
    uint32_t nest;
    memcpy(&nest, buf + 112, 4);
    meta->sgd.nesterov = nest != 0;
    return 0;
}

int sai_nn_ckpt_read_meta(const uint8_t *buf, size_t len, sai_nn_ckpt_meta_t *meta, sai_error_t *err)
{
    return check_header(buf, len, meta, err);
}

/* One pass over the tensor section; copies only when apply. */
static int walk(sai_nn_model_t *m, const uint8_t *buf, size_t len, bool apply, sai_error_t *err)
{
    if (apply)
        nn_weights_changed(m);   /* the eval folds are recomputed (nn_eval_cache) */
    rbuf r = {buf, len - SAI_SHA256_LEN, 116};
    uint32_t nt;
    if (!get(&r, &nt, 4))
        return sai_error_set(err, SAI_EFORMAT, "checkpoint is truncated");
    if (nt != (uint32_t)m->ntensors)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint has %u tensors, model '%s' has %d",
                             nt, m->name, m->ntensors);
    for (int i = 0; i < m->ntensors; i++) {
        nn_tensor *t = &m->tensors[i];
        uint16_t nl;
        char name[96];
        uint8_t nd, hm;
        if (!get(&r, &nl, 2) || nl >= sizeof(name) || !get(&r, name, nl) || !get(&r, &nd, 1) ||
            !get(&r, &hm, 1))
            return sai_error_set(err, SAI_EFORMAT, "checkpoint tensor %d header is malformed", i);
        name[nl] = '\0';
        if (strcmp(name, t->name) != 0)
            return sai_error_set(err, SAI_EFORMAT, "checkpoint tensor %d is '%s', model '%s' "
                                 "expects '%s'", i, name, m->name, t->name);
        uint32_t dims[4] = {0};
        if (nd > 4 || !get(&r, dims, 4 * (size_t)nd))
            return sai_error_set(err, SAI_EFORMAT, "checkpoint tensor '%s' shape is malformed",
                                 name);
        bool same = nd == t->ndim;
        for (int d = 0; same && d < nd; d++)
            same = dims[d] == (uint32_t)t->shape[d];
        if (!same) {
            char a[64] = "", b[64] = "";
            for (int d = 0; d < nd; d++)
                snprintf(a + strlen(a), sizeof(a) - strlen(a), "%s%u", d ? "x" : "", dims[d]);
            for (int d = 0; d < t->ndim; d++)
                snprintf(b + strlen(b), sizeof(b) - strlen(b), "%s%d", d ? "x" : "", t->shape[d]);
            return sai_error_set(err, SAI_EFORMAT, "checkpoint tensor '%s' has shape [%s], model "
                                 "'%s' expects [%s]", name, a, m->name, b);
        }
        if ((hm != 0) != t->trainable)
            return sai_error_set(err, SAI_EFORMAT, "checkpoint tensor '%s' optimizer state does "
                                 "not match the model", name);
        size_t bytes = t->numel * sizeof(float);
        if (!get(&r, apply ? t->data : NULL, bytes) ||
            (hm && !get(&r, apply ? t->mom : NULL, bytes)))   /* mom NULL: skipped */
            return sai_error_set(err, SAI_EFORMAT, "checkpoint tensor '%s' data is truncated",
                                 name);
    }
    if (r.off != r.len)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint has %zu unexpected bytes after the "
                             "tensors", r.len - r.off);
    return 0;
}

int sai_nn_ckpt_load_mem(sai_nn_model_t *m, const uint8_t *buf, size_t len,
                         sai_nn_ckpt_meta_t *meta, sai_error_t *err)
{
    sai_nn_ckpt_meta_t tmp;
    if (meta == NULL)
        meta = &tmp;
    int rc = check_header(buf, len, meta, err);
    if (rc != 0)
        return rc;
    if (strcmp(meta->model, m->name) != 0)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint is for model '%s', not '%s'",
                             meta->model, m->name);
    if (meta->in_c != m->in_c || meta->in_h != m->in_h || meta->in_w != m->in_w ||
        meta->classes != m->classes)
        return sai_error_set(err, SAI_EFORMAT, "checkpoint input %dx%dx%d/%d classes does not "
                             "match the model's %dx%dx%d/%d", meta->in_c, meta->in_h, meta->in_w,
                             meta->classes, m->in_c, m->in_h, m->in_w, m->classes);
    rc = walk(m, buf, len, false, err);
    if (rc == 0)
        rc = walk(m, buf, len, true, err);
    return rc;
}

int sai_nn_ckpt_load_model(sai_nn_model_t **out, const uint8_t *buf, size_t len, int max_batch,
                           sai_nn_ckpt_meta_t *meta, sai_error_t *err)
{
    sai_nn_ckpt_meta_t tmp;
    if (meta == NULL)
        meta = &tmp;
    *out = NULL;
    int rc = check_header(buf, len, meta, err);
    if (rc != 0)
        return rc;
    sai_nn_model_t *m;
    rc = sai_nn_model_create_ex(&m, meta->model, meta->in_c, meta->in_h, meta->in_w,
                                meta->classes, max_batch, 0, SAI_NN_INFERENCE_ONLY, err);
    if (rc != 0)
        return rc;
    rc = sai_nn_ckpt_load_mem(m, buf, len, meta, err);
    if (rc != 0) {
        sai_nn_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int sai_nn_ckpt_save_file(const sai_nn_model_t *m, const sai_nn_ckpt_meta_t *meta,
                          const char *path, sai_error_t *err)
{
    uint8_t *buf;
    size_t len;
    int rc = sai_nn_ckpt_save_mem(m, meta, &buf, &len, err);
    if (rc != 0)
        return rc;
    rc = sai_write_file_atomic(path, buf, len, 0600, false, err);
    free(buf);
    return rc;
}

int sai_nn_ckpt_load_file(sai_nn_model_t **out, const char *path, int max_batch,
                          sai_nn_ckpt_meta_t *meta, sai_error_t *err)
{
    uint8_t *buf;
    size_t len;
    int rc = sai_read_file(path, SAI_NN_CKPT_MAX, &buf, &len, err);
    if (rc != 0)
        return rc;
    rc = sai_nn_ckpt_load_model(out, buf, len, max_batch, meta, err);
    if (rc != 0)
        sai_error_prefix(err, "%s", path);
    free(buf);
    return rc;
}
