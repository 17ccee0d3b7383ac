/*
 * weaken.c — the test-only countermeasure switches (see weaken.h). Compiled
 * to nothing in the shipped build.
 */
#include "util/weaken.h"

#ifdef SAI_REDTEAM_WEAKEN
#include <stdlib.h>
#include <string.h>

bool sai_redteam_weakened(const char *name)
{
    const char *v = getenv("SAI_WEAKEN");
    size_t n = strlen(name);
    while (v != NULL && *v != '\0') {
        const char *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        if (len == n && memcmp(v, name, n) == 0)
            return true;
        v = end ? end + 1 : NULL;
    }
    return false;
}
#else
typedef int sai_weaken_empty_tu;   /* ISO C: a translation unit is not empty */
#endif
