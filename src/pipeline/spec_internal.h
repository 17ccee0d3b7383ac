/*
 * spec_internal.h — shared by the pipeline spec's files only: spec.c (the
 * shared rules), spec_yaml.c (the YAML reader) and spec_canon.c (the
 * canonical form). Not installed.
 */
#ifndef SAI_PIPELINE_SPEC_INTERNAL_H
#define SAI_PIPELINE_SPEC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "secureai/pipeline.h"

/* The stage names, in canonical order: name i is the stage bit 1u << i. */
#define SAI_SPEC_NSTAGES 6u
extern const char *const sai_spec_stage_names[SAI_SPEC_NSTAGES];

/* Identifiers that end up in URLs and file names: [A-Za-z0-9._-]{1,64},
 * not "." or "..". */
bool sai_pipeline__spec_ident_ok(const char *s);
/* The sealed model's file name (outputs.model_name). */
bool sai_pipeline__spec_model_name_ok(const char *n);

/* dist.rendezvous: HOST:PORT (a name, an IPv4 address or [IPv6]), port 1..65535. */
bool sai_pipeline__spec_hostport_ok(const char *hp);
/* Parse it; host is malloc'ed. */
int  sai_pipeline__spec_hostport(const char *hp, char **host, uint16_t *port, sai_error_t *err);
#define SAI_SPEC_MAX_WORKERS 256
/* dist.algorithm ps: the host hands its enclave one stream per peer in one
 * DIST message, next to worker 0's checkpoint file (SAI_CHAN_MAX_FDS). */
#define SAI_SPEC_MAX_PS_WORKERS 64

/* ---- framework mode (framework.c) --------------------------------------- */
/* A script travels inside the canonical spec (HELLO is one 64 KiB message). */
#define SAI_FRAMEWORK_SCRIPT_MAX (40u * 1024u)
/* The interpreter: Debian's, by a fixed path (its hash is measured). */
#define SAI_FRAMEWORK_PYTHON "/usr/bin/python3"
/* Host side, at spec load: read train.script (relative to the spec's
 * directory), hash the interpreter, ask it for its and torch's versions,
 * hash the runtime (libsecureai.so and the secureai package). */
int sai_pipeline__framework_resolve(sai_pipeline_spec_t *s, const char *spec_path, sai_error_t *err) SAI_MUST_CHECK;

#endif
