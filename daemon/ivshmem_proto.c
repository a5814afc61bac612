/* SPDX-License-Identifier: ISC */
/*
 * ivshmem_proto: message encoding and the checks of an export's socket
 * path and directory, vector count and size (see ivshmem_proto.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "ivshmem_proto.h"

void
ivshmem_encode(int64_t value, uint8_t out[8])
{
	uint64_t v = (uint64_t)value;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

int64_t
ivshmem_decode(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return (int64_t)v;
}

int
ivshmem_check_path(const char *path, const char **why)
{
	struct sockaddr_un sun;

	if (path[0] != '/') {
		*why = "the ivshmem socket path must be absolute";
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*why = "the ivshmem socket path is longer than a UNIX socket "
		    "address allows (107 bytes)";
		return -EINVAL;
	}
	return 0;
}

int
ivshmem_check_dir(const char *path, const char *dirs, const char **why)
{
	const char *d = dirs, *end;

	if (dirs == NULL || dirs[0] == '\0')
		return 0;
	for (; d != NULL; d = end == NULL ? NULL : end + 1) {
		size_t n;

		end = strchr(d, ':');
		n = end == NULL ? strlen(d) : (size_t)(end - d);
		while (n > 1 && d[n - 1] == '/')
			n--;
		if (n > 0 && strncmp(path, d, n) == 0 && path[n] == '/' &&
		    path[n + 1] != '\0' && strchr(path + n + 1, '/') == NULL)
			return 0;
	}
	*why = "the unit's sandbox makes other places read-only "
	    "(ProtectSystem=) or private to the daemon (PrivateTmp=)";
	return -EINVAL;
}

int
ivshmem_check_vectors(uint32_t n, const char **why)
{
	if (n < 1 || n > IVSHMEM_MAX_VECTORS) {
		*why = "an ivshmem export has 1 to 16 interrupt vectors";
		return -EINVAL;
	}
	return 0;
}

int
ivshmem_check_size(uint64_t bytes, const char **why)
{
	if (bytes == 0 || (bytes & (bytes - 1)) != 0) {
		*why = "its size is not a power of two, and QEMU's "
		    "ivshmem-doorbell device maps the region as a PCI BAR, "
		    "which must be (QEMU aborts while it sets up the device "
		    "otherwise): use a region of 4K, 8K, 16K, ... 2M, 4M, ... "
		    "1G bytes";
		return -EINVAL;
	}
	return 0;
}
