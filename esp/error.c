/* Library set-up and the sentences for each error. */
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "transform.h"
#include "zesp.h"

static const char *const messages[] = {
    [ZESP_EMALFORMED - ZESP_EBASE] = "malformed ESP message",
    [ZESP_ENOSA - ZESP_EBASE] = "no security association with that SPI",
    [ZESP_EREPLAY - ZESP_EBASE] = "replayed message: sequence number already received, "
        "by this process or another on its shared SAD (only where each "
        "process must accept every message, as subscribers on one host do, "
        "give the SA or its policy replay_scope: process in YAML, "
        "ZESP_SA_PER_PROCESS_WINDOW in the API; never for requests, which "
        "each process would then serve once)",
    [ZESP_EOLD - ZESP_EBASE] = "sequence number below the replay window",
    [ZESP_EICV - ZESP_EBASE] = "integrity check failed: message forged or corrupted",
    [ZESP_EEXPIRED - ZESP_EBASE] = "security association reached its hard lifetime",
    [ZESP_ESEQEXHAUSTED - ZESP_EBASE] = "security association has no sequence numbers left: rekey",
    [ZESP_EBINDING - ZESP_EBASE] = "clear frames differ from those the sender bound",
    [ZESP_ETOOBIG - ZESP_EBASE] = "message larger than the SA database allows",
    [ZESP_EUNSUPPORTED - ZESP_EBASE] = "transform not supported on this CPU or build",
    [ZESP_EEXIST - ZESP_EBASE] = "a security association with that SPI and direction exists",
    [ZESP_EFULL - ZESP_EBASE] = "the SA database is full",
    [ZESP_EDIRECTION - ZESP_EBASE] = "security association used in the wrong direction",
    [ZESP_EBADSAD - ZESP_EBASE] = "the SA database file is damaged or is not an SA database",
    [ZESP_ESADVERSION - ZESP_EBASE] = "the SA database file has another layout version",
    [ZESP_ESADSIZE - ZESP_EBASE] = "the SA database file is truncated",
    [ZESP_ENOPOLICY - ZESP_EBASE] = "no policy of that name",
    [ZESP_EACQUIRE - ZESP_EBASE] = "the policy has no security association yet; the key daemon was asked for one",
    [ZESP_ECONFIG - ZESP_EBASE] = "invalid configuration",
    [ZESP_ESIGNATURE - ZESP_EBASE] = "source signature or MAC does not verify: the message is not from the group sender it names",
    [ZESP_ESADOWNER - ZESP_EBASE] = "the SA database file belongs to another user: refused, it could have been planted to read the keys put in it (remove it, or use a path in a directory only you can write)",
    [ZESP_ESADMODE - ZESP_EBASE] = "other users may read or write the SA database file, by its mode or by an ACL naming them: refused (chmod 600 it, or 660 for a group-shared SAD; setfacl -b it; after checking who changed it)",
    [ZESP_ESADGROUP - ZESP_EBASE] = "the SA database file's group may read or write it, and this process did not ask for a group-shared SAD (ZESP_SAD_GROUP, zesp --group)",
    [ZESP_ESADLINK - ZESP_EBASE] = "the SA database path is a symbolic link, or a hard link (the file has other names) whose mode or group was to be set: refused (give the file's real path; remove its other names)",
    [ZESP_ESADDIR - ZESP_EBASE] = "the SA database's directory is not private: others may write in it (without the sticky bit), or the default path's is not this user's alone",
    [ZESP_ELANES - ZESP_EBASE] = "every lane of the security association is held by a live process: at most 63 processes send on one SA with lanes",
    [ZESP_EPOLICY - ZESP_EBASE] = "message under a security association that does not serve the policy received on: another peer's or another group's SA",
    [ZESP_ENOSTATE - ZESP_EBASE] = "the state directory for manual keys' sequence records does not exist: if these keys were never used, make it with 'zesp state init'; if it was lost, install new keys",
    [ZESP_ESTATEUNSAFE - ZESP_EBASE] = "the state directory or a sequence record is unsafe: it must be a directory (a regular file), not a symbolic link, owned by this user or root and not writable by others (nor by a user or group an ACL names), nor by its group unless the SA database is group-shared (ZESP_SAD_GROUP, zesp --group); and every directory above it this user's or root's, writable by no one else (its group only if a user private group of this user or root) unless sticky (as /tmp is), since whoever may write there may rename it; so every directory its name is looked up in, symbolic links followed, since whoever may write there may replace a link",
    [ZESP_ESTATEDAMAGED - ZESP_EBASE] = "a manual key's sequence record is damaged: where its numbering stands is unknown; install a new key",
    [ZESP_ESTATEIO - ZESP_EBASE] = "cannot write a manual key's sequence record (state directory unwritable, the disk full, or a file system that cannot fsync a directory): the SA goes no further rather than reuse a nonce",
    [ZESP_ESTATEDIR - ZESP_EBASE] = "this SA database keeps its manual keys' sequence records in another state directory: install with that one (zesp --state-dir, $ZESP_STATE_DIR)",
    [ZESP_ENOGROUP - ZESP_EBASE] = "the SA database's group does not exist: make it (groupadd) or name another",
    [ZESP_EKEYTEXT - ZESP_EBASE] = "key text malformed: expected hex: or z85: and the key's size in digits, or file:PATH",
    [ZESP_EKEYFILE - ZESP_EBASE] =
        "key file readable by group or others, or another user's: chown it "
        "to yourself and chmod 600 it",
    [ZESP_EFORKED - ZESP_EBASE] =
        "this SA database is private to the process that made it, and this "
        "is a process forked from it: sending would repeat the parent's "
        "nonces, receiving would accept what the parent accepts; make a "
        "SAD in this process, or share a file SAD (zesp_sad_open)",
    [ZESP_EKEYREUSE - ZESP_EBASE] =
        "this manual key serves, or served (the state directory's sequence "
        "records say so), the other direction on another SPI: its peer "
        "would number from 1 under it too; give each direction its own key "
        "(zesp keygen)",
};

static const char *const rejection_names[ZESP_REJ_COUNT] = {
    [ZESP_REJ_MALFORMED] = "malformed", [ZESP_REJ_NOSA] = "nosa",
    [ZESP_REJ_REPLAY] = "replay",       [ZESP_REJ_OLD] = "old",
    [ZESP_REJ_ICV] = "icv",             [ZESP_REJ_EXPIRED] = "expired",
    [ZESP_REJ_BINDING] = "binding",     [ZESP_REJ_TOOBIG] = "toobig",
    [ZESP_REJ_SIGNATURE] = "signature", [ZESP_REJ_POLICY] = "policy",
};

const char *zesp_rejection_name(unsigned kind)
{
    return kind < ZESP_REJ_COUNT ? rejection_names[kind] : "unknown";
}

const char *zesp_strerror(int err)
{
    if (err > ZESP_EBASE && err < ZESP_ELAST)
        return messages[err - ZESP_EBASE];
    /* libzmq's own codes (EFSM, ETERM, ...) sit above the system's, and
     * zmq_strerror knows them as well as every errno. */
    return zmq_strerror(err);
}

int zesp_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

const char *zesp_version(void)
{
    return ZESP_VERSION_STRING;
}

int zesp_transform_available(uint32_t transform)
{
    const struct transform *t = transform_find(transform);

    if (zesp_init() != 0)
        return 0;
    return t != NULL && transform_usable(t);
}

const char *zesp_transform_name(uint32_t transform)
{
    const struct transform *t = transform_find(transform);

    return t ? t->name : "unknown";
}
