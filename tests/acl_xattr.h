/* A POSIX ACL written as its xattr (no libacl needed), for the tests of
 * what zesp makes of a file or directory whose ACL names a user. */
#ifndef ZESP_TESTS_ACL_XATTR_H
#define ZESP_TESTS_ACL_XATTR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/xattr.h>

enum { ACL_USER_OBJ = 0x01, ACL_USER = 0x02, ACL_GROUP_OBJ = 0x04,
       ACL_MASK = 0x10, ACL_OTHER = 0x20 };

/* xattr (system.posix_acl_access or _default) of path: the owner with
 * owner, user uid with named, the group and the mask with group, others
 * nothing.  Entries are tag, permissions, id, little-endian. */
static inline int acl_xattr_set(const char *path, const char *xattr,
                                unsigned owner, unsigned uid, unsigned named,
                                unsigned group)
{
    const unsigned e[5][3] = {
        { ACL_USER_OBJ, owner, 0xffffffffU }, { ACL_USER, named, uid },
        { ACL_GROUP_OBJ, group, 0xffffffffU },
        { ACL_MASK, group, 0xffffffffU }, { ACL_OTHER, 0, 0xffffffffU },
    };
    uint8_t v[4 + 5 * 8] = { 2, 0, 0, 0 };

    for (int i = 0; i < 5; i++) {
        uint8_t *p = v + 4 + 8 * i;
        p[0] = (uint8_t)e[i][0];
        p[2] = (uint8_t)e[i][1];
        for (int b = 0; b < 4; b++)
            p[4 + b] = (uint8_t)(e[i][2] >> (8 * b));
    }
    return setxattr(path, xattr, v, sizeof v, 0);
}

/* Does path's access ACL give a named user any of perms? */
static inline bool acl_xattr_names_a_user(const char *path, unsigned perms)
{
    uint8_t v[256];
    ssize_t n = getxattr(path, "system.posix_acl_access", v, sizeof v);

    for (ssize_t off = 4; off + 8 <= n; off += 8)
        if (v[off] == ACL_USER && (v[off + 2] & perms))
            return true;
    return false;
}

#endif
