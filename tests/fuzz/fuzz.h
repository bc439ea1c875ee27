/* What the fuzz targets share: a check that aborts with one line. */
#ifndef ARMVMM_FUZZ_H
#define ARMVMM_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* fd 2, not stderr: a target may point stderr at /dev/null to hide armvmm's refusal lines. */
#define CHECK(cond)                                                                                   \
	do {                                                                                          \
		if (!(cond)) {                                                                        \
			dprintf(2, "%s: check failed: %s (line %d)\n", __FILE__, #cond, __LINE__);    \
			abort();                                                                      \
		}                                                                                     \
	} while (0)

#endif
