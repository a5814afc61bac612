/* SPDX-License-Identifier: ISC */
/*
 * seeds_config: valid inputs for fuzz_config: configuration files that
 * load, using every section and setting (README.md's example is one;
 * scripts/fuzz.sh --seeds adds the shipped systemd/shmbroker.conf).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_seeds.h"

static void
seed_text(const char *dir, const char *name, const char *text)
{
	struct fout o = { 0 };

	fout_u8(&o, 0);		/* fout_save wants a buffer; the text follows */
	o.len = 0;
	for (const char *p = text; *p != '\0'; p++)
		fout_u8(&o, (uint8_t)*p);
	fout_save(&o, dir, name);
	free(o.buf);
}

void
seeds_config(const char *dir)
{
	seed_text(dir, "open.conf",
	    "[broker]\n"
	    "tenancy = open\n");
	seed_text(dir, "readme.conf",
	    "[broker]\n"
	    "hugepages = prefer          ; never | prefer | require\n"
	    "max_region_size = 1G\n"
	    "max_regions = 131072\n"
	    "max_clients = 262144\n"
	    "max_connections = 16384\n"
	    "log_level = info\n"
	    "local_region_fds = 5000\n"
	    "\n"
	    "default_tenant = guests\n"
	    "admin_group = 4000\n"
	    "\n"
	    "[region telemetry]          ; created at start\n"
	    "size = 64M\n"
	    "mode = 0660\n"
	    "group = 2000\n"
	    "backing = auto\n"
	    "\n"
	    "[tenant acme]\n"
	    "uid = 1001\n"
	    "prefix = acme/\n"
	    "deny = ipc-secret*\n"
	    "allow = sensor-*, ipc-*\n"
	    "allow = telemetry\n"
	    "max_regions = 64\n"
	    "max_clients = 256\n"
	    "max_bytes = 4G\n"
	    "max_hugepages = 1024\n"
	    "mode = 0600\n"
	    "group = 2000\n"
	    "\n"
	    "[tenant guests]\n"
	    "prefix = guests/\n"
	    "max_regions = 16\n");
	seed_text(dir, "names.conf",
	    "# users and groups by name, a shadowed rule (a warning)\n"
	    "[broker]\n"
	    "socket = /run/shmbroker-test/vmm.sock\n"
	    "admin_socket = /run/shmbroker-test/admin.sock\n"
	    "hugepages = never\n"
	    "fd_store = yes\n"
	    "admin_group = root\n"
	    "tenancy = tenants\n"
	    "\n"
	    "[tenant ops]\n"
	    "uid = root\n"
	    "gid = daemon\n"
	    "allow = *\n"
	    "deny = never-reached\n"
	    "\n"
	    "[tenant builders]\n"
	    "gid = 2000\n"
	    "prefix = ci/\n"
	    "mode = 0640\n"
	    "max_bytes = 512M\n");
	seed_text(dir, "regions.conf",
	    "[broker]\n"
	    "tenancy = open\n"
	    "max_region_size = 16M\n"
	    "max_regions = 8\n"
	    "\n"
	    "[region a]\nsize = 4K\n\n"
	    "[region b]\nsize = 2M\nbacking = shmem\nmode = 0600\n\n"
	    "[region c]\nsize = 16M\nbacking = auto\ngroup = 100\n\n"
	    "[region acme/d]\nsize = 12K\nmode = 0666\n");
	seed_text(dir, "keepers.conf",
	    "; more regions than local_region_fds: memfds go to keepers\n"
	    "[broker]\n"
	    "tenancy = open\n"
	    "local_region_fds = 2\n"
	    "max_connections = 4\n"
	    "[region k1]\nsize = 4K\n"
	    "[region k2]\nsize = 4K\n"
	    "[region k3]\nsize = 4K\n"
	    "[region k4]\nsize = 4K\n");
	seed_text(dir, "limits.conf",
	    "; every limit, read-only rules, a tenant bound that does not bound\n"
	    "[broker]\n"
	    "hugepages = never\n"
	    "max_connections = 64\n"
	    "max_clients_per_connection = 32\n"
	    "max_queued_messages = 128\n"
	    "default_tenant = rest\n"
	    "\n"
	    "[tenant readers]\n"
	    "uid = 1001\n"
	    "gid = 1001\n"
	    "allow_ro = telemetry*, logs/*\n"
	    "allow = scratch-*\n"
	    "max_connections = 8\n"
	    "max_clients = 16\n"
	    "\n"
	    "[tenant rest]\n"
	    "prefix = rest/\n"
	    "max_connections = 64\n"
	    "\n"
	    "[region telemetry]\n"
	    "size = 64K\n"
	    "mode = 0644\n");
}
