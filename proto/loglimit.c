/* SPDX-License-Identifier: ISC */
/*
 * loglimit: once an interval, with a count of the rest (see loglimit.h).
 */
#include "loglimit.h"

bool
log_limit_pass(struct log_limit *l, uint64_t now_ms, uint64_t interval_ms,
    uint64_t *unsaid)
{
	if (l->said_ms != 0 && now_ms - l->said_ms < interval_ms) {
		l->unsaid++;
		return false;
	}
	*unsaid = l->unsaid;
	l->said_ms = now_ms != 0 ? now_ms : 1;
	l->unsaid = 0;
	return true;
}
