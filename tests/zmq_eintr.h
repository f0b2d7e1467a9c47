/*
 * EINTR on a chosen frame, for tests that interpose libzmq's calls
 * (test_multipart, test_zike_multipart): a signal's EINTR comes before
 * the frame is taken, as libzmq checks for signals first.  The test
 * defines the interposed zmq_* functions; each asks interrupted() first.
 */
#ifndef ZESP_TEST_ZMQ_EINTR_H
#define ZESP_TEST_ZMQ_EINTR_H

#include <errno.h>
#include <stdbool.h>

/* Frames sent or received since armed; the one numbered *_eintr_at is
 * interrupted.  0: none. */
static int send_eintr_at, sends, recv_eintr_at, recvs;

static bool interrupted(int *at, int *count)
{
    if (*at == 0 || ++*count != *at)
        return false;
    *at = 0;
    errno = EINTR;
    return true;
}

static void arm_send(int frame)
{
    sends = 0;
    send_eintr_at = frame;
}

static void arm_recv(int frame)
{
    recvs = 0;
    recv_eintr_at = frame;
}

#endif
