/* SPDX-License-Identifier: ISC */
/*
 * fixture: a daemon, its admin connection and what a test opens, as one
 * cmocka fixture (see fixture.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "testcheck.h"

void *
fixture_new(void **state, size_t size)
{
	struct fixture *fx;

	*state = NULL;
	if (size < sizeof(*fx) || (fx = calloc(1, size)) == NULL)
		return NULL;
	for (size_t i = 0; i < FIXTURE_RAW; i++)
		fx->raw[i] = -1;
	fx->next_id = 1;
	if (harness_mkdtemp(fx->dir, sizeof(fx->dir), "fixture") < 0) {
		perror("fixture directory");
		free(fx);
		return NULL;
	}
	snprintf(fx->conf, sizeof(fx->conf), "%s/shmbroker.conf", fx->dir);
	*state = fx;
	return fx;
}

/* Without cmocka's assertions, so that a setup can call it too. */
static int
fixture_write_conf(const struct fixture *fx, const char *text)
{
	FILE *f = fopen(fx->conf, "we");
	int rc;

	if (f == NULL) {
		perror(fx->conf);
		return -1;
	}
	rc = fputs(text, f) < 0 ? -1 : 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* fx->args: --config fx->conf when there is a configuration, then the
 * extra arguments. */
static int
fixture_set_args(struct fixture *fx, bool config, const char *const *extra)
{
	size_t n = 0;

	if (config) {
		fx->args[n++] = "--config";
		fx->args[n++] = fx->conf;
	}
	for (; extra != NULL && *extra != NULL; extra++) {
		if (n == FIXTURE_ARGS - 1) {
			fprintf(stderr, "fixture: over %d daemon arguments\n",
			    FIXTURE_ARGS - 1);
			return -1;
		}
		fx->args[n++] = *extra;
	}
	fx->args[n] = NULL;
	return 0;
}

static int
fixture_open_admin(struct fixture *fx)
{
	char err[256];

	if (shmc_connect(fx->d.admin_socket, "test admin",
	    SHMC_DEFAULT_TIMEOUT_MS, &fx->adm, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "fixture: admin connection to %s: %s\n",
	    fx->d.admin_socket, err);
	return -1;
}

int
fixture_start(struct fixture *fx, const char *conf, const char *const *extra)
{
	if (fx->d.pid > 0) {
		fprintf(stderr, "fixture: a daemon runs already\n");
		return -1;
	}
	if (conf != NULL && fixture_write_conf(fx, conf) < 0)
		return -1;
	/* A daemon with a user of its own reads the configuration as
	 * that user (at start and at every reload). */
	if (fx->start_how != NULL && fx->start_how->uid > 0 &&
	    (chown(fx->dir, fx->start_how->uid, (gid_t)-1) < 0 ||
	    (conf != NULL && chown(fx->conf, fx->start_how->uid,
	    (gid_t)-1) < 0))) {
		perror(fx->dir);
		return -1;
	}
	if (fixture_set_args(fx, conf != NULL, extra) < 0 ||
	    harness_start_daemon_how(&fx->d, fx->args, fx->start_how) < 0)
		return -1;
	return fixture_open_admin(fx);
}

int
fixture_restart(struct fixture *fx, const struct harness_restart *how)
{
	shmc_close(fx->adm);
	fx->adm = NULL;
	if (harness_restart_daemon(&fx->d, fx->args, how) < 0)
		return -1;
	if (how != NULL && how->delay_ms > 0)
		return 0;
	return fixture_open_admin(fx);
}

static void
fixture_close_all(struct fixture *fx)
{
	for (size_t i = 0; i < fx->nmaps; i++)
		munmap(fx->maps[i].addr, fx->maps[i].len);
	fx->nmaps = 0;
	for (size_t i = 0; i < fx->nfds; i++)
		close(fx->fds[i]);
	fx->nfds = 0;
	for (size_t i = 0; i < FIXTURE_CONNS; i++) {
		shmc_close(fx->conns[i]);
		fx->conns[i] = NULL;
	}
	for (size_t i = 0; i < FIXTURE_RAW; i++) {
		if (fx->raw[i] >= 0)
			close(fx->raw[i]);
		fx->raw[i] = -1;
	}
	shmc_close(fx->adm);
	fx->adm = NULL;
}

int
fixture_stop(struct fixture *fx)
{
	int rc;

	fixture_close_all(fx);
	rc = harness_stop_daemon_checked(&fx->d);
	/* A daemon that exited at start-up left its directory and log:
	 * they go now, or stay with SHMBROKER_KEEP_LOGS. */
	if (fx->d.dir[0] != '\0')
		harness_stop_daemon(&fx->d);
	return rc;
}

int
fixture_teardown(void **state)
{
	struct fixture *fx = *state;
	int rc;

	if (fx == NULL)
		return 0;
	rc = fixture_stop(fx);
	harness_rmtree(fx->dir);
	free(fx);
	*state = NULL;
	return rc == 0 ? 0 : -1;
}

int
fixture_failed(void **state)
{
	fixture_teardown(state);
	return -1;
}

int
fixture_begin(void **state, size_t size, const char *conf,
    const char *const *extra)
{
	struct fixture *fx = fixture_new(state, size);

	if (fx == NULL || fixture_start(fx, conf, extra) < 0)
		return fixture_failed(state);
	return 0;
}

int
fixture_setup(void **state)
{
	static const char *const never[] = { "--hugepages", "never", NULL };

	return fixture_begin(state, sizeof(struct fixture), NULL, never);
}

struct shmc *
fixture_connect(struct fixture *fx, const char *path, const char *label)
{
	for (size_t i = 0; i < FIXTURE_CONNS; i++)
		if (fx->conns[i] == NULL)
			return fx->conns[i] = check_connect(path, label);
	fail_msg("fixture: more than %d connections", FIXTURE_CONNS);
	return NULL;
}

void
fixture_close(struct fixture *fx, struct shmc *c)
{
	for (size_t i = 0; i < FIXTURE_CONNS; i++)
		if (fx->conns[i] == c)
			fx->conns[i] = NULL;
	shmc_close(c);
}

int
fixture_raw(struct fixture *fx, const char *path)
{
	for (size_t i = 0; i < FIXTURE_RAW; i++)
		if (fx->raw[i] < 0)
			return fx->raw[i] = check_raw_connect(path);
	fail_msg("fixture: more than %d raw sockets", FIXTURE_RAW);
	return -1;
}

void
fixture_raw_close(struct fixture *fx, int fd)
{
	for (size_t i = 0; i < FIXTURE_RAW; i++)
		if (fx->raw[i] == fd)
			fx->raw[i] = -1;
	close(fd);
}

int
fixture_attach(struct fixture *fx, struct shmc *c, const char *name,
    uint32_t pages, bool create, struct shmc_region *out)
{
	int rc = shmc_attach(c, name, pages, create, out);

	if (rc < 0)
		fail_msg("attach %s: %d %s", name, rc, shmc_error(c));
	if (rc == SHMC_GSS_OK) {
		if (fx->nfds == FIXTURE_FDS) {
			close(out->fd);
			fail_msg("fixture: more than %d region fds",
			    FIXTURE_FDS);
		}
		fx->fds[fx->nfds++] = out->fd;
	}
	return rc;
}

uint8_t *
fixture_map(struct fixture *fx, const struct shmc_region *r)
{
	void *p;

	if (fx->nmaps == FIXTURE_MAPS)
		fail_msg("fixture: more than %d mappings", FIXTURE_MAPS);
	p = mmap(NULL, r->backing_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0);
	if (p == MAP_FAILED)
		fail_msg("mmap of a region fd: %s", strerror(errno));
	fx->maps[fx->nmaps].addr = p;
	fx->maps[fx->nmaps++].len = r->backing_bytes;
	return p;
}

int
fixture_log_lines(const struct fixture *fx, const char *a, const char *b)
{
	char line[1024];
	FILE *fp = fopen(fx->d.log, "re");
	int n = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, a) != NULL &&
		    (b == NULL || strstr(line, b) != NULL);
	fclose(fp);
	return n;
}
