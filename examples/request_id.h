/*
 * The request id of the MDP examples (doc/topologies.md §1): 16 random
 * bytes a client puts first in a request's encrypted body, and the worker
 * first in its answer's.  The reply SA may be a group SA every client of
 * the service holds, and a broker picks who gets which answer: the id is
 * what ties an answer to the one request it answers.  Random (not the
 * ESP sequence number) so that client processes sharing a SAD, and a
 * client restarted, never pick the same one.
 */
#ifndef ZESP_EXAMPLES_REQUEST_ID_H
#define ZESP_EXAMPLES_REQUEST_ID_H

#define REQUEST_ID_BYTES 16

#endif
