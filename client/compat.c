/* SPDX-License-Identifier: ISC */
/*
 * compat: the shared library's entry points for programs built before
 * struct shmc_region grew read_only (LIBSHMCLIENT_0). Their struct ends
 * before that field, so these attach into a whole struct of their own and
 * copy out only the part the caller has room for; the caller learns
 * nothing of read-only access, but its writable mapping of a read-only
 * fd still fails in the kernel. Built into the shared library only: the
 * static copy is for this tree's programs, built with the header of now.
 */
#include <stddef.h>
#include <string.h>

#include "shmclient.h"

/* What LIBSHMCLIENT_0's struct shmc_region holds: everything before
 * read_only, which sits right after its last member. */
#define SHMC_REGION_V0_SIZE offsetof(struct shmc_region, read_only)
_Static_assert(SHMC_REGION_V0_SIZE ==
    offsetof(struct shmc_region, active_mask) + sizeof(uint32_t),
    "read_only must follow LIBSHMCLIENT_0's last member");

#define SHMC_COMPAT __attribute__((visibility("default")))

/* Copies the old part of r into out when the attach succeeded. */
static int
shmc_compat_out(int rc, const struct shmc_region *r, void *out)
{
	if (rc == SHMC_GSS_OK)
		memcpy(out, r, SHMC_REGION_V0_SIZE);
	return rc;
}

SHMC_COMPAT int shmc_attach_v0(struct shmc *c, const char *name,
    uint32_t size_pages, bool create, void *out);
SHMC_COMPAT int shmc_attach_raw_v0(struct shmc *c, const void *name,
    size_t len, uint32_t size_pages, bool create, void *out);
SHMC_COMPAT int shmc_attach_claim_v0(struct shmc *c, const void *name,
    size_t len, uint32_t size_pages, bool create, void *out, int *eventfd);

__asm__(".symver shmc_attach_v0, shmc_attach@LIBSHMCLIENT_0");
__asm__(".symver shmc_attach_raw_v0, shmc_attach_raw@LIBSHMCLIENT_0");
__asm__(".symver shmc_attach_claim_v0, shmc_attach_claim@LIBSHMCLIENT_0");

int
shmc_attach_v0(struct shmc *c, const char *name, uint32_t size_pages,
    bool create, void *out)
{
	struct shmc_region r;

	return shmc_compat_out(shmc_attach(c, name, size_pages, create, &r),
	    &r, out);
}

int
shmc_attach_raw_v0(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, void *out)
{
	struct shmc_region r;

	return shmc_compat_out(shmc_attach_raw(c, name, len, size_pages,
	    create, &r), &r, out);
}

int
shmc_attach_claim_v0(struct shmc *c, const void *name, size_t len,
    uint32_t size_pages, bool create, void *out, int *eventfd)
{
	struct shmc_region r;

	return shmc_compat_out(shmc_attach_claim(c, name, len, size_pages,
	    create, &r, eventfd), &r, out);
}
