/* SPDX-License-Identifier: ISC */
/*
 * statepage: the state page's memfd in the daemon, its pending words read
 * and changed through the file or a mapping made for the one operation,
 * and the ivshmem relay's kept mapping (see statepage.h).
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

/* A new mapping of the page, or NULL with errno set. */
static struct shm_state_page *
statepage_mmap(const struct statepage *sp)
{
	void *p = mmap(NULL, SHM_STATE_PAGE_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, sp->fd, 0);

	return p != MAP_FAILED ? p : NULL;
}

struct shm_state_page *
statepage_map_kept(struct statepage *sp)
{
	if (sp->page == NULL && sp->fd >= 0)
		sp->page = statepage_mmap(sp);
	return sp->page;
}

/*
 * The page for one operation: the kept mapping when the region has one,
 * else a mapping of its own that statepage_put undoes. Any tenant can ask
 * for an operation on each of its regions, and a mapping kept per region
 * would take the daemon past vm.max_map_count, where every mmap of the
 * daemon fails, for every tenant.
 */
static int
statepage_get(struct statepage *sp, struct shm_state_page **page)
{
	if ((*page = sp->page) == NULL && (*page = statepage_mmap(sp)) == NULL)
		return -errno;
	return 0;
}

/* The daemon maps only the page of a one-page file, so no other mapping
 * merges with this one: unmapping it whole splits none, and so cannot
 * fail past vm.max_map_count as a split can. */
static void
statepage_put(struct statepage *sp, struct shm_state_page *page)
{
	if (page != sp->page)
		munmap(page, SHM_STATE_PAGE_SIZE);
}

int
statepage_post(struct statepage *sp, unsigned from, uint16_t targets)
{
	struct shm_state_page *p;
	int err;

	if (targets == 0)
		return 0;
	if ((err = statepage_get(sp, &p)) < 0)
		return err;
	for (uint32_t left = targets; left != 0;)
		shm_state_post(p, from, shm_state_next(&left));
	statepage_put(sp, p);
	return 0;
}

int
statepage_take(struct statepage *sp, unsigned idx, uint32_t keep,
    uint16_t *pending)
{
	struct shm_state_page *p;
	int err;

	if ((err = statepage_get(sp, &p)) < 0)
		return err;
	*pending = shm_state_take(p, idx, keep);
	statepage_put(sp, p);
	return 0;
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
 * neither, so once the file refused, the word is reached through one made
 * for this call: any member can make every region's file refuse.
 */
int
statepage_clear(struct statepage *sp, unsigned idx)
{
	struct shm_state_page *p;
	uint32_t zero = 0;
	int err;

	/* An aligned 4-byte store, as the atomic store would be. */
	if (sp->page == NULL && pwrite(sp->fd, &zero, sizeof(zero),
	    statepage_offset(idx)) == (ssize_t)sizeof(zero))
		return 0;
	if ((err = statepage_get(sp, &p)) < 0)
		return err;
	shm_state_clear(p, idx);
	statepage_put(sp, p);
	return 0;
}

uint16_t
statepage_peek(struct statepage *sp, unsigned idx)
{
	struct shm_state_page *p;
	uint32_t w = 0;
	uint16_t v;

	if (sp->page == NULL && sp->fd >= 0 && pread(sp->fd, &w, sizeof(w),
	    statepage_offset(idx)) == (ssize_t)sizeof(w))
		return (uint16_t)(w & 0xffffu);
	if (statepage_get(sp, &p) < 0)
		return 0;
	v = shm_state_peek(p, idx);
	statepage_put(sp, p);
	return v;
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
