/*
 * zesp: end-to-end, per-message ESP security for ZeroMQ.
 *
 * A protected message on the wire is: the envelope frames that sockets add
 * (ROUTER identities), then the sender's clear frames (readable by brokers,
 * authenticated), then one ESP frame (RFC 4303) that carries the body frames
 * encrypted.  See doc/wire-format.md.
 *
 * Conventions, as in libsodium: sizes are constants, functions return 0 on
 * success and -1 on failure with errno set to a ZESP_E* code (or a system
 * code such as EINVAL, ENOMEM), and zesp_strerror() turns either into a
 * sentence.  Outputs are cleared on failure.
 *
 * Thread safety: a zesp_sad may be used from any number of threads at once
 * (send and receive are lock-free; adding and deleting SAs serialize on a
 * mutex).  A zesp_msg and a ZeroMQ socket belong to one thread at a time.
 */
#ifndef ZESP_H
#define ZESP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZESP_VERSION_STRING "0.1.0"
/* The version of the library itself (its ZESP_VERSION_STRING): a program
 * or binding compiled against these declarations checks that it runs on
 * the library they came with, as every libzesp 0.x has one soname. */
const char *zesp_version(void);

/* Transforms, numbered as IKEv2 numbers them (IANA "Transform Type 1"). */
enum zesp_transform {
    ZESP_AES256GCM = 20,            /* ENCR_AES_GCM_16, RFC 4106 */
    ZESP_NULL_AES256GMAC = 21,      /* ENCR_NULL_AUTH_AES_GMAC, RFC 4543 */
    ZESP_CHACHA20_POLY1305 = 28,    /* ENCR_CHACHA20_POLY1305, RFC 7634 */
    ZESP_NULL_CHACHA20_POLY1305 = 1024 /* private use: integrity only */
};

enum zesp_direction { ZESP_DIR_IN = 1, ZESP_DIR_OUT = 2 };

/* KEYMAT per SA: a 32-byte key followed by a 4-byte salt (RFC 4106, 7634). */
#define ZESP_KEYBYTES 36U
#define ZESP_ICVBYTES 16U
#define ZESP_IVBYTES 8U
#define ZESP_HEADERBYTES 16U        /* SPI, sequence number, IV */
#define ZESP_PEER_MAX 64U           /* peer name, NUL included */
#define ZESP_NAME_MAX 64U           /* policy name, NUL included */
#define ZESP_POLICY_IN_MAX 4U       /* inbound SAs accepted per policy */
#define ZESP_GROUP_MAX 64U          /* a SAD's group name, NUL included */

#define ZESP_REPLAY_WINDOW_MIN 64U
#define ZESP_REPLAY_WINDOW_DEFAULT 1024U
#define ZESP_REPLAY_WINDOW_MAX 16384U

/* The last sequence number an SA may send: it never cycles (RFC 4303). */
#define ZESP_SEQ_MAX_ESN UINT64_MAX
#define ZESP_SEQ_MAX_32 UINT64_C(0xffffffff)

#define ZESP_MAX_CLEAR_FRAMES 255U
#define ZESP_MAX_MESSAGE_DEFAULT (UINT64_C(256) << 20)

/* zesp_sa_params.flags */
#define ZESP_SA_NO_ESN 0x1U         /* 32-bit sequence numbers on an SA */
#define ZESP_SA_GROUP 0x2U          /* a group SA: the IV carries a Sender ID */
#define ZESP_SA_SIGNED 0x4U         /* group SA with source authentication:
                                       every message signed (Ed25519) */
#define ZESP_SA_MANUAL 0x8U         /* a manually keyed SA: its sequence
                                       numbers continue across reloads from
                                       a record on disk (doc/sad.md) */
#define ZESP_SA_LANES 0x10U         /* a pairwise SA that many processes send
                                       on, each in a lane of its own: set on
                                       both ends (wire-format.md 10) */
#define ZESP_SA_SOURCE_MAC 0x20U    /* group SA with source authentication:
                                       a MAC per receiver, keyed pairwise
                                       (wire-format.md 9.7) */
#define ZESP_SA_PER_PROCESS_WINDOW 0x40U /* inbound: each process keeps
                                       its own replay window, so each accepts
                                       every message once (subscribers on one
                                       host); without it a message is accepted
                                       once per host (load-balanced workers).
                                       YAML replay_scope: process */

/*
 * Lanes (doc/wire-format.md 10).  Processes that send on one SA over
 * separate connections reach the receiver interleaved, far out of order:
 * on an SA with ZESP_SA_LANES (set on both ends) each sending process
 * claims a lane of its own, 1 to ZESP_LANES_MAX - 1, held while it lives,
 * with its own sequence numbers (at most 2^48 - 1) and the lane in the
 * IV's top 16 bits, as a group's Sender ID (RFC 6054); the receiver keeps
 * a replay window per lane, made on the lane's first authentic message.
 * Frames whose IV carries no lane (a sender without lanes, strongSwan) use
 * the SA's own window.  Pairwise SAs only.
 */
#define ZESP_LANES_MAX 64U
#define ZESP_SEQ_MAX_LANE ((UINT64_C(1) << 48) - 1U)

/*
 * Manual keys.  An SA added with ZESP_SA_MANUAL (every SA of a YAML file)
 * keeps a record of its key's sequence numbers in a state directory that
 * survives reboots, written ahead every seq_block numbers: the same key
 * installed again continues above every number it may have sent, and
 * refuses every number it may have received.  Without a usable record the
 * SA is not installed.  An SA added without the flag (the key daemon's:
 * fresh keys) keeps no record; its caller must never install one key
 * twice.
 */
#define ZESP_SEQ_BLOCK_DEFAULT (UINT64_C(1) << 20)
#define ZESP_SEQ_BLOCK_MIN 16U
#define ZESP_SEQ_BLOCK_MAX (UINT64_C(1) << 30)
#define ZESP_STATE_DIR_MAX 1024U    /* a state directory's path, NUL included */

/*
 * Group SAs (doc/wire-format.md 9).  One key is shared by every member of a
 * group; each sender has its own Sender ID, placed in the top 16 bits of the
 * IV (RFC 6054, G-IKEv2's GWP_SENDER_ID_BITS = 16), so senders never share
 * a nonce, and its own sequence numbers, at most 2^48 - 1.  A receiver keeps
 * one replay window per sender: one inbound SA (slot) per (SPI, Sender ID).
 */
#define ZESP_SENDER_ID_BITS 16U
#define ZESP_SENDER_ID_MAX 0xffffU
#define ZESP_SEQ_MAX_GROUP ((UINT64_C(1) << 48) - 1U)
#define ZESP_SIGN_SECRETBYTES 64U   /* Ed25519 secret key, libsodium's form */
#define ZESP_SIGN_PUBLICBYTES 32U
#define ZESP_SIGNBYTES 64U

/*
 * Source MACs (doc/wire-format.md 9.7), the other way a group SA proves its
 * sender: each message carries, for each receiver, the receiver's member
 * ID and a 16-byte tag under a key that only the sender and that receiver
 * hold.  An outbound SA holds one key per receiver (at most
 * ZESP_SOURCE_MAC_MAX: larger groups sign), an inbound window the one key
 * from its sender to this member.  zesp_source_mac_key derives a key from
 * the two members' Ed25519 identity keys (X25519 of their Curve25519
 * forms) and binds it to the group SA: its SPI and KEYMAT, both member IDs
 * and which of them sends.  0, or -1 with errno EINVAL (a key that is no
 * usable point, an ID of 0 or above ZESP_SENDER_ID_MAX).
 */
#define ZESP_SOURCE_MAC_MAX 32U
#define ZESP_SOURCE_MAC_KEYBYTES 32U
#define ZESP_SOURCE_MAC_TAGBYTES 16U
int zesp_source_mac_key(uint8_t key[ZESP_SOURCE_MAC_KEYBYTES],
                        const uint8_t own_sk[ZESP_SIGN_SECRETBYTES],
                        const uint8_t peer_pk[ZESP_SIGN_PUBLICBYTES],
                        int we_send, uint32_t spi, uint32_t sender_id,
                        uint32_t receiver_id,
                        const uint8_t keymat[ZESP_KEYBYTES]);

/* zesp_send / zesp_recv flags */
#define ZESP_DONTWAIT 0x1

/* Errors (errno values), far above any system errno, as libzmq does. */
#define ZESP_EBASE 0x5a450000
enum zesp_error {
    ZESP_EMALFORMED = ZESP_EBASE + 1, /* not a well-formed ESP message */
    ZESP_ENOSA,         /* no SA with that SPI (and direction) */
    ZESP_EREPLAY,       /* sequence number already received */
    ZESP_EOLD,          /* sequence number below the replay window */
    ZESP_EICV,          /* integrity check failed */
    ZESP_EEXPIRED,      /* the SA reached a hard lifetime */
    ZESP_ESEQEXHAUSTED, /* the SA has no sequence numbers left */
    ZESP_EBINDING,      /* clear frames differ from those the sender bound */
    ZESP_ETOOBIG,       /* message larger than the SAD allows */
    ZESP_EUNSUPPORTED,  /* transform unavailable on this CPU or build */
    ZESP_EEXIST,        /* an SA with that SPI and direction exists */
    ZESP_EFULL,         /* the SAD has no free slot */
    ZESP_EDIRECTION,    /* SA used in the wrong direction */
    ZESP_EBADSAD,       /* the SAD file is damaged or not a SAD */
    ZESP_ESADVERSION,   /* the SAD file has another layout version */
    ZESP_ESADSIZE,      /* the SAD file is truncated */
    ZESP_ENOPOLICY,     /* no policy of that name */
    ZESP_EACQUIRE,      /* the policy has no SA yet; one was requested */
    ZESP_ECONFIG,       /* the configuration is invalid (see err text) */
    ZESP_ESIGNATURE,    /* a group message's source signature, or its
                           source MAC for this receiver, is wrong or
                           missing */
    ZESP_ESADOWNER,     /* the SAD file belongs to another user */
    ZESP_ESADMODE,      /* other users may read or write the SAD file */
    ZESP_ESADGROUP,     /* its group may, and no group SAD was asked for */
    ZESP_ESADLINK,      /* the SAD path is a symbolic link (or a hard
                           link, with a mode or group to set) */
    ZESP_ESADDIR,       /* the SAD's directory is not private to us */
    ZESP_EPOLICY,       /* message under an SA that does not serve the
                           policy the receiver named (RFC 4301 5.2), or
                           an integrity-only SA where the policy's SAs
                           encrypt */
    ZESP_ENOSTATE,      /* the state directory of manual keys is missing */
    ZESP_ESTATEUNSAFE,  /* state directory or record: wrong owner or mode */
    ZESP_ESTATEDAMAGED, /* a manual key's sequence record is damaged */
    ZESP_ESTATEIO,      /* a sequence record cannot be written */
    ZESP_ESTATEDIR,     /* the SAD keeps its records in another directory */
    ZESP_ELANES,        /* every lane of the SA is held by a live process */
    ZESP_ENOGROUP,      /* zesp_sad_opts.group names no group */
    ZESP_EKEYTEXT,      /* key text is not hex:, z85: or file: of the size */
    ZESP_EKEYFILE,      /* a key file that group or others may read, or
                           that another user owns */
    ZESP_EFORKED,       /* a private SAD used by a child forked from the
                           process that made it */
    ZESP_EKEYREUSE,     /* a manual key that serves, or by its records
                           served, the other direction on another SPI */
    ZESP_ELAST
};

/* Lifetime limits; 0 means no limit. */
typedef struct zesp_lifetime {
    uint64_t seconds;
    uint64_t messages;
    uint64_t bytes;
} zesp_lifetime;

typedef struct zesp_sa_params {
    uint32_t spi;
    uint32_t direction;     /* ZESP_DIR_IN or ZESP_DIR_OUT */
    uint32_t transform;     /* enum zesp_transform; 0 = ZESP_CHACHA20_POLY1305,
                               on every host: both ends of an SA must
                               agree, so this default never follows the
                               CPU (zike negotiates AES-256-GCM where both
                               can) */
    uint32_t flags;         /* ZESP_SA_* */
    uint32_t replay_window; /* inbound: 0 = default, else MIN..MAX */
    uint64_t next_seq;      /* first sequence number sent (out) or expected
                               (in); 0 = 1.  For tests and SA migration.
                               A group, lanes or manual outbound SA sends
                               at most up to 2^48 - 1 (wire-format.md 5). */
    zesp_lifetime soft;     /* marks the SA for rekey */
    zesp_lifetime hard;     /* stops the SA */
    uint8_t key[ZESP_KEYBYTES];
    char peer[ZESP_PEER_MAX]; /* who the SA is with, reported on receive */
    /* ZESP_SA_GROUP: out: our Sender ID; in: the sender this SA (its replay
     * window) is for.  1..ZESP_SENDER_ID_MAX; 0 for pairwise SAs. */
    uint32_t sender_id;
    /* ZESP_SA_SIGNED: out: our Ed25519 secret key (64 bytes); in: the
     * sender's public key (first 32 bytes). */
    uint8_t sign_key[ZESP_SIGN_SECRETBYTES];
    /* ZESP_SA_SOURCE_MAC: out: the receivers, 1 to ZESP_SOURCE_MAC_MAX,
     * each its member ID (distinct, not ours) and the key from us to it;
     * in: 1, our own member ID and the key from this window's sender to
     * us (zesp_source_mac_key). */
    uint32_t mac_count;
    uint32_t mac_id[ZESP_SOURCE_MAC_MAX];
    uint8_t mac_key[ZESP_SOURCE_MAC_MAX][ZESP_SOURCE_MAC_KEYBYTES];
    /* ZESP_SA_MANUAL: sequence numbers per write of the record, a power of
     * two from ZESP_SEQ_BLOCK_MIN to _MAX; 0 = ZESP_SEQ_BLOCK_DEFAULT.  A
     * receiver's block must not exceed its sender's (doc/sad.md). */
    uint64_t seq_block;
} zesp_sa_params;

/* Kinds of rejection of a received message.  Each is counted apart for the
 * SA (zesp_sa_stats), for the policy the SA serves (zesp_policy.rejected)
 * and for the whole host (zesp_sad_stats.rejected); the last two outlive
 * the SAs, which come and go with every rekey. */
enum zesp_rejection {
    ZESP_REJ_MALFORMED,     /* ZESP_EMALFORMED */
    ZESP_REJ_NOSA,          /* ZESP_ENOSA */
    ZESP_REJ_REPLAY,        /* ZESP_EREPLAY */
    ZESP_REJ_OLD,           /* ZESP_EOLD */
    ZESP_REJ_ICV,           /* ZESP_EICV */
    ZESP_REJ_EXPIRED,       /* ZESP_EEXPIRED */
    ZESP_REJ_BINDING,       /* ZESP_EBINDING */
    ZESP_REJ_TOOBIG,        /* ZESP_ETOOBIG */
    ZESP_REJ_SIGNATURE,     /* ZESP_ESIGNATURE */
    ZESP_REJ_POLICY,        /* ZESP_EPOLICY */
    ZESP_REJ_COUNT
};
/* "malformed", "nosa", "replay", ...: a short name for reports. */
const char *zesp_rejection_name(unsigned kind);

/* Counters of one SA; each kind of rejection is its own counter. */
typedef struct zesp_sa_stats {
    uint64_t messages;      /* sent (out) or accepted (in) */
    uint64_t bytes;         /* body bytes sent or accepted */
    uint64_t rejected_malformed;
    uint64_t rejected_replay;
    uint64_t rejected_old;
    uint64_t rejected_icv;
    uint64_t rejected_expired;
    uint64_t rejected_binding;
    uint64_t rejected_toobig;
    uint64_t rejected_signature;
    uint64_t rejected_policy;
} zesp_sa_stats;

typedef struct zesp_sa_info {
    uint32_t spi;
    uint32_t direction;
    uint32_t transform;
    uint32_t flags;
    uint32_t replay_window;
    uint64_t seq;           /* out: last sequence number used; in: highest seen */
    uint64_t created;       /* unix time, seconds */
    int soft_expired;       /* a soft limit was reached: rekey */
    int hard_expired;       /* a hard limit was reached: unusable */
    zesp_lifetime soft, hard;
    zesp_sa_stats stats;
    char peer[ZESP_PEER_MAX];
    uint32_t sender_id;     /* group SAs; 0 for pairwise */
    /* ZESP_SA_MANUAL: out: the highest number the record lets it send;
     * in: the highest the record covers.  0 otherwise. */
    uint64_t seq_reserved;
    uint64_t seq_block;
    /* Seconds since installed, as its time limits count them (the
     * monotonic clock: created, the wall clock, may have been stepped
     * since); installed in another boot, the wall clock's (UINT64_MAX if
     * it is behind created). */
    uint64_t age;
} zesp_sa_info;

/* Per-SAD counters. */
typedef struct zesp_sad_stats {
    uint64_t rejected_nosa;         /* rejections that belong to no SA */
    uint64_t rejected_malformed;
    /* Every rejection on this host since the SAD was made, by kind
     * (enum zesp_rejection), SAs long deleted included. */
    uint64_t rejected[ZESP_REJ_COUNT];
    uint64_t repairs;       /* writers killed mid-change, cleaned up after */
    uint32_t sas;           /* SAs installed */
    uint32_t capacity;
    int keys_locked;        /* this process could mlock the keys */
} zesp_sad_stats;

/* SA slots of a SAD (zesp_sad_opts.capacity), fixed when it is made. */
#define ZESP_SAD_CAPACITY_DEFAULT 1024U
#define ZESP_SAD_CAPACITY_MAX (1U << 24)

typedef struct zesp_sad_opts {
    /* SA slots, 1 to ZESP_SAD_CAPACITY_MAX; 0 = the default.  Used only
     * when the file is made: an existing SAD keeps its own (see
     * zesp_sad_stats_get; doc/sad.md, "How many slots"). */
    uint32_t capacity;
    uint32_t max_replay_window; /* window slots reserve, rounded up to the
                                   ring (8192 holds 16351); 0 = 8192 */
    uint32_t policies;          /* policies; 0 = 256 */
    uint32_t mode;              /* file mode on creation; 0 = 0600 */
    uint64_t max_message;       /* bytes; 0 = ZESP_MAX_MESSAGE_DEFAULT */
    uint32_t acquire_timeout_ms; /* wait for an SA on send; 0 = fail */
    /* The file's group, a name or a number ("" = the creator's).  With
     * ZESP_SAD_CREATE a mode or group asked for is also given to an
     * existing file of this user's, so that a configuration change takes
     * effect without a hand-run chmod or chgrp. */
    char group[ZESP_GROUP_MAX];
} zesp_sad_opts;

/* A frame as the caller gives it or reads it: never owned by zesp. */
typedef struct zesp_frame {
    const void *data;
    size_t size;
} zesp_frame;

typedef struct zesp_sad zesp_sad;
typedef struct zesp_msg zesp_msg;

/* A frame of a string literal, its NUL left out: ZESP_STR("prices"). */
#define ZESP_STR(s) ((zesp_frame){ ("" s), sizeof("" s) - 1U })

/* Library */
int zesp_init(void);                      /* once; safe to call again */

/*
 * Key material.  zesp_key_generate fills a KEYMAT (key and salt) with
 * random octets.  zesp_key_format writes a key as text, "hex:" and two
 * digits an octet (ZESP_KEY_HEX) or "z85:" and Z85 (ZESP_KEY_Z85, keylen a
 * multiple of 4); ZESP_KEY_TEXTBYTES holds either for a KEYMAT.
 * zesp_key_parse reads exactly keylen octets (ZESP_KEYBYTES, or an Ed25519
 * key's 64 or 32) from such text or from "file:PATH", a file of one such
 * line that only its owner may read; ZESP_EKEYTEXT for text of another
 * form or size, ZESP_EKEYFILE for a file group or others may read or
 * that another user than the caller's or root owns, ELOOP for a path
 * that is a symbolic link, EINVAL for one that is not a regular file (a
 * FIFO is not waited on), or the file's errno.  The forms of `zesp keygen` and of YAML's key:.  0 or -1
 * with errno; key cleared on failure.
 */
#define ZESP_KEY_HEX 0
#define ZESP_KEY_Z85 1
#define ZESP_KEY_TEXTBYTES (4U + 2U * ZESP_KEYBYTES + 1U)
int zesp_key_generate(uint8_t key[ZESP_KEYBYTES]);
int zesp_key_format(char *text, size_t textlen, const uint8_t *key,
                    size_t keylen, int format);
int zesp_key_parse(uint8_t *key, size_t keylen, const char *text);
/* A sentence for a ZESP_E* code, a libzmq code (EFSM, ETERM) or an errno. */
const char *zesp_strerror(int err);
int zesp_transform_available(uint32_t transform);
const char *zesp_transform_name(uint32_t transform);

/*
 * SA database.  zesp_sad_new makes a private one, in this process only:
 * a child forked from the process can neither send nor receive on it
 * (ZESP_EFORKED), since its copy of each sequence number would repeat its
 * parent's nonces and its copy of each replay window would accept again
 * what its parent accepts; the child makes its own, or both share a file.
 * zesp_sad_open maps the host's shared one, a file (path NULL: the value of
 * $ZESP_SAD, else zesp_sad_default_path()); with ZESP_SAD_CREATE it is made
 * if missing, with opts (NULL: defaults) and mode opts->mode (0600; 0640
 * or 0660 make a group-shared SAD).  A file of another layout version, a
 * damaged or a truncated one is refused.  An existing SAD of ours is given
 * opts->mode and opts->group too; a file there that is no SAD is refused
 * (ZESP_EBADSAD), one with other names too (hard links) is refused
 * (ZESP_ESADLINK), and neither has its mode or group changed.
 *
 * The file holds keys, so it is used only if it is ours: a symbolic link
 * is refused (ZESP_ESADLINK), a file owned by another user than this one
 * or root (ZESP_ESADOWNER), one that other users may read or write, by
 * its mode or by an ACL that names them (ZESP_ESADMODE), and one its group may read or write unless the caller
 * asks for a group-shared SAD with ZESP_SAD_GROUP (ZESP_ESADGROUP); a
 * group-shared SAD may also be owned by the owner of its directory when
 * nobody else may write in that directory.  The default path's directory
 * (/run/zesp for root, $XDG_RUNTIME_DIR, else ~/.zesp) must be this
 * user's and writable by nobody else (ZESP_ESADDIR); /run/zesp and ~/.zesp
 * are made 0700 when missing.  Any SAD's directory that others may write
 * without the sticky bit is refused too (ZESP_ESADDIR): they could rename
 * the SAD and put an older copy in its place.  Its group may write it for
 * a group-shared SAD of that group, or when the group is the owner's own
 * (a group-shared SAD of that group opened without ZESP_SAD_GROUP there
 * is ZESP_ESADGROUP, not ZESP_ESADDIR: the flag is what is missing); its
 * owner, who renames whatever the mode, must be this user, root or the
 * SAD's owner.
 */
#define ZESP_SAD_CREATE 0x1
/* This process keeps its own replay windows for every SA it receives on,
 * as if each had ZESP_SA_PER_PROCESS_WINDOW: a process-wide override for
 * subscribers on SAs installed without the flag.  Without either a message
 * is accepted once per host (load-balanced workers).  The SA's flag is the
 * better place: it describes the traffic, and every process honours it.
 * Counters and lifetimes stay shared. */
#define ZESP_SAD_OWN_WINDOWS 0x2
/* Accept (and with ZESP_SAD_CREATE, make) a SAD its group may read and
 * write: the host's processes of one group share it. */
#define ZESP_SAD_GROUP 0x4
zesp_sad *zesp_sad_new(const zesp_sad_opts *opts);
zesp_sad *zesp_sad_open(const char *path, int flags, const zesp_sad_opts *opts);
void zesp_sad_free(zesp_sad *sad);
const char *zesp_sad_default_path(void);
const char *zesp_sad_path(const zesp_sad *sad);  /* "" if private */
void zesp_sad_set_acquire_timeout(zesp_sad *sad, uint32_t ms);
/* Remove SAs past a hard lifetime, wiping their keys; returns how many. */
int zesp_sad_expire(zesp_sad *sad);
/* Remove every SA and policy. */
int zesp_sad_flush(zesp_sad *sad);
/*
 * The state directory where this handle's zesp_sa_add(ZESP_SA_MANUAL)
 * keeps records (NULL: the default again).  A SAD keeps the records of all
 * its manual SAs in one directory, the one its first manual SA named, so
 * that every process sending on them writes the same records; a different
 * one is refused (ZESP_ESTATEDIR).  zesp_state_dir_default: $ZESP_STATE_DIR,
 * else /var/lib/zesp for root, else $XDG_STATE_HOME/zesp, else
 * ~/.local/state/zesp.  zesp_state_dir_init makes it (mode 0700, missing
 * parents too) or checks an existing one: a missing directory is never
 * made implicitly, since one lost must not silently restart the numbering.
 */
int zesp_sad_set_state_dir(zesp_sad *sad, const char *dir);
const char *zesp_state_dir_default(void);
int zesp_state_dir_init(const char *dir);
/* Check that every slot is free or a whole SA and the index matches;
 * repairs what a writer killed mid-change left, as any writer does. */
int zesp_sad_verify(zesp_sad *sad);

/* A group inbound SA is added once per sender (params.sender_id); an SPI is
 * either pairwise or group in one direction.  zesp_sa_del removes a
 * pairwise SA, or a group SA with every sender's window.  A ZESP_SA_MANUAL
 * key that an SA of the other direction holds, or ever held in the state
 * directory's records, on another SPI is refused (ZESP_EKEYREUSE): one key
 * serves both directions only on one SPI (a loop back), or as group SAs
 * apart by Sender ID (doc/sad.md). */
int zesp_sa_add(zesp_sad *sad, const zesp_sa_params *params);
int zesp_sa_del(zesp_sad *sad, uint32_t spi, uint32_t direction);
/* The pairwise SA, the group outbound SA, or for a group inbound SA the
 * window of its lowest Sender ID; _sender names the sender. */
int zesp_sa_info_get(zesp_sad *sad, uint32_t spi, uint32_t direction,
                     zesp_sa_info *info);
int zesp_sa_info_get_sender(zesp_sad *sad, uint32_t spi, uint32_t direction,
                            uint32_t sender_id, zesp_sa_info *info);
int zesp_sad_stats_get(zesp_sad *sad, zesp_sad_stats *stats);
/* Calls fn for each SA until fn returns non-zero (which is returned). */
int zesp_sa_foreach(zesp_sad *sad,
                    int (*fn)(const zesp_sa_info *info, void *arg), void *arg);
/* The SA's KEYMAT, only for whoever explicitly asks (zesp sa show --key). */
int zesp_sa_key_get(zesp_sad *sad, uint32_t spi, uint32_t direction,
                    uint8_t key[ZESP_KEYBYTES]);

/*
 * Policies (the SPD): a name the application sends on, served by one
 * outbound SA at a time, and the inbound SAs accepted for it.  Rekeying
 * swaps the outbound SA atomically; old inbound SAs stay until deleted.
 */
typedef struct zesp_policy {
    char name[ZESP_NAME_MAX];
    char peer[ZESP_PEER_MAX];
    uint32_t out_spi;                       /* 0: none yet */
    uint32_t in_spi[ZESP_POLICY_IN_MAX];    /* 0: unused */
    uint32_t flags;                         /* ZESP_POLICY_* */
    uint64_t acquire;                       /* when an SA was asked for */
    /* Read only: messages refused under the policy's SAs since it was
     * made, by kind (enum zesp_rejection), across rekeys. */
    uint64_t rejected[ZESP_REJ_COUNT];
} zesp_policy;

/* zesp_policy.flags.  ZESP_POLICY_PER_PROCESS_WINDOW: the inbound SAs
 * installed for the policy (by zike, by a YAML file) get
 * ZESP_SA_PER_PROCESS_WINDOW; the data path reads the SA's flag alone. */
#define ZESP_POLICY_PER_PROCESS_WINDOW 0x1U
/* ZESP_POLICY_INTEGRITY_ONLY: the policy may be served by integrity-only
 * (NULL) SAs, whose bodies travel in clear.  zesp_policy_set sets it when
 * every SA the policy lists that is in the SAD authenticates only, and
 * refuses a policy listing both kinds (ZESP_EPOLICY); without it a NULL SA
 * is refused as the policy's outbound SA and, on receipt, as an inbound
 * one (ZESP_EPOLICY): a policy whose SAs encrypt never gets less. */
#define ZESP_POLICY_INTEGRITY_ONLY 0x2U

/* zesp_policy_set: EINVAL for a bad name (empty, too long, a byte that is
 * not printable ASCII or a space), a peer with no NUL, an unknown flag,
 * or an inbound SPI listed twice (the SA meant in the second place would
 * be on no policy). */
int zesp_policy_set(zesp_sad *sad, const zesp_policy *policy);
int zesp_policy_get(zesp_sad *sad, const char *name, zesp_policy *policy);
int zesp_policy_del(zesp_sad *sad, const char *name);
int zesp_policy_set_out(zesp_sad *sad, const char *name, uint32_t spi);
int zesp_policy_acquire_done(zesp_sad *sad, const char *name);
int zesp_policy_foreach(zesp_sad *sad,
                        int (*fn)(const zesp_policy *policy, void *arg),
                        void *arg);

/*
 * Configuration (YAML, doc/configuration.md): SAs and policies for manual
 * keying.  Everything is checked before anything is applied; the SAD
 * changes wholly or not at all.  On failure errno is ZESP_ECONFIG (or a
 * system code) and err, if given, says "FILE:LINE:COLUMN: FIELD: what".
 */
int zesp_config_load(zesp_sad *sad, const char *path, char *err,
                     size_t errlen);
int zesp_config_check(const char *path, char *err, size_t errlen);
/* The file's sad: section (what `zesp load` opens): its path, relative
 * to the file's folder if relative ("" if it names none), and its mode
 * and group into opts (fields it leaves out are left as they were). */
int zesp_config_sad(const char *path, char *sad_path, size_t sad_path_len,
                    zesp_sad_opts *opts, char *err, size_t errlen);

/*
 * Sending.  The message on the wire is envelope frames (untouched: ROUTER
 * identities to route by), clear frames (authenticated, readable), and one
 * ESP frame carrying the body frames encrypted (authenticated only for the
 * NULL transforms).  The body is encrypted once, straight into the buffer
 * ZeroMQ sends.  Such buffers of 64 KiB to 4 MiB are kept for reuse once
 * ZeroMQ is done with them, up to 4 in a process (so at most 16 MiB held
 * between messages): a fresh megabyte costs more than encrypting it.
 * A message goes whole: a signal that interrupts it after its first frame
 * does not stop it (ZeroMQ cannot take frames back), so EINTR means that
 * nothing was sent, and the message may be sent again.  So does EAGAIN,
 * also when a peer went away while the message went to it.
 */
typedef struct zesp_parts {
    const zesp_frame *envelope;
    size_t nenvelope;
    const zesp_frame *clear;
    size_t nclear;
    const zesp_frame *body;
    size_t nbody;
} zesp_parts;

int zesp_send(zesp_sad *sad, uint32_t spi, void *socket,
              const zesp_parts *parts, int flags);
/* The same on a policy's current outbound SA.  With no SA, an ACQUIRE is
 * raised for the key daemon and the call fails with ZESP_EACQUIRE, at once
 * (ZESP_DONTWAIT, or no acquire timeout) or when the timeout passes. */
int zesp_send_policy(zesp_sad *sad, const char *policy, void *socket,
                     const zesp_parts *parts, int flags);

/*
 * Receiving.  zesp_recv reads one whole multipart message from the socket
 * and verifies it; on success msg holds the envelope, the clear frames, the
 * decrypted body frames and the SA it came under.  The frames stay valid
 * until msg is reused or freed.  The body is decrypted in the buffer
 * ZeroMQ read it into from a connection (tcp, ipc: no copy), unless
 * ZeroMQ shares that buffer with other messages (ZMQ_SHARED: a PUB's
 * fan-out to several subscribers of one process), or the frame came over
 * inproc, where ZeroMQ hands over the sender's own buffer: then it is
 * decrypted into memory of msg, so that every receiver reads what was
 * sent and the sender's bytes stay the ciphertext.  On a rejection, the message is consumed,
 * errno tells why, and the SA's counter for that reason is incremented.
 * A signal after the first frame does not stop the read: EINTR means that
 * nothing was read, and the next receive starts at a message's first frame.
 * A refused message was read all the same: a REP socket then waits for its
 * reply (ZeroMQ's EFSM on the next receive), as for an accepted request.
 * On a SUB or XSUB socket, which ZeroMQ filters on the first frame, every
 * frame before the ESP frame must be a clear frame the sender bound:
 * another put in front of them is ZESP_EBINDING.
 * The decrypted body that libzesp holds (in ZeroMQ's frame read for msg
 * alone, or in msg's own memory) is wiped (sodium_memzero) when msg is
 * reused by the next receive or freed: copy what must outlive it.  Not
 * the caller's copies, nor the buffer zesp_open decrypted in place (the
 * caller's: its to wipe).
 */
zesp_msg *zesp_msg_new(void);
void zesp_msg_free(zesp_msg *msg);
/*
 * The checked form (RFC 4301 5.2): a message is accepted only under an
 * inbound SA that serves the policy named (one of its inbound SPIs);
 * under any other SA of the host, another peer's or another group's, it
 * is refused with ZESP_EPOLICY before any decryption, and counted.  A
 * policy that does not exist is ZESP_ENOPOLICY.  Receive this way.
 */
int zesp_recv_policy(zesp_sad *sad, const char *policy, void *socket,
                     zesp_msg *msg, int flags);
/* The unchecked form: any inbound SA of the SAD will do, so any peer or
 * group member that holds one (for any policy of this host) can deliver
 * to this socket.  For a SAD that holds only this socket's SAs. */
int zesp_recv(zesp_sad *sad, void *socket, zesp_msg *msg, int flags);

size_t zesp_msg_envelope_count(const zesp_msg *msg);
zesp_frame zesp_msg_envelope(const zesp_msg *msg, size_t i);
size_t zesp_msg_clear_count(const zesp_msg *msg);
zesp_frame zesp_msg_clear(const zesp_msg *msg, size_t i);
size_t zesp_msg_body_count(const zesp_msg *msg);
zesp_frame zesp_msg_body(const zesp_msg *msg, size_t i);
uint32_t zesp_msg_spi(const zesp_msg *msg);
uint64_t zesp_msg_seq(const zesp_msg *msg);
/* Group SAs: the sender's Sender ID (0 for pairwise SAs).  Only with
 * ZESP_SA_SIGNED or ZESP_SA_SOURCE_MAC is the sender proven; otherwise any
 * member could claim it. */
uint32_t zesp_msg_sender_id(const zesp_msg *msg);
const char *zesp_msg_peer(const zesp_msg *msg);

/*
 * Socket-free forms, for brokers and tools that hold frames themselves.
 * zesp_seal writes the ESP frame for parts->clear and parts->body (the
 * envelope is ignored) into a new buffer of *out_size bytes that the caller
 * releases with zesp_buf_free.  zesp_open verifies a message given as its
 * frames (the last one the ESP frame), in place: the ESP frame's bytes are
 * decrypted where they are, so they must be the caller's alone (never a
 * buffer another message or thread may be reading).  A frame refused
 * once decrypted (a clear frame that does not match its binding, a bad
 * source MAC) has what was decrypted wiped: keep a copy of a frame you
 * may want to pass on unopened.  zesp_open cannot know the socket: frames
 * read from a SUB socket were delivered on their first frame, so require
 * zesp_msg_envelope_count(msg) == 0 there, as zesp_recv does.
 */
int zesp_seal(zesp_sad *sad, uint32_t spi, const zesp_parts *parts,
              uint8_t **out, size_t *out_size);
/* The same on a policy's current outbound SA, with ACQUIRE and waiting as
 * zesp_send_policy (flags: ZESP_DONTWAIT): e.g. the inner frame of an SA
 * bundle, or a broker protecting the next hop. */
int zesp_seal_policy(zesp_sad *sad, const char *policy,
                     const zesp_parts *parts, uint8_t **out,
                     size_t *out_size, int flags);
void zesp_buf_free(uint8_t *buf);
int zesp_open(zesp_sad *sad, const zesp_frame *frames, size_t nframes,
              uint8_t *esp, size_t esp_size, zesp_msg *msg);
/* zesp_open checked against a policy, as zesp_recv_policy. */
int zesp_open_policy(zesp_sad *sad, const char *policy,
                     const zesp_frame *frames, size_t nframes, uint8_t *esp,
                     size_t esp_size, zesp_msg *msg);

/*
 * Checking origin without reading (doc/wire-format.md 9.6).  A proxy or
 * broker that holds the public keys of a signed group's senders, and no
 * group key, checks each message before it forwards it: the signature
 * after the ESP frame's ICV covers the whole frame, so a forgery (a
 * member posing as another sender), a frame changed on the way and a
 * malformed one are dropped there and never reach a receiver.  Receivers
 * still check everything themselves (replays included: a verifier keeps
 * no replay window, and sees no clear-frame binding).
 *
 * A zesp_verifier holds (SPI, Sender ID, Ed25519 public key) entries,
 * added one by one or from a YAML file of senders
 * (doc/configuration.md).  An entry under ZESP_SPI_ANY holds for the
 * Sender ID under every SPI, for a group whose key server gives each new
 * key a new SPI (zikectl senders prints one); a genuine frame of another
 * group under that Sender ID and key passes then, and its receivers refuse
 * it for its ICV.  A Sender ID has one entry under ZESP_SPI_ANY, or
 * entries under SPIs, not both.  Once filled, any number of threads may verify
 * at once (adding is not safe meanwhile).  zesp_verify takes a message's
 * frames, the ESP frame last, and returns 0 and the Sender ID, or -1 with
 * errno ZESP_EMALFORMED (no frame, or one too short for a signed frame
 * or not whole 4-octet words), ZESP_ENOSA (a sender it holds no key for)
 * or ZESP_ESIGNATURE; each outcome is counted.  It reads the frames only.
 */
typedef struct zesp_verifier zesp_verifier;
typedef struct zesp_verifier_stats {
    uint64_t senders;                   /* public keys held */
    uint64_t verified;                  /* frames that passed */
    uint64_t rejected[ZESP_REJ_COUNT];  /* by kind: malformed, nosa,
                                           signature */
} zesp_verifier_stats;
zesp_verifier *zesp_verifier_new(void);
void zesp_verifier_free(zesp_verifier *v);
/* SPI 0 is reserved on the wire: here it means any SPI. */
#define ZESP_SPI_ANY 0U
/* EINVAL for a Sender ID out of 1..ZESP_SENDER_ID_MAX or a public key that
 * is no Ed25519 point; ZESP_EEXIST for one (SPI, Sender ID) twice, and for
 * a Sender ID under ZESP_SPI_ANY and another SPI. */
int zesp_verifier_add(zesp_verifier *v, uint32_t spi, uint32_t sender_id,
                      const uint8_t pk[ZESP_SIGN_PUBLICBYTES]);
/* The senders of a YAML file, all or none; errors as zesp_config_load. */
int zesp_verifier_load(zesp_verifier *v, const char *path, char *err,
                       size_t errlen);
int zesp_verify(zesp_verifier *v, const zesp_frame *frames, size_t nframes,
                uint32_t *sender_id);
int zesp_verifier_stats_get(zesp_verifier *v, zesp_verifier_stats *stats);

/*
 * Frame-level ESP (RFC 4303 with any Next Header), e.g. to carry an IP
 * packet or to check a third-party implementation.  out needs
 * zesp_esp_bytes(len) bytes; payload may lie in it.  On failure *out_len
 * is 0, and if the SA was replaced during the call (ZESP_ENOSA) those
 * bytes are zeroed: a frame sealed there would reuse a nonce of the new
 * SA.  zesp_esp_decrypt works in place and points *payload into pkt; a
 * packet refused after its ICV verified (bad padding) is left wiped.
 */
size_t zesp_esp_bytes(size_t payload_len);
int zesp_esp_encrypt(zesp_sad *sad, uint32_t spi, const void *payload,
                     size_t len, uint8_t next_header, uint8_t *out,
                     size_t *out_len);
int zesp_esp_decrypt(zesp_sad *sad, uint8_t *pkt, size_t len,
                     uint8_t **payload, size_t *payload_len,
                     uint8_t *next_header, uint32_t *spi, uint64_t *seq);

#ifdef __cplusplus
}
#endif
#endif /* ZESP_H */
