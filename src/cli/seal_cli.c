/*
 * seal_cli.c — helpers shared by cmd_seal.c and cmd_unseal.c (seal_cli.h):
 * the size of a directory tree, which decides the progress line.
 */
#include <ftw.h>
#include <sys/stat.h>

#include "seal_cli.h"

static uint64_t dir_bytes_acc;

static int dir_bytes_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p; (void)f;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        dir_bytes_acc += (uint64_t)st->st_size;
    return 0;
}

uint64_t sai_cli_dir_bytes(const char *dir)
{
    dir_bytes_acc = 0;
    nftw(dir, dir_bytes_cb, 16, FTW_PHYS);
    return dir_bytes_acc;
}
