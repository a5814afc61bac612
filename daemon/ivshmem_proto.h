/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_proto: the pure side of QEMU's ivshmem server protocol, version
 * 0 (QEMU docs/specs/ivshmem-spec.rst): the 8-byte little-endian messages
 * a server sends, and what an export must be for a stock QEMU to take it.
 * No daemon state: linked into the unit tests.
 */
#ifndef SHMBROKER_IVSHMEM_PROTO_H
#define SHMBROKER_IVSHMEM_PROTO_H

#include <stdint.h>

#define IVSHMEM_PROTOCOL_VERSION 0
#define IVSHMEM_MAX_VECTORS 16
/* A socket path with its NUL: struct sockaddr_un's sun_path. */
#define IVSHMEM_PATH_MAX 108
/* The message that carries the region's memfd. */
#define IVSHMEM_MSG_SHMEM (-1)

/* The wire form of one message. */
void ivshmem_encode(int64_t value, uint8_t out[8]);
int64_t ivshmem_decode(const uint8_t in[8]);

/* 0, or -EINVAL with the reason in *why: an absolute path that fits a
 * UNIX socket address. */
int ivshmem_check_path(const char *path, const char **why);
/* 0, or -EINVAL with why the other places will not do: the socket is
 * directly in one of dirs, a colon-separated list (systemd's
 * $RUNTIME_DIRECTORY), or dirs is NULL or empty (any place). */
int ivshmem_check_dir(const char *path, const char *dirs, const char **why);
/* 0, or -EINVAL: 1 to IVSHMEM_MAX_VECTORS interrupt vectors. */
int ivshmem_check_vectors(uint32_t n, const char **why);
/* 0, or -EINVAL with the reason: QEMU maps the memory as a PCI BAR, whose
 * size must be a power of two (QEMU aborts in the device's realize on any
 * other size). bytes: what fstat shows of the memfd. */
int ivshmem_check_size(uint64_t bytes, const char **why);

#endif
