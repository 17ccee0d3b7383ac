/*
 * pipeline_internal.h — shared by the files of src/pipeline only (not
 * public): the HELLO limits and the stages runner used by the enclave and
 * the plain baseline.
 */
#ifndef SAI_PIPELINE_INTERNAL_H
#define SAI_PIPELINE_INTERNAL_H

#include "secureai/pipeline.h"

/* kbs.ca travels to the enclave inside HELLO (one 64 KiB message). */
#define SAI_PIPELINE_CA_MAX (32 * 1024)

/* ---- stages (stages.c): shared by the enclave and the plain baseline ---- */
#include "secureai/nn.h"

typedef struct sai_stage_file {
    const char      *name;     /* plaintext file name, e.g. "train-images-idx3-ubyte.gz" */
    sai_nn_source_t  src;      /* random-access plaintext */
} sai_stage_file;

typedef void (*sai_stage_progress_fn)(void *ctx, const char *json_line);

typedef struct sai_stage_result {
    double test_accuracy, test_loss, train_loss, train_accuracy;
    double train_images_per_s, infer_images_per_s;
    double ingest_s, train_s, evaluate_s, infer_s;
    sai_train_usage train_usage;   /* getrusage over the train stage */
    uint64_t steps;
    int    train_n, test_n;
    uint8_t *ckpt;             /* plaintext checkpoint (wipe + free) */
    size_t   ckpt_len;
    /* With train + evaluate: the test set's accuracy and loss at the end of
     * every epoch (the last one is the evaluate stage's), a JSON array
     * [{"epoch":1,"step":N,"test_accuracy":a,"test_loss":l},...] (malloc'ed;
     * it goes into the statement's signed metrics as "epochs"). */
    char    *epochs_json;
    double   epoch_eval_s;     /* time of the extra per-epoch evaluations (in evaluate_s) */
} sai_stage_result;

/* ingest + preprocess + train + evaluate + infer as the spec says. */
int sai_pipeline__stages(const sai_pipeline_spec *s, const sai_stage_file *files, size_t n,
                         sai_stage_progress_fn progress, void *ctx, sai_stage_result *res,
                         sai_error *err) SAI_MUST_CHECK;
void sai_pipeline__stage_result_clear(sai_stage_result *r);

#endif
