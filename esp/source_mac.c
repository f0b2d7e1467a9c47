/*
 * Source MACs: a group sender proves itself to each receiver with a MAC
 * under a key only the two of them hold (the pairwise idea of Group
 * OSCORE, draft-ietf-core-oscore-groupcomm, and DDS-Security's
 * receiver-specific MACs).  Why a member cannot forge another's message
 * to a third: the key from X to Y is BLAKE2b keyed with X25519(X, Y) of
 * their static keys; Z holds neither secret.  Why it is safe to reuse
 * the SA's AEAD as the MAC: each key serves one (group SA, sender,
 * receiver), and the nonce is the sender's sequence number, which the SA
 * never repeats, as the ESP nonce does not.  Unlike DDS, each tag covers
 * the payload itself, not the group-keyed tag: any member can find a
 * second payload with the same GMAC or Poly1305 tag under a key it holds.
 */
#include "source_mac.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "packet.h"

#define PREFIX_BYTES ZESP_HEADERBYTES   /* SPI, Sender ID, seq: as sign.c */
#define KDF_LABEL "zesp source mac 1"

_Static_assert(ZESP_SOURCE_MAC_TAGBYTES == crypto_verify_16_BYTES,
               "a tag is compared with crypto_verify_16");
_Static_assert(SOURCE_MAC_COUNT_BYTES + ZESP_SOURCE_MAC_MAX *
                   SOURCE_MAC_ENTRY_BYTES < 1024U,
               "the trailer stays small beside any payload");

int zesp_source_mac_key(uint8_t key[ZESP_SOURCE_MAC_KEYBYTES],
                        const uint8_t own_sk[ZESP_SIGN_SECRETBYTES],
                        const uint8_t peer_pk[ZESP_SIGN_PUBLICBYTES],
                        int we_send, uint32_t spi, uint32_t sender_id,
                        uint32_t receiver_id,
                        const uint8_t keymat[ZESP_KEYBYTES])
{
    uint8_t xsk[crypto_scalarmult_BYTES], xpk[crypto_scalarmult_BYTES];
    uint8_t dh[crypto_scalarmult_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES], ids[12];
    const uint8_t *own_pk = own_sk + crypto_sign_SEEDBYTES;
    crypto_generichash_state h;
    int rc = -1;

    if (key == NULL || own_sk == NULL || peer_pk == NULL || keymat == NULL ||
        sender_id == 0 || receiver_id == 0 || sender_id == receiver_id ||
        sender_id > ZESP_SENDER_ID_MAX || receiver_id > ZESP_SENDER_ID_MAX)
        goto out;
    /* A secret key whose halves disagree would derive a key the peer
     * cannot: refused here, not found by every message failing. */
    if (crypto_sign_seed_keypair(pk, sk, own_sk) != 0 ||
        sodium_memcmp(sk, own_sk, sizeof sk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(xsk, own_sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(xpk, peer_pk) != 0 ||
        crypto_scalarmult(dh, xsk, xpk) != 0)
        goto out;
    store_be32(ids, spi);
    store_be32(ids + 4, sender_id);
    store_be32(ids + 8, receiver_id);
    rc = crypto_generichash_init(&h, dh, sizeof dh, ZESP_SOURCE_MAC_KEYBYTES);
    rc |= crypto_generichash_update(&h, (const uint8_t *)KDF_LABEL,
                                    sizeof KDF_LABEL - 1U);
    rc |= crypto_generichash_update(&h, we_send ? own_pk : peer_pk,
                                    ZESP_SIGN_PUBLICBYTES);
    rc |= crypto_generichash_update(&h, we_send ? peer_pk : own_pk,
                                    ZESP_SIGN_PUBLICBYTES);
    rc |= crypto_generichash_update(&h, ids, sizeof ids);
    rc |= crypto_generichash_update(&h, keymat, ZESP_KEYBYTES);
    rc |= crypto_generichash_final(&h, key, ZESP_SOURCE_MAC_KEYBYTES);
out:
    sodium_memzero(xsk, sizeof xsk);
    sodium_memzero(dh, sizeof dh);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(&h, sizeof h);
    if (rc != 0) {
        if (key != NULL)
            sodium_memzero(key, ZESP_SOURCE_MAC_KEYBYTES);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

size_t source_mac_trailer_len(uint32_t n)
{
    return (size_t)n * SOURCE_MAC_ENTRY_BYTES + SOURCE_MAC_COUNT_BYTES;
}

bool source_mac_params_valid(const zesp_sa_params *p)
{
    uint32_t n = p->mac_count;

    if (n == 0 || n > ZESP_SOURCE_MAC_MAX ||
        (p->direction == ZESP_DIR_IN && n != 1))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (p->mac_id[i] == 0 || p->mac_id[i] > ZESP_SENDER_ID_MAX ||
            p->mac_id[i] == p->sender_id ||
            sodium_is_zero(p->mac_key[i], ZESP_SOURCE_MAC_KEYBYTES))
            return false;
        for (uint32_t j = 0; j < i; j++)
            if (p->mac_id[j] == p->mac_id[i])
                return false;
    }
    return true;
}

void source_mac_install(struct sa_key *k, const zesp_sa_params *p)
{
    sodium_memzero(k->mac_key, sizeof k->mac_key);
    memset(k->mac_id, 0, sizeof k->mac_id);
    k->mac_count = 0;
    if (!(p->flags & ZESP_SA_SOURCE_MAC))
        return;
    k->mac_count = p->mac_count;
    memcpy(k->mac_id, p->mac_id, p->mac_count * sizeof p->mac_id[0]);
    memcpy(k->mac_key, p->mac_key, p->mac_count * sizeof p->mac_key[0]);
    randombytes_buf(k->mac_epoch, sizeof k->mac_epoch);
}

/*
 * AES keys expanded once per thread, not per message (the expansion costs
 * as much as the MAC): the last SA's keys, one cache for sealing and one
 * for checking.  An SA's keys are named by the key slot and the random
 * epoch of their install, so a new SA in the slot is expanded afresh.
 * Kept only if the SA found is still there once they are read (its
 * generation unchanged, sad_ref_valid's acquire fence before): a sender
 * or receiver runs unpinned here, the SA may be deleted and another put
 * in the slot meanwhile, and keys read then (the old SA's, half wiped or
 * half written) kept under the epoch read last would serve every later
 * message of the new SA, in every process that read them so.  The
 * epoch is then the new SA's; the keys read are not kept, the message
 * fails (its SA gone), and the next one expands the new SA's keys.
 * Looked up once per message, not once per tag: the thread-local
 * variable's lookup and the epoch's comparison cost about 60 instructions
 * a tag (callgrind), a tenth of an 80-octet GMAC's.
 */
enum { CACHE_SEAL, CACHE_CHECK, CACHE_KINDS };

struct mac_cache {
    const struct sa_key *k;
    uint8_t epoch[16];
    uint32_t count;
    crypto_aead_aes256gcm_state st[ZESP_SOURCE_MAC_MAX];
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Thread_local struct mac_cache *caches;

static void cache_free(void *p)
{
    sodium_free(p);     /* wipes it */
}

static void cache_key_make(void)
{
    (void)pthread_key_create(&cache_key, cache_free);
}

/* The expanded keys of k's receivers, in k's order, or NULL. */
static const crypto_aead_aes256gcm_state *expanded(const struct sa_ref *ref,
                                                  int kind)
{
    const struct sa_key *k = ref->key;
    struct mac_cache *c;

    if (caches == NULL) {
        if (pthread_once(&cache_once, cache_key_make) != 0 ||
            (caches = sodium_malloc(CACHE_KINDS * sizeof *caches)) == NULL)
            return NULL;
        memset(caches, 0, CACHE_KINDS * sizeof *caches);
        (void)pthread_setspecific(cache_key, caches);
    }
    c = &caches[kind];
    if (c->k != k || c->count != k->mac_count ||
        memcmp(c->epoch, k->mac_epoch, sizeof c->epoch) != 0) {
        c->k = NULL;
        c->count = k->mac_count <= ZESP_SOURCE_MAC_MAX ? k->mac_count : 0U;
        for (uint32_t j = 0; j < c->count; j++)
            crypto_aead_aes256gcm_beforenm(&c->st[j], k->mac_key[j]);
        memcpy(c->epoch, k->mac_epoch, sizeof c->epoch);
        if (!sad_ref_valid(ref)) {
            sodium_memzero(c->st, c->count * sizeof c->st[0]);
            c->count = 0;
            return NULL;
        }
        c->k = k;
    }
    return c->count != 0 ? c->st : NULL;
}

/* The AES keys a message's tags need (none for ChaCha20-Poly1305, whose
 * calls take the key itself): 0, or -1 if they could not be had. */
static int mac_keys(const struct transform *t, const struct sa_ref *ref,
                    int kind, const crypto_aead_aes256gcm_state **st)
{
    *st = NULL;
    if (!t->aes)
        return 0;
    return (*st = expanded(ref, kind)) != NULL ? 0 : -1;
}

/* The tag of receiver i: the SA's AEAD with nothing to encrypt, the
 * prefix and payload as associated data (RFC 4543's GMAC for AES); st
 * from mac_keys. */
static int mac(const struct sa_key *k, const crypto_aead_aes256gcm_state *st,
               uint32_t i, const uint8_t *ad, size_t adlen,
               const uint8_t nonce[NONCE_BYTES],
               uint8_t tag[ZESP_SOURCE_MAC_TAGBYTES])
{
    uint8_t none[1];    /* the empty ciphertext's place */

    if (st == NULL)
        return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
            none, tag, NULL, NULL, 0, ad, adlen, NULL, nonce, k->mac_key[i]);
    return crypto_aead_aes256gcm_encrypt_detached_afternm(
        none, tag, NULL, NULL, 0, ad, adlen, NULL, nonce, &st[i]);
}

static void put_prefix(uint8_t *p, uint32_t spi, uint32_t sender,
                       uint64_t seq, uint8_t nonce[NONCE_BYTES])
{
    store_be32(p, spi);
    store_be32(p + 4, sender);
    store_be64(p + 8, seq);
    store_be32(nonce, 0);
    store_be64(nonce + 4, seq);
}

int source_mac_seal(const struct transform *t, const struct sa_ref *ref,
                    uint32_t n, uint32_t spi, uint32_t sender, uint64_t seq,
                    uint8_t *pkt, size_t msg_len)
{
    const struct sa_key *k = ref->key;
    const crypto_aead_aes256gcm_state *st;
    uint8_t nonce[NONCE_BYTES], *e = pkt + ZESP_HEADERBYTES + msg_len;

    /* n is what the frame was sized for; an SA replaced since then (its
     * count changed) gets no tags: the caller refuses the frame. */
    if (n == 0 || n > ZESP_SOURCE_MAC_MAX || n != k->mac_count ||
        mac_keys(t, ref, CACHE_SEAL, &st) != 0)
        return -1;
    put_prefix(pkt, spi, sender, seq, nonce);
    for (uint32_t i = 0; i < n; i++, e += SOURCE_MAC_ENTRY_BYTES) {
        e[0] = (uint8_t)(k->mac_id[i] >> 8);
        e[1] = (uint8_t)k->mac_id[i];
        if (mac(k, st, i, pkt, PREFIX_BYTES + msg_len, nonce,
                e + SOURCE_MAC_ID_BYTES) != 0)
            return -1;
    }
    e[0] = (uint8_t)(n >> 8);
    e[1] = (uint8_t)n;
    return 0;
}

/* Our entry among the n before the count, or NULL. */
static const uint8_t *find_entry(const uint8_t *entries, uint32_t n,
                                 uint32_t id)
{
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = entries + (size_t)i * SOURCE_MAC_ENTRY_BYTES;
        if ((((uint32_t)e[0] << 8) | e[1]) == id)
            return e;
    }
    return NULL;
}

int source_mac_check(const struct transform *t, const struct sa_ref *ref,
                     uint32_t spi, uint32_t sender, uint64_t seq,
                     uint8_t *pkt, size_t payload_len, size_t *msg_len)
{
    const struct sa_key *k = ref->key;
    const crypto_aead_aes256gcm_state *st;
    uint8_t header[ZESP_HEADERBYTES], nonce[NONCE_BYTES];
    uint8_t tag[ZESP_SOURCE_MAC_TAGBYTES];
    const uint8_t *payload = pkt + ZESP_HEADERBYTES, *entry;
    uint32_t n;
    int rc;

    if (payload_len < SOURCE_MAC_COUNT_BYTES)
        return ZESP_EMALFORMED;
    n = ((uint32_t)payload[payload_len - 2U] << 8) | payload[payload_len - 1U];
    if (n == 0 || n > ZESP_SOURCE_MAC_MAX ||
        payload_len < source_mac_trailer_len(n))
        return ZESP_EMALFORMED;
    *msg_len = payload_len - source_mac_trailer_len(n);
    if (k->mac_count != 1 ||
        (entry = find_entry(payload + *msg_len, n, k->mac_id[0])) == NULL ||
        mac_keys(t, ref, CACHE_CHECK, &st) != 0)
        return ZESP_ESIGNATURE;
    memcpy(header, pkt, sizeof header);
    put_prefix(pkt, spi, sender, seq, nonce);
    rc = mac(k, st, 0, pkt, PREFIX_BYTES + *msg_len, nonce, tag);
    memcpy(pkt, header, sizeof header);
    if (rc != 0)
        return ZESP_ESIGNATURE;
    rc = crypto_verify_16(tag, entry + SOURCE_MAC_ID_BYTES);
    sodium_memzero(tag, sizeof tag);
    return rc == 0 ? 0 : ZESP_ESIGNATURE;
}
