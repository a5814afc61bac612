/* SPDX-License-Identifier: ISC */
/*
 * statepage: the state page's memfd and mapping in the daemon, and the
 * eventfd signal of a notification (see statepage.h).
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statepage.h"

#define STATE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int
statepage_create(struct statepage *sp)
{
	int fd, err;

	*sp = STATEPAGE_NONE;
	fd = memfd_create("shm-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, SHM_STATE_PAGE_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, STATE_SEALS) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	sp->fd = fd;
	return 0;
}

int
statepage_adopt(struct statepage *sp, int fd)
{
	struct stat st;
	int seals;

	*sp = STATEPAGE_NONE;
	if (fstat(fd, &st) < 0)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	/* Anything else could be shrunk under the members' mappings. */
	if (!S_ISREG(st.st_mode) || st.st_size != SHM_STATE_PAGE_SIZE ||
	    seals < 0 || (seals & STATE_SEALS) != STATE_SEALS)
		return -EINVAL;
	sp->fd = fd;
	return 0;
}

struct shm_state_page *
statepage_map(struct statepage *sp)
{
	void *p;

	if (sp->page != NULL || sp->fd < 0)
		return sp->page;
	p = mmap(NULL, SHM_STATE_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, sp->fd, 0);
	if (p != MAP_FAILED)
		sp->page = p;
	return sp->page;
}

static off_t
statepage_offset(unsigned idx)
{
	return (off_t)offsetof(struct shm_state_page, slot) +
	    (off_t)idx * (off_t)sizeof(struct shm_state_slot);
}

/*
 * The daemon's file of the page is the one its members hold, so the file
 * status flags are theirs to set: O_APPEND turns pwrite into an append to
 * a file sealed against growing, O_DIRECT refuses 4 bytes. A mapping obeys
 * neither, but costs a mapping for each page (up to max_regions of them,
 * past vm.max_map_count), so it is made only once the file refused.
 */
int
statepage_clear(struct statepage *sp, unsigned idx)
{
	uint32_t zero = 0;

	/* An aligned 4-byte store, as the atomic store would be. */
	if (sp->page == NULL && pwrite(sp->fd, &zero, sizeof(zero),
	    statepage_offset(idx)) == (ssize_t)sizeof(zero))
		return 0;
	if (statepage_map(sp) == NULL)
		return -EIO;
	shm_state_clear(sp->page, idx);
	return 0;
}

uint16_t
statepage_peek(struct statepage *sp, unsigned idx)
{
	uint32_t w = 0;

	if (sp->page == NULL && sp->fd >= 0 && pread(sp->fd, &w, sizeof(w),
	    statepage_offset(idx)) == (ssize_t)sizeof(w))
		return (uint16_t)(w & 0xffffu);
	if (statepage_map(sp) == NULL)
		return 0;
	return shm_state_peek(sp->page, idx);
}

void
statepage_free(struct statepage *sp)
{
	if (sp->page != NULL)
		munmap(sp->page, SHM_STATE_PAGE_SIZE);
	if (sp->fd >= 0)
		close(sp->fd);
	*sp = STATEPAGE_NONE;
}
