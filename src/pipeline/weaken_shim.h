/*
 * weaken_shim.h — SAI_WEAKENED(name) for the provenance / report checks.
 *
 * The red-team framework (src/util/weaken.h, tests/redteam/) defines
 * SAI_WEAKENED: constant false in the shipped build; in the test-only build
 * compiled with -DSAI_REDTEAM_WEAKEN it is true when the comma-separated
 * environment variable SAI_WEAKEN names the countermeasure, so each red-team
 * test can show its attack succeeding without the countermeasure. Until that
 * header is in the tree this shim provides the same contract.
 */
#ifndef SAI_PIPELINE_WEAKEN_SHIM_H
#define SAI_PIPELINE_WEAKEN_SHIM_H

#if __has_include("util/weaken.h")
#include "util/weaken.h"
#elif defined(SAI_REDTEAM_WEAKEN)
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
static inline bool sai_weakened_shim(const char *name)
{
    const char *v = getenv("SAI_WEAKEN");
    size_t n = strlen(name);
    for (const char *p = v; p != NULL && *p != '\0';) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}
#define SAI_WEAKENED(name) sai_weakened_shim(name)
#else
#define SAI_WEAKENED(name) 0
#endif

#endif
