/*
 * cmd_train.c — `secureai train`: load a dataset directory, train a model
 * with sai_nn_train, evaluate on the test split when it is there, write a
 * checkpoint. Progress: a redrawn line on a terminal, or one JSON object per
 * interval with --json (the last one the summary).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "secureai/nn.h"

/* Shown in the usage; the values themselves are sai_nn_train_cfg_defaults'. */
#define DEF_LR "fashion-mnist 0.4, cifar10 0.1"
#define DEF_NEST "fashion-mnist on, cifar10 off"
#define DEF_SCHED "fashion-mnist onecycle,\n                     cifar10 cosine"
#define DEF_WARM "onecycle 30%, others 0"
#define DEF_AUG_FM "none"
#define DEF_LS "0"

static const char usage[] =
    "usage: secureai train --model NAME --dataset cifar10|fashion-mnist --data DIR\n"
    "                      --out CKPT [options]\n"
    "\n"
    "Train a model on a dataset directory (CIFAR-10 binary batches, or IDX files\n"
    "plain or .gz) and write a checkpoint. Evaluates on the test split afterwards\n"
    "when the directory has one. The defaults are the engine's measured ones\n"
    "(docs/engine.md, \"Training defaults\").\n"
    "\n"
    "  --model NAME       resnet8 (default), resnet20, resnet56, resnet18, resnet50, smallcnn\n"
    "  --dataset KIND     cifar10 (default) or fashion-mnist\n"
    "  --data DIR         dataset directory\n"
    "  --out CKPT         checkpoint to write\n"
    "  --epochs N         epochs (default 1)\n"
    "  --batch B          batch size (default 128)\n"
    "  --max-steps N      stop after N steps\n"
    "  --lr F             peak learning rate (default " DEF_LR ")\n"
    "  --momentum F       SGD momentum (default 0.9)\n"
    "  --wd F             weight decay (default 5e-4)\n"
    "  --nesterov         Nesterov momentum (default " DEF_NEST ")\n"
    "  --no-nesterov      plain momentum\n"
    "  --sched KIND       onecycle, cosine, step, const (default " DEF_SCHED ")\n"
    "  --warmup N|P%      warm-up steps, or percent of the run (default " DEF_WARM ")\n"
    "  --step-size N      step schedule: steps between decays (gamma 0.1)\n"
    "  --augment LIST     none, or a comma list of flip, crop (pad 4 on 32x32\n"
    "                     images, 2 on smaller ones) or cropN (pad N);\n"
    "                     default: cifar10 crop,flip; fashion-mnist " DEF_AUG_FM "\n"
    "  --no-augment       same as --augment none\n"
    "  --label-smoothing F  label smoothing in [0, 1) (default " DEF_LS ")\n"
    "  --threads T        engine threads, 0..64 (default 0: all cores)\n"
    "  --seed S           seed for initialisation, shuffling, augmentation (default 1)\n"
    "  --interval N       steps between progress reports (default 50)\n"
    "  --json             one JSON object per line on stdout; the last is the summary\n";

typedef struct {
    bool json, tty;
} prog_ctx;

static void fmt_eta(char *b, size_t n, double s)
{
    int t = (int)(s + 0.5);
    snprintf(b, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
}

static void on_progress(void *vctx, const sai_nn_progress_info_t *p)
{
    prog_ctx *c = vctx;
    if (p->final)
        return;   /* the summary is printed by run(), with the test accuracy */
    if (c->json) {
        printf("{\"epoch\":%u,\"epochs\":%u,\"step\":%llu,\"total_steps\":%llu,\"loss\":%.6f,"
               "\"accuracy\":%.6f,\"images_per_s\":%.2f,\"seconds\":%.3f,\"eta_s\":%.1f}\n",
               p->epoch, p->epochs, (unsigned long long)p->step,
               (unsigned long long)p->total_steps, p->loss, p->accuracy, p->images_per_s,
               p->seconds, p->eta_s);
        fflush(stdout);
    } else if (c->tty) {
        char eta[32];
        fmt_eta(eta, sizeof(eta), p->eta_s);
        fprintf(stderr, "\r\033[Kepoch %u/%u  step %llu/%llu  loss %.4f  acc %.2f%%  %.1f img/s  "
                "ETA %s", p->epoch, p->epochs, (unsigned long long)p->step,
                (unsigned long long)p->total_steps, p->loss, 100.0 * p->accuracy,
                p->images_per_s, eta);
    }
}

static bool parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0.0f)
        return false;
    *out = v;
    return true;
}

/* "none" or a comma list of flip, crop, cropN. pad -1: crop with the
 * size-dependent default pad. */
static bool parse_augment(const char *s, int *pad, bool *flip)
{
    *pad = 0;
    *flip = false;
    if (strcmp(s, "none") == 0)
        return true;
    char buf[64];
    if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
        return false;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "flip") == 0) {
            *flip = true;
        } else if (strcmp(t, "crop") == 0) {
            *pad = -1;
        } else if (strncmp(t, "crop", 4) == 0) {
            long long v = sai_cli_parse_size(t + 4);
            if (v < 1 || v > 16)
                return false;
            *pad = (int)v;
        } else {
            return false;
        }
    }
    return true;
}

/* N steps, or P% of the run. */
static bool parse_warmup(const char *s, long long *steps, float *frac)
{
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == '%') {
        char buf[32];
        if (n >= sizeof(buf))
            return false;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        float p;
        if (!parse_float(buf, &p) || p >= 100.0f)
            return false;
        *frac = p / 100.0f;
        *steps = 0;
        return true;
    }
    *frac = 0.0f;
    return (*steps = sai_cli_parse_size(s)) >= 0;
}

static int run(int argc, char **argv)
{
    enum { O_MOM = 256, O_WD, O_NEST, O_NONEST, O_SCHED, O_WARM, O_STEPSZ, O_NOAUG, O_AUG, O_LS,
           O_INT, O_JSON };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"dataset", required_argument, NULL, 'd'},
        {"data", required_argument, NULL, 'D'}, {"out", required_argument, NULL, 'o'},
        {"epochs", required_argument, NULL, 'e'}, {"batch", required_argument, NULL, 'b'},
        {"max-steps", required_argument, NULL, 'M'}, {"lr", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'}, {"seed", required_argument, NULL, 's'},
        {"momentum", required_argument, NULL, O_MOM}, {"wd", required_argument, NULL, O_WD},
        {"nesterov", no_argument, NULL, O_NEST}, {"no-nesterov", no_argument, NULL, O_NONEST},
        {"sched", required_argument, NULL, O_SCHED},
        {"warmup", required_argument, NULL, O_WARM},
        {"step-size", required_argument, NULL, O_STEPSZ},
        {"no-augment", no_argument, NULL, O_NOAUG}, {"augment", required_argument, NULL, O_AUG},
        {"label-smoothing", required_argument, NULL, O_LS},
        {"interval", required_argument, NULL, O_INT},
        {"json", no_argument, NULL, O_JSON}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = "resnet8", *kind = "cifar10", *dir = NULL, *out = NULL, *sched = NULL;
    long long epochs = 1, batch = 128, max_steps = 0, seed = 1, warm = -1, stepsz = 0,
              interval = 50;
    /* Unset (NAN / -1) means the engine default for the dataset. */
    float lr = NAN, mom = NAN, wd = NAN, ls = NAN, warm_frac = 0.0f;
    int nest = -1, crop = 0, threads = 0, rc;
    bool json = false, aug_set = false, flip = false;
    int c;
    while ((c = getopt_long(argc, argv, "m:d:D:o:e:b:M:l:t:s:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': kind = optarg; break;
        case 'D': dir = optarg; break;
        case 'o': out = optarg; break;
        case 'e': ok = (epochs = sai_cli_parse_size(optarg)) > 0; break;
        case 'b': ok = (batch = sai_cli_parse_size(optarg)) > 0 && batch <= 4096; break;
        case 'M': ok = (max_steps = sai_cli_parse_size(optarg)) >= 0; break;
        case 'l': ok = parse_float(optarg, &lr); break;
        case 't':
            if ((rc = sai_cli_parse_threads("train", optarg, &threads)) != 0)
                return rc;
            break;
        case 's': ok = (seed = sai_cli_parse_size(optarg)) >= 0; break;
        case O_MOM: ok = parse_float(optarg, &mom) && mom < 1.0f; break;
        case O_WD: ok = parse_float(optarg, &wd); break;
        case O_NEST: nest = 1; break;
        case O_NONEST: nest = 0; break;
        case O_SCHED: sched = optarg; break;
        case O_WARM: ok = parse_warmup(optarg, &warm, &warm_frac); break;
        case O_STEPSZ: ok = (stepsz = sai_cli_parse_size(optarg)) > 0; break;
        case O_NOAUG: aug_set = true; crop = 0; flip = false; break;
        case O_AUG: ok = aug_set = parse_augment(optarg, &crop, &flip); break;
        case O_LS: ok = parse_float(optarg, &ls) && ls < 1.0f; break;
        case O_INT: ok = (interval = sai_cli_parse_size(optarg)) > 0; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return sai_cli_usage_error("train: bad option");
        }
        if (!ok)
            return sai_cli_usage_error("train: bad option value '%s'", optarg);
    }
    if (dir == NULL || out == NULL)
        return sai_cli_usage_error("train: --data DIR and --out CKPT are required");
    if (!sai_nn_model_known(model))
        return sai_cli_usage_error("train: unknown model '%s'", model);
    if (strcmp(kind, "cifar10") != 0 && strcmp(kind, "fashion-mnist") != 0)
        return sai_cli_usage_error("train: unknown dataset '%s'", kind);
    sai_nn_train_cfg_t cfg;
    sai_nn_train_cfg_defaults(&cfg, kind);
    if (sched == NULL) {
        /* the default's */
    } else if (strcmp(sched, "onecycle") == 0) {
        cfg.sched.kind = SAI_NN_SCHED_ONECYCLE;
    } else if (strcmp(sched, "cosine") == 0) {
        cfg.sched.kind = SAI_NN_SCHED_COSINE;
    } else if (strcmp(sched, "step") == 0) {
        cfg.sched.kind = SAI_NN_SCHED_STEP;
    } else if (strcmp(sched, "const") == 0) {
        cfg.sched.kind = SAI_NN_SCHED_CONST;
    } else {
        return sai_cli_usage_error("train: unknown schedule '%s'", sched);
    }
    if (!isnan(lr)) cfg.sched.base_lr = lr;
    if (!isnan(mom)) cfg.sgd.momentum = mom;
    if (!isnan(wd)) cfg.sgd.weight_decay = wd;
    if (!isnan(ls)) cfg.label_smoothing = ls;
    if (nest >= 0) cfg.sgd.nesterov = nest != 0;
    if (warm >= 0) {
        cfg.sched.warmup_steps = (uint64_t)warm;
        cfg.sched.warmup_frac = warm_frac;
    } else if (sched != NULL) {
        /* a schedule named without --warmup: one-cycle rises over 30% of the
         * run (OneCycleLR's pct_start), the others start at the peak */
        cfg.sched.warmup_steps = 0;
        cfg.sched.warmup_frac = cfg.sched.kind == SAI_NN_SCHED_ONECYCLE ? 0.3f : 0.0f;
    }
    cfg.sched.step_size = (uint64_t)stepsz;

    sai_nn_set_threads(threads);
    sai_error_t err = {0};
    sai_nn_dataset_t train, test;
    if (sai_nn_dataset_load_dir(&train, kind, dir, true, &err) != 0)
        return sai_cli_fail(&err, "train: loading %s training data from %s", kind, dir);
    bool have_test = sai_nn_dataset_load_dir(&test, kind, dir, false, &err) == 0;
    sai_nn_model_t *m = NULL;
    int ret = 1;
    if (sai_nn_model_create(&m, model, train.c, train.h, train.w, 10, (int)batch, (uint64_t)seed,
                            &err) != 0) {
        sai_cli_fail(&err, "train: building %s", model);
        goto out;
    }
    prog_ctx pc = {json, isatty(STDERR_FILENO) != 0};
    if (aug_set) {
        cfg.aug.crop_pad = crop < 0 ? (train.h >= 32 ? 4 : 2) : crop;
        cfg.aug.hflip = flip;
    }
    cfg.epochs = (uint32_t)epochs;
    cfg.batch = (int)batch;
    cfg.max_steps = (uint64_t)max_steps;
    cfg.seed = (uint64_t)seed;
    cfg.progress_every = (uint64_t)interval;
    cfg.progress = on_progress;
    cfg.progress_ctx = &pc;
    if (cfg.sched.kind == SAI_NN_SCHED_STEP && stepsz == 0)
        cfg.sched.step_size = (uint64_t)(train.n / batch) * (uint64_t)(epochs > 3 ? epochs / 3 : 1);
    sai_nn_train_result_t res;
    if (sai_nn_train(m, &train, &cfg, &res, &err) != 0) {
        sai_cli_fail(&err, "train");
        goto out;
    }
    if (pc.tty && !json)
        fputc('\n', stderr);
    sai_nn_eval_result_t ev = {0};
    if (have_test && sai_nn_evaluate(m, &test, &ev, &err) != 0) {
        sai_cli_fail(&err, "train: evaluating");
        goto out;
    }
    sai_nn_ckpt_meta_t meta = {.step = res.steps, .epoch = res.epochs, .sgd = cfg.sgd,
                              .lr = cfg.sched.base_lr};
    snprintf(meta.dataset, sizeof(meta.dataset), "%s", kind);
    if (sai_nn_ckpt_save_file(m, &meta, out, &err) != 0) {
        sai_cli_fail(&err, "train: writing %s", out);
        goto out;
    }
    if (json) {
        printf("{\"summary\":true,\"model\":\"%s\",\"dataset\":\"%s\",\"epochs\":%u,\"steps\":%llu,"
               "\"batch\":%lld,\"threads\":%d,\"loss\":%.6f,\"accuracy\":%.6f,"
               "\"images_per_s\":%.2f,\"seconds\":%.3f",
               model, kind, res.epochs, (unsigned long long)res.steps, batch, sai_nn_get_threads(),
               res.loss, res.accuracy, res.images_per_s, res.seconds);
        static const char *const sk[] = {"const", "step", "cosine", "onecycle"};
        printf(",\"sched\":\"%s\",\"lr\":%g,\"warmup_steps\":%llu,\"warmup_frac\":%g,"
               "\"momentum\":%g,\"nesterov\":%s,\"wd\":%g,\"crop_pad\":%d,\"hflip\":%s,"
               "\"label_smoothing\":%g",
               (unsigned)cfg.sched.kind < 4 ? sk[cfg.sched.kind] : "?", (double)cfg.sched.base_lr,
               (unsigned long long)cfg.sched.warmup_steps, (double)cfg.sched.warmup_frac,
               (double)cfg.sgd.momentum, cfg.sgd.nesterov ? "true" : "false",
               (double)cfg.sgd.weight_decay, cfg.aug.crop_pad, cfg.aug.hflip ? "true" : "false",
               (double)cfg.label_smoothing);
        if (have_test)
            printf(",\"test_accuracy\":%.6f,\"test_loss\":%.6f,\"test_n\":%d", ev.accuracy,
                   ev.loss, ev.n);
        printf(",\"checkpoint\":\"%s\"}\n", out);
    } else {
        printf("trained %s on %s: %u epoch(s), %llu steps, %.1f s, %.1f images/s\n"
               "last epoch: loss %.4f, training accuracy %.2f%%\n",
               model, kind, res.epochs, (unsigned long long)res.steps, res.seconds,
               res.images_per_s, res.loss, 100.0 * res.accuracy);
        if (have_test)
            printf("test accuracy %.2f%% (%d/%d), test loss %.4f\n", 100.0 * ev.accuracy,
                   ev.correct, ev.n, ev.loss);
        printf("checkpoint: %s\n", out);
    }
    ret = 0;
out:
    sai_nn_model_free(m);
    sai_nn_dataset_free(&train);
    if (have_test)
        sai_nn_dataset_free(&test);
    return ret;
}

const sai_cmd_t sai_cmd_train = {"train", "train a model (ResNet family, small CNN) on CIFAR-10 "
                                 "or Fashion-MNIST", usage, run};
