/*
 * keysrc.h — how the plugin libraries (the TensorFlow filesystem plugin and
 * the LD_PRELOAD library) get their 32-byte data key.
 *
 * A key never travels in an environment variable (the environment is copied
 * into every child, shown by /proc/PID/environ and ps e, and logged by
 * launchers). The environment only says where the key is:
 *   <PREFIX>_KEY_FD=N    a descriptor the launcher left open (a pipe from
 *                        `secureai kbs get-resource ... --out /dev/stdout`, a
 *                        memfd): exactly 32 bytes are read up to EOF and the
 *                        descriptor is closed, so the program cannot read it
 *                        again;
 *   <PREFIX>_KEY_FILE=P  a key file (exactly 32 bytes, mode 0600 or stricter,
 *                        checked by sai_seal_key_load), e.g. on a tmpfs inside
 *                        the confidential VM.
 * Setting both is an error (ambiguous), as is setting neither.
 */
#ifndef SAI_PLUGINS_KEYSRC_H
#define SAI_PLUGINS_KEYSRC_H

#include "secureai/common.h"
#include "secureai/crypto.h"

/* env_prefix is e.g. "SAI_TF" (reads SAI_TF_KEY_FD / SAI_TF_KEY_FILE). On
 * success *out is a new locked secret of 32 bytes the caller frees. */
int sai_plugkey_load(sai_secret_t **out, const char *env_prefix, sai_error_t *err) SAI_MUST_CHECK;

#endif
