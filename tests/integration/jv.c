/* SPDX-License-Identifier: ISC */
/*
 * jv: a strict little JSON parser, enough for shmctl's output (see jv.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jv.h"

void
jv_free(struct jv *v)
{
	for (size_t k = 0; k < v->n; k++) {
		jv_free(&v->items[k]);
		if (v->keys != NULL)
			free(v->keys[k]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static const char *
jv_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static void
jv_put_utf8(char **o, unsigned cp)
{
	if (cp < 0x80) {
		*(*o)++ = (char)cp;
	} else if (cp < 0x800) {
		*(*o)++ = (char)(0xc0 | cp >> 6);
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*(*o)++ = (char)(0xe0 | cp >> 12);
		*(*o)++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*(*o)++ = (char)(0x80 | (cp & 0x3f));
	}
}

static const char *
jv_string(const char *p, char **out)
{
	char *o = malloc(strlen(p) * 3 + 1), *start = o;
	unsigned cp;

	if (o == NULL || *p++ != '"')
		goto bad;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			goto bad;	/* raw control characters are invalid */
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (*++p) {
		case '"': case '\\': case '/': *o++ = *p; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (sscanf(p + 1, "%4x", &cp) != 1)
				goto bad;
			jv_put_utf8(&o, cp);
			p += 4;
			break;
		default:
			goto bad;
		}
		p++;
	}
	*o = '\0';
	*out = start;
	return p + 1;
bad:
	free(start);
	return NULL;
}

static const char *jv_value(const char *p, struct jv *v);

static const char *
jv_container(const char *p, struct jv *v, bool obj)
{
	char close = obj ? '}' : ']';

	v->t = obj ? J_OBJ : J_ARR;
	p = jv_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		v->items = realloc(v->items, (v->n + 1) * sizeof(*v->items));
		memset(&v->items[v->n], 0, sizeof(*v->items));
		if (obj) {
			v->keys = realloc(v->keys, (v->n + 1) * sizeof(char *));
			v->keys[v->n] = NULL;
		}
		v->n++;
		if (obj) {
			if ((p = jv_string(jv_ws(p), &v->keys[v->n - 1])) == NULL)
				return NULL;
			if (*(p = jv_ws(p)) != ':')
				return NULL;
			p++;
		}
		if ((p = jv_value(p, &v->items[v->n - 1])) == NULL)
			return NULL;
		p = jv_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
jv_value(const char *p, struct jv *v)
{
	char *end;

	p = jv_ws(p);
	if (*p == '{' || *p == '[')
		return jv_container(p, v, *p == '{');
	if (*p == '"') {
		v->t = J_STR;
		return jv_string(p, &v->s);
	}
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
		v->t = J_BOOL;
		v->i = *p == 't';
		return p + (*p == 't' ? 4 : 5);
	}
	if (strncmp(p, "null", 4) == 0) {
		v->t = J_NULL;
		return p + 4;
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		v->t = J_INT;
		errno = 0;
		v->i = strtoll(p, &end, 10);
		if (errno != 0 || *end == '.' || *end == 'e' || *end == 'E')
			return NULL;
		return end;
	}
	return NULL;
}

bool
jv_parse(const char *text, struct jv *v)
{
	const char *p;

	memset(v, 0, sizeof(*v));
	p = jv_value(text, v);
	if (p == NULL || *jv_ws(p) != '\0') {
		jv_free(v);
		return false;
	}
	return true;
}

const struct jv *
jv_get(const struct jv *o, const char *key)
{
	if (o->t != J_OBJ)
		return NULL;
	for (size_t k = 0; k < o->n; k++)
		if (strcmp(o->keys[k], key) == 0)
			return &o->items[k];
	return NULL;
}

/* The value of key in o, which must be there and of type t. */
static const struct jv *
jv_typed(const struct jv *o, const char *key, enum jv_type t)
{
	const struct jv *v = jv_get(o, key);

	assert_non_null(v);
	assert_int_equal(v->t, t);
	return v;
}

int64_t
jv_int(const struct jv *o, const char *key)
{
	return jv_typed(o, key, J_INT)->i;
}

const char *
jv_str(const struct jv *o, const char *key)
{
	return jv_typed(o, key, J_STR)->s;
}

bool
jv_bool(const struct jv *o, const char *key)
{
	return jv_typed(o, key, J_BOOL)->i != 0;
}

const struct jv *
jv_find(const struct jv *a, const char *key, const char *name)
{
	assert_int_equal(a->t, J_ARR);
	for (size_t k = 0; k < a->n; k++) {
		const struct jv *v = jv_get(&a->items[k], key);

		if (v != NULL && v->t == J_STR && strcmp(v->s, name) == 0)
			return &a->items[k];
	}
	return NULL;
}
