/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fds: the harnesses' check that an input leaves no descriptor
 * behind (fuzz_fds.h).
 */
#include <dirent.h>
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_fds.h"

static size_t
fuzz_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own */
}

/* What each descriptor is, for the report: into out (cap bytes). */
static void
fuzz_fds_list(char *out, size_t cap)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[256];
	size_t used = 0;
	ssize_t n;

	out[0] = '\0';
	while (d != NULL && (e = readdir(d)) != NULL && used < cap) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		used += (size_t)snprintf(out + used, cap - used, "  fd %s: %s\n",
		    e->d_name, target);
	}
	if (d != NULL)
		closedir(d);
}

/* The sanitizers' symbolizer runs as a child process behind two pipes
 * that stay open once made, which happens the first time libFuzzer names
 * a function it sees covered (NEW_FUNC): made now, they are part of the
 * baseline instead of a leak some later input is blamed for. */
static void
fuzz_symbolizer_start(void)
{
	char buf[256];

	__sanitizer_symbolize_pc(__builtin_return_address(0), "%F", buf,
	    sizeof(buf));
}

/* Between inputs the process holds the same descriptors: the count at the
 * start of the first input is the count at the end of every one. */
static size_t fuzz_fds_baseline;
static char fuzz_fds_first[4096];

void
fuzz_fds_mark(void)
{
	if (fuzz_fds_baseline == 0) {
		fuzz_symbolizer_start();
		fuzz_fds_baseline = fuzz_open_fds();
		fuzz_fds_list(fuzz_fds_first, sizeof(fuzz_fds_first));
	}
	else if (getenv("FUZZ_FDS_AT_START") != NULL)
		fuzz_fds_check("at the start of the input");
}

void
fuzz_fds_check(const char *who)
{
	size_t n = fuzz_open_fds();

	if (n != fuzz_fds_baseline) {
		char now[4096];

		fuzz_fds_list(now, sizeof(now));
		fprintf(stderr, "%s: %zu descriptors open after the input, "
		    "%zu before the first:\n%sthen:\n%s", who, n,
		    fuzz_fds_baseline, now, fuzz_fds_first);
		abort();
	}
}
