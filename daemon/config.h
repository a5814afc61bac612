/* SPDX-License-Identifier: ISC */
/*
 * config: shmbrokerd's settings, from built-in defaults, the INI
 * configuration file (--config) and the command line, in that order of
 * increasing precedence. Errors name the file, the line and the reason.
 */
#ifndef SHMBROKER_CONFIG_H
#define SHMBROKER_CONFIG_H

#include <stddef.h>

#include "broker.h"

/* config_load's outcomes besides -errno (the file does not load, or
 * memory ran out), each with err saying why where there is a why. */
enum config_outcome {
	CONFIG_LOADED = 0,	/* cfg holds defaults, file and options */
	CONFIG_SAID = 1,	/* --help or --version printed: exit 0 */
	CONFIG_USAGE = 2,	/* the command line is wrong: exit 64 */
};

/* Parses argv into cfg: defaults, then the file, then the options. */
int config_load(struct broker_config *cfg, int argc, char **argv, char *err,
    size_t errlen);
void config_free(struct broker_config *cfg);

/* Logs, as warnings, every way in which next serves more than old. */
void config_log_widening(const struct logger *log,
    const struct broker_config *old, const struct broker_config *next);

#endif
