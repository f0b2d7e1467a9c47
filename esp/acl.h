/* Who a POSIX ACL lets in beyond what the mode bits say (acl.c). */
#ifndef ZESP_ACL_H
#define ZESP_ACL_H

#include <stdbool.h>

#define ACL_READ 0x04U
#define ACL_WRITE 0x02U
#define ACL_EXECUTE 0x01U
#define ACL_ALL (ACL_READ | ACL_WRITE | ACL_EXECUTE)

unsigned acl_named_perms(int fd, bool any_mask);
int acl_strip(int fd);

#endif
