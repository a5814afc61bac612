/* SPDX-License-Identifier: ISC */
/*
 * fuzz_fds: no descriptor outlives an input. fuzz_fds_mark at the start of
 * an input, fuzz_fds_check (which aborts with who and the counts) at its
 * end: the process must hold as many as before the first input, which is
 * after LLVMFuzzerInitialize made what the harness keeps for good.
 * Counted in /proc/self/fd.
 */
#ifndef FUZZ_FDS_H
#define FUZZ_FDS_H

void fuzz_fds_mark(void);
void fuzz_fds_check(const char *who);

#endif
