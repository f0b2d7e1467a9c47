/*
 * An SA bundle, as mdp_client and mdp_worker use it with --hop
 * (doc/topologies.md §3): the end-to-end ESP frame, sealed on one policy,
 * travels as the body of a message protected by a hop SA (an
 * integrity-only SA with the broker), the clear frames bound in both.
 */
#ifndef ZESP_EXAMPLES_BUNDLE_H
#define ZESP_EXAMPLES_BUNDLE_H

#include <errno.h>
#include <string.h>
#include <zesp.h>

#define BUNDLE_FRAMES_MAX 8U

/* Send p on policy; with a hop policy, wrapped in it. */
static int bundle_send(zesp_sad *sad, const char *policy, const char *hop,
                       void *socket, const zesp_parts *p)
{
    zesp_parts outer = *p;
    uint8_t *inner;
    size_t len;
    int rc;

    if (hop == NULL)
        return zesp_send_policy(sad, policy, socket, p, 0);
    if (zesp_seal_policy(sad, policy, p, &inner, &len, 0) != 0)
        return -1;
    zesp_frame wrapped = { inner, len };
    outer.body = &wrapped;
    outer.nbody = 1;
    rc = zesp_send_policy(sad, hop, socket, &outer, 0);
    zesp_buf_free(inner);
    return rc;
}

/* Receive into msg on policy; with a hop policy, check the hop SA (in
 * hopmsg) with nenvelope envelope frames and one clear frame, then the
 * end-to-end frame inside it (copied to copy, where msg's frames then
 * point).  Each only under an SA of its policy. */
static int bundle_recv(zesp_sad *sad, const char *policy, const char *hop,
                       void *socket, size_t nenvelope, zesp_msg *hopmsg,
                       zesp_msg *msg, uint8_t *copy, size_t cap)
{
    zesp_frame frames[BUNDLE_FRAMES_MAX], inner;
    size_t n = 0;

    if (hop == NULL)
        return zesp_recv_policy(sad, policy, socket, msg, 0);
    if (zesp_recv_policy(sad, hop, socket, hopmsg, 0) != 0)
        return -1;
    inner = zesp_msg_body(hopmsg, 0);
    if (zesp_msg_body_count(hopmsg) != 1 ||
        zesp_msg_clear_count(hopmsg) != 1 ||
        zesp_msg_envelope_count(hopmsg) != nenvelope ||
        nenvelope + 1 > BUNDLE_FRAMES_MAX || inner.size > cap) {
        errno = ZESP_EMALFORMED;
        return -1;
    }
    for (size_t i = 0; i < nenvelope; i++)
        frames[n++] = zesp_msg_envelope(hopmsg, i);
    frames[n++] = zesp_msg_clear(hopmsg, 0);
    memcpy(copy, inner.data, inner.size);
    return zesp_open_policy(sad, policy, frames, n, copy, inner.size, msg);
}

#endif
