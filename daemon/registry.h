/* SPDX-License-Identifier: ISC */
/*
 * registry: the daemon's model of regions and clients. A region has a name,
 * a size in 4 KiB pages, its memory (a sealed memfd), an origin, a state
 * page while it has clients (their pending notification bits: see
 * statepage.h) and up to REGION_MAX_CLIENTS clients, each with an index and
 * an eventfd. The registry decides indices, masks and lifetimes; it does no I/O
 * and knows nothing of sockets, so it is tested on its own. The owner
 * pointer of a client is opaque here (the daemon stores its connection).
 */
#ifndef SHMBROKER_REGISTRY_H
#define SHMBROKER_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "htable.h"
#include "statepage.h"

#define REGION_MAX_CLIENTS 16
#define REGION_NAME_MAX 32		/* a guest's name, with the NUL */
#define REGION_KEY_MAX 64		/* a tenant prefix + a guest's name */
#define REGION_PAGE_SIZE 4096u
#define NOTIFY_ALL_OTHERS 0xffffffffu

/* Results are the guest ABI's own status codes, from the guest header. */
#include "qvm/guest_shm.h"
#define GSS_COUNT (GSS_DOES_NOT_EXIST + 1)

enum region_backing { BACKING_SHMEM = 0, BACKING_HUGETLB = 1 };
enum region_origin { ORIGIN_GUEST = 0, ORIGIN_ADMIN = 1, ORIGIN_CONFIG = 2 };

struct region_mem {
	int fd;				/* sealed memfd, or -1 when stashed */
	uint64_t stash;			/* fdstash handle when fd is -1 */
	uint64_t bytes;			/* memfd size: pages rounded up */
	enum region_backing backing;
};

struct client;
struct member_ops;
struct tenant_usage;

struct region {
	struct hnode by_name;
	struct hnode by_id;
	TAILQ_ENTRY(region) entry;	/* creation (= id) order */
	uint64_t id;
	char name[REGION_KEY_MAX];
	uint32_t size_pages;
	struct region_mem mem;
	enum region_origin origin;
	uint64_t created_ms;
	/* Who else may attach: the creator's uid, the group, rw bits. */
	uid_t owner_uid;
	bool has_group;
	gid_t group;
	uint16_t mode;
	struct tenant_usage *usage;	/* charged for it, or NULL */
	bool awaiting_reclaim;		/* restored; see restore.c */
	bool stored;			/* its memfd is in systemd's fd store */
	bool state_stored;		/* and its state page too */
	struct statepage state;		/* while it has clients, or restored */
	uint16_t reclaim_pending;	/* restored words that wait for their
					 * client's re-claim: not cleared */
	uint16_t state_used;		/* indices given out since the state
					 * page was made: the words that can
					 * hold bits (see region.c) */
	uint16_t active;		/* bit i: index i attached */
	uint16_t reserved;		/* indices a restart keeps for clients
					 * not back yet (members.c): a new
					 * client takes one only when no other
					 * is free */
	int32_t member_slot;		/* its row in members.c's table, or -1 */
	uint8_t nclients;
	struct client *clients[REGION_MAX_CLIENTS];
};

struct client {
	struct hnode by_id;
	TAILQ_ENTRY(client) entry;	/* id order, for paged listings */
	LIST_ENTRY(client) owner_entry;	/* the owner's clients */
	uint64_t id;
	struct region *region;
	void *owner;			/* a struct conn, unless ops says */
	const struct member_ops *ops;	/* NULL: the owner speaks the RPC */
	uint8_t index;
	int efd;			/* its eventfd: notifications, or -1 */
	struct tenant_usage *usage;	/* charged for it, or NULL */
	bool read_only;			/* its memfd went out O_RDONLY */
};

LIST_HEAD(client_list, client);

struct registry {
	struct htable regions_by_name;
	struct hash_key name_key;	/* for regions_by_name */
	struct htable regions_by_id;
	struct htable clients_by_id;
	TAILQ_HEAD(, region) regions;
	TAILQ_HEAD(, client) clients;
	uint64_t next_region_id;
	uint64_t next_client_id;
	uint64_t bytes[2];		/* memfd bytes by backing */
};

int registry_init(struct registry *r);
/* Frees every region and client, closing region fds. */
void registry_free(struct registry *r);

/* Checks an admin or configured name: 1..63 printable ASCII characters
 * (room for a tenant prefix). Returns GSS_OK or GSS_ILLEGAL_NAME. */
enum guest_shm_status registry_check_key(const char *name);

/*
 * Checks a name as it comes off the wire: 2..32 bytes, the last one the NUL
 * terminator, printable ASCII before it. Copies it into out on success.
 * Returns GSS_OK or GSS_ILLEGAL_NAME.
 */
enum guest_shm_status registry_check_name(const uint8_t *bytes, size_t len,
    char out[REGION_NAME_MAX]);

struct region *registry_find(const struct registry *r, const char *name);
struct region *registry_find_id(const struct registry *r, uint64_t id);
struct client *registry_client(const struct registry *r, uint64_t id);

/* Takes ownership of mem. The name must already be checked and free. */
struct region *registry_add_region(struct registry *r, const char *name,
    uint32_t size_pages, const struct region_mem *mem,
    enum region_origin origin, uint64_t now_ms);
/* Removes a region with no clients and closes its memory fd and its
 * state page. */
void registry_remove_region(struct registry *r, struct region *g);

/*
 * Makes a new client of g with the lowest free index (one of g->reserved
 * only when no other is free; it leaves g->reserved). Returns GSS_OK with
 * *out set, GSS_CLIENT_MAX when all indices are taken, or GSS_NOMEM.
 */
enum guest_shm_status registry_attach(struct registry *r, struct region *g,
    void *owner, struct client_list *owner_list, struct client **out);
/* The same, with index want when it is free (a client coming back after a
 * daemon restart); want < 0 or taken: as registry_attach. */
enum guest_shm_status registry_attach_at(struct registry *r, struct region *g,
    void *owner, struct client_list *owner_list, int want,
    struct client **out);
/*
 * Detaches and frees c, closing its eventfd. Returns true when its region
 * is left with no clients and was created by a guest, i.e. it should now
 * be removed. The state page stays: the daemon frees it.
 */
bool registry_detach(struct registry *r, struct client *c);

/* The first region (client) with an id above after_id, for paged
 * listings; NULL at the end. */
struct region *registry_region_after(const struct registry *r,
    uint64_t after_id);
struct client *registry_client_after(const struct registry *r,
    uint64_t after_id);

#endif
