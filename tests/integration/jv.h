/* SPDX-License-Identifier: ISC */
/*
 * jv: a strict little JSON parser, enough for shmctl's output, so that a
 * test of `shmctl --json` fails on anything that is not valid JSON: no
 * trailing commas, no fractions where an integer belongs, every escape
 * checked. The getters fail the running cmocka test when the key is
 * missing or of another type.
 */
#ifndef SHMBROKER_JV_H
#define SHMBROKER_JV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jv_type { J_NULL, J_BOOL, J_INT, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jv_type t;
	int64_t i;		/* J_INT, J_BOOL */
	char *s;		/* J_STR */
	size_t n;		/* J_ARR, J_OBJ */
	struct jv *items;
	char **keys;		/* J_OBJ */
};

/* Parses all of text as one value; false (and v empty) when invalid. */
bool jv_parse(const char *text, struct jv *v);
/* Frees what v holds; v is empty (J_NULL) afterwards. */
void jv_free(struct jv *v);
/* The value of key in object o, or NULL. */
const struct jv *jv_get(const struct jv *o, const char *key);
int64_t jv_int(const struct jv *o, const char *key);
const char *jv_str(const struct jv *o, const char *key);
bool jv_bool(const struct jv *o, const char *key);
/* The element of array a whose string key is name, or NULL. */
const struct jv *jv_find(const struct jv *a, const char *key,
    const char *name);

#endif
