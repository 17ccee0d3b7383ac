/*
 * weaken.h — countermeasure switches for the red-team tests, and nothing else.
 *
 * Every countermeasure that tests/redteam/ attacks is guarded by
 * SAI_WEAKENED("name"). In the shipped build (`secureai`, libsecureai) the
 * macro is the constant false, so the compiler removes the weakened branch
 * and the binary has no switch at all. Only the test-only build
 * (`secureai-weak`, compiled with -DSAI_REDTEAM_WEAKEN, never installed)
 * consults the environment variable SAI_WEAKEN, a comma-separated list of
 * names: that is how each red-team test shows its attack succeeding when
 * the countermeasure is gone, so that none of them can pass vacuously.
 */
#ifndef SAI_UTIL_WEAKEN_H
#define SAI_UTIL_WEAKEN_H

#include <stdbool.h>

#ifdef SAI_REDTEAM_WEAKEN
bool sai_redteam_weakened(const char *name);
#define SAI_WEAKENED(name) sai_redteam_weakened(name)
#else
#define SAI_WEAKENED(name) false
#endif

#endif
