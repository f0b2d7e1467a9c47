/*
 * The SA database's memory layout.  Everything here is free of pointers so
 * that the same layout can live in anonymous memory (the private SAD) or in a
 * file mapped by many processes (the shared SAD).  Readers never lock: they
 * find a slot through the index, check its generation before and after use,
 * and update counters, sequence numbers and replay windows with atomics.
 * Writers serialize on the header's mutex.
 */
#ifndef ZESP_SAD_H
#define ZESP_SAD_H

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fork_gen.h"
#include "zesp.h"

enum slot_state { SLOT_FREE = 0, SLOT_BUSY, SLOT_LIVE };

/* An SA's counters: messages, bytes, then one per kind of rejection. */
enum sa_counter {
    CNT_MESSAGES,
    CNT_BYTES,
    CNT_REJ_FIRST,
    CNT_COUNT = CNT_REJ_FIRST + ZESP_REJ_COUNT
};
#define CNT_REJ(kind) (CNT_REJ_FIRST + (kind))

struct sa_slot {
    _Atomic uint32_t state;
    _Atomic uint32_t gen;        /* odd while the slot is being changed */
    uint32_t spi;
    uint32_t direction;
    uint32_t transform;
    uint32_t flags;
    uint32_t sender_id;          /* group SAs (RFC 6054), a lane's window
                                    (ZESP_SA_LANES); else 0 */
    uint32_t replay_window;      /* in sequence numbers */
    uint32_t window_words;       /* power of two */
    uint64_t created;            /* unix time, for people (zesp_sa_info) */
    uint64_t born;               /* monotonic seconds: lifetimes count */
    uint64_t born_boot;          /* from here, in this boot (lifetime.c) */
    zesp_lifetime soft, hard;
    char peer[ZESP_PEER_MAX];
    _Atomic uint64_t seq;        /* out: last sent; in: highest accepted */
    uint64_t seq_start;          /* seq when the SA was installed */
    _Atomic uint32_t soft_expired;
    _Atomic uint32_t hard_expired;
    /* Senders taking a number and receivers marking one (out_begin,
     * in_commit): a writer gives the slot to no other SA while any is
     * there (sad_pin). */
    _Atomic uint32_t pins;
    _Atomic uint64_t counters[CNT_COUNT];
    /* ZESP_SA_MANUAL (seqstate.c): the key's persistent record.  out: seq
     * never passes `reserved`; in: nothing above it is accepted.
     * UINT64_MAX for other SAs. */
    uint8_t record_id[32];
    uint64_t seq_block;
    _Atomic uint64_t reserved;
    _Atomic uint32_t reserving;  /* out: an extension ahead under way */
    /* ZESP_SA_LANES, out (lanes.c): each lane's numbers handed out so
     * far (its holder's block included), and when it was last used, as a
     * count of the slot's lane uses (lane_used[0]: the count so far);
     * in: lane_seq is where each lane's window starts (lanes_in_start). */
    _Atomic uint64_t lane_seq[ZESP_LANES_MAX];
    _Atomic uint64_t lane_used[ZESP_LANES_MAX];
    _Atomic uint64_t window[];   /* window_words ring entries, see replay.c */
};

/* Key material sits apart from the slots so that it can be locked. */
struct sa_key {
    crypto_aead_aes256gcm_state aes;  /* expanded key, AES transforms only */
    uint8_t key[32];
    uint8_t salt[4];
    /* ZESP_SA_SIGNED: out: our Ed25519 secret key; in: the sender's
     * public key (first 32 bytes).  Zero otherwise. */
    uint8_t sign_key[ZESP_SIGN_SECRETBYTES];
    /* ZESP_SA_SOURCE_MAC (source_mac.h): out: each receiver's member ID
     * and our key to it; in: our member ID and the sender's key to us. */
    uint32_t mac_count;
    uint8_t mac_epoch[16];       /* random per install: names the keys */
    uint32_t mac_id[ZESP_SOURCE_MAC_MAX];
    uint8_t mac_key[ZESP_SOURCE_MAC_MAX][ZESP_SOURCE_MAC_KEYBYTES];
};

/* A policy (SPD entry): a name the application sends on, the outbound SA
 * that serves it now, and the inbound SAs accepted for it. */
enum policy_state { POLICY_FREE = 0, POLICY_LIVE, POLICY_DEAD };
#define POLICY_IN_MAX 4U

struct policy_slot {
    _Atomic uint32_t state;
    _Atomic uint32_t gen;
    char name[ZESP_NAME_MAX];
    char peer[ZESP_PEER_MAX];
    _Atomic uint32_t out_spi;        /* 0: no SA yet */
    _Atomic uint32_t in_spi[POLICY_IN_MAX];
    uint32_t flags;                  /* ZESP_POLICY_*: where acquire's
                                        alignment left 4 bytes unused */
    _Atomic uint64_t acquire;        /* time a sender found no SA, 0: none */
    _Atomic uint64_t rejected[ZESP_REJ_COUNT];   /* across rekeys */
};

/*
 * The header.  The fields up to `sum` describe the layout and never change
 * once the SAD is made; `sum` is their BLAKE2b digest, so that a damaged
 * or foreign file is refused instead of trusted.
 */
struct sad_header {
    uint64_t magic;
    uint32_t version;
    uint32_t capacity;
    uint32_t index_size;         /* power of two */
    uint32_t max_window_words;
    uint32_t policy_capacity;    /* power of two */
    uint32_t page;
    uint64_t slot_bytes;
    uint64_t index_off, slots_off, keys_off, keys_bytes, policies_off;
    uint64_t total_bytes;
    uint64_t max_message;
    uint8_t sum[16];
    _Atomic uint32_t index_version; /* odd while the index is being changed */
    _Atomic uint32_t live;
    _Atomic uint32_t group_in;   /* live inbound group slots (sender windows) */
    uint32_t free_hint;          /* where writers start looking for a slot */
    _Atomic uint64_t rejected_nosa;
    _Atomic uint64_t rejected_malformed;
    _Atomic uint64_t rejected[ZESP_REJ_COUNT];   /* every one, host-wide */
    _Atomic uint64_t changes;    /* bumped by every writer, for watchers */
    _Atomic uint64_t repairs;    /* times a dead writer's work was undone */
    pthread_mutex_t lock;
    /* Where every manual SA's record is: set by the first one installed,
     * then never changed (seqstate.c). */
    _Atomic uint32_t state_dir_set;
    char state_dir[ZESP_STATE_DIR_MAX];
};

/* A replay window of this process alone (ZESP_SA_PER_PROCESS_WINDOW, or
 * every SA with ZESP_SAD_OWN_WINDOWS), for the SA in one slot while the
 * slot's generation is `gen`; and where it starts for the SA that was in
 * the slot when this process attached (sad.c). */
struct own_window {
    _Atomic uint32_t gen;        /* of the slot's SA; 0: unused */
    _Atomic uint64_t top;
    _Atomic uint64_t *ring;      /* max_window_words entries, made at first
                                    use */
    uint32_t attach_gen;         /* 0: no inbound SA then */
    uint64_t attach_top;
};

/*
 * The layout as this process read it when it attached, after the header's
 * checksum verified.  Every size, count and offset the library uses comes
 * from here, never again from the shared file: anyone who may write the
 * file could change it there, and a size read twice is a size trusted.
 */
struct sad_layout {
    uint32_t capacity;
    uint32_t index_size;         /* power of two */
    uint32_t max_window_words;   /* power of two */
    uint32_t policy_capacity;    /* power of two */
    uint64_t slot_bytes;
    uint64_t keys_bytes;
    uint64_t total_bytes;
    uint64_t max_message;
};

struct zesp_sad {
    struct sad_header *hdr;
    struct sad_layout lay;       /* private copy: see above */
    _Atomic uint32_t *index;     /* slot number + 1, 0 = empty */
    uint8_t *slots;
    struct sa_key *keys;
    struct policy_slot *policies;
    bool keys_locked;
    bool shared;
    uint32_t acquire_timeout_ms;
    struct own_window *own;      /* one per slot; NULL: a private SAD */
    bool own_all;                /* ZESP_SAD_OWN_WINDOWS */
    pthread_mutex_t own_lock;    /* taking a window for a new SA; made
                                    with the handle */
    char path[4096];
    char state_dir[ZESP_STATE_DIR_MAX]; /* zesp_sad_set_state_dir; "": default */
    /* A file SAD: its group may read or write it (ZESP_SAD_GROUP), and per
     * slot the generation of the manual SA this process has compared with
     * its record (seqstate_first_use); NULL: a private SAD, never put back
     * from a copy. */
    bool group;
    _Atomic uint32_t *record_seen;
    /* Lanes (lanes.c): the file, opened once more, whose lock bytes hold
     * this process's lanes, and the lane it holds per slot.  Never mapped
     * (a mapping, copied into every child, would hold the locks too);
     * closed in a child as it starts (fork_gen.h): -1 there, and in a
     * private SAD (!shared). */
    struct fork_fd lane_file;
    uint64_t file_ino, file_dev;
    /* The file's path from the root as it was opened (path, given
     * relative, after the working directory then): a child opens it again
     * there, whatever directory it has moved to since (a daemon's
     * chdir("/")), or else by path as given (lanes.c reopen). */
    char file_path[4096];
    /* The process (fork_gen.h) the handle was made in, or whose file
     * description lane_file is: a private SAD sends in that process only. */
    _Atomic uint32_t fork_gen;
    _Atomic(struct lane_claim *) lanes;
    pthread_mutex_t lanes_lock;
    struct fork_guard guard;     /* lanes_lock, own_lock (fork_gen.c) */
};


static inline struct sa_slot *sad_slot(const struct zesp_sad *sad, uint32_t i)
{
    return (struct sa_slot *)(sad->slots + (size_t)i * sad->lay.slot_bytes);
}

static inline uint32_t sad_slot_no(const struct zesp_sad *sad,
                                   const struct sa_slot *s)
{
    return (uint32_t)(((const uint8_t *)s - sad->slots) / sad->lay.slot_bytes);
}

/*
 * A reader's hold on an SA: the slot, its key and the generation seen when
 * it was found.  sad_ref_valid() tells whether the SA is still the same.
 */
struct sa_ref {
    struct sa_slot *slot;
    const struct sa_key *key;
    uint32_t gen;
};

/* The window in_open and in_commit use for a slot's SA: the SAD's, or
 * this process's for an SA whose flags (`sa_flags`, the SA's, which a
 * lane's window shares) say ZESP_SA_PER_PROCESS_WINDOW or in a process
 * that opened the SAD with ZESP_SAD_OWN_WINDOWS.  A private SAD has one
 * process: its windows are that process's already.  words and window are
 * the slot's, read once and bounded (replay_bounds). */
struct window_ref {
    _Atomic uint64_t *top;
    _Atomic uint64_t *ring;
    uint32_t words;
    uint32_t window;
};
int sad_own_window(struct zesp_sad *sad, const struct sa_ref *ref,
                   struct window_ref *w);
/* This process's own window of the slot's SA refuses every number up to
 * floor, started already or not (seqstate.c: a SAD file put back). */
void sad_own_floor(struct zesp_sad *sad, const struct sa_ref *ref,
                   uint64_t floor);

static inline int sad_window(struct zesp_sad *sad, const struct sa_ref *ref,
                             uint32_t sa_flags, struct window_ref *w)
{
    if (sad->own != NULL &&
        (sad->own_all || (sa_flags & ZESP_SA_PER_PROCESS_WINDOW)))
        return sad_own_window(sad, ref, w);
    w->top = &ref->slot->seq;
    w->ring = ref->slot->window;
    return 0;
}

/* Making and attaching (sad.c), used by the file side (sad_file.c). */
struct zesp_sad *sad_alloc(const zesp_sad_opts *opts);
int sad_layout_plan(const zesp_sad_opts *opts, struct sad_header *h);
/* A SAD file's access (sad_file.c): 0600, 0620, 0640 or 0660; a group by
 * name or number (0, or ZESP_ENOGROUP). */
bool sad_mode_valid(uint32_t mode);
int sad_group_id(const char *name, gid_t *gid);
/* Is the header one this code can trust, for a file of `size` bytes? */
int sad_layout_check(const struct sad_header *h, uint64_t size);
int sad_format(uint8_t *map, const struct sad_header *plan);
/* A private SAD's counters and windows are this process's memory: a
 * child forked from it holds a copy, and would send its parent's nonces
 * again and accept the messages its parent accepted. */
bool sad_private_forked(struct zesp_sad *sad);
void sad_attach(struct zesp_sad *sad, uint8_t *map,
                const struct sad_header *h);
void sad_map_hint(void *map, size_t bytes);
int sad_own_windows_new(struct zesp_sad *sad, bool all);
bool sad_lock_sane(pthread_mutex_t *m);

/* Writers (the index functions need the lock held). */
int sad_lock(struct zesp_sad *sad);
void sad_changed(struct zesp_sad *sad);
void sad_slot_release(struct zesp_sad *sad, uint32_t slot_no);
/* sa.c: what zesp_sa_add would refuse of p, before anything changes:
 * 0 or an errno code.  sad NULL: a new SAD of the default layout. */
struct transform;
int sa_check(const struct zesp_sad *sad, const zesp_sa_params *p,
             const struct transform **t);
/* The largest replay window the SAD's slots hold (sad NULL: a new SAD's). */
uint32_t sa_window_max(const struct zesp_sad *sad);
int sad_flush_sas(struct zesp_sad *sad);
void spd_flush(struct zesp_sad *sad);
void sad_unlock(struct zesp_sad *sad);
void sad_index_insert(struct zesp_sad *sad, uint32_t slot_no);
void sad_index_remove(struct zesp_sad *sad, uint32_t slot_no);
void sad_index_rebuild(struct zesp_sad *sad);
#ifndef SAD_LOCK_TIMEOUT_S      /* fuzzing sets it to 0 */
#define SAD_LOCK_TIMEOUT_S 2   /* a writer's lock held longer: damaged */
#endif
/* At attach: 0, or ZESP_EBADSAD for values no writer could leave. */
int sad_sane(const struct zesp_sad *sad);

/*
 * The index key of an SA is (SPI, direction, sender): the sender is the
 * Sender ID of an inbound group SA (one slot per sender's window), the lane
 * of a lane's window (ZESP_SA_LANES), and 0 for every other SA, an
 * outbound group SA and the lanes SA itself included.
 */
static inline uint32_t slot_index_sender(const struct sa_slot *s)
{
    return s->direction == ZESP_DIR_IN &&
                   (s->flags & (ZESP_SA_GROUP | ZESP_SA_LANES))
               ? s->sender_id : 0U;
}

static inline bool slot_is_group_in(const struct sa_slot *s)
{
    return slot_index_sender(s) != 0;
}

/* A lock-free reader met a change in progress: spin, and now and then
 * repair what a dead writer left and yield; false once it has lasted so
 * long that the SAD is damaged, not busy.  *retries starts at 0. */
bool sad_reader_wait(struct zesp_sad *sad, uint32_t *retries);
int sad_find_sender(struct zesp_sad *sad, uint32_t spi, uint32_t direction,
                    uint32_t sender, struct sa_ref *ref);
/* The pairwise SA or the outbound group SA with that SPI. */
static inline int sad_find(struct zesp_sad *sad, uint32_t spi,
                           uint32_t direction, struct sa_ref *ref)
{
    return sad_find_sender(sad, spi, direction, 0, ref);
}
/* Writers and reports: the live inbound group slot of that SPI with the
 * lowest Sender ID, by a scan of the slots; ZESP_ENOSA if none. */
int sad_find_group_lowest(struct zesp_sad *sad, uint32_t spi,
                          struct sa_ref *ref);
bool sad_ref_valid(const struct sa_ref *ref);

/*
 * A reader's hold on its SA's slot while it changes the SA's state (a
 * sender's charge and sequence number, a receiver's window and counters):
 * true if the SA is still the one found.  Pinned, the slot is not reused
 * (free_slot in sa.c), so a reader preempted after the check cannot
 * charge, number or mark for another SA.  Both sides are sequentially
 * consistent: either the writer sees the pin, or the reader sees the
 * generation the deletion left.  A reader killed while pinned keeps the
 * slot from reuse for good.
 */
static inline bool sad_pin(const struct sa_ref *ref)
{
    atomic_fetch_add(&ref->slot->pins, 1);
    return atomic_load(&ref->slot->gen) == ref->gen;
}

static inline void sad_unpin(const struct sa_ref *ref)
{
    atomic_fetch_sub_explicit(&ref->slot->pins, 1, memory_order_release);
}

/* Writers: may the slot be given to a new SA? */
static inline bool sad_slot_unpinned(struct sa_slot *s)
{
    return atomic_load(&s->pins) == 0;
}

uint64_t sad_now(void);

static inline void sa_count(struct sa_slot *s, enum sa_counter c, uint64_t n)
{
    atomic_fetch_add_explicit(&s->counters[c], n, memory_order_relaxed);
}

#endif
