/*
 * The encrypted body of the MDP examples (doc/topologies.md §1):
 * [kind | request id | text].
 *
 * The request id: 16 random bytes a client puts in a request, and the
 * worker in its answer.  The reply SA may be a group SA every client of
 * the service holds, and a broker picks who gets which answer: the id is
 * what ties an answer to the one request it answers.  Random (not the
 * ESP sequence number) so that client processes sharing a SAD, and a
 * client restarted, never pick the same one.
 *
 * The kind, one octet first (MDP/0.2's REQUEST and FINAL): what the SA
 * proves is who holds its key, not which way a message goes.  Where one
 * key carries both (one group SA for requests and answers, which every
 * worker host sends and receives), a broker could hand one worker's
 * answer to another as a request, and a client its own request as the
 * answer (same id); the kind, encrypted with the rest, tells them apart.
 */
#ifndef ZESP_EXAMPLES_REQUEST_ID_H
#define ZESP_EXAMPLES_REQUEST_ID_H

#define REQUEST_ID_BYTES 16
#define MDP_KIND_REQUEST 0x01
#define MDP_KIND_ANSWER 0x03

#endif
