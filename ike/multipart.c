/* The frames of a message after its first: multipart.h. */
#include <errno.h>

#include "multipart.h"

int multipart_send_next(void *sock, const void *buf, size_t len, int flags)
{
    int rc;

    while ((rc = zmq_send(sock, buf, len, flags)) < 0 && errno == EINTR)
        ;
    return rc;
}

int multipart_recv_next(zmq_msg_t *part, void *sock, int flags)
{
    int rc;

    while ((rc = zmq_msg_recv(part, sock, flags)) < 0 && errno == EINTR)
        ;
    return rc;
}
