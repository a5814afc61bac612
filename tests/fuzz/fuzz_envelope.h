/* SPDX-License-Identifier: ISC */
/*
 * fuzz_envelope's input format, shared with the seed generator: u8 which
 * envelope (bit 0: 0 ClientMessage, 1 ServerMessage), then the rest of the
 * input is the datagram.
 */
#ifndef FUZZ_ENVELOPE_H
#define FUZZ_ENVELOPE_H

#define FE_SERVER 1

#endif
