/* SPDX-License-Identifier: ISC */
/*
 * fuzz_seeds: each harness's seed writer (seeds_HARNESS.c), called by
 * fuzz_seeds.c with the harness's corpus folder.
 */
#ifndef FUZZ_SEEDS_H
#define FUZZ_SEEDS_H

#include "fuzz_input.h"

void seeds_daemon(const char *dir);
void seeds_vdev_regs(const char *dir);
void seeds_client(const char *dir);
void seeds_config(const char *dir);
void seeds_fdname(const char *dir);
void seeds_ivshmem(const char *dir);
void seeds_envelope(const char *dir);

#endif
