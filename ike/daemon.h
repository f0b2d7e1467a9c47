/*
 * zike's state: IKE SAs, the child SAs each one keeps in the SAD, and the
 * request each has in flight, and the functions of each file, layer by
 * layer (doc/zike.md 11): dispatch.c and timers.c know every exchange;
 * each exchange uses only the dispatcher's interface and the child SA
 * helpers below it.  zike.c, sockets.c and reload.c are the program.
 */
#ifndef ZESP_IKE_DAEMON_H
#define ZESP_IKE_DAEMON_H

#include <string.h>

#include "gcks_state.h"
#include "proposals.h"
#include "zike.h"

#define ROUTE_ID_MAX 256U
#define ROUTE_ADDR_MAX 64U
#define REQUEST_DIGEST_BYTES 32U

/* Where messages to a peer go: our link to it (rid_len 0) or a connection to our
 * listen endpoint (zmtp: listen.c frames what is sent), by the routing id
 * libzmq gave it.  addr: the connection's source address (libzmq's
 * Peer-Address), "" if unknown. */
struct route {
    void *sock;
    uint8_t rid[ROUTE_ID_MAX];
    size_t rid_len;
    bool zmtp;
    char addr[ROUTE_ADDR_MAX];
};

struct child_sa {
    struct child_sa *next;
    char policy[ZESP_NAME_MAX];
    uint32_t spi_in, spi_out;
    uint32_t transform;
    bool esn;
    bool lanes;               /* both SAs ZESP_SA_LANES */
    bool conf_esn, conf_lanes;/* the peer's esn and lanes when it was made:
                                 a reload that changes one rekeys it */
    bool out_active;          /* the policy sends on spi_out */
    bool rekeyed;             /* a newer child replaces this one */
    bool want_rekey;          /* asked for by the control socket */
    bool unplugged;           /* out of the SAD already, its DELETE due */
    uint64_t rekey_after;     /* not before (ms): a refused rekey waits */
    /* Responder of a rekey: the policy moves to spi_out once the peer
     * is known to hold the child (install.c, child_peer_progressed), at
     * the latest at activate_at (ms; 0: nothing pending). */
    uint64_t activate_at;
    uint32_t answered_mid;    /* the request we answered with it */
    bool peer_holds;          /* a later request of the peer's came */
    bool lingering;           /* DELETE done: its inbound SA stays a while */
    uint32_t yields_to;       /* retires once the child with this spi_in
                                 carries the policy (0: none) */
    uint64_t retire_at;       /* delete it then (ms); 0: live */
    uint64_t installed_at;    /* ms */
    /* Made by a rekey of ours, answered: the child it replaced (our
     * inbound SPI) and the lower of that exchange's two nonces, so that
     * the peer's rekey of that child, crossing ours and coming after it
     * completed, is met by 2.8.1 (child_create.c).  Once: 0 after. */
    uint32_t replaced_spi_in;
    uint8_t low_nonce[IKE_NONCE_MAX];
    size_t low_nonce_len;
};

/* What the peer of an IKE SA authenticated with (ike_sa_cred.c): never the
 * key itself, a digest of it. */
#define IKE_CRED_DIGEST_BYTES 32U
struct ike_cred {
    char id[IKE_ID_MAX + 1];
    enum zike_auth auth;      /* 0: not authenticated (yet) */
    uint8_t digest[IKE_CRED_DIGEST_BYTES];
};

enum ike_state {
    IKE_ST_INIT_SENT = 1,     /* initiator, waiting for IKE_SA_INIT reply */
    IKE_ST_HALF_OPEN,         /* responder, waiting for IKE_AUTH */
    IKE_ST_AUTH_SENT,
    IKE_ST_ESTABLISHED,
    IKE_ST_DELETING,
    IKE_ST_DEAD,              /* to be freed */
};

enum req_kind {
    REQ_NONE = 0, REQ_INIT, REQ_AUTH, REQ_CHILD, REQ_DELETE_CHILD,
    REQ_DELETE_IKE, REQ_DPD, REQ_IKE_REKEY,
    REQ_GSA_REGISTER, REQ_GSA_LEAVE, REQ_GSA_PUSH,
};

/* Nonces compared as octet strings, to settle simultaneous rekeys (RFC
 * 7296 2.8.1, 2.8.2). */
static inline int ike_nonce_cmp(const uint8_t *a, size_t alen,
                                const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    return c ? c : (alen > blen) - (alen < blen);
}

/* What a child SA request offered of the peer's configuration: an answer
 * that fits it but not the configuration now came after a reload. */
struct child_offer {
    uint32_t esp;
    bool esn, lanes;
};

/* Our request in flight (a window of one, RFC 7296 2.3). */
struct request {
    enum req_kind kind;
    uint8_t exchange;         /* its exchange type: the response's must match */
    uint8_t *buf;
    size_t len;
    uint32_t mid;
    uint32_t tries;
    uint64_t sent_at;         /* ms: first sent */
    uint64_t resend_at;
    /* CREATE_CHILD_SA: */
    char policy[ZESP_NAME_MAX];
    uint32_t spi_in;
    uint32_t old_spi_in;      /* 0: a new child, not a rekey */
    struct child_offer offer; /* and IKE_AUTH's child SA */
    uint8_t nonce[IKE_NONCE_BYTES];
    uint8_t dh_priv[IKE_X25519_BYTES];
    uint8_t dh_pub[IKE_X25519_BYTES];
    /* A rekey of ours whose child the peer rekeyed meanwhile, answered
     * (2.8.1): the child that made (our inbound SPI), and the lower of
     * that exchange's two nonces. */
    uint32_t coll_spi_in;
    uint8_t coll_nonce[IKE_NONCE_MAX];
    size_t coll_nonce_len;
    uint32_t del_spi;         /* REQ_DELETE_CHILD */
    uint8_t new_spi[8];       /* REQ_IKE_REKEY: the new IKE SA's SPIi */
    uint16_t ike_aead;        /* REQ_IKE_REKEY: the AEAD offered */
    char group[ZESP_NAME_MAX];/* REQ_GSA_*: the group */
    bool gsa_sender;          /* REQ_GSA_REGISTER: asked to send */
    uint32_t gsa_spi;         /* REQ_GSA_PUSH: the group SA pushed */
};

struct ike_sa {
    struct ike_sa *next;
    char peer_name[ZESP_PEER_MAX]; /* "" until the responder knows it */
    bool initiator;
    enum ike_state state;
    uint8_t spi_i[8], spi_r[8];
    uint8_t ni[IKE_NONCE_MAX], nr[IKE_NONCE_MAX];
    size_t ni_len, nr_len;
    uint8_t dh_pub[IKE_X25519_BYTES];
    uint8_t *msg1, *msg2;           /* IKE_SA_INIT request and response */
    size_t msg1_len, msg2_len;
    uint8_t cookie[64];
    size_t cookie_len;
    uint32_t init_ignored;          /* IKE_SA_INIT answers not acted on */
    uint16_t init_error;            /* the last error notify among them */
    struct ike_keys *keys;          /* from the start: dh_priv lives there */
    uint64_t iv_counter;
    uint32_t mid_out, mid_in;
    struct request req;
    uint8_t *resp;                  /* last response, for retransmits */
    size_t resp_len;
    uint32_t resp_mid;
    /* BLAKE2b of the request it answers: a retransmission is that request
     * byte for byte (RFC 7296 2.1), anything else with its ID is not. */
    uint8_t resp_req_digest[REQUEST_DIGEST_BYTES];
    struct route route;
    struct route listen_route;      /* the connection to listen its
                                       authenticated peer spoke over last
                                       (sock NULL: none), where requests
                                       go if a reload takes the peer's
                                       endpoint away */
    bool marks_listen;              /* its listen_route's connection is
                                       authentic for it (listen_mark.c) */
    uint64_t created, last_heard;
    uint64_t established_at;        /* ms; 0: not (yet) */
    struct child_sa *children;
    struct ike_cred cred;           /* the peer's, when AUTH verified */
    char auth_policy[ZESP_NAME_MAX];
    uint32_t auth_spi_in;
    bool want_delete;
    bool want_ike_rekey;            /* asked for by the control socket */
    uint64_t rekey_at;              /* ms: rekey this IKE SA (0: never) */
    bool superseded;                /* rekeyed: waits for its DELETE */
    char retry_policy[ZESP_NAME_MAX]; /* a new child to ask for again */
    uint64_t retry_at;              /* ms: then */
    bool link_check;                /* our link to the peer came back: a
                                       new request of ours is owed on it */
};

/* Key server: a group's current SA and who holds it (group.c). */
struct gcks_member {
    char peer[ZESP_PEER_MAX];
    bool sender, receiver;
    uint32_t sid;             /* 0: receives only */
    uint32_t have_spi;        /* the newest group SA it acknowledged */
    uint32_t given_spi;       /* the newest it was sent (answer or push) */
    uint8_t given_on[16];     /* over the IKE SA of these SPIs (i, r) */
    uint64_t push_after;      /* ms: after a refused push, wait */
    uint32_t push_backoff;    /* ms: the wait after its next refusal
                                 (0: GROUP_RETRY_MS), doubling */
    uint16_t push_refused;    /* the error of the refusal last said (0:
                                 none since a push was taken) */
    bool rejoin;              /* a reload changed its Sender ID or took its
                                 sender role: it gets no key until it
                                 registers again, and is told to */
};

/* A member made a new key (it joined under rekey-on-join, registered
 * again as a sender, left or died) at `at`: until rekey-holddown after,
 * its registrations that would make one, or make it a member whose leave
 * would, are refused for now.  By peer name, so that new IKE SAs do not
 * reset it; a slot past its hold-down is free. */
struct gcks_holddown {
    char peer[ZESP_PEER_MAX];  /* "": a free slot */
    uint64_t at;               /* ms */
};

/* Key server: a group SA a newer one replaced, which members may hold
 * until its lifetime ends (retiring after the delays, or current at one
 * that missed the push).  A member refuses another key under an SPI it
 * holds, so no new key of any group is made under it before then. */
#define GCKS_PAST_SPIS 8U
struct gcks_past_spi {
    uint32_t spi;
    uint64_t held_until;      /* ms: its key's lifetime ends */
};

struct gcks_group {
    char name[ZESP_NAME_MAX];
    uint32_t spi;             /* the current group SA */
    struct gcks_past_spi past[GCKS_PAST_SPIS];
    uint8_t *key;             /* its KEYMAT, locked memory */
    uint64_t created, rekey_at;
    uint64_t sids_issued;     /* bit sid-1: handed out with this key */
    uint8_t policy_sum[16];   /* of the configuration the key was made for */
    struct gcks_member members[2 * ZIKE_GROUP_MEMBERS_MAX];
    size_t nmembers;
    uint64_t rekeys;
    /* one per peer the group allows, at most (peer ids are unique) */
    struct gcks_holddown holddowns[2 * ZIKE_GROUP_MEMBERS_MAX];
};

/* Member: the group SAs installed for a joined group (group.c). */
#define GM_SAS_MAX 3U
#define GM_RETIRED_MAX 16U
#define GM_KEY_SUM_BYTES 16U
struct gm_sa {
    uint32_t spi;
    uint64_t activate_at;     /* ms: our policy sends on it then (0: done) */
    uint64_t retire_at;       /* ms: removed then (0: current) */
    uint64_t expire_at;       /* ms: its hard lifetime ends (0: seen to) */
    bool summed;              /* key_sum holds its key's digest */
    uint8_t key_sum[GM_KEY_SUM_BYTES];
};

/* A group SA a newer one replaced and that was removed: its key never
 * comes back (new replay windows would accept every message again). */
struct gm_retired {
    uint32_t spi;
    uint8_t key_sum[GM_KEY_SUM_BYTES];
};

struct gm_group {
    char name[ZESP_NAME_MAX];
    bool registered;          /* holds the group's current key */
    bool want_leave;
    char server[ZESP_NAME_MAX]; /* the peer its group SAs came from */
    bool sender, receiver;    /* the join's role and policy its SAs are */
    char policy[ZESP_NAME_MAX]; /* installed for */
    uint32_t policy_flags;    /* replay-scope, as ZESP_POLICY_* */
    bool signs;               /* sign-key given: its public half */
    uint8_t sign_pk[ZESP_SIGN_PUBLICBYTES];
    unsigned source_auth_accepts; /* the join's, 1 << ZIKE_SOURCE_AUTH_* */
    unsigned source_auth_refused; /* 1 + the offer refused, logged once */
    uint32_t sid;
    struct gm_sa sas[GM_SAS_MAX];
    struct gm_retired retired[GM_RETIRED_MAX];
    size_t retired_next;      /* the oldest, replaced next */
    uint64_t retry_at;        /* ms: register again not before */
    uint64_t updates;
};

/* A word owed to a peer about a group a reload took away (group.c).
 * Member (leave): its join removed, or changed so that its SAs went, it
 * leaves, so that the key server stops handing it keys and rekeys the
 * others.  Key server: the group no longer served, its member is told to
 * register again (IDg and Delete), which it is then refused
 * (INVALID_GROUP_ID), and it drops the group's SAs. */
struct group_notice {
    char group[ZESP_NAME_MAX];
    char peer[ZESP_PEER_MAX];
    uint32_t spi;             /* key server: the SA the member holds */
    bool leave;
};

/* Why an incoming IKE message was dropped (drop.c): a counter each, shown
 * by zikectl stats as ike_dropped_NAME. */
enum ike_drop {
    IKE_DROP_MALFORMED,       /* does not parse, or not one frame */
    IKE_DROP_UNKNOWN_SA,      /* the SPIs of no IKE SA of ours */
    IKE_DROP_REFLECTED,       /* its I flag or SPIs say we sent it, or
                                 it has our IKE_SA_INIT values */
    IKE_DROP_UNEXPECTED,      /* no request of ours is answered, or the
                                 exchange does not fit the IKE SA's state */
    IKE_DROP_MESSAGE_ID,      /* an old or future message ID */
    IKE_DROP_ICV,             /* no Encrypted payload, or it does not
                                 verify: unauthenticated */
    IKE_DROP_SOURCE_LIMIT,    /* an IKE_SA_INIT from an address that has
                                 half-open-per-source half-open SAs */
    IKE_DROP_FRAMING,         /* a connection to listen that breaks ZMTP
                                 as zike takes it, or stalls in it: closed */
    IKE_DROP_CONNECTION_LIMIT, /* a connection past max-connections or
                                  connections-per-source, when every one
                                  it would displace is authenticated:
                                  closed */
    IKE_DROP_EVICTED,         /* an unauthenticated connection to listen
                                 closed to make room for a new one */
    IKE_DROP_UNAUTHENTICATED, /* a connection to listen that no IKE SA
                                 vouched for (listen_mark.c) within
                                 unauthenticated-timeout of its opening
                                 or of the last one's end: closed */
    IKE_DROP_REASONS
};

struct MHD_Daemon;

/* A log line that a flood could repeat: written at most once a second
 * (drop.c), with how many went unlogged in between. */
struct log_limit {
    uint64_t at;                    /* ms: last logged */
    uint64_t unlogged;              /* since, not logged */
};

/* Lines that an authenticated peer's requests write, as often as it cares
 * to ask: a refusal, or an answer that changes nothing.  Each kind is
 * logged at most once a second (drop.c); what changes state is not. */
enum peer_log {
    PEER_LOG_POLICY_NOT_SERVED,     /* a child SA of a policy not its own */
    PEER_LOG_TS_REFUSED,            /* traffic selectors zike cannot echo */
    PEER_LOG_NO_PFS,                /* CREATE_CHILD_SA without KE */
    PEER_LOG_REKEY_REVOKED,         /* rekey of a child of a policy lost */
    PEER_LOG_CHILD_REKEYED,         /* rekey of a child rekeyed already */
    PEER_LOG_CHILD_LIMIT,           /* at max-child-sas */
    PEER_LOG_SPI_TAKEN,             /* an SPI another SA or policy has */
    PEER_LOG_WHILE_DELETING,        /* a request to an IKE SA going */
    PEER_LOG_IKE_REKEY_WAIT,        /* IKE SA rekey: TEMPORARY_FAILURE */
    PEER_LOG_IKE_REKEY_REFUSED,     /* IKE SA rekey: NO_PROPOSAL_CHOSEN */
    PEER_LOG_GROUP_UNKNOWN,         /* registration: no such group */
    PEER_LOG_GROUP_NOT_ALLOWED,     /* registration: not authorised */
    PEER_LOG_GROUP_NOT_MEMBER,      /* a leave from no member */
    PEER_LOG_GROUP_AGAIN,           /* a member registered again */
    PEER_LOG_GROUP_NOT_SERVED,      /* a push from another key server */
    PEER_LOG_GROUP_TOLD_AGAIN,      /* a push: register again */
    PEER_LOG_GROUP_EARLY,           /* a push before we are registered */
    PEER_LOG_GROUP_MALFORMED,       /* GSA or KD that does not parse */
    PEER_LOG_GROUP_SENDER_ID,       /* no usable Sender ID */
    PEER_LOG_GROUP_UNWRAP,          /* a group key that does not unwrap */
    PEER_LOG_GROUP_SPI_TAKEN,       /* a group SPI another SA's here */
    PEER_LOG_GROUP_NEWEST_AGAIN,    /* a retiring group SA pushed again */
    PEER_LOG_GROUP_KEY_REFUSED,     /* a key under a live or retired SPI */
    PEER_LOG_SAD_FULL,              /* an SA install: ZESP_EFULL */
    PEER_LOG_KINDS
};

/* A connection to the metrics endpoint (metrics_http.c): its socket, and
 * when it began waiting for its request (or for the next one). */
#define METRICS_CONNECTIONS_MAX 16U
struct metrics_conn {
    int fd;                         /* -1: a free slot */
    uint64_t since;                 /* ms, monotonic */
};

struct zike {
    struct zike_conf conf;
    zesp_sad *sad;
    void *ctx, *listener, *control; /* listener: ZMQ_STREAM, listen.c */
    struct stream_conn **listen_conns; /* conf.max_connections slots */
    size_t listen_nconns;
    bool control_bound;             /* ours to remove at exit */
    struct MHD_Daemon *metrics_http; /* metrics_http.c; NULL: none */
    struct metrics_conn metrics_conns[METRICS_CONNECTIONS_MAX];
    /* Scrapes paced (metrics_http.c): none built before metrics_next_build;
     * requests that come sooner wait, suspended, and every answer of one
     * turn of the loop shares that turn's exposition. */
    uint64_t metrics_next_build;    /* ms, monotonic */
    struct MHD_Response *metrics_built;
    struct MHD_Connection *metrics_waiting[METRICS_CONNECTIONS_MAX];
    size_t metrics_nwaiting;
    struct peer_link *links[ZIKE_MAX_PEERS]; /* per peer of conf, NULL if
                                                it has no endpoint (or its
                                                link could not be made) */
    uint64_t links_retry_at;        /* ms: make the missing links then; 0 */
    struct ike_sa *sas;
    uint8_t cookie_secret[32];
    uint64_t now;                   /* ms, monotonic */
    uint64_t retry_at[ZIKE_MAX_PEERS]; /* initiate again not before */
    uint32_t fails[ZIKE_MAX_PEERS];
    struct gcks_group *groups;      /* one per conf.groups, by name */
    size_t ngroups;
    /* SPIs members may hold of no group served now: an earlier run's
     * (gcks_state.c) or of groups a reload took out */
    struct gcks_past_spi gcks_held[GCKS_STATE_MAX];
    size_t ngcks_held;
    bool gcks_syncing;              /* group_sync_conf: no file written */
    struct gm_group *joined;        /* one per conf.joins, by name */
    size_t njoined;
    struct group_notice *notices;   /* owed after a reload */
    size_t nnotices;
    struct {
        uint64_t group_rekeys, group_registrations, group_updates,
            group_holddown_refusals;
        uint64_t ike_established, ike_rekeys, child_installed, rekeys, deleted,
            auth_failed, cookies_sent, retransmits, dead_peers,
            dropped_messages, spi_collisions, ike_refused,
            ike_rekeys_refused, ike_init_invalid, ike_requests_invalid;
        uint64_t dropped[IKE_DROP_REASONS];
    } stats;
    struct log_limit drop_log[IKE_DROP_REASONS];
    struct log_limit refused_log;   /* IKE_SA_INIT at max-ike-sas */
    struct log_limit rekey_refused_log; /* at ZIKE_IKE_SAS_PER_PEER */
    struct log_limit init_invalid_log; /* IKE_SA_INIT refused as invalid */
    struct log_limit request_invalid_log; /* verified, did not parse */
    struct log_limit holddown_log;  /* registrations held down (group.c) */
    struct log_limit auth_unknown_log; /* IKE_AUTH: no such identity */
    struct log_limit auth_failed_log;  /* IKE_AUTH: a known peer refused */
    struct log_limit peer_log[PEER_LOG_KINDS];
};

/* listen.c */
/* One source for the limits on unauthenticated parties: an IPv6 /64, an
 * IPv4 address, or the same text (source.c). */
bool zike_same_source(const char *a, const char *b);
int listen_open(struct zike *z);
bool listen_receive(struct zike *z);
int listen_send(const struct route *to, const uint8_t *buf, size_t len);
void listen_expire(struct zike *z);
void listen_close(struct zike *z);

/* listen_mark.c: the connections to listen an IKE SA vouches for (its
 * listen_route, while it is established, authenticated and not on its way
 * out) */
bool listen_vouches(const struct zike *z, const struct ike_sa *sa);
/* A message from `from` verified under sa: true, and the connection is
 * authentic for sa, if sa vouches for it. */
bool listen_mark(struct zike *z, struct ike_sa *sa, const struct route *from);
/* sa no longer vouches for the connection its route names: the connection
 * stays authentic only if another IKE SA does. */
void listen_unmark(struct zike *z, struct ike_sa *sa);
/* sa's peer spoke over `to`: sa's route from now on.  If `to` is another
 * connection to listen than the one the peer spoke over last, that one
 * stays authentic only if another IKE SA vouches for it.  Whether `to` is
 * another connection than sa's route was. */
bool listen_follow(struct zike *z, struct ike_sa *sa, const struct route *to);

/* z->now's clock: ms, monotonic. */
static inline uint64_t zike_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000U + (uint64_t)ts.tv_nsec / 1000000U;
}

/* drop.c */
/* A line limited by l to one a second, "(N more unlogged)" appended. */
void zike_log_limited(struct zike *z, struct log_limit *l, int level,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ike_drop(struct zike *z, enum ike_drop why, const struct ike_sa *sa,
              const struct ike_message *m);
const char *ike_drop_name(enum ike_drop why);

/* SPIs in payloads: 32-bit big-endian numbers. */
static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- The dispatcher's interface, for every exchange -------------------- */

/* ike_sa.c: the IKE SAs */
struct ike_sa *ike_sa_new(struct zike *z, bool initiator);
void ike_sa_free(struct zike *z, struct ike_sa *sa);
struct ike_sa *ike_sa_for_peer(struct zike *z, const char *peer);
size_t ike_sas_of_peer(const struct zike *z, const char *peer);
const struct zike_peer *ike_sa_peer(struct zike *z, const struct ike_sa *sa);
const char *ike_state_name(enum ike_state s);

/* window.c: requests and responses on an IKE SA (RFC 7296 2.1-2.3) */
int ike_request(struct zike *z, struct ike_sa *sa, enum req_kind kind,
                uint8_t exchange, const uint8_t *chain, size_t chain_len);
void ike_respond(struct zike *z, struct ike_sa *sa, const struct route *to,
                 uint8_t exchange, uint32_t mid, const uint8_t *chain,
                 size_t chain_len);
int ike_send_request(struct zike *z, struct ike_sa *sa, uint8_t *buf,
                     size_t len);
void ike_sa_header(struct ike_header *h, const struct ike_sa *sa,
                   uint8_t exchange, bool response, uint32_t mid);
uint8_t *ike_dup(const uint8_t *b, size_t len);
bool ike_retransmit(struct zike *z, struct ike_sa *sa); /* false: lost */
void ike_resend(struct zike *z, struct ike_sa *sa);
uint64_t ike_retransmit_span(const struct zike *z);

/* ike_sa_state.c: established, deleted, dead */
void ike_sa_established(struct zike *z, struct ike_sa *sa);
void ike_sa_replace_old(struct zike *z, struct ike_sa *fresh);
int ike_send_delete_ike(struct zike *z, struct ike_sa *sa);
bool ike_sa_deleting(const struct ike_sa *sa);
void ike_sa_dead(struct zike *z, struct ike_sa *sa, const char *why);
void ike_sa_revoke(struct zike *z, struct ike_sa *sa, const char *why);

/* ike_sa_cred.c: what the peer authenticated with */
int ike_cred_of(struct ike_cred *c, const struct zike_peer *peer);
/* NULL if the peer's configuration still has the credential the IKE SA
 * was authenticated with (or it was not authenticated), else what
 * changed, for the log. */
const char *ike_sa_cred_changed(const struct ike_sa *sa,
                                const struct zike_peer *peer);

/* ---- What the exchanges share about child SAs ------------------------- */

/* install.c: child SAs in the SAD */
uint32_t zike_new_spi(struct zike *z);
void zike_sad_full(struct zike *z);
void zike_policy_in(struct zike *z, const char *name, const char *peer,
                    uint32_t add, uint32_t remove);
struct child_sa *child_install(struct zike *z, struct ike_sa *sa,
                               const char *policy, uint32_t spi_in,
                               uint32_t spi_out, uint32_t transform,
                               uint32_t sa_flags, const uint8_t *keymat,
                               bool exchange_initiator, bool in_only);
void child_activate(struct zike *z, struct ike_sa *sa, struct child_sa *c);
void child_remove(struct zike *z, struct ike_sa *sa, struct child_sa *c);
void child_unplug(struct zike *z, struct ike_sa *sa, struct child_sa *c);
void child_retire_rekeyed(struct zike *z, struct child_sa *old);
void child_retire_others(struct zike *z, struct ike_sa *sa,
                         struct child_sa *fresh);
void child_adopt_orphans(struct zike *z, struct ike_sa *sa,
                         const char *policy);
bool child_spi_out_taken(struct zike *z, const struct ike_sa *sa,
                         uint32_t spi);
unsigned child_limit(const struct zike_peer *peer);
bool child_room(struct zike *z, const struct zike_peer *peer);
void child_retry(struct zike *z, struct ike_sa *sa, const char *policy,
                 uint32_t old_spi_in);
struct child_sa *child_by_in(struct ike_sa *sa, uint32_t spi);
struct child_sa *child_by_out(struct ike_sa *sa, uint32_t spi);
bool child_live(const struct ike_sa *sa, const char *policy);
bool child_soft_expired(struct zike *z, const struct child_sa *c);
bool policy_has_out_sa(struct zike *z, const zesp_policy *pol);
bool child_left_sad(struct zike *z, const struct child_sa *c, bool *in_gone);
bool child_seen_traffic(struct zike *z, const struct child_sa *c);
void child_peer_progressed(struct ike_sa *sa, uint32_t mid);
void child_linger(struct zike *z, struct ike_sa *sa, struct child_sa *c);

/* proposals.c: SA payloads offered and accepted (RFC 7296 3.3) */
void w_child_request(struct ike_writer *w, const struct zike_peer *peer,
                     uint32_t spi_in, bool pfs);
bool pick_child(const struct zike_peer *peer,
                const struct ike_sa_payload *offer, bool chosen,
                uint32_t *spi, bool *esn, uint8_t *number, uint16_t *encr);
const struct ike_proposal *pick_ike(const struct ike_sa_payload *offer,
                                    uint16_t *encr);
const struct ike_proposal *ike_offer(const struct ike_message *m,
                                     struct ike_sa_payload *sa);
bool proposal_offers(const struct ike_proposal *p, uint8_t type, uint16_t id);
void proposal_log(const char *peer, const char *what,
                  const struct ike_sa_payload *sa);

/* child.c: the child SA part of IKE_AUTH and CREATE_CHILD_SA */
bool child_policy(struct zike *z, const struct zike_peer *peer,
                  const struct ike_message *m, char *policy);
bool child_ts_fit(struct zike *z, const struct zike_peer *peer,
                  const struct ike_message *m, uint16_t *fail);
/* What a child SA's KEYMAT is made of (RFC 7296 2.17): the exchange's
 * nonces, and the new X25519 secret of a CREATE_CHILD_SA (NULL in
 * IKE_AUTH). */
struct keymat_in {
    const uint8_t *shared;
    const uint8_t *ni, *nr;
    size_t ni_len, nr_len;
};
/* What the responder chose of a child SA request's proposals. */
struct child_choice {
    uint32_t spi_out;
    bool esn;
    uint8_t number;
    uint16_t encr;
};
bool child_choose(struct zike *z, const struct ike_sa *sa,
                  const struct zike_peer *peer, const struct ike_message *m,
                  const char *policy, struct child_choice *ch,
                  uint16_t *fail);
struct child_sa *child_respond(struct zike *z, struct ike_sa *sa,
                               const struct zike_peer *peer,
                               const struct ike_message *m, const char *policy,
                               const struct child_choice *ch,
                               const struct keymat_in *k,
                               struct ike_writer *w, uint16_t *fail);
/* Why child_complete made no child SA of an answer. */
enum child_untaken {
    CHILD_NOT_MADE,       /* nor did the peer: an error, no usable SA */
    CHILD_COLLIDED,       /* the SPI it chose for our outbound SA is taken */
    CHILD_UNFIT,          /* what it chose, or the policy, the configuration
                             no longer allows */
    CHILD_NOT_INSTALLED,  /* chosen, but not installed here (the SAD full
                             or failing): the peer holds its half all the
                             same */
};
struct child_sa *child_complete(struct zike *z, struct ike_sa *sa,
                                const struct zike_peer *peer,
                                const struct ike_message *m,
                                const char *policy, uint32_t spi_in,
                                const struct keymat_in *k,
                                enum child_untaken *why);
void w_child_tail(struct ike_writer *w, const char *policy, bool lanes,
                  const struct ike_message *req);
int child_delete_request(struct zike *z, struct ike_sa *sa, uint32_t spi_in);
struct child_offer child_offer_of(const struct zike_peer *peer);
void child_answer_untaken(struct zike *z, struct ike_sa *sa,
                          enum child_untaken why,
                          const struct child_offer *asked, const char *policy,
                          uint32_t spi_in, uint32_t old_spi_in, bool again);
int ike_response_ke(const struct ike_message *m, uint8_t *priv,
                    uint8_t shared[IKE_X25519_BYTES], const uint8_t **nonce,
                    size_t *nonce_len);

/* ---- The exchanges, for the dispatcher (dispatch.c, timers.c) --------- */

/* What an exchange gives the dispatcher: a request of the peer's answered,
 * the response to a request of its own taken.  Its requests it sends
 * itself, when the dispatcher's timers say so (a _start function). */
typedef void exchange_request_fn(struct zike *z, struct ike_sa *sa,
                                 const struct route *from,
                                 const struct ike_message *m);
typedef void exchange_response_fn(struct zike *z, struct ike_sa *sa,
                                  const struct ike_message *m);

/* ike_init.c: IKE_SA_INIT */
int ike_initiate(struct zike *z, const struct zike_peer *peer,
                 const char *policy);
void ike_init_request(struct zike *z, const struct route *from,
                      const uint8_t *buf, size_t len,
                      const struct ike_message *m);
bool ike_init_response(struct zike *z, struct ike_sa *sa,
                       const uint8_t *buf, size_t len,
                       const struct ike_message *m);      /* true: keys */

/* ike_auth.c: IKE_AUTH */
void ike_auth_start(struct zike *z, struct ike_sa *sa);
exchange_request_fn ike_auth_request;
exchange_response_fn ike_auth_response;

/* child_create.c: CREATE_CHILD_SA for child SAs */
int child_create_start(struct zike *z, struct ike_sa *sa, const char *policy,
                       struct child_sa *old);
exchange_request_fn child_create_request;
exchange_response_fn child_create_response;

/* ike_rekey.c: CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 1.3.2) */
int ike_rekey_start(struct zike *z, struct ike_sa *sa);
/* false: a child SA's CREATE_CHILD_SA, for child_create_request */
bool ike_rekey_request(struct zike *z, struct ike_sa *sa,
                       const struct route *from, const struct ike_message *m);
exchange_response_fn ike_rekey_response;

/* informational.c: DELETE and liveness */
int informational_dpd(struct zike *z, struct ike_sa *sa);
exchange_request_fn informational_request;
exchange_response_fn informational_response;

/* group.c: G-IKEv2 registration and in-band rekey, both roles */
int group_sync_conf(struct zike *z);       /* after (re)loading conf */
/* At start: the SPIs an earlier run handed out that members may hold
 * still, from the state file beside the SAD.  -1 (logged) if it is bad. */
int group_state_load(struct zike *z);
void group_free(struct zike *z);
exchange_request_fn group_handle_request;
exchange_response_fn group_handle_response;
bool group_tick_sa(struct zike *z, struct ike_sa *sa); /* true: sent one */
void group_tick(struct zike *z);
/* by_us: this side ended it (a reload's revocation, zikectl terminate),
 * not the peer: its groups' new keys are not held against it */
void group_ike_sa_gone(struct zike *z, struct ike_sa *sa, bool by_us);
void group_ike_sa_rekeyed(struct zike *z, const struct ike_sa *old,
                          const struct ike_sa *fresh);
void group_server_revoked(struct zike *z, const char *peer);
bool group_server_peer(const struct zike *z, const char *peer);
int group_leave(struct zike *z, const char *group);
int group_rekey(struct zike *z, const char *group);

/* group_mac.c: a member's source MAC keys for a group SA */
struct gsa_policy;
struct gsa_sender;
/* Whether this member can take part (sk: its join's sign-key; own_sid: its
 * Sender ID if it sends, else 0); says why not in the log. */
bool group_mac_usable(const char *group, const struct gsa_policy *pol,
                      const uint8_t *sk, uint32_t own_sid, bool receiver);
/* p's keys: out, one per receiver but us; in (s: the sender), the one from
 * s to us.  p's SPI, direction, Sender ID and key are set. */
int group_mac_keys(zesp_sa_params *p, const struct gsa_policy *pol,
                   const uint8_t *sk, const struct gsa_sender *s);

/* ---- The daemon's entry points (zike.c, control.c) -------------------- */

/* dispatch.c: an IKE message received.  What it was: dropped (and
 * counted), taken, or authentic: it verified under the keys of an IKE SA
 * that vouches for the connection to listen it came over (listen_mark.c:
 * established, its peer authenticated, not on its way out; listen.c
 * keeps those connections). */
enum ike_heard { IKE_HEARD_DROPPED, IKE_HEARD_TAKEN, IKE_HEARD_AUTHENTIC };
enum ike_heard ike_handle(struct zike *z, const struct route *from,
                          uint8_t *buf, size_t len);

/* timers.c: every tick, and what zikectl and SIGTERM ask */
void ike_tick(struct zike *z);
int ike_rekey_peer(struct zike *z, const char *peer, bool ike);
int ike_terminate_peer(struct zike *z, const char *peer);
void ike_shutdown(struct zike *z);
/* links.c: our link to peer is up again after a break (not its first
 * connection) */
void ike_link_back(struct zike *z, const struct zike_peer *peer);

/* sockets.c: the IKE sockets (the tests and the benchmark have their own
 * zike_send and zike_route_to: no sockets there) */
int zike_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len);
struct route zike_route_to(struct zike *z, const struct zike_peer *peer);

/* links.c: our connections to the peers' endpoints.  A reload keeps the
 * links whose peer (by name) keeps its endpoint: zike_keep_links moves
 * them out of z->links, by their index in fresh, before zike_close_links
 * closes the others; zike_open_links puts them back (kept NULL: none, as
 * at start) and makes the rest.  A link a reload could not make (out of
 * descriptors) is tried again each second by links_tick, not left until
 * the next reload. */
void zike_keep_links(struct zike *z, const struct zike_conf *fresh,
                     struct peer_link *kept[ZIKE_MAX_PEERS]);
int zike_open_links(struct zike *z, struct peer_link *kept[ZIKE_MAX_PEERS]);
void zike_close_links(struct zike *z, int linger);
void *zike_link_socket(struct zike *z, size_t peer);
/* Whether our link to peer has done its handshake on its connection. */
bool zike_link_ready(struct zike *z, const struct zike_peer *peer);
int link_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len);
bool link_receive(struct zike *z, void *sock);
void links_tick(struct zike *z);

/* reload.c: a configuration applied */
void zike_declare_policies(struct zike *z);
/* 0, or -1 with the reason (as logged) in why, if not NULL. */
int zike_reload(struct zike *z, char *why, size_t whylen);

#endif
