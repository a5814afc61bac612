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
 * Unpacks buf both ways as an envelope of type d. 0 when both give
 * messages that protobuf-c packs to the same bytes once protobuf-c's
 * unknown fields are set aside (envelope.c skips them), and wire_pack
 * packs each as protobuf-c does; 1 when both refuse the bytes. Otherwise
 * -1 and what differs in why. The messages are freed crosswise for inputs
 * of odd length: protobuf-c frees the codec's and the codec protobuf-c's.
 */
int envelope_diff(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, char *why, size_t whylen);

#endif
