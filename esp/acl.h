/* Who a POSIX ACL lets in beyond what the mode bits say (acl.c). */
#ifndef ZESP_ACL_H
#define ZESP_ACL_H

#include <stdbool.h>

bool acl_grants_named(int fd, bool any_mask);
int acl_strip(int fd);

#endif
