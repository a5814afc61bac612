/* SPDX-License-Identifier: ISC */
/*
 * inifile: the reader of shmbrokerd's configuration file format. A line is
 * a "[section]", a "key = value", a comment (";" or "#" first) or blank; a
 * ";" after whitespace starts a comment at the end of a line. It hands each
 * section and key, with its line number, to the caller, and stops at the
 * first error with "FILE:LINE: reason". It never holds more than one line
 * (INIFILE_MAX_LINE) nor reads past INIFILE_MAX_BYTES, so a hostile or
 * mistaken file (a device, a directory, binary data) costs bounded memory
 * and time, and every byte it quotes back is escaped. No other state: it
 * is tested on its own.
 */
#ifndef SHMBROKER_INIFILE_H
#define SHMBROKER_INIFILE_H

#include <stddef.h>
#include <stdio.h>

#define INIFILE_MAX_LINE 4096		/* with the newline */
#define INIFILE_MAX_BYTES (64u << 20)

struct inifile_handler {
	/* Each returns 0, or -EINVAL (-ENOMEM) with the reason in why. */
	int (*section)(void *arg, const char *name, int line, char *why,
	    size_t whylen);
	int (*key)(void *arg, const char *key, const char *value, int line,
	    char *why, size_t whylen);
	void *arg;
};

/* Reads f to its end. 0, or -errno (-EINVAL for what is not a valid
 * file, -EIO and the like for a read error) with "path:line: reason" in
 * err. */
int inifile_parse(FILE *f, const char *path, const struct inifile_handler *h,
    char *err, size_t errlen);

/* Copies s into out with every byte that is not printable ASCII as \xNN
 * (and a backslash as \\), cut to fit; returns out. */
char *inifile_escape(char *out, size_t cap, const char *s);

#endif
