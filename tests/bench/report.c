/* SPDX-License-Identifier: ISC */
/*
 * report: latency samples, figure results and their output: the machine
 * facts, a table row or a JSON line per figure, and the MET/MISSED summary.
 * With --json, stdout carries only the figures' JSON lines; the facts and
 * the summary then go to stderr.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

int
samples_init(struct samples *s, size_t cap)
{
	s->n = 0;
	s->cap = cap;
	s->ns = calloc(cap > 0 ? cap : 1, sizeof(*s->ns));
	return s->ns != NULL ? 0 : -ENOMEM;
}

void
samples_add(struct samples *s, uint64_t ns)
{
	if (s->n < s->cap)
		s->ns[s->n++] = ns;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q quantile (0 < q <= 1) in microseconds; NAN without samples. */
double
samples_us(struct samples *s, double q)
{
	size_t i;

	if (s->n == 0)
		return NAN;
	qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
	i = (size_t)ceil(q * (double)s->n);
	if (i > 0)
		i--;
	if (i >= s->n)
		i = s->n - 1;
	return (double)s->ns[i] / 1000.0;
}

void
samples_free(struct samples *s)
{
	free(s->ns);
	s->ns = NULL;
	s->n = s->cap = 0;
}

struct figure *
figure_new(struct bench *b, const char *name, const char *unit)
{
	struct figure *f;

	if (b->nfigs >= BENCH_MAX_FIGURES)
		abort();	/* a programming error: raise the constant */
	f = &b->figs[b->nfigs++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->unit = unit;
	f->p50 = f->p99 = f->value = NAN;
	f->floor = "none";
	f->placement = "none";
	f->floor_p50 = f->reference = f->ratio = NAN;
	f->target_max = true;
	return f;
}

struct figure *
figure_new_placed(struct bench *b, const char *name, const char *unit,
    enum place p)
{
	struct figure *f = figure_new(b, name, unit);

	f->placement = place_name(p);
	return f;
}

/* A time figure: p50/p99 of s against the p50 of floor_s. */
void
figure_times(struct figure *f, struct samples *s, const char *floor,
    struct samples *floor_s, double target)
{
	f->samples = s->n;
	f->p50 = samples_us(s, 0.50);
	f->p99 = samples_us(s, 0.99);
	f->floor = floor;
	f->floor_p50 = floor_s != NULL ? samples_us(floor_s, 0.50) : NAN;
	if (isfinite(f->floor_p50) && f->floor_p50 > 0)
		f->ratio = f->p50 / f->floor_p50;
	f->target = target;
	f->target_max = true;
}

/* A single-value figure whose ratio is value / reference. */
void
figure_value(struct figure *f, double value, double reference,
    double target, bool target_max)
{
	f->single = true;
	f->value = value;
	f->reference = reference;
	if (reference > 0)
		f->ratio = value / reference;
	f->target = target;
	f->target_max = target_max;
}

void
figure_skip(struct figure *f, const char *floor, double target,
    bool target_max, const char *fmt, ...)
{
	va_list ap;

	f->skipped = true;
	f->floor = floor;
	f->target = target;
	f->target_max = target_max;
	va_start(ap, fmt);
	vsnprintf(f->note, sizeof(f->note), fmt, ap);
	va_end(ap);
}

void
figure_note(struct figure *f, const char *fmt, ...)
{
	size_t used = strlen(f->note);
	va_list ap;

	if (used > 0 && used + 2 < sizeof(f->note)) {
		memcpy(f->note + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(f->note + used, sizeof(f->note) - used, fmt, ap);
	va_end(ap);
}

void
figure_control(struct figure *f, const char *what, double control,
    double floor, double fig)
{
	size_t used = strlen(f->extra);

	figure_note(f, "%s: %.2f %s, %.2fx the floor; the figure %.2fx of it",
	    what, control, f->unit, control / floor, fig / control);
	snprintf(f->extra + used, sizeof(f->extra) - used, ",\"control\":%.3f,"
	    "\"control_ratio\":%.3f", control, fig / control);
}

static const char *
figure_result(const struct figure *f)
{
	if (f->skipped)
		return "SKIPPED";
	if (!isfinite(f->ratio))
		return "n/a";
	if (f->target_max)
		return f->ratio <= f->target ? "MET" : "MISSED";
	return f->ratio >= f->target ? "MET" : "MISSED";
}

/* A JSON number, or null for what was not measured. */
static void
json_number(FILE *out, const char *key, double v)
{
	if (isfinite(v))
		fprintf(out, ",\"%s\":%.3f", key, v);
	else
		fprintf(out, ",\"%s\":null", key);
}

static void
json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void
report_json(const struct figure *f)
{
	const char *res = figure_result(f);

	printf("{\"name\":");
	json_string(stdout, f->name);
	printf(",\"unit\":");
	json_string(stdout, f->unit);
	printf(",\"placement\":");
	json_string(stdout, f->placement);
	if (f->single)
		json_number(stdout, "value", f->value);
	else {
		json_number(stdout, "p50", f->p50);
		json_number(stdout, "p99", f->p99);
	}
	printf(",\"floor\":");
	json_string(stdout, f->floor);
	json_number(stdout, "floor_p50", f->floor_p50);
	json_number(stdout, "ratio", f->ratio);
	json_number(stdout, "target", f->target);
	printf(",\"target_is\":\"%s\"", f->target_max ? "max" : "min");
	if (isfinite(f->reference))
		json_number(stdout, "reference", f->reference);
	if (!f->single && !f->skipped)
		printf(",\"samples\":%zu", f->samples);
	printf(",\"met\":%s", strcmp(res, "MET") == 0 ? "true" :
	    strcmp(res, "MISSED") == 0 ? "false" : "null");
	printf(",\"skipped\":%s", f->skipped ? "true" : "false");
	if (f->note[0] != '\0') {
		printf(",\"note\":");
		json_string(stdout, f->note);
	}
	printf("%s}\n", f->extra);
}

static void
cell(char *buf, size_t len, double v, const char *fmt)
{
	if (isfinite(v))
		snprintf(buf, len, fmt, v);
	else
		snprintf(buf, len, "-");
}

static void
report_row(struct bench *b, const struct figure *f)
{
	char p50[24], p99[24], fl[24], ratio[24], target[24];

	if (!b->header_done) {
		printf("\n%-20s %-9s %-8s %10s %10s  %-18s %10s %7s %8s  "
		    "%s\n", "figure", "placement", "unit", "p50|value", "p99",
		    "floor", "floor_p50", "ratio", "target", "result");
		b->header_done = true;
	}
	cell(p50, sizeof(p50), f->single ? f->value : f->p50, "%.2f");
	cell(p99, sizeof(p99), f->single ? NAN : f->p99, "%.2f");
	cell(fl, sizeof(fl), f->floor_p50, "%.2f");
	cell(ratio, sizeof(ratio), f->ratio, "%.3f");
	snprintf(target, sizeof(target), "%s%.2f", f->target_max ? "<=" : ">=",
	    f->target);
	printf("%-20s %-9s %-8s %10s %10s  %-18s %10s %7s %8s  %s\n",
	    f->name, f->placement, f->unit, p50, p99, f->floor, fl, ratio,
	    target, figure_result(f));
	if (f->note[0] != '\0')
		printf("    %s\n", f->note);
}

void
report_figure(struct bench *b, const struct figure *f)
{
	if (b->json)
		report_json(f);
	else
		report_row(b, f);
	fflush(stdout);
}

static void
report_pool(FILE *out)
{
	struct harness_hugepages pi;

	if (harness_hugepages_read(&pi) < 0 || pi.page_bytes == 0) {
		fprintf(out, "hugepages: none (the kernel has no hugetlb "
		    "pool)\n");
		return;
	}
	fprintf(out, "hugepages: %llu KiB pages, nr_hugepages %ld, total %ld, "
	    "free %ld, reserved %ld\n",
	    (unsigned long long)(pi.page_bytes / 1024), pi.nr, pi.total,
	    pi.free, pi.rsvd);
}

/* The load average: other work on a shared machine moves every figure. */
static void
report_load(FILE *out)
{
	char buf[128] = "";
	FILE *f = fopen("/proc/loadavg", "re");

	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	fprintf(out, "load average: %s\n", buf[0] ? buf : "unknown");
}

void
report_facts(struct bench *b)
{
	FILE *out = b->json ? stderr : stdout;
	struct utsname u;
	struct rlimit rl = { 0, 0 };

	getrlimit(RLIMIT_NOFILE, &rl);
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	fprintf(out, "shmbench %s: %s run%s%s, daemons at --log-level %s\n",
	    SHMBROKER_VERSION, b->quick ? "quick" : "full",
	    b->only != NULL ? ", only " : "", b->only != NULL ? b->only : "",
	    b->log_level);
	fprintf(out, "machine: %ld CPUs online, kernel %s, uid %d\n",
	    sysconf(_SC_NPROCESSORS_ONLN), u.release, (int)geteuid());
	report_load(out);
	if (b->cpu[1] >= 0)
		fprintf(out, "placements: same_cpu = everything on CPU %d; "
		    "cross_cpu = client side on CPU %d, server side on CPU "
		    "%d\n", b->cpu[0], b->cpu[0], b->cpu[1]);
	else
		fprintf(out, "placements: same_cpu only (one CPU usable)\n");
	fprintf(out, "RLIMIT_NOFILE: soft %llu, hard %llu\n",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	report_pool(out);
	fflush(out);
}

void
report_summary(const struct bench *b)
{
	FILE *out = b->json ? stderr : stdout;

	fprintf(out, "\nsummary:\n");
	report_load(out);
	for (size_t i = 0; i < b->nfigs; i++) {
		const struct figure *f = &b->figs[i];
		const char *res = figure_result(f);

		if (f->skipped)
			fprintf(out, "  %-20s %-9s SKIPPED (%s)\n", f->name,
			    f->placement, f->note);
		else if (!isfinite(f->ratio))
			fprintf(out, "  %-20s %-9s n/a (not measured)\n",
			    f->name, f->placement);
		else
			fprintf(out, "  %-20s %-9s %s (ratio %.3f, target %s "
			    "%.2f)\n", f->name, f->placement, res, f->ratio,
			    f->target_max ? "<=" : ">=", f->target);
	}
	if (b->errors > 0)
		fprintf(out, "  %d figure group(s) failed to run: see the "
		    "messages above\n", b->errors);
	fflush(out);
}
