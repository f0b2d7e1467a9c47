/*
 * A file's mode shows its owner, its group and others; an access ACL can
 * name more users and groups, and the mode's group bits then show only
 * its mask.  A 0660 file "shared with its group" may so be read and
 * written by a user outside the group, unseen by a check of st_mode.
 * The ACL is read from its xattr (no libacl): a header, then entries of
 * tag, permissions and id, all little-endian.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/xattr.h>

#include "acl.h"

#define ACL_XATTR "system.posix_acl_access"
#define ACL_XATTR_VERSION 2U
#define ACL_HEADER_BYTES 4U
#define ACL_ENTRY_BYTES 8U
#define ACL_ENTRIES_MAX 32U
#define ACL_TAG_USER 0x02U
#define ACL_TAG_GROUP 0x08U
#define ACL_TAG_MASK 0x10U

static bool no_acl(int err)
{
    return err == ENODATA || err == ENOTSUP || err == EOPNOTSUPP;
}

static unsigned le16(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* What the ACL lets named users and groups do (ACL_READ, ACL_WRITE,
 * ACL_EXECUTE), through its mask, or through any mask a chmod could set
 * (any_mask).  An ACL that cannot be read, or one too long to be a few
 * entries, is taken to let them do everything. */
unsigned acl_named_perms(int fd, bool any_mask)
{
    uint8_t buf[ACL_HEADER_BYTES + ACL_ENTRIES_MAX * ACL_ENTRY_BYTES];
    ssize_t n = fgetxattr(fd, ACL_XATTR, buf, sizeof buf);
    unsigned mask = ACL_ALL, named = 0;

    if (n < 0)
        return no_acl(errno) ? 0 : ACL_ALL;
    if ((size_t)n < ACL_HEADER_BYTES ||
        ((size_t)n - ACL_HEADER_BYTES) % ACL_ENTRY_BYTES != 0 ||
        le16(buf) != ACL_XATTR_VERSION || le16(buf + 2) != 0)
        return ACL_ALL;
    for (size_t off = ACL_HEADER_BYTES; off < (size_t)n;
         off += ACL_ENTRY_BYTES) {
        unsigned tag = le16(buf + off), perm = le16(buf + off + 2);

        if (tag == ACL_TAG_USER || tag == ACL_TAG_GROUP)
            named |= perm;
        else if (tag == ACL_TAG_MASK && !any_mask)
            mask = perm;
    }
    return named & mask & ACL_ALL;
}

/* A file zesp makes gets the mode it asks for, not what a directory's
 * default ACL would add to it. */
int acl_strip(int fd)
{
    if (fremovexattr(fd, ACL_XATTR) != 0 && !no_acl(errno))
        return errno;
    return 0;
}
