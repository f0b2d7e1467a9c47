/*
 * zike, the key daemon: its configuration, its IKE SAs and child SAs, and
 * the event loop that carries IKE messages over ZeroMQ (listen, read by
 * listen.c, for requests; a DEALER per peer for the requests it sends).
 */
#ifndef ZESP_ZIKE_H
#define ZESP_ZIKE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ike_crypto.h"
#include "ikev2.h"
#include "zesp.h"

#define ZIKE_MAX_PEERS 256U
#define ZIKE_MAX_POLICIES 16U          /* per peer */
#define ZIKE_ENDPOINT_MAX 256U
#define ZIKE_PSK_MAX 128U
/* Child SAs a peer may hold, by default, per policy it serves: the live
 * one, the one it replaces during the overlap, one left by a restart, one
 * being made. */
#define ZIKE_CHILD_SAS_PER_POLICY 4U
/* IKE SAs a peer may hold at once: the live one, one it rekeyed whose
 * DELETE is on its way, and one left by a restart or by a simultaneous
 * rekey.  Its IKE SA rekeys past that are refused for now. */
#define ZIKE_IKE_SAS_PER_PEER 3U

enum zike_auth { ZIKE_AUTH_PSK = 1, ZIKE_AUTH_ED25519 };

struct zike_peer {
    char name[ZESP_PEER_MAX];          /* the peer in the SAD's SAs */
    char endpoint[ZIKE_ENDPOINT_MAX];  /* "": it initiates, we answer */
    char id[IKE_ID_MAX + 1];           /* its IKE identity */
    enum zike_auth auth;
    uint8_t *psk;                      /* locked memory, psk_len bytes */
    size_t psk_len;
    uint8_t pubkey[crypto_sign_PUBLICKEYBYTES];
    uint16_t ike_encr;                 /* IKE_ENCR_*; 0: negotiated */
    uint32_t esp_transform;            /* enum zesp_transform; 0: negotiated */
    bool esn;
    bool lanes;                        /* child SAs with lanes if both agree */
    bool start;                        /* initiate as soon as zike runs */
    uint32_t dpd_seconds;              /* 0: no liveness checks */
    zesp_lifetime child_life;          /* hard; soft is derived, jittered */
    uint32_t ike_lifetime;             /* seconds; rekeyed at 80-90 % */
    uint32_t max_child_sas;            /* 0: ZIKE_CHILD_SAS_PER_POLICY each */
    char policies[ZIKE_MAX_POLICIES][ZESP_NAME_MAX];
    uint32_t policy_flags[ZIKE_MAX_POLICIES]; /* ZESP_POLICY_* each */
    size_t npolicies;
};

/* A group this zike serves as group key server (GCKS). */
#define ZIKE_MAX_GROUPS 32U
#define ZIKE_GROUP_MEMBERS_MAX 64U
/* rekey-holddown's default (s): longer than the default delays (1 s +
 * 5 s), so that the SAs one member's loop has members install retire
 * before it can make more; short beside the time a member whose IKE SA
 * died takes to be found dead and come back. */
#define ZIKE_GROUP_REKEY_HOLDDOWN 10U
/* Without max-key-lifetime (s): how long a member keeps a group key its
 * key server gave no KEY_LIFETIME for (RFC 9838 makes it optional), or
 * one longer than any a zike key server gives, when no new key comes. */
#define ZIKE_JOIN_MAX_KEY_LIFETIME 86400U
/* The longest group key lifetime a zike key server gives (s). */
#define ZIKE_GROUP_LIFETIME_MAX (30U * 86400U)
/* How receivers know which member sent (source-auth). */
enum zike_source_auth {
    ZIKE_SOURCE_AUTH_NONE,
    ZIKE_SOURCE_AUTH_SIGNATURE,        /* each sender signs (Ed25519) */
    ZIKE_SOURCE_AUTH_MAC,              /* a MAC per receiver, pairwise keys */
};
struct zike_group_sender {
    char id[IKE_ID_MAX + 1];
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES]; /* with source-auth */
};
struct zike_group_receiver {
    char id[IKE_ID_MAX + 1];
    /* Source MACs: the member ID its entry in each message has (a
     * sender's is its Sender ID) and its identity public key. */
    uint16_t member_id;
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
};
struct zike_group {
    char name[ZESP_NAME_MAX];
    uint32_t transform;
    uint32_t lifetime;                 /* seconds: rekeyed at 80-90 % */
    uint16_t atd, dtd;                 /* activation, deactivation delays (s) */
    enum zike_source_auth source_auth;
    bool rekey_on_join;                /* a newcomer never gets a used key */
    uint16_t rekey_holddown;           /* s: a member that made a new key
                                          may not make another before (0:
                                          no bound) */
    struct zike_group_sender senders[ZIKE_GROUP_MEMBERS_MAX];
    size_t nsenders;                   /* Sender ID = index + 1 */
    struct zike_group_receiver receivers[ZIKE_GROUP_MEMBERS_MAX];
    size_t nreceivers;
};

/* A group this zike is a member of. */
struct zike_join {
    char group[ZESP_NAME_MAX];
    char server[ZESP_PEER_MAX];        /* the GCKS, one of the peers */
    char policy[ZESP_NAME_MAX];        /* the SAD policy it serves */
    bool sender, receiver;
    uint8_t *sign_sk;                  /* source-auth key, locked, or NULL:
                                          signs, or derives source MAC keys */
    uint32_t policy_flags;             /* ZESP_POLICY_* */
    uint32_t max_key_lifetime;         /* s, 0: not set (gm_bound_lifetime) */
    unsigned source_auth_accepts;      /* 1 << ZIKE_SOURCE_AUTH_*: what the
                                          key server's group may offer */
};
/* Every source-auth a group may offer a member that requires none. */
#define ZIKE_SOURCE_AUTH_ANY                                               \
    ((1U << ZIKE_SOURCE_AUTH_NONE) | (1U << ZIKE_SOURCE_AUTH_SIGNATURE) |  \
     (1U << ZIKE_SOURCE_AUTH_MAC))

struct zike_conf {
    char file[4096];
    char id[IKE_ID_MAX + 1];
    uint8_t *sign_sk;                  /* Ed25519 secret, locked; or NULL */
    char listen[ZIKE_ENDPOINT_MAX];
    char control[ZIKE_ENDPOINT_MAX];
    bool control_unauthenticated;      /* a control: other than ipc:// */
    char sad_path[4096];
    zesp_sad_opts sad_opts;       /* sad: mode and group */
    char group_state[4096];            /* the key server's SPIs (group.c) */
    char metrics[ZIKE_ENDPOINT_MAX];   /* http://HOST:PORT, "": none */
    char metrics_host[ZIKE_ENDPOINT_MAX];
    char metrics_port[8];
    int log_level;                     /* LOG_ERR .. LOG_DEBUG */
    uint32_t retransmit_ms;            /* first timeout */
    uint32_t retransmit_tries;
    uint32_t half_open_limit;          /* cookies above this */
    uint32_t half_open_per_source;     /* per source address, then dropped */
    uint32_t half_open_ms;             /* a half-open SA is dropped after */
    uint32_t max_connections;          /* to listen, all sources */
    uint32_t connections_per_source;   /* to listen, per source address */
    uint32_t unauthenticated_ms;       /* one no IKE SA vouches for is
                                          closed this long after it opened
                                          or lost its mark (0: kept) */
    uint32_t max_ike_sas;
    uint32_t rekey_overlap_ms;         /* old SAs kept after a rekey */
    struct zike_peer *peers;
    size_t npeers;
    struct zike_group *groups;
    size_t ngroups;
    struct zike_join *joins;
    size_t njoins;
};

/* conf_load.c: 0, or -1 with "FILE:LINE:COL: field: what" in err. */
int zike_conf_load(const char *path, struct zike_conf *conf, char *err,
                   size_t errlen);
void zike_conf_free(struct zike_conf *conf);

/* zike_config.c: the lookups, and for conf_load.c and group_config.c the
 * main part and its field readers. */
const struct zike_peer *zike_conf_peer_by_id(const struct zike_conf *conf,
                                             const uint8_t *id, size_t len);
const struct zike_peer *zike_conf_peer(const struct zike_conf *conf,
                                       const char *name);
/* Is endpoint an ipc:// socket file (not ipc://@NAME, abstract)? */
bool zike_endpoint_is_file(const char *endpoint);
/* Is policy one of the peer's policies? */
bool zike_conf_serves(const struct zike_peer *peer, const char *policy);
/* The policy's ZESP_POLICY_* flags: those of every peer's and join's entry
 * that names it. */
uint32_t zike_conf_policy_flags(const struct zike_conf *conf,
                                const char *policy);
/* The flags the policy's inbound SAs get (ZESP_SA_PER_PROCESS_WINDOW). */
uint32_t zike_conf_in_flags(const struct zike_conf *conf, const char *policy);
struct yctx;
struct ydoc_node;
int zike_conf_main(struct yctx *y, struct zike_conf *c);
int zike_conf_text(struct yctx *y, const struct ydoc_node *n,
                   const char *field, char *out, size_t outlen);
int zike_conf_sign_key(struct yctx *y, const struct ydoc_node *n,
                       const char *field, uint8_t **sk);
/* replay-scope: host or process, as ZESP_POLICY_* flags. */
int zike_conf_replay_scope(struct yctx *y, const struct ydoc_node *n,
                           const char *field, uint32_t *policy_flags);

/* group_config.c: the groups served and joined. */
int zike_conf_groups(struct yctx *y, const struct ydoc_node *root,
                     struct zike_conf *c);
const struct zike_group *zike_conf_group(const struct zike_conf *conf,
                                         const char *name);
/* A source-auth value's name: false, signature or mac. */
const char *zike_source_auth_name(enum zike_source_auth a);

/* Logging to stderr with levels (syslog's numbers); -v sets
 * zike_log_verbose, debug whatever the configuration says. */
void zike_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
extern int zike_log_level;
extern bool zike_log_verbose;

#endif
