#pragma once
// Invariant checks: for broken invariants only, never for what a client can cause.

#include <cstdio>
#include <cstdlib>

#define BERTH_CHECK(cond)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                \
      std::abort();                                                                                \
    }                                                                                              \
  } while (false)

#ifdef NDEBUG
#define BERTH_ASSERT(cond) ((void)0)
#else
#define BERTH_ASSERT(cond) BERTH_CHECK(cond)
#endif
