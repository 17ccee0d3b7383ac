/*
 * seal_cli.h — what `secureai seal` and `secureai unseal` share: when to show
 * a progress line, and how many bytes a directory holds.
 */
#ifndef SAI_SEAL_CLI_H
#define SAI_SEAL_CLI_H

#include <stdint.h>

/* Inputs above this many bytes get a progress line. */
#define SAI_CLI_PROGRESS_MIN (64ull << 20)

/* Bytes in the regular files under dir (symlinks not followed). */
uint64_t sai_cli_dir_bytes(const char *dir);

#endif
