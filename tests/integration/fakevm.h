/* SPDX-License-Identifier: ISC */
/*
 * fakevm: fake VMMs for the libshmvdev tests. Each "VM" lives in the test
 * process: its map callback mmaps the region fd into a table keyed by
 * guest-physical address (so the test reads and writes guest memory at a
 * gpa), unmap undoes it, and raise_irq counts; with bind_irqfd it keeps
 * the bound eventfds the way KVM would, and the test polls them as the
 * kernel would. Several VMs, each its own libshmclient connection, share
 * regions the way guests would, through factory and control page
 * accesses only. The fixture is the daemon's (fixture.h) with NVMS such
 * VMs, closed at teardown. Everything here fails the running cmocka test
 * rather than return an error.
 */
#ifndef SHMBROKER_FAKEVM_H
#define SHMBROKER_FAKEVM_H

#include <stdbool.h>
#include <stdint.h>

#include "fixture.h"
#include "shmvdev.h"

#define NVMS		4
#define MAXMAPS		24
#define MAXBOUND	8
#define WAIT_MS		5000
#define FACTORY		SHMVDEV_DEFAULT_FACTORY_GPA
#define MIB		(1024ull * 1024)

/* Factory and control offsets (struct guest_shm_factory/_control). */
#define F_SIG	0x00
#define F_SHMEM	0x08
#define F_VEC	0x10
#define F_STAT	0x14
#define F_SIZE	0x18
#define F_NAME	0x1C
#define F_FIND	0x3C
#define C_STAT	0x0
#define C_IDX	0x4
#define C_NTF	0x8
#define C_DET	0xC

struct gmap {
	uint64_t gpa, len;
	uint8_t *p;
};

/* A fake VMM: guest memory mapped by libshmvdev, interrupts counted. */
struct fvm {
	struct shmvdev *v;
	struct gmap maps[MAXMAPS];
	unsigned irqs, nmap, nunmap, bad_unmaps;
	bool last_hugetlb;
	int bound[MAXBOUND];	/* irqfds, -1: free slot */
	unsigned binds, unbinds, bad_unbinds;
	int bind_err;		/* what bind_irqfd returns, 0: binds */
	int map_err;		/* what map returns, 0: maps */
};

/* The fixture and the fake VMs. */
struct vdev_fx {
	struct fixture fx;	/* first: fixture_teardown frees it whole */
	struct fvm vm[NVMS];
};

/* The callbacks without irqfds: notifications come through dispatch. */
extern const struct shmvdev_ops fvm_ops;

/* cmocka setup: a daemon with conf (NULL: none), --hugepages never. */
int fvm_setup_conf(void **state, const char *conf);
int fvm_setup(void **state);
int fvm_teardown(void **state);

/* Opens VM i; window_size 0 is the default window. */
struct fvm *fvm_open(struct vdev_fx *f, int i, uint64_t window_size,
    int reconnect_ms);
/* The same with irqfds: notifications do not go through dispatch. */
struct fvm *fvm_open_irqfd(struct vdev_fx *f, int i);

/* A read and a write the vdev must take as its own: shmvdev_claims and
 * the access itself agree. */
uint64_t fvm_rd(struct fvm *m, uint64_t gpa, unsigned len);
void fvm_wr(struct fvm *m, uint64_t gpa, unsigned len, uint64_t data);
/* The guest's name copy, a byte at a time, NUL included. */
void fvm_set_name(struct fvm *m, const char *name);
/* A create (a size write) or a find of name; the factory's status. */
uint32_t fvm_create(struct fvm *m, const char *name, uint32_t pages);
uint32_t fvm_find(struct fvm *m, const char *name);
/* Guest memory at gpa, which must be mapped for n bytes. */
uint8_t *fvm_gmem(struct fvm *m, uint64_t gpa, uint64_t n);

/* Dispatches until m has seen more than irqs interrupts. */
void fvm_wait_irq(struct fvm *m, unsigned irqs);
/* Dispatches whatever is waiting now. */
void fvm_drain(struct fvm *m);
/* How many eventfds m has bound, and the one when there is one. */
unsigned fvm_nbound(const struct fvm *m);
int fvm_irqfd(const struct fvm *m);
/* Takes a bound eventfd's counter as the kernel would; 0: not
 * signalled. */
uint64_t fvm_irqfd_take(int efd);

/* Regions and clients the daemon holds, by AdminStatus. */
void fvm_daemon_counts(struct vdev_fx *f, uint32_t *regions,
    uint32_t *clients);

#endif
