/* SPDX-License-Identifier: ISC */
/*
 * poller: the event-thread stand-in of poller.h. It never reads the fd:
 * once poll says it is readable it yields until the fd is not (someone
 * else read it), as a thread that waits for the caller's lock would, for
 * at most a second; then it only waits to be stopped.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "poller.h"
#include "testutil.h"

struct harness_poller {
	pthread_t thread;
	int fd, stop;
	long wakes, ready;
};

static long
poller_switches(void)
{
	struct rusage ru;

	/* Voluntary only: a sched_yield leaves the thread runnable. */
	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : 0;
}

/* Until fd is read by someone else (1), or for a second (0). */
static int
poller_wait_out(const struct harness_poller *p)
{
	struct pollfd w = { p->fd, POLLIN, 0 };
	int64_t give_up = harness_now_ms() + 1000;

	while (poll(&w, 1, 0) > 0)
		if (harness_now_ms() > give_up)
			return 0;
		else
			sched_yield();
	return 1;
}

static void *
poller_main(void *arg)
{
	struct harness_poller *p = arg;
	struct pollfd w[2] = { { p->stop, POLLIN, 0 }, { p->fd, POLLIN, 0 } };
	nfds_t n = 2;
	long start = poller_switches();

	for (;;) {
		if (poll(w, n, -1) < 0 && errno != EINTR)
			break;
		if (w[0].revents != 0)
			break;
		if (n == 2 && w[1].revents != 0) {
			p->ready++;
			if (!poller_wait_out(p))
				n = 1;
		}
	}
	/* Each wake is followed by a sleep, save the stop's; the first poll's
	 * sleep came before any wake. */
	p->wakes = poller_switches() - start - 1;
	return NULL;
}

int
harness_poller_start(int fd, struct harness_poller **out)
{
	struct harness_poller *p = calloc(1, sizeof(*p));
	int err;

	if (p == NULL)
		return -ENOMEM;
	p->fd = fd;
	if ((p->stop = eventfd(0, EFD_CLOEXEC)) < 0) {
		err = -errno;
		free(p);
		return err;
	}
	if ((err = pthread_create(&p->thread, NULL, poller_main, p)) != 0) {
		close(p->stop);
		free(p);
		return -err;
	}
	*out = p;
	return 0;
}

void
harness_poller_stop(struct harness_poller *p, long *wakes, long *ready)
{
	uint64_t one = 1;

	if (write(p->stop, &one, sizeof(one)) != sizeof(one))
		abort();	/* an eventfd write of 1 cannot fail */
	pthread_join(p->thread, NULL);
	if (wakes != NULL)
		*wakes = p->wakes < 0 ? 0 : p->wakes;
	if (ready != NULL)
		*ready = p->ready;
	close(p->stop);
	free(p);
}
