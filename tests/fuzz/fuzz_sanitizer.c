/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sanitizer: the UBSan setting every harness starts with, so that a
 * harness run by hand (on a crash file, say) reports as scripts/fuzz.sh
 * runs it: with the stack of what it reports. UBSAN_OPTIONS still wins.
 */
const char *__ubsan_default_options(void);

const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1";
}
