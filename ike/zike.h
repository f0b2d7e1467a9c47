/*
 * zike, the key daemon: its configuration, its IKE SAs and child SAs, and
 * the event loop that carries IKE messages over ZeroMQ (a ROUTER bound for
 * requests, a DEALER per peer for the requests it sends).
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

enum zike_auth { ZIKE_AUTH_PSK = 1, ZIKE_AUTH_ED25519 };

struct zike_peer {
    char name[ZESP_PEER_MAX];          /* the peer in the SAD's SAs */
    char endpoint[ZIKE_ENDPOINT_MAX];  /* "": it initiates, we answer */
    char id[IKE_ID_MAX + 1];           /* its IKE identity */
    enum zike_auth auth;
    uint8_t *psk;                      /* locked memory, psk_len bytes */
    size_t psk_len;
    uint8_t pubkey[crypto_sign_PUBLICKEYBYTES];
    uint16_t ike_encr;                 /* IKE_ENCR_* */
    uint32_t esp_transform;            /* enum zesp_transform */
    bool esn;
    bool start;                        /* initiate as soon as zike runs */
    uint32_t dpd_seconds;              /* 0: no liveness checks */
    zesp_lifetime child_life;          /* hard; soft is derived, jittered */
    uint32_t ike_lifetime;             /* seconds; rekeyed at 80-90 % */
    char policies[ZIKE_MAX_POLICIES][ZESP_NAME_MAX];
    size_t npolicies;
};

struct zike_conf {
    char file[4096];
    char id[IKE_ID_MAX + 1];
    uint8_t *sign_sk;                  /* Ed25519 secret, locked; or NULL */
    char listen[ZIKE_ENDPOINT_MAX];
    char control[ZIKE_ENDPOINT_MAX];
    char sad_path[4096];
    int log_level;                     /* LOG_ERR .. LOG_DEBUG */
    uint32_t retransmit_ms;            /* first timeout */
    uint32_t retransmit_tries;
    uint32_t half_open_limit;          /* cookies above this */
    uint32_t max_ike_sas;
    uint32_t rekey_overlap_ms;         /* old SAs kept after a rekey */
    struct zike_peer *peers;
    size_t npeers;
};

/* 0, or -1 with "FILE:LINE:COL: field: what" in err. */
int zike_conf_load(const char *path, struct zike_conf *conf, char *err,
                   size_t errlen);
void zike_conf_free(struct zike_conf *conf);
const struct zike_peer *zike_conf_peer_by_id(const struct zike_conf *conf,
                                             const uint8_t *id, size_t len);
const struct zike_peer *zike_conf_peer(const struct zike_conf *conf,
                                       const char *name);

/* Logging to stderr with levels (syslog's numbers). */
void zike_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
extern int zike_log_level;

#endif
