/* SPDX-License-Identifier: ISC */
/*
 * main: shmbrokerd's start and stop. Reads the configuration, raises the
 * descriptor limit (every region holds a memfd), opens the VMM and admin
 * sockets (or takes them from systemd), creates the configured regions and
 * runs the event loop until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "broker.h"
#include "config.h"
#include "sockpath.h"

static int
mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Binds a listening SOCK_SEQPACKET socket, making its directory first. */
static int
broker_bind(struct broker *b, const char *path, mode_t mode)
{
	char err[PATH_MAX + 128];
	int fd;

	if ((fd = mkdir_parent(path)) < 0) {
		log_err(&b->log, "%s: cannot create its directory: %s", path,
		    strerror(-fd));
		return fd;
	}
	if ((fd = sockpath_listen(path, SOCK_SEQPACKET, mode, 1024, err,
	    sizeof(err))) < 0)
		log_err(&b->log, "%s", err);
	return fd;
}

/* Which of our sockets a passed fd is: its FileDescriptorName= when that
 * says, else its path compared with the configured admin socket. */
static int
broker_socket_kind(struct broker *b, int fd, const char *name)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	if (name != NULL && strcmp(name, "admin") == 0)
		return CONN_ADMIN;
	if (name != NULL && strcmp(name, "vmm") == 0)
		return CONN_VMM;
	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    strcmp(sun.sun_path, b->cfg.admin_socket_path) == 0)
		return CONN_ADMIN;
	return CONN_VMM;
}

/* Sockets passed by systemd or systemd-socket-activate; returns 1 when
 * there were some, 0 when none, -1 when they are unusable. */
static int
broker_activated_sockets(struct broker *b, int fds[2])
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names), nsockets = 0;

	fds[0] = fds[1] = -1;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		int k;

		if (names != NULL && restore_take_fd(b, fd, names[i])) {
			free(names[i]);
			continue;
		}
		k = broker_socket_kind(b, fd, names ? names[i] : NULL);
		nsockets++;

		if (fds[k] < 0 && sd_is_socket_unix(fd, SOCK_SEQPACKET, 1,
		    NULL, 0) > 0) {
			fds[k] = fd;
		} else {
			log_warn(&b->log, "ignoring passed fd %d (%s): not a "
			    "listening SOCK_SEQPACKET socket, or a second %s "
			    "socket", fd, names ? names[i] : "unnamed",
			    k == CONN_ADMIN ? "admin" : "vmm");
			close(fd);
		}
		if (names != NULL)
			free(names[i]);
	}
	free(names);
	if (nsockets > 0 && fds[0] < 0) {
		log_err(&b->log, "systemd passed sockets but no VMM socket "
		    "(name it with FileDescriptorName=vmm)");
		return -EINVAL;
	}
	for (int k = 0; k < 2; k++)
		if (fds[k] >= 0 && fcntl(fds[k], F_SETFL, O_NONBLOCK) < 0)
			return -errno;
	return nsockets > 0;
}

static void
broker_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct broker *b = arg;

	(void)what;
	log_notice(&b->log, "%s: shutting down", strsignal((int)sig));
	b->stopping = true;
	service_stopping(b);
	event_base_loopbreak(b->base);
}

static int
broker_open(struct broker *b)
{
	int fds[2], activated, rc;

	if ((rc = broker_init(b)) < 0)
		return rc;
	/* Before the sockets exist: a client that connects and stops us at
	 * once must find a daemon that shuts down cleanly. */
	b->ev_sigint = evsignal_new(b->base, SIGINT, broker_signal_cb, b);
	b->ev_sigterm = evsignal_new(b->base, SIGTERM, broker_signal_cb, b);
	if (b->ev_sigint == NULL || b->ev_sigterm == NULL ||
	    evsignal_add(b->ev_sigint, NULL) < 0 ||
	    evsignal_add(b->ev_sigterm, NULL) < 0)
		return -ENOMEM;
	if ((activated = broker_activated_sockets(b, fds)) < 0)
		return activated;
	b->activated = activated;
	if (!activated) {
		fds[0] = broker_bind(b, b->cfg.socket_path, 0666);
		fds[1] = broker_bind(b, b->cfg.admin_socket_path, 0600);
	}
	if (fds[0] < 0 || (!activated && fds[1] < 0))
		return fds[0] < 0 ? fds[0] : fds[1];
	if ((rc = conn_listen(b, &b->listeners[0], fds[0], CONN_VMM)) < 0 ||
	    (fds[1] >= 0 && (rc = conn_listen(b, &b->listeners[1], fds[1],
	    CONN_ADMIN)) < 0))
		return rc;
	if ((rc = restore_finish(b)) < 0 || (rc = members_start(b)) < 0)
		return rc;
	fdstore_check_config(b);
	return 0;
}

/* The configured regions, then the exports kept over the restart, then
 * the configured ones that are not among them. One of these that cannot
 * be made is an error of the configuration file, which says where (each
 * region that cannot be made is tried and logged). */
static int
broker_configure(struct broker *b)
{
	char err[BROKER_MESSAGE_MAX] = "";
	unsigned failed = 0;
	size_t next = 0;

	region_create_configured(b, &next, SIZE_MAX, &failed, err,
	    sizeof(err));
	if (failed > 0)
		return -EINVAL;
	ivshmem_restore_finish(b);
	return ivshmem_export_configured(b, err, sizeof(err));
}

static void
broker_close(struct broker *b, bool unlink_sockets)
{
	/* The signal events belong to the event base broker_fini frees. */
	if (b->ev_sigint != NULL)
		event_free(b->ev_sigint);
	if (b->ev_sigterm != NULL)
		event_free(b->ev_sigterm);
	b->ev_sigint = b->ev_sigterm = NULL;
	if (unlink_sockets) {
		unlink(b->cfg.socket_path);
		unlink(b->cfg.admin_socket_path);
	}
	broker_fini(b);
}

/* Where the daemon listens: the sockets' own paths, which under socket
 * activation are the units', not the configured ones. */
static void
broker_say_listening(struct broker *b)
{
	struct sockaddr_un sun[2];

	for (int k = 0; k < 2; k++) {
		socklen_t len = sizeof(sun[k]);

		memset(&sun[k], 0, sizeof(sun[k]));
		if (b->listeners[k].fd <= 0 || getsockname(b->listeners[k].fd,
		    (struct sockaddr *)&sun[k], &len) < 0 ||
		    sun[k].sun_path[0] == '\0')
			snprintf(sun[k].sun_path, sizeof(sun[k].sun_path),
			    "%s", b->listeners[k].fd <= 0 ? "none" : "unnamed");
	}
	log_notice(&b->log, "listening on %s (admin %s)%s, hugepages %s, "
	    "hugepage size %llu KiB", sun[0].sun_path, sun[1].sun_path,
	    b->activated ? " from systemd" : "",
	    memory_policy_name(b->cfg.hugepages),
	    (unsigned long long)b->hugepage_size / 1024);
}

/* A SIGHUP before the reload handler is in place (systemctl kill -s HUP
 * during a long start, say) would end the daemon, as is its default: it
 * is held pending until service_start, which then reloads the file. */
static void
broker_hold_sighup(void)
{
	sigset_t hup;

	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
}

int
main(int argc, char **argv)
{
	struct broker *b = calloc(1, sizeof(*b));
	char err[BROKER_MESSAGE_MAX];
	int rc;

	if (argc == 2 && strcmp(argv[1], FDSTASH_KEEPER_ARG) == 0)
		fdstash_keeper_main();
	if (argc == 2 && strcmp(argv[1], REAPER_ARG) == 0)
		reaper_main();
	if (b == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	broker_hold_sighup();
	b->argc = argc;
	b->argv = argv;
	rc = config_load(&b->cfg, argc, argv, err, sizeof(err));
	if (rc != CONFIG_LOADED) {
		if (rc != CONFIG_SAID)
			fprintf(stderr, "shmbrokerd: %s\n", err);
		config_free(&b->cfg);
		free(b);
		return rc == CONFIG_SAID ? 0 : rc == CONFIG_USAGE ?
		    64 /* EX_USAGE */ : 78 /* EX_CONFIG */;
	}
	b->log.level = b->cfg.log_level;
	b->log.prefix = getenv("JOURNAL_STREAM") != NULL;
	for (size_t i = 0; i < b->cfg.nwarnings; i++)
		log_warn(&b->log, "%s", b->cfg.warnings[i]);
	rc = policy_check_credentials(&b->cfg, err, sizeof(err));
	if (rc < 0)
		log_err(&b->log, "%s", err);
	else if (b->cfg.check_only)
		printf("shmbrokerd: %s: the configuration loads\n",
		    b->cfg.config_file != NULL ? b->cfg.config_file :
		    "no file");
	if (rc < 0 || b->cfg.check_only) {
		config_free(&b->cfg);
		free(b);
		return rc < 0 ? 78 /* EX_CONFIG */ : 0;
	}
	if (broker_open(b) < 0) {
		log_err(&b->log, "start-up failed");
		/* What came back from the fd store stays there for the next
		 * start, as at a shutdown. */
		b->stopping = true;
		broker_close(b, false);
		free(b);
		return 1;
	}
	/* Exit status 78 (EX_CONFIG), as for every other error in the
	 * file: systemd and scripts tell a configuration to fix from a
	 * start-up that failed; the sockets go with the daemon. */
	if (broker_configure(b) < 0) {
		b->stopping = true;
		broker_close(b, !b->activated);
		free(b);
		return 78;	/* EX_CONFIG */
	}
	broker_say_listening(b);
	if (b->hugepage_size != 0 && memory_hugepages_available() == 0 &&
	    b->cfg.hugepages != HUGEPAGES_NEVER)
		log_notice(&b->log, "the hugepage pool is empty: regions use "
		    "regular memory (fill /proc/sys/vm/nr_hugepages for "
		    "hugetlb)");
	if (region_watch_keepers(b) < 0 || service_start(b) < 0) {
		log_err(&b->log, "start-up failed: cannot set up the service "
		    "events (out of memory)");
		/* What came back from the fd store stays there. */
		b->stopping = true;
		broker_close(b, !b->activated);
		free(b);
		return 1;
	}
	event_base_dispatch(b->base);
	broker_close(b, !b->activated);
	free(b);
	return 0;
}
