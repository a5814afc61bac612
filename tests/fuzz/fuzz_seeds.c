/* SPDX-License-Identifier: ISC */
/*
 * fuzz_seeds: writes the seed corpora of tests/fuzz/corpus/, one folder
 * per harness, from valid inputs: each seed is a sequence a well-behaved
 * peer (or configuration, or guest) would produce, in the harness's own
 * input format, written with the same fout_* calls the formats are read
 * with. Run: fuzz_seeds DIR (scripts/fuzz.sh --seeds does it for the
 * repository's tests/fuzz/corpus). The fuzzers' own finds are not
 * written here; inputs that once found a bug are kept in the corpus
 * folders by hand, named regress-*.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_seeds.h"

static void
seeds_dir(char *out, size_t cap, const char *top, const char *harness)
{
	snprintf(out, cap, "%s/%s", top, harness);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		err(1, "%s", out);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*write)(const char *dir);
	} harnesses[] = {
		{ "fuzz_daemon", seeds_daemon },
		{ "fuzz_vdev_regs", seeds_vdev_regs },
		{ "fuzz_client", seeds_client },
		{ "fuzz_config", seeds_config },
		{ "fuzz_fdname", seeds_fdname },
		{ "fuzz_ivshmem", seeds_ivshmem },
		{ "fuzz_envelope", seeds_envelope },
	};
	char dir[4096];

	if (argc != 2)
		errx(2, "usage: fuzz_seeds DIR (e.g. tests/fuzz/corpus)");
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST)
		err(1, "%s", argv[1]);
	for (size_t i = 0; i < sizeof(harnesses) / sizeof(harnesses[0]);
	    i++) {
		seeds_dir(dir, sizeof(dir), argv[1], harnesses[i].name);
		harnesses[i].write(dir);
	}
	return 0;
}
