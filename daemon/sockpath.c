/* SPDX-License-Identifier: ISC */
/*
 * sockpath: binding the daemon's listening sockets at their paths, and
 * what may be cleared out of the way first (sockpath.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockpath.h"

/*
 * Whether a process still serves the socket file at sun. A stream probe
 * answers for every type: a bound socket of another type refuses it with
 * EPROTOTYPE, a listener takes it (or says EAGAIN when its backlog is
 * full), and only a file whose socket is gone gives ECONNREFUSED. Any
 * other answer (EACCES, say) is -errno: nothing is removed that could not
 * be told apart from a live socket.
 */
static int
sockpath_served(const struct sockaddr_un *sun)
{
	int fd, rc;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ?
	    0 : errno;
	close(fd);
	if (rc == ECONNREFUSED)
		return 0;
	if (rc == ENOENT)
		return -ENOENT;
	/* Taken, backlog full, or a live socket of another type: served. */
	if (rc == 0 || rc == EAGAIN || rc == EPROTOTYPE)
		return 1;
	return -rc;
}

/* Makes room at sun's path: 0 when it is free now, else -errno with err. */
static int
sockpath_clear(const struct sockaddr_un *sun, char *err, size_t errlen)
{
	const char *path = sun->sun_path;
	struct stat st;
	int served;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket: move it "
		    "away or choose another path", path);
		return -EEXIST;
	}
	if ((served = sockpath_served(sun)) == -ENOENT)
		return 0;
	if (served < 0) {
		/* Not known to be stale, so not removed. */
		snprintf(err, errlen, "%s: cannot tell whether a process "
		    "serves this socket (%s): remove it if none does, or "
		    "choose another path", path, strerror(-served));
		return served;
	}
	if (served) {
		snprintf(err, errlen, "%s is served by another process (a "
		    "running shmbrokerd?): stop it or choose another path", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove the stale socket: %s",
		    path, strerror(errno));
		return -errno;
	}
	return 0;
}

int
sockpath_listen(const char *path, int type, mode_t mode, int backlog,
    char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes",
		    path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if ((rc = sockpath_clear(&sun, err, errlen)) < 0)
		return rc;
	fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    rc == -ENOENT ? "its directory does not exist (make it "
		    "first)" : strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (chmod(path, mode) < 0 || listen(fd, backlog) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(-rc));
		unlink(path);
		close(fd);
		return rc;
	}
	return fd;
}
