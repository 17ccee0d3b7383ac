/*
 * plain.c — the baseline: the same stages (stages.c) on plaintext files in
 * one process, with no enclave, no attestation, no decryption and no
 * sealing. Used by the demo and bench/pipeline_overhead to state the
 * security overhead against the same work done in the clear. Writes
 * nothing, unless asked (opts.plain_ckpt_out) to write its plaintext
 * checkpoint the way the host writes the sealed one (sai_write_file_atomic:
 * fsync of the file and of its directory), so that a comparison of wall
 * times charges the enclave run only for what sealing adds.
 */
#include "pipeline/pipeline_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

int sai_pipeline_plain_run(const sai_pipeline_run_opts_t *o, const char *plain_dir,
                           sai_pipeline_run_result_t *res, sai_error_t *err)
{
    sai_pipeline_spec_t *s = NULL;
    sai_stage_file_t files[64];
    char *names[64];
    size_t n = 0;
    sai_stage_result_t sr = {0};
    memset(res, 0, sizeof *res);
    double t0 = sai_now();
    int rc = sai_pipeline_spec_load(&s, o->spec_path, err);
    if (rc)
        return rc;
    if (o->plain_max_steps > 0)
        s->hyper.max_steps = o->plain_max_steps;
    DIR *d = opendir(plain_dir);
    if (d == NULL) {
        sai_pipeline_spec_free(s);
        return sai_error_set(err, SAI_EIO, "cannot open %s", plain_dir);
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", plain_dir, de->d_name);
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            break;
        }
        if ((rc = sai_nn_source_file(&files[n].src, path, err))) {
            free(names[n]);
            break;
        }
        files[n].name = names[n];
        n++;
    }
    closedir(d);
    sai_nn_set_threads(o->threads);
    if (rc == 0)
        rc = sai_pipeline__stages(s, files, n, NULL, NULL, &sr, err);
    if (rc == 0 && o->plain_ckpt_out != NULL) {
        double tw = sai_now();
        rc = sai_write_file_atomic(o->plain_ckpt_out, sr.ckpt, sr.ckpt_len, 0600, false, err);
        res->ckpt_write_s = sai_now() - tw;
    }
    if (rc == 0) {
        res->train_usage = sr.train_usage;
        res->test_accuracy = sr.test_accuracy;
        res->train_images_per_s = sr.train_images_per_s;
        /* Wiped inside the wall time, as the enclave wipes its copy. */
        sai_wipe(sr.ckpt, sr.ckpt_len);
        res->wall_s = sai_now() - t0;
        res->ingest_s = sr.ingest_s;
        res->train_s = sr.train_s;
    }
    for (size_t i = 0; i < n; i++) {
        sai_nn_source_file_close(&files[i].src);
        free(names[i]);
    }
    sai_pipeline__stage_result_clear(&sr);
    sai_pipeline_spec_free(s);
    return rc;
}
