/* SPDX-License-Identifier: ISC */
/*
 * service: the daemon's conversation with its service manager. Readiness
 * and a status line (sd_notify), the watchdog pinged from the event loop so
 * that a stalled loop is noticed, shutdown, and reload on SIGHUP: the
 * configuration is read again and applied without dropping a connection,
 * and a configuration that fails to load leaves the running one in place.
 * Without NOTIFY_SOCKET every sd_notify is a no-op, so the same code runs
 * under systemd, systemd-socket-activate or a plain shell.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "broker.h"
#include "config.h"

#define STATUS_INTERVAL_S 5

#define SWAP(a, b) do {			\
	__typeof__(a) swap_tmp_ = (a);	\
	(a) = (b);			\
	(b) = swap_tmp_;		\
} while (0)

static uint64_t
monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
service_send_status(struct broker *b)
{
	sd_notifyf(0, "STATUS=serving %zu regions, %zu clients, %u "
	    "connections", b->reg.regions_by_name.count,
	    b->reg.clients_by_id.count, b->nconns);
}

static void
service_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

static void
service_status_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_send_status(arg);
}

/* Applies what a reload may change; the sockets stay as they are. */
static void
service_apply(struct broker *b, struct broker_config *next)
{
	struct broker_config *cur = &b->cfg;

	if (strcmp(cur->socket_path, next->socket_path) != 0 ||
	    strcmp(cur->admin_socket_path, next->admin_socket_path) != 0)
		log_warn(&b->log, "reload: socket paths change only at a "
		    "restart; still listening on %s and %s", cur->socket_path,
		    cur->admin_socket_path);
	cur->log_level = b->log.level = next->log_level;
	cur->hugepages = next->hugepages;
	cur->fd_store_max = next->fd_store_max;
	/* Turned on now: the regions that exist go to the store as well,
	 * or the next restart would lose them. */
	if (next->fd_store && !cur->fd_store) {
		cur->fd_store = true;
		if (b->members == NULL && members_start(b) < 0)
			log_warn(&b->log, "reload: no table of members for "
			    "restarts: out of memory");
		fdstore_put_all(b);
	}
	cur->fd_store = next->fd_store;
	cur->max_region_pages = next->max_region_pages;
	cur->max_regions = next->max_regions;
	cur->max_clients = next->max_clients;
	cur->max_connections = next->max_connections;
	cur->max_clients_per_connection = next->max_clients_per_connection;
	cur->max_queued_messages = next->max_queued_messages;
	if (next->local_region_fds != 0)
		cur->local_region_fds = next->local_region_fds;
	/* The old regions (their export paths with them) and tenants are
	 * freed with next; the tenants after every connection has been
	 * pointed at a new one. */
	SWAP(cur->regions, next->regions);
	SWAP(cur->nregions, next->nregions);
	SWAP(cur->tenants, next->tenants);
	SWAP(cur->ntenants, next->ntenants);
	SWAP(cur->default_tenant, next->default_tenant);
	cur->open_tenancy = next->open_tenancy;
	cur->has_admin_group = next->has_admin_group;
	cur->admin_group = next->admin_group;
	policy_reload(b);
	fdstore_check_config(b);
}

/* A reload whose regions are still being created: one at a time. */
struct reload_job {
	service_reload_cb *done;
	uint64_t conn_id, req_id;
	size_t next;			/* the configured region to create */
	uint64_t park_wait_ms;		/* since when it waits for keepers */
	unsigned failed;		/* regions that could not be made */
	char err[BROKER_MESSAGE_MAX];	/* the first one's reason */
};

/* Before the new tenants run, each has its usage: without memory for
 * them the reload is refused and the running configuration kept. */
static int
service_attach_usages(struct broker *b, struct broker_config *next,
    char *err, size_t errlen)
{
	if (policy_attach_usages(b, next) == 0)
		return 0;
	snprintf(err, errlen, "out of memory for the tenants' usage");
	return -ENOMEM;
}

/* Regions a reload creates between two turns of the event loop: a few
 * milliseconds' work, so a file of many regions never holds the loop
 * anywhere near the watchdog. */
#define RELOAD_BATCH 256
/* While the keepers are a batch or more behind with the memfds to park
 * (slow, or stopped), a reload looks again this often, up to
 * RELOAD_PARK_WAIT_MAX_MS, instead of keeping the memfds itself until
 * the daemon runs out of descriptors (a keeper behind by a second of
 * creates made the reload of 80,000 regions fail so). */
#define RELOAD_PARK_WAIT_US 5000
#define RELOAD_PARK_WAIT_MAX_MS 10000

static void
service_reload_end(struct broker *b, struct reload_job *job,
    enum reload_result rc, const char *err)
{
	if (rc == RELOAD_DONE)
		log_notice(&b->log, "configuration reloaded");
	else if (rc == RELOAD_PARTIAL)
		log_err(&b->log, "reload: %s", err);
	b->reload = NULL;
	sd_notify(0, "READY=1");
	service_send_status(b);
	if (job->done != NULL)
		job->done(b, job->conn_id, job->req_id, rc, err);
	free(job);
	/* The file may have changed since this reload read it. */
	if (b->reload_again) {
		b->reload_again = false;
		service_reload(b, NULL, 0, 0);
	}
}

/* Whether the step waits for the keepers to take the memfds to park
 * (it parks what they take now), and is then looked at again. */
static bool
service_reload_waits_for_keepers(struct broker *b, struct reload_job *job)
{
	uint64_t now = broker_mono_ns() / 1000000;

	region_park_memfds(b);
	if (b->local_fds <= b->cfg.local_region_fds + RELOAD_BATCH) {
		job->park_wait_ms = 0;
		return false;
	}
	if (job->park_wait_ms == 0)
		job->park_wait_ms = now;
	else if (now - job->park_wait_ms > RELOAD_PARK_WAIT_MAX_MS)
		return false;	/* on, and out of descriptors, it says so */
	event_add(b->ev_reload, &(struct timeval){ 0, RELOAD_PARK_WAIT_US });
	return true;
}

static void
service_reload_step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct reload_job *job = b->reload;
	char err[BROKER_MESSAGE_MAX] = "";
	int rc;

	(void)fd;
	(void)what;
	if (service_reload_waits_for_keepers(b, job))
		return;
	rc = region_create_configured(b, &job->next, RELOAD_BATCH,
	    &job->failed, job->err, sizeof(job->err));
	/* A timeout, not event_active: libevent runs events activated from
	 * an active callback in the same pass, before it polls again, so the
	 * batches would still hold every connection back. */
	if (rc == 1) {
		event_add(b->ev_reload, &(struct timeval){ 0, 0 });
		return;
	}
	rc = ivshmem_export_configured(b, err, sizeof(err));
	if (job->failed > 1)
		snprintf(err, sizeof(err), "%u configured regions cannot be "
		    "made (see the log); the first: %.*s", job->failed,
		    (int)(sizeof(err) - 80), job->err);
	else if (job->failed == 1)
		memcpy(err, job->err, sizeof(err));
	service_reload_end(b, job, rc < 0 || job->failed > 0 ?
	    RELOAD_PARTIAL : RELOAD_DONE, err);
}

void
service_reload(struct broker *b, service_reload_cb *done, uint64_t conn_id,
    uint64_t req_id)
{
	struct broker_config next;
	struct reload_job *job;
	char err[BROKER_MESSAGE_MAX];

	if (b->reload != NULL) {
		if (done != NULL)
			done(b, conn_id, req_id, RELOAD_REFUSED, "a reload is "
			    "still creating its regions; try again when it is "
			    "done");
		else if (!b->reload_again) {
			/* A signal has no one to tell: it is not lost. */
			b->reload_again = true;
			log_notice(&b->log, "SIGHUP while a reload creates its "
			    "regions: the file is read again after it");
		}
		return;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL) {
		if (done != NULL)
			done(b, conn_id, req_id, RELOAD_REFUSED,
			    "out of memory");
		return;
	}
	*job = (struct reload_job){ .done = done, .conn_id = conn_id,
	    .req_id = req_id };
	b->reload = job;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)monotonic_usec());
	if (config_load(&next, b->argc, b->argv, err, sizeof(err)) != 0 ||
	    policy_check_credentials(&next, err, sizeof(err)) < 0 ||
	    service_attach_usages(b, &next, err, sizeof(err)) < 0) {
		log_err(&b->log, "reload failed, keeping the running "
		    "configuration: %s", err);
		config_free(&next);
		service_reload_end(b, job, RELOAD_REFUSED, err);
		return;
	}
	for (size_t i = 0; i < next.nwarnings; i++)
		log_warn(&b->log, "%s", next.warnings[i]);
	config_log_widening(&b->log, &b->cfg, &next);
	service_apply(b, &next);
	config_free(&next);
	service_reload_step_cb(-1, 0, b);
}

static void
service_sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	service_reload(arg, NULL, 0, 0);
}

int
service_start(struct broker *b)
{
	uint64_t usec = 0;
	struct timeval tv;
	sigset_t hup;

	b->ev_sighup = evsignal_new(b->base, SIGHUP, service_sighup_cb, b);
	b->ev_reload = event_new(b->base, -1, 0, service_reload_step_cb, b);
	if (b->ev_sighup == NULL || b->ev_reload == NULL ||
	    evsignal_add(b->ev_sighup, NULL) < 0)
		return -ENOMEM;
	/* main held SIGHUP until now: one sent during the start reloads. */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &hup, NULL);
	/* Half the watchdog interval, as sd_watchdog_enabled(3) advises. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		tv.tv_sec = (time_t)(usec / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(usec / 2 % 1000000);
		b->ev_watchdog = event_new(b->base, -1, EV_PERSIST,
		    service_watchdog_cb, b);
		if (b->ev_watchdog == NULL || event_add(b->ev_watchdog, &tv) < 0)
			return -ENOMEM;
		log_info(&b->log, "watchdog: pinging every %llu ms",
		    (unsigned long long)usec / 2000);
	}
	if (getenv("NOTIFY_SOCKET") != NULL) {
		tv.tv_sec = STATUS_INTERVAL_S;
		tv.tv_usec = 0;
		b->ev_status = event_new(b->base, -1, EV_PERSIST,
		    service_status_cb, b);
		if (b->ev_status == NULL || event_add(b->ev_status, &tv) < 0)
			return -ENOMEM;
	}
	sd_notify(0, "READY=1");
	service_send_status(b);
	return 0;
}

void
service_stopping(struct broker *b)
{
	(void)b;
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void
service_stop(struct broker *b)
{
	if (b->ev_sighup != NULL)
		event_free(b->ev_sighup);
	if (b->ev_watchdog != NULL)
		event_free(b->ev_watchdog);
	if (b->ev_status != NULL)
		event_free(b->ev_status);
	if (b->ev_reload != NULL)
		event_free(b->ev_reload);
	free(b->reload);	/* its admin connection is gone with the rest */
	b->reload = NULL;
	b->ev_sighup = b->ev_watchdog = b->ev_status = b->ev_reload = NULL;
}
