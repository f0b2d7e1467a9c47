/*
 * Manual keys' sequence records: what keeps a manually keyed SA from ever
 * reusing a nonce, or accepting a replay, when its key is installed again
 * (after a flush, a delete, an expiry, a lost SAD, a reboot).
 *
 * The IV is the sequence number, so a key installed twice and counting
 * from 1 twice repeats (key, nonce) pairs.  As OSCORE does with its sender
 * sequence number (RFC 8613 B.1.1), each manual key keeps a record on disk,
 * in a state directory that outlives the SAD, and writes it AHEAD: before
 * an SA sends any number above R, R is on disk (written to a temporary
 * file, fsync'd, renamed over the record, the directory fsync'd).  A key
 * installed again starts above its record, so a crash at any instant loses
 * numbers and never reuses one.  A receiver records a bound B the same way
 * and accepts no number above B before B is on disk; installed again it
 * refuses every number up to B.
 *
 * Records are written in blocks of K numbers (seq_block), at multiples of
 * K, so that fsyncs are rare and a receiver's B never passes its sender's
 * R: the sender reserved R, a multiple of K, before sending any n <= R, and
 * the receiver writes the multiple of its K at or above n, no higher than
 * R when its K divides the sender's.  Both reloaded, the sender starts at
 * R + 1 > B and nothing fresh is refused (doc/sad.md).
 *
 * A record is named by a digest of the key (never the key), direction and
 * Sender ID: not the SPI, since the SPI is no part of the nonce; one key
 * under two SPIs shares one record and so one sequence of numbers.  The
 * record holds the SPIs its key was installed on, so that a key that
 * served one direction is never installed in the other on another SPI,
 * whichever SAD holds it and whenever (key_bound_elsewhere).
 *
 * Lock order: a record's directory lock (flock), then the SAD's writers'
 * lock, never the other way; installs touch the record before they take
 * the SAD's lock.
 */
#include "seqstate.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "datapath.h"
#include "dir_above.h"
#include "dir_sync.h"
#include "fork_gen.h"
#include "home.h"
#include "owner.h"
#include "replay.h"
#include "temp_file.h"

#define RECORD_MAGIC "ZESPSEQ2"
#define RECORD_MAGIC_V1 "ZESPSEQ1"   /* no SPIs: read, written as v2 */
#define RECORD_MAGIC_BYTES 8U
#define RECORD_SUM_BYTES 16U
#define RECORD_MARK_OFF (RECORD_MAGIC_BYTES + SEQ_RECORD_ID_BYTES)
#define RECORD_SPI_OFF (RECORD_MARK_OFF + 8U)
#define RECORD_SPI_ALL_OFF (RECORD_SPI_OFF + 8U)
#define RECORD_SUM_OFF (RECORD_SPI_ALL_OFF + 8U)
#define RECORD_BYTES (RECORD_SUM_OFF + RECORD_SUM_BYTES)
#define RECORD_V1_SUM_OFF (RECORD_MARK_OFF + 8U)
#define RECORD_V1_BYTES (RECORD_V1_SUM_OFF + RECORD_SUM_BYTES)
/* A record's SPI fields: none yet, one SPI (never 0: RFC 4303 2.1), or
 * more than one. */
#define RECORD_SPI_NONE 0U
#define RECORD_SPI_MANY ((uint64_t)1 << 32)
#define RECORD_NAME_BYTES (2U * SEQ_RECORD_ID_BYTES + 1U)
#define STATE_DIR_ROOT "/var/lib/zesp"
#define STATE_DIR_MODE 0700

static const char record_domain[] = "zesp manual key sequence record v1";

/* An open state directory, checked, and its lock held; group: its SAD
 * is group-shared, and the directory's group may write records.  The
 * descriptor is one a forked child closes at once (fork_gen.c): the lock
 * is its file description's, which the child's copy would keep held. */
struct state_dir {
    struct fork_fd dir;
    mode_t file_mode;
    bool group;
    gid_t gid;
};

/* A record's contents: the mark, and the SPIs its key was installed on
 * (start_from_record); spi_all is kept in Sender ID 0's record only. */
struct record {
    uint64_t mark;
    uint64_t spi;       /* the SAs of this record (direction, Sender ID) */
    uint64_t spi_all;   /* every SA of the key in this direction */
};

/* What the data path needs of an SA's record, copied out of the SAD. */
struct record_ref {
    char dir[ZESP_STATE_DIR_MAX];
    bool group;
    uint8_t id[SEQ_RECORD_ID_BYTES];
    uint64_t block;
};

bool seqstate_block_valid(uint64_t block)
{
    return block >= ZESP_SEQ_BLOCK_MIN && block <= ZESP_SEQ_BLOCK_MAX &&
           (block & (block - 1U)) == 0;
}

/* The first multiple of block above n, and the first at or above it. */
static uint64_t block_above(uint64_t n, uint64_t block)
{
    return n > UINT64_MAX - block ? UINT64_MAX : (n & ~(block - 1U)) + block;
}

static uint64_t block_at_or_above(uint64_t n, uint64_t block)
{
    return (n & (block - 1U)) == 0 ? n : block_above(n, block);
}

static void atomic_raise(_Atomic uint64_t *v, uint64_t to)
{
    uint64_t cur = atomic_load(v);

    while (cur < to && !atomic_compare_exchange_weak(v, &cur, to))
        ;
}

static void record_id_of(const uint8_t key[ZESP_KEYBYTES], uint32_t direction,
                         uint32_t sender_id, uint8_t id[SEQ_RECORD_ID_BYTES])
{
    crypto_generichash_state h;
    uint8_t who[3] = { (uint8_t)direction, (uint8_t)(sender_id >> 8),
                       (uint8_t)sender_id };

    crypto_generichash_init(&h, NULL, 0, SEQ_RECORD_ID_BYTES);
    crypto_generichash_update(&h, (const uint8_t *)record_domain,
                              sizeof record_domain);
    crypto_generichash_update(&h, key, ZESP_KEYBYTES);
    crypto_generichash_update(&h, who, sizeof who);
    crypto_generichash_final(&h, id, SEQ_RECORD_ID_BYTES);
    sodium_memzero(&h, sizeof h);
}

static void record_id(const zesp_sa_params *p, uint8_t id[SEQ_RECORD_ID_BYTES])
{
    record_id_of(p->key, p->direction, p->sender_id, id);
}

static void record_name(const uint8_t id[SEQ_RECORD_ID_BYTES],
                        char name[RECORD_NAME_BYTES])
{
    sodium_bin2hex(name, RECORD_NAME_BYTES, id, SEQ_RECORD_ID_BYTES);
}

static int absolute(const char *in, char out[ZESP_STATE_DIR_MAX])
{
    char cwd[ZESP_STATE_DIR_MAX];
    int n;

    if (in[0] == '/')
        n = snprintf(out, ZESP_STATE_DIR_MAX, "%s", in);
    else if (getcwd(cwd, sizeof cwd) == NULL)
        return errno;
    else
        n = snprintf(out, ZESP_STATE_DIR_MAX, "%s/%s", cwd, in);
    return n < 0 || n >= (int)ZESP_STATE_DIR_MAX ? ENAMETOOLONG : 0;
}

/* The default without $ZESP_STATE_DIR: /var/lib/zesp for root, else the
 * XDG state home (an absolute $XDG_STATE_HOME, else ~/.local/state).  A
 * program run setuid, setgid or with file capabilities reads neither, nor
 * $ZESP_STATE_DIR (secure_getenv): its caller would hand it a directory of
 * his own, remove a record there, and the key would count from 1 again;
 * run setgid, nor his home (home.c): none then. */
static void default_dir(char out[ZESP_STATE_DIR_MAX])
{
    const char *xdg = secure_getenv("XDG_STATE_HOME"), *home;
    char buf[4096];

    if (geteuid() == 0) {
        snprintf(out, ZESP_STATE_DIR_MAX, "%s", STATE_DIR_ROOT);
        return;
    }
    if (xdg != NULL && xdg[0] == '/') {
        snprintf(out, ZESP_STATE_DIR_MAX, "%s/zesp", xdg);
        return;
    }
    home = effective_home(buf, sizeof buf);
    if (home != NULL && home[0] == '/')
        snprintf(out, ZESP_STATE_DIR_MAX, "%s/.local/state/zesp", home);
    else
        out[0] = '\0';
}

static const char *env_dir(void)
{
    const char *env = secure_getenv("ZESP_STATE_DIR");

    return env != NULL && *env ? env : NULL;
}

const char *zesp_state_dir_default(void)
{
    static char path[ZESP_STATE_DIR_MAX];
    const char *env = env_dir();

    if (env != NULL)
        return env;
    default_dir(path);
    return path;
}

int seqstate_dir(const struct zesp_sad *sad, const char *config_dir,
                 char out[ZESP_STATE_DIR_MAX])
{
    const char *dir = sad->state_dir[0] ? sad->state_dir : env_dir();

    if (dir == NULL)
        dir = config_dir;
    if (dir != NULL)
        return absolute(dir, out);
    default_dir(out);
    return out[0] ? 0 : ZESP_ENOSTATE;
}

int zesp_sad_set_state_dir(zesp_sad *sad, const char *dir)
{
    char abs[ZESP_STATE_DIR_MAX];
    int err;

    if (sad == NULL || (dir != NULL && *dir == '\0')) {
        errno = EINVAL;
        return -1;
    }
    if (dir == NULL) {
        sad->state_dir[0] = '\0';
        return 0;
    }
    if ((err = absolute(dir, abs)) != 0) {
        errno = err;
        return -1;
    }
    memcpy(sad->state_dir, abs, sizeof abs);
    return 0;
}

/* Open and check a state directory; the lock is taken by dir_lock.  Only
 * a group-shared SAD's may be written by its group: a member of the group
 * who cannot read a private SAD must not put back an older record, nor
 * anyone an ACL names.  Nor may anyone else rename it, or one above it
 * (dir_above.c), nor replace a link on its path: swapped for another,
 * it has no record of the key. */
static int dir_open(const char *path, bool group, struct state_dir *d)
{
    struct stat st;

    if (fork_fd_open(&d->dir, AT_FDCWD, path,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) < 0)
        return errno == ENOENT  ? ZESP_ENOSTATE
               : errno == ELOOP || errno == ENOTDIR ? ZESP_ESTATEUNSAFE
                                                    : ZESP_ESTATEIO;
    if (fstat(d->dir.fd, &st) != 0) {
        fork_fd_close(&d->dir);
        return ZESP_ESTATEIO;
    }
    if (!owner_trusted(st.st_uid) || (st.st_mode & S_IWOTH) ||
        ((st.st_mode & S_IWGRP) && !group) ||
        (acl_named_perms(d->dir.fd, false) & ACL_WRITE) ||
        !dir_above_private(d->dir.fd) ||
        !dir_path_private(path, d->dir.fd)) {
        fork_fd_close(&d->dir);
        return ZESP_ESTATEUNSAFE;
    }
    /* A directory shared with a group (a group-shared SAD's senders all
     * write records) gets records its group can write too. */
    d->group = (st.st_mode & S_IWGRP) != 0;
    d->gid = st.st_gid;
    d->file_mode = d->group ? 0660 : 0600;
    return 0;
}

/* EWOULDBLOCK when !wait and another holds the lock. */
static int dir_lock(const char *path, bool group, struct state_dir *d,
                    bool wait)
{
    int err, rc;

    if ((err = dir_open(path, group, d)) != 0)
        return err;
    while ((rc = flock(d->dir.fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 &&
           errno == EINTR)
        ;
    if (rc != 0) {
        err = errno == EWOULDBLOCK ? EWOULDBLOCK : ZESP_ESTATEIO;
        fork_fd_close(&d->dir);
    }
    return err;
}

static void dir_close(struct state_dir *d)
{
    fork_fd_close(&d->dir);      /* and the lock with it */
}

/* A record only this user, root, or in a group's directory the group
 * wrote, and no one else may write: not others, nor a user or group its
 * ACL names (the mode's group bits are only the ACL's mask). */
static bool record_trusted(const struct state_dir *d, int fd,
                           const struct stat *st)
{
    bool group = d->group && st->st_gid == d->gid;

    return S_ISREG(st->st_mode) && !(st->st_mode & S_IWOTH) &&
           (!(st->st_mode & S_IWGRP) || group) &&
           (owner_trusted(st->st_uid) || group) &&
           !(acl_named_perms(fd, false) & ACL_WRITE);
}

static void record_sum(const uint8_t *rec, size_t len,
                       uint8_t sum[RECORD_SUM_BYTES])
{
    crypto_generichash(sum, RECORD_SUM_BYTES, rec, len, NULL, 0);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The sum's offset of a record of n bytes, 0 if it is of no version. */
static size_t record_sum_off(const uint8_t *rec, ssize_t n)
{
    if (n == (ssize_t)RECORD_BYTES &&
        memcmp(rec, RECORD_MAGIC, RECORD_MAGIC_BYTES) == 0)
        return RECORD_SUM_OFF;
    if (n == (ssize_t)RECORD_V1_BYTES &&
        memcmp(rec, RECORD_MAGIC_V1, RECORD_MAGIC_BYTES) == 0)
        return RECORD_V1_SUM_OFF;
    return 0;
}

/* *r: the record's, all 0 if there is none (*found false).  A record of
 * version 1 knows no SPI: its SPI fields read as none. */
static int record_read(const struct state_dir *d,
                       const uint8_t id[SEQ_RECORD_ID_BYTES], struct record *r,
                       bool *found)
{
    uint8_t rec[RECORD_BYTES + 1], sum[RECORD_SUM_BYTES];
    char name[RECORD_NAME_BYTES];
    struct stat st;
    size_t sum_off = 0;
    ssize_t n;
    int fd, err = 0;

    memset(r, 0, sizeof *r);
    *found = false;
    record_name(id, name);
    fd = openat(d->dir.fd, name,
                O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno == ELOOP ? ZESP_ESTATEUNSAFE
                                                    : ZESP_ESTATEIO;
    if (fstat(fd, &st) != 0)
        err = ZESP_ESTATEIO;
    else if (!record_trusted(d, fd, &st))
        err = ZESP_ESTATEUNSAFE;
    else if ((n = pread(fd, rec, sizeof rec, 0)) < 0)
        err = ZESP_ESTATEIO;
    else if ((sum_off = record_sum_off(rec, n)) == 0 ||
             memcmp(rec + RECORD_MAGIC_BYTES, id, SEQ_RECORD_ID_BYTES) != 0)
        err = ZESP_ESTATEDAMAGED;
    else {
        record_sum(rec, sum_off, sum);
        if (sodium_memcmp(sum, rec + sum_off, sizeof sum) != 0)
            err = ZESP_ESTATEDAMAGED;
    }
    close(fd);
    if (err == 0) {
        r->mark = load_le64(rec + RECORD_MARK_OFF);
        if (sum_off == RECORD_SUM_OFF) {
            r->spi = load_le64(rec + RECORD_SPI_OFF);
            r->spi_all = load_le64(rec + RECORD_SPI_ALL_OFF);
        }
        *found = true;
    }
    return err;
}

/* Replace the record whole: a crash leaves the old one or the new one.
 * The temporary file's name is random (temp_file.c): in a directory its
 * group may write, a fixed NAME.new another member made first (a file we
 * may not remove, a directory, a link) would stop every write of the
 * record, and a manual key could send no more. */
static int record_write(const struct state_dir *d,
                        const uint8_t id[SEQ_RECORD_ID_BYTES],
                        const struct record *r)
{
    char name[RECORD_NAME_BYTES], tmp[RECORD_NAME_BYTES + TEMP_FILE_EXTRA];
    uint8_t rec[RECORD_BYTES];
    int fd, ok;

    record_name(id, name);
    memcpy(rec, RECORD_MAGIC, RECORD_MAGIC_BYTES);
    memcpy(rec + RECORD_MAGIC_BYTES, id, SEQ_RECORD_ID_BYTES);
    store_le64(rec + RECORD_MARK_OFF, r->mark);
    store_le64(rec + RECORD_SPI_OFF, r->spi);
    store_le64(rec + RECORD_SPI_ALL_OFF, r->spi_all);
    record_sum(rec, RECORD_SUM_OFF, rec + RECORD_SUM_OFF);

    /* Made ours alone, then given its mode: a user the directory's default
     * ACL names gets what the mode's group bits let through the mask, and
     * a descriptor opened before the ACL is stripped would write the
     * record after its rename too. */
    fd = temp_file_open(d->dir.fd, name, O_WRONLY, 0600, tmp, sizeof tmp);
    if (fd < 0)
        return ZESP_ESTATEIO;
    /* The mode asked for, not what the directory's default ACL adds. */
    ok = acl_strip(fd) == 0 && fchmod(fd, d->file_mode) == 0 &&
         write_full(fd, rec, sizeof rec) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && renameat(d->dir.fd, tmp, d->dir.fd, name) == 0;
    if (!ok) {
        (void)unlinkat(d->dir.fd, tmp, 0);
        return ZESP_ESTATEIO;
    }
    return fsync(d->dir.fd) == 0 ? 0 : ZESP_ESTATEIO;
}

/* A record's name: its id's hex digits. */
static bool record_base(const char *name, size_t len, const void *arg)
{
    (void)arg;
    if (len != RECORD_NAME_BYTES - 1U)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= '0' && name[i] <= '9') ||
              (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

/* Under the directory's lock, so that no writer is between its create and
 * its rename: the temporary files of writers killed there, this user's
 * (another's, in a directory its group writes, is its own to remove).  A
 * failure here stops nothing: each write makes a name of its own. */
static void record_leftovers(const struct state_dir *d)
{
    size_t removed;

    (void)temp_file_leftovers(d->dir.fd, record_base, NULL, &removed);
}

/* The SAD's directory, as every process sending on its SAs must use. */
bool seqstate_sad_dir(const struct zesp_sad *sad,
                      char out[ZESP_STATE_DIR_MAX])
{
    if (!atomic_load_explicit(&sad->hdr->state_dir_set, memory_order_acquire))
        return false;
    memcpy(out, sad->hdr->state_dir, ZESP_STATE_DIR_MAX);
    out[ZESP_STATE_DIR_MAX - 1] = '\0';   /* the file is not trusted */
    return true;
}

static bool same_dir(const char *a, const char *b)
{
    struct stat sa, sb;

    return strcmp(a, b) == 0 ||
           (stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
            sa.st_ino == sb.st_ino);
}

static int check_sad_dir(const struct zesp_sad *sad, const char *dir)
{
    char have[ZESP_STATE_DIR_MAX];

    return !seqstate_sad_dir(sad, have) || same_dir(have, dir) ? 0 : ZESP_ESTATEDIR;
}

int seqstate_claim_dir(struct zesp_sad *sad, const char *dir)
{
    struct sad_header *h = sad->hdr;

    if (atomic_load_explicit(&h->state_dir_set, memory_order_acquire))
        return check_sad_dir(sad, dir);
    snprintf(h->state_dir, sizeof h->state_dir, "%s", dir);
    atomic_store_explicit(&h->state_dir_set, 1, memory_order_release);
    return 0;
}

/* The last number a manual SA sends (outbound.c seq_max): 48 bits
 * whatever its kind, since the key may serve a group sender or lanes
 * too, whose IVs are the Sender ID or lane above 48 bits of number. */
static uint64_t seq_last(const zesp_sa_params *p)
{
    return (p->flags & ZESP_SA_NO_ESN) ? ZESP_SEQ_MAX_32 : ZESP_SEQ_MAX_GROUP;
}

/* The key's record for (direction, Sender ID); all 0 if none. */
static int record_of_key(const struct state_dir *d,
                         const uint8_t key[ZESP_KEYBYTES], uint32_t direction,
                         uint32_t sender_id, struct record *r, bool *found)
{
    uint8_t id[SEQ_RECORD_ID_BYTES];

    record_id_of(key, direction, sender_id, id);
    return record_read(d, id, r, found);
}

/* The mark of the key's record for (direction, Sender ID); 0 if none. */
static int record_mark_of(const struct state_dir *d,
                          const uint8_t key[ZESP_KEYBYTES], uint32_t direction,
                          uint32_t sender_id, uint64_t *mark)
{
    struct record r;
    bool found;
    int err = record_of_key(d, key, direction, sender_id, &r, &found);

    *mark = r.mark;
    return err;
}

/*
 * A group's Sender ID and a lane are one field, the IV's top 16 bits
 * (RFC 6054), but their records are apart: the key's lanes SA keeps one
 * record (Sender ID 0) for all its lanes, a group sender one of its own.
 * Lane l of a lanes SA shares its IVs with the key's Sender ID l, and a
 * group sender with a Sender ID below 64 with the lanes SA's lane of that
 * number.  So the key's records of the other kind, in one direction:
 * [l] for lane l of a lanes SA (the record of Sender ID l), [0] for a
 * group sender with a Sender ID below 64 (the lanes SA's, one for all its
 * lanes); 0 where there is none, and every entry 0 for an SA of neither
 * kind.  Under the record's lock.
 *
 * Senders: a key loaded again the other way, or a SAD file put back from a
 * copy made before the switch, would count from its own kind's record in
 * IVs the other kind has sent; so an outbound SA starts above these too
 * (shared_iv_mark at install, out_first_use at each process's first use).
 * Receivers, the same way round: a window that started from its own kind's
 * record alone would accept again what the other kind accepted; so lane
 * l's window starts above [l], a group window above [0].  Senders start
 * above the same numbers: nothing fresh is refused.
 */
static int cross_records(const struct state_dir *d,
                         const uint8_t key[ZESP_KEYBYTES], uint32_t direction,
                         uint32_t flags, uint32_t sender_id,
                         uint64_t mark[ZESP_LANES_MAX])
{
    int err = 0;

    memset(mark, 0, ZESP_LANES_MAX * sizeof *mark);
    if (flags & ZESP_SA_GROUP)
        return sender_id < ZESP_LANES_MAX
                   ? record_mark_of(d, key, direction, 0, &mark[0])
                   : 0;
    if (flags & ZESP_SA_LANES)
        for (uint32_t l = 1; l < ZESP_LANES_MAX && err == 0; l++)
            err = record_mark_of(d, key, direction, l, &mark[l]);
    return err;
}

/* An outbound SA installed: *mark raised above the key's records of the
 * other kind, the highest of them (one record will cover all its lanes). */
static int shared_iv_mark(const struct state_dir *d, const zesp_sa_params *p,
                          uint64_t *mark)
{
    uint64_t cross[ZESP_LANES_MAX];
    int err;

    if ((err = cross_records(d, p->key, ZESP_DIR_OUT, p->flags, p->sender_id,
                             cross)) != 0)
        return err;
    for (uint32_t l = 0; l < ZESP_LANES_MAX; l++)
        if (cross[l] > *mark)
            *mark = cross[l];
    return 0;
}

/* A record's SPI field with spi added. */
static uint64_t spi_add(uint64_t have, uint32_t spi)
{
    return have == RECORD_SPI_NONE || have == spi ? spi : RECORD_SPI_MANY;
}

/* The field names an SA on another SPI than spi. */
static bool spi_other(uint64_t have, uint32_t spi)
{
    return have != RECORD_SPI_NONE && have != spi;
}

/*
 * The records remember on which SPIs the key was installed, in each
 * direction, so that the rule key_clash applies to the SAs of one SAD now
 * (sa_may_share_key: a key serves the other direction only on the same
 * SPI, a loop back, or as group SAs apart by Sender ID) holds against
 * every SA the key ever had in this state directory: deleted since, or in
 * another SAD (two private SADs of two programs).  Without it, a key's out
 * SA deleted and the key added in on another SPI, and its peer the mirror,
 * had both hosts number from 1 under the key.
 *
 * What the rule needs of the other direction: for a pairwise or lanes SA,
 * every SPI the key had there (spi_all of Sender ID 0's record); for a
 * group SA with Sender ID s, the SPIs of the key's pairwise and lanes SAs
 * there (spi of Sender ID 0's record) and of its group SAs of Sender ID s
 * (spi of Sender ID s's record).  Under the record's lock, before the
 * install writes anything.  A record of version 1 names no SPI and bars
 * nothing until the key is installed again.
 */
static int key_bound_elsewhere(const struct state_dir *d,
                               const zesp_sa_params *p, struct seq_start *st)
{
    uint32_t other = p->direction == ZESP_DIR_IN ? ZESP_DIR_OUT : ZESP_DIR_IN;
    struct record r0, rs;
    uint64_t bound = RECORD_SPI_NONE;
    bool found;
    int err;

    if ((err = record_of_key(d, p->key, other, 0, &r0, &found)) != 0)
        return err;
    if (!(p->flags & ZESP_SA_GROUP)) {
        if (spi_other(r0.spi_all, p->spi))
            bound = r0.spi_all;
    } else if (spi_other(r0.spi, p->spi)) {
        bound = r0.spi;
    } else {
        if ((err = record_of_key(d, p->key, other, p->sender_id, &rs,
                                 &found)) != 0)
            return err;
        if (spi_other(rs.spi, p->spi))
            bound = rs.spi;
    }
    if (bound == RECORD_SPI_NONE)
        return 0;
    st->bound_direction = other;
    st->bound_spi = bound == RECORD_SPI_MANY ? 0 : (uint32_t)bound;
    return ZESP_EKEYREUSE;
}

/* A group SA's SPI in Sender ID 0's record of the key, which every SA of
 * the key in the direction names (key_bound_elsewhere). */
static int note_spi_all(const struct state_dir *d, const zesp_sa_params *p)
{
    uint8_t id[SEQ_RECORD_ID_BYTES];
    struct record r0;
    uint64_t all;
    bool found;
    int err;

    record_id_of(p->key, p->direction, 0, id);
    if ((err = record_read(d, id, &r0, &found)) != 0)
        return err;
    all = spi_add(r0.spi_all, p->spi);
    if (found && all == r0.spi_all)
        return 0;
    r0.spi_all = all;
    return record_write(d, id, &r0);
}

/* Under the record's lock.  Outbound: above everything the key may have
 * sent, and the next block reserved; inbound: everything up to the record
 * refused.  Either way the record names the SA's SPI. */
static int start_from_record(const struct state_dir *d,
                             const zesp_sa_params *p, struct seq_start *st)
{
    uint64_t mark, base = p->next_seq ? p->next_seq - 1U : 0U;
    struct record r;
    bool found, named;
    int err;

    if ((err = key_bound_elsewhere(d, p, st)) != 0 ||
        (err = record_read(d, st->id, &r, &found)) != 0)
        return err;
    mark = r.mark;
    named = found && r.spi == spi_add(r.spi, p->spi) &&
            (p->sender_id != 0 || r.spi_all == spi_add(r.spi_all, p->spi));
    r.spi = spi_add(r.spi, p->spi);
    if (p->sender_id == 0)
        r.spi_all = spi_add(r.spi_all, p->spi);
    else if ((err = note_spi_all(d, p)) != 0)
        return err;
    if (p->direction == ZESP_DIR_IN) {
        st->reserved = mark;
        st->seq = base > mark ? base : mark;
        if ((err = cross_records(d, p->key, ZESP_DIR_IN, p->flags,
                                 p->sender_id, st->lane_floor)) != 0)
            return err;
        if (st->lane_floor[0] > st->seq)
            st->seq = st->lane_floor[0];
        return named ? 0 : record_write(d, st->id, &r);
    }
    if ((err = shared_iv_mark(d, p, &mark)) != 0)
        return err;
    st->seq = base > mark ? base : mark;
    if (st->seq >= seq_last(p))
        return ZESP_ESEQEXHAUSTED;
    st->reserved = block_above(st->seq, st->block);
    r.mark = st->reserved;
    return record_write(d, st->id, &r);
}

int seqstate_begin(struct zesp_sad *sad, const zesp_sa_params *p,
                   const char *config_dir, struct seq_start *st)
{
    struct state_dir d;
    int err;

    memset(st, 0, sizeof *st);
    st->block = p->seq_block ? p->seq_block : ZESP_SEQ_BLOCK_DEFAULT;
    record_id(p, st->id);
    if ((err = seqstate_dir(sad, config_dir, st->dir)) != 0 ||
        (err = check_sad_dir(sad, st->dir)) != 0 ||
        (err = dir_lock(st->dir, sad->group, &d, true)) != 0)
        return err;
    record_leftovers(&d);
    err = start_from_record(&d, p, st);
    dir_close(&d);
    return err;
}

void seqstate_fill_slot(struct sa_slot *s, const struct seq_start *st)
{
    if (st != NULL) {
        memcpy(s->record_id, st->id, sizeof s->record_id);
        s->seq_block = st->block;
        atomic_store(&s->reserved, st->reserved);
        if (s->direction == ZESP_DIR_IN && (s->flags & ZESP_SA_LANES))
            for (uint32_t l = 1; l < ZESP_LANES_MAX; l++)
                atomic_raise(&s->lane_seq[l], st->lane_floor[l]);
    } else {
        memset(s->record_id, 0, sizeof s->record_id);
        s->seq_block = 0;
        atomic_store(&s->reserved, UINT64_MAX);
    }
    atomic_store(&s->reserving, 0);
}

/* The highest number an outbound SA has taken, of any of its lanes. */
static uint64_t out_seq(const struct sa_slot *s)
{
    uint64_t seq = atomic_load(&s->seq);

    if (s->flags & ZESP_SA_LANES)
        for (uint32_t l = 1; l < ZESP_LANES_MAX; l++)
            if (atomic_load(&s->lane_seq[l]) > seq)
                seq = atomic_load(&s->lane_seq[l]);
    return seq;
}

/* The slot's record, read while it still holds the same SA. */
static int record_of(const struct zesp_sad *sad, const struct sa_ref *ref,
                     struct record_ref *r)
{
    const struct sa_slot *s = ref->slot;

    if (!seqstate_sad_dir(sad, r->dir))
        return ZESP_ENOSTATE;
    r->group = sad->group;
    memcpy(r->id, s->record_id, sizeof r->id);
    r->block = s->seq_block;
    if (!sad_ref_valid(ref))
        return ZESP_ENOSA;
    return seqstate_block_valid(r->block) ? 0 : ZESP_EBADSAD;
}

/* Under the record's lock: what is on disk now covers the slot.  An
 * outbound slot counts every number up to seq_at_least as taken, and,
 * where cross is given (cross_records), the SA's own counter up to [0]
 * and lane l up to [l].  A slot reused by another SA meanwhile is left
 * alone (the SAD's lock keeps its generation still). */
static int slot_raise(struct zesp_sad *sad, const struct sa_ref *ref,
                      uint64_t seq_at_least,
                      const uint64_t cross[ZESP_LANES_MAX], uint64_t reserved)
{
    struct sa_slot *s = ref->slot;
    int err;

    if ((err = sad_lock(sad)) != 0)
        return err;
    if (!sad_ref_valid(ref)) {
        err = ZESP_ENOSA;
    } else {
        if (s->direction == ZESP_DIR_OUT) {
            /* Every lane jumps too: the record covers them all. */
            for (uint32_t l = 0; l < ZESP_LANES_MAX; l++) {
                uint64_t to = cross != NULL && cross[l] > seq_at_least
                                  ? cross[l] : seq_at_least;
                atomic_raise(l == 0 ? &s->seq : &s->lane_seq[l], to);
            }
        }
        atomic_raise(&s->reserved, reserved);
    }
    sad_unlock(sad);
    return err;
}

/* Reserve the next block; wait: the sender is at its reservation now, else
 * it is half a block before it. */
static int out_extend(struct zesp_sad *sad, const struct sa_ref *ref,
                      bool wait)
{
    struct sa_slot *s = ref->slot;
    struct record_ref r;
    struct state_dir d;
    uint64_t have, seq, mark, next;
    struct record rec;
    bool found;
    int err;

    if ((err = record_of(sad, ref, &r)) != 0 ||
        (err = dir_lock(r.dir, r.group, &d, wait)) != 0)
        return err;
    /* Another sender may have extended while this one waited. */
    have = atomic_load(&s->reserved);
    seq = out_seq(s);
    if (wait ? seq < have : seq + r.block / 2U < have)
        goto out;
    if ((err = record_read(&d, r.id, &rec, &found)) != 0)
        goto out;
    mark = rec.mark;
    /* Above the slot's reservation: an SA with the same key elsewhere took
     * the numbers between; this one jumps over them. */
    rec.mark = next = block_above(mark > have ? mark : have, r.block);
    if ((err = record_write(&d, r.id, &rec)) == 0)
        err = slot_raise(sad, ref, mark > have ? mark : 0, NULL, next);
out:
    dir_close(&d);
    return err;
}

int seqstate_out_extend(struct zesp_sad *sad, const struct sa_ref *ref)
{
    int err = out_extend(sad, ref, true);

    if (err == 0)
        atomic_store(&ref->slot->reserving, 0);
    return err;
}

void seqstate_out_ahead(struct zesp_sad *sad, const struct sa_ref *ref)
{
    int err;

    /* One sender at a time.  One killed here, or a record that cannot be
     * written, leaves the flag set: no sender tries again ahead (each
     * message would pay the failing system calls), and the next extension
     * is made at the reservation, waiting, where a failure is an error. */
    if (atomic_exchange(&ref->slot->reserving, 1) != 0)
        return;
    err = out_extend(sad, ref, false);
    if (err == 0 || err == EWOULDBLOCK)
        atomic_store(&ref->slot->reserving, 0);
}

int seqstate_in_extend(struct zesp_sad *sad, const struct sa_ref *ref,
                       uint64_t seq)
{
    struct sa_slot *s = ref->slot;
    struct record_ref r;
    struct state_dir d;
    struct record rec;
    uint64_t next;
    bool found;
    int err;

    if ((err = record_of(sad, ref, &r)) != 0 ||
        (err = dir_lock(r.dir, r.group, &d, true)) != 0)
        return err;
    if (seq <= atomic_load(&s->reserved))
        goto out;
    if ((err = record_read(&d, r.id, &rec, &found)) != 0)
        goto out;
    next = block_at_or_above(seq, r.block);
    if (next > rec.mark) {
        rec.mark = next;
        err = record_write(&d, r.id, &rec);
    } else {
        next = rec.mark;
    }
    if (err == 0)
        err = slot_raise(sad, ref, 0, NULL, next);
out:
    dir_close(&d);
    return err;
}

/* The key's records of the other kind (cross_records), read with the key
 * the slot holds; a key read while the slot changed is caught after, when
 * the SA is no longer the same. */
static int cross_records_of(const struct state_dir *d,
                            const struct sa_ref *ref, uint32_t direction,
                            uint64_t mark[ZESP_LANES_MAX])
{
    const struct sa_slot *s = ref->slot;
    uint8_t key[ZESP_KEYBYTES];
    int err;

    memcpy(key, ref->key->key, sizeof ref->key->key);
    memcpy(key + sizeof ref->key->key, ref->key->salt, sizeof ref->key->salt);
    err = cross_records(d, key, direction, s->flags, s->sender_id, mark);
    sodium_memzero(key, sizeof key);
    return err;
}

/*
 * A manual SA this process has not used yet (per slot generation).  The
 * SAD file may be an older copy put back (a backup restored, a VM's file
 * copied) while the state directory kept the newer records: its `seq` and
 * `reserved` then lie below numbers the key already used.
 *
 * Outbound: every number up to the record, or to the slot's reservation,
 * may have been sent (a copy taken within a block says nothing of what was
 * sent after it), so every lane jumps above both and a block is written
 * ahead.  Each process's first use costs one record write and skips the
 * rest of the block, as a reload does.  The key's records of the other
 * kind (cross_records) are compared too, as the install did: a copy may
 * hold the SA as installed before the key served that kind, and lane l
 * (or the group sender) jumps above what that kind sent in its IVs.
 *
 * Inbound: a record above the slot's reservation means numbers up to it
 * were accepted that the slot no longer counts: every window of the SA is
 * started again with all of them received.  A record equal to the
 * reservation is what every live SA shows, so nothing is refused then:
 * that would lose up to a block of fresh messages at each receiver's start.
 * The key's records of the other kind are compared too, for the same
 * reason: the windows they share IVs with start above them.
 */
static int out_first_use(struct zesp_sad *sad, const struct sa_ref *ref,
                         const struct state_dir *d, const struct record_ref *r)
{
    uint64_t have = atomic_load(&ref->slot->reserved), top, high, next;
    uint64_t cross[ZESP_LANES_MAX];
    struct record rec;
    bool found;
    int err;

    if ((err = record_read(d, r->id, &rec, &found)) != 0 ||
        (err = cross_records_of(d, ref, ZESP_DIR_OUT, cross)) != 0)
        return err;
    high = top = rec.mark > have ? rec.mark : have;
    for (uint32_t l = 0; l < ZESP_LANES_MAX; l++)
        if (cross[l] > high)
            high = cross[l];
    /* One record covers every lane: it goes above the highest. */
    rec.mark = next = block_above(high, r->block);
    if ((err = record_write(d, r->id, &rec)) != 0)
        return err;
    return slot_raise(sad, ref, top, cross, next);
}

/* SAD's lock held: one window (a slot's shared one, and where a process's
 * own window of it starts) refuses every number up to mark. */
static int window_floor(struct zesp_sad *sad, struct sa_slot *w, uint64_t mark)
{
    uint32_t words = w->window_words;

    if (replay_bounds(words, w->replay_window, sad->lay.max_window_words) != 0)
        return ZESP_EBADSAD;
    if (atomic_load(&w->seq) < mark)
        replay_start(&w->seq, w->window, words, mark);
    if (w->seq_start < mark)
        w->seq_start = mark;
    return 0;
}

/* SAD's lock held: the SA's window and every lane's (its window, and where
 * a new window of the lane starts: lane_seq) refuse every number up to
 * mark; lane l's up to lane_floor[l] too. */
static int in_restart(struct zesp_sad *sad, const struct sa_ref *ref,
                      uint64_t mark, const uint64_t lane_floor[ZESP_LANES_MAX])
{
    struct sa_slot *s = ref->slot;
    struct sa_ref lane;
    int err;

    if ((err = window_floor(sad, s, mark)) != 0 ||
        !(s->flags & ZESP_SA_LANES))
        return err;
    for (uint32_t l = 1; l < ZESP_LANES_MAX && err == 0; l++) {
        uint64_t floor = lane_floor[l] > mark ? lane_floor[l] : mark;
        atomic_raise(&s->lane_seq[l], floor);
        if (sad_find_sender(sad, s->spi, ZESP_DIR_IN, l, &lane) == 0)
            err = window_floor(sad, lane.slot, floor);
    }
    return err;
}

/* This process's own windows of the SA (and of its lanes) start at or above
 * their slots' seq_start. */
static void in_own_floor(struct zesp_sad *sad, const struct sa_ref *ref)
{
    struct sa_slot *s = ref->slot;
    struct sa_ref lane;

    sad_own_floor(sad, ref, s->seq_start);
    if (s->flags & ZESP_SA_LANES)
        for (uint32_t l = 1; l < ZESP_LANES_MAX; l++)
            if (sad_find_sender(sad, s->spi, ZESP_DIR_IN, l, &lane) == 0)
                sad_own_floor(sad, &lane, lane.slot->seq_start);
}

/* A record above the reservation restarts every window of the SA at it;
 * the key's records of the other kind raise the windows they share IVs
 * with, whatever the reservation (senders start above them). */
static int in_first_use(struct zesp_sad *sad, const struct sa_ref *ref,
                        const struct state_dir *d, const struct record_ref *r)
{
    uint64_t mark, floor[ZESP_LANES_MAX];
    struct record rec;
    bool found;
    int err;

    if ((err = record_read(d, r->id, &rec, &found)) != 0 ||
        (err = cross_records_of(d, ref, ZESP_DIR_IN, floor)) != 0 ||
        (err = sad_lock(sad)) != 0)
        return err;
    if (!sad_ref_valid(ref)) {
        err = ZESP_ENOSA;
    } else {
        uint64_t top;

        mark = rec.mark;
        top = mark > atomic_load(&ref->slot->reserved) ? mark : 0;
        if ((err = in_restart(sad, ref, top > floor[0] ? top : floor[0],
                              floor)) == 0)
            atomic_raise(&ref->slot->reserved, top);
    }
    if (err == 0)
        in_own_floor(sad, ref);
    sad_unlock(sad);
    return err;
}

int seqstate_first_use(struct zesp_sad *sad, const struct sa_ref *ref)
{
    struct record_ref r;
    struct state_dir d;
    int err;

    if ((err = record_of(sad, ref, &r)) != 0 ||
        (err = dir_lock(r.dir, r.group, &d, true)) != 0)
        return err;
    err = ref->slot->direction == ZESP_DIR_OUT ? out_first_use(sad, ref, &d, &r)
                                               : in_first_use(sad, ref, &d, &r);
    dir_close(&d);
    if (err == 0)
        atomic_store(&sad->record_seen[sad_slot_no(sad, ref->slot)], ref->gen);
    return err;
}

void seqstate_seen_now(struct zesp_sad *sad, uint32_t slot_no)
{
    if (sad->record_seen != NULL)
        atomic_store(&sad->record_seen[slot_no],
                     atomic_load(&sad_slot(sad, slot_no)->gen));
}

/* mkdir -p, each new directory 0700 and its entry fsync'd
 * (dir_sync_of): without it a crash could still lose the state
 * directory, records and all, and its absence reads as "never used" (zesp
 * state init again, each manual key numbering from 1). */
static int make_dirs(char *path)
{
    struct stat st;

    for (char *p = path + 1;; p++) {
        char c = *p;
        int err = 0;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, STATE_DIR_MODE) == 0)
            err = dir_sync_of(path);
        else if (errno != EEXIST)
            err = errno;
        *p = c;
        if (err != 0)
            return err;
        if (c == '\0')
            break;
    }
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* The mode of the directory we just made, whatever the umask, set through
 * a descriptor: by name, chmod would follow a link that whoever may write
 * the parent put in its place, to a directory of theirs choosing.  Nor
 * may it be another directory renamed into its place (by whoever may
 * write a parent without a sticky bit): what mkdir made is ours and
 * closed to others (the umask or a default ACL only takes bits away; a
 * setgid parent adds its setgid bit, which the chmod clears), so a
 * directory that is not is left as it is, and refused. */
static int mode_made_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    int err = 0;

    if (fd < 0)
        return errno;
    if (fstat(fd, &st) != 0)
        err = errno;
    else if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        err = ZESP_ESTATEUNSAFE;
    else if (fchmod(fd, STATE_DIR_MODE) != 0)
        err = errno;
    close(fd);
    return err;
}

int zesp_state_dir_init(const char *dir)
{
    char path[ZESP_STATE_DIR_MAX];
    struct state_dir d;
    bool made;
    int err;

    if (dir == NULL)
        dir = zesp_state_dir_default();
    if (*dir == '\0')
        err = ZESP_ENOSTATE;
    else if ((err = absolute(dir, path)) == 0) {
        made = access(path, F_OK) != 0;
        if ((err = make_dirs(path)) == 0 && made)
            err = mode_made_dir(path);
    }
    /* No SAD yet to say whether the group may write it: the load says.
     * Each record's rename is made durable by an fsync of the directory
     * (record_write): a file system that cannot fsync a directory (EINVAL,
     * EROFS; taken as it is where it was made) would refuse every record,
     * so it is refused here, not "ready" and then every manual SA. */
    if (err == 0 && (err = dir_open(path, true, &d)) == 0) {
        if (fsync(d.dir.fd) != 0)
            err = ZESP_ESTATEIO;
        dir_close(&d);
    }
    if (err != 0) {
        errno = err;
        return -1;
    }
    return 0;
}
