/* SPDX-License-Identifier: ISC */
/*
 * envelope_diff: whether proto/envelope.c reads and writes an envelope as
 * protobuf-c does, for test_envelope and fuzz_envelope.
 */
#ifndef SHMBROKER_ENVELOPE_DIFF_H
#define SHMBROKER_ENVELOPE_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * Unpacks buf both ways as an envelope of type d. 0 when both refuse it,
 * or both give messages that protobuf-c packs to the same bytes once
 * protobuf-c's unknown fields are set aside (envelope.c skips them), and
 * envelope_pack packs the message as protobuf-c does. Otherwise -1 and
 * what differs in why. Returns 1 when both refuse it, to count.
 */
int envelope_diff(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, char *why, size_t whylen);

#endif
