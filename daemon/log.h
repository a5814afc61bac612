/* SPDX-License-Identifier: ISC */
/*
 * log: the daemon's messages. Each line goes to stderr with a syslog
 * priority prefix ("<3>"), which journald turns into the priority when the
 * daemon runs under systemd and which stays readable on a terminal. The
 * threshold lives in the caller's struct logger, not in a global.
 */
#ifndef SHMBROKER_LOG_H
#define SHMBROKER_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "loglimit.h"

/* A line's room: more than the longest message the daemon builds
 * (BROKER_MESSAGE_MAX, checked in broker.h) with the words around it. */
#define LOG_LINE_MAX 16384

struct logger {
	int level;		/* LOG_ERR .. LOG_DEBUG: print at or below */
	bool prefix;		/* "<N>" priority prefixes for journald */
};

/* Parses "error", "warning", "notice", "info", "debug"; -EINVAL
 * otherwise. */
int log_parse_level(const char *s);

void log_msg(const struct logger *lg, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Messages a peer can repeat at will: log_limit_pass (loglimit.h). */

#define log_err(lg, ...)	log_msg((lg), LOG_ERR, __VA_ARGS__)
#define log_warn(lg, ...)	log_msg((lg), LOG_WARNING, __VA_ARGS__)
#define log_notice(lg, ...)	log_msg((lg), LOG_NOTICE, __VA_ARGS__)
#define log_info(lg, ...)	log_msg((lg), LOG_INFO, __VA_ARGS__)
#define log_debug(lg, ...)	log_msg((lg), LOG_DEBUG, __VA_ARGS__)

#endif
