/* SPDX-License-Identifier: ISC */
/*
 * registry: regions, clients, indices and lifetimes (see
 * registry.h). Pure bookkeeping: no sockets, no logging.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

int
registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
	TAILQ_INIT(&r->regions);
	TAILQ_INIT(&r->clients);
	r->next_region_id = r->next_client_id = 1;
	hash_key_random(&r->name_key);
	if (htable_init(&r->regions_by_name) < 0 ||
	    htable_init(&r->regions_by_id) < 0 ||
	    htable_init(&r->clients_by_id) < 0) {
		registry_free(r);
		return -ENOMEM;
	}
	return 0;
}

void
registry_free(struct registry *r)
{
	struct region *g;

	while ((g = TAILQ_FIRST(&r->regions)) != NULL) {
		for (int i = 0; i < REGION_MAX_CLIENTS; i++)
			if (g->clients[i] != NULL)
				registry_detach(r, g->clients[i]);
		registry_remove_region(r, g);
	}
	htable_free(&r->regions_by_name);
	htable_free(&r->regions_by_id);
	htable_free(&r->clients_by_id);
}

static bool
registry_printable(const uint8_t *bytes, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (bytes[i] < 0x21 || bytes[i] > 0x7e)
			return false;
	return true;
}

enum guest_shm_status
registry_check_name(const uint8_t *bytes, size_t len, char out[REGION_NAME_MAX])
{
	if (len < 2 || len > REGION_NAME_MAX || bytes[len - 1] != '\0' ||
	    !registry_printable(bytes, len - 1))
		return GSS_ILLEGAL_NAME;
	memcpy(out, bytes, len);
	return GSS_OK;
}

enum guest_shm_status
registry_check_key(const char *name)
{
	size_t len = strnlen(name, REGION_KEY_MAX);

	if (len == 0 || len == REGION_KEY_MAX ||
	    !registry_printable((const uint8_t *)name, len))
		return GSS_ILLEGAL_NAME;
	return GSS_OK;
}

struct region *
registry_find(const struct registry *r, const char *name)
{
	uint64_t h = hash_string(&r->name_key, name);

	for (struct hnode *n = htable_bucket(&r->regions_by_name, h); n != NULL;
	    n = n->next) {
		struct region *g = container_of(n, struct region, by_name);

		if (n->hash == h && strcmp(g->name, name) == 0)
			return g;
	}
	return NULL;
}

struct region *
registry_find_id(const struct registry *r, uint64_t id)
{
	uint64_t h = hash_u64(id);

	for (struct hnode *n = htable_bucket(&r->regions_by_id, h); n != NULL;
	    n = n->next) {
		struct region *g = container_of(n, struct region, by_id);

		if (g->id == id)
			return g;
	}
	return NULL;
}

struct client *
registry_client(const struct registry *r, uint64_t id)
{
	uint64_t h = hash_u64(id);

	for (struct hnode *n = htable_bucket(&r->clients_by_id, h); n != NULL;
	    n = n->next) {
		struct client *c = container_of(n, struct client, by_id);

		if (c->id == id)
			return c;
	}
	return NULL;
}

struct region *
registry_add_region(struct registry *r, const char *name, uint32_t size_pages,
    const struct region_mem *mem, enum region_origin origin, uint64_t now_ms)
{
	struct region *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->id = r->next_region_id++;
	strncpy(g->name, name, sizeof(g->name) - 1);
	g->size_pages = size_pages;
	g->mem = *mem;
	g->origin = origin;
	g->created_ms = now_ms;
	g->state = STATEPAGE_NONE;
	g->member_slot = -1;
	htable_insert(&r->regions_by_name, &g->by_name,
	    hash_string(&r->name_key, g->name));
	htable_insert(&r->regions_by_id, &g->by_id, hash_u64(g->id));
	TAILQ_INSERT_TAIL(&r->regions, g, entry);
	r->bytes[g->mem.backing] += g->mem.bytes;
	return g;
}

void
registry_remove_region(struct registry *r, struct region *g)
{
	htable_remove(&r->regions_by_name, &g->by_name);
	htable_remove(&r->regions_by_id, &g->by_id);
	TAILQ_REMOVE(&r->regions, g, entry);
	r->bytes[g->mem.backing] -= g->mem.bytes;
	if (g->mem.fd >= 0)
		close(g->mem.fd);
	statepage_free(&g->state);
	free(g);
}

enum guest_shm_status
registry_attach(struct registry *r, struct region *g, void *owner,
    struct client_list *owner_list, struct client **out)
{
	return registry_attach_at(r, g, owner, owner_list, -1, out);
}

/* want when it is free; else the lowest free index that no client still
 * to come back holds; else the lowest free one. The region has room. */
static int
registry_pick_index(const struct region *g, int want)
{
	uint16_t free_idx = (uint16_t)~g->active;
	uint16_t open = (uint16_t)(free_idx & ~g->reserved);

	if (want >= 0 && want < REGION_MAX_CLIENTS && (free_idx >> want & 1))
		return want;
	return __builtin_ctz(open != 0 ? open : free_idx);
}

enum guest_shm_status
registry_attach_at(struct registry *r, struct region *g, void *owner,
    struct client_list *owner_list, int want, struct client **out)
{
	struct client *c;
	int idx;

	if (g->nclients >= REGION_MAX_CLIENTS)
		return GSS_CLIENT_MAX;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return GSS_NOMEM;
	idx = registry_pick_index(g, want);
	g->reserved &= (uint16_t)~(1u << idx);
	c->id = r->next_client_id++;
	c->region = g;
	c->owner = owner;
	c->index = (uint8_t)idx;
	c->efd = -1;
	g->clients[idx] = c;
	g->nclients++;
	g->active |= (uint16_t)(1u << idx);
	htable_insert(&r->clients_by_id, &c->by_id, hash_u64(c->id));
	TAILQ_INSERT_TAIL(&r->clients, c, entry);
	if (owner_list != NULL)
		LIST_INSERT_HEAD(owner_list, c, owner_entry);
	*out = c;
	return GSS_OK;
}

bool
registry_detach(struct registry *r, struct client *c)
{
	struct region *g = c->region;

	g->clients[c->index] = NULL;
	g->nclients--;
	g->active &= (uint16_t)~(1u << c->index);
	htable_remove(&r->clients_by_id, &c->by_id);
	TAILQ_REMOVE(&r->clients, c, entry);
	if (c->owner_entry.le_prev != NULL)
		LIST_REMOVE(c, owner_entry);
	if (c->efd >= 0)
		close(c->efd);
	free(c);
	return g->nclients == 0 && g->origin == ORIGIN_GUEST;
}

struct region *
registry_region_after(const struct registry *r, uint64_t after_id)
{
	struct region *g;

	if (after_id == 0)
		return TAILQ_FIRST(&r->regions);
	if ((g = registry_find_id(r, after_id)) != NULL)
		return TAILQ_NEXT(g, entry);
	/* The cursor's region is gone: ids grow along the list. */
	TAILQ_FOREACH(g, &r->regions, entry)
		if (g->id > after_id)
			return g;
	return NULL;
}

struct client *
registry_client_after(const struct registry *r, uint64_t after_id)
{
	struct client *c;

	if (after_id == 0)
		return TAILQ_FIRST(&r->clients);
	if ((c = registry_client(r, after_id)) != NULL)
		return TAILQ_NEXT(c, entry);
	TAILQ_FOREACH(c, &r->clients, entry)
		if (c->id > after_id)
			return c;
	return NULL;
}
