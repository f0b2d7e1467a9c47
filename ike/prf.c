/* The IKEv2 PRF (HMAC-SHA-256), prf+ and the keys derived with them. */
#include <string.h>

#include "ike_crypto.h"
#include "sad.h"
#include "transform.h"

void ike_prf(uint8_t out[IKE_PRF_BYTES], const uint8_t *key, size_t keylen,
             const struct ike_chunk *parts, size_t n)
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, key, keylen);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            crypto_auth_hmacsha256_update(&st, parts[i].p, parts[i].len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n). */
int ike_prf_plus(uint8_t *out, size_t len, const uint8_t *key, size_t keylen,
                 const struct ike_chunk *parts, size_t n)
{
    crypto_auth_hmacsha256_state st;
    uint8_t t[IKE_PRF_BYTES];
    size_t done = 0;

    if (len > 255U * IKE_PRF_BYTES)
        return -1;
    for (unsigned i = 1; done < len; i++) {
        uint8_t counter = (uint8_t)i;
        size_t take = len - done < IKE_PRF_BYTES ? len - done : IKE_PRF_BYTES;

        crypto_auth_hmacsha256_init(&st, key, keylen);
        if (i > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof t);
        for (size_t k = 0; k < n; k++)
            if (parts[k].len)
                crypto_auth_hmacsha256_update(&st, parts[k].p, parts[k].len);
        crypto_auth_hmacsha256_update(&st, &counter, 1);
        crypto_auth_hmacsha256_final(&st, t);
        memcpy(out + done, t, take);
        done += take;
    }
    sodium_memzero(&st, sizeof st);
    sodium_memzero(t, sizeof t);
    return 0;
}

/*
 * IKE SA keys come from arenas of locked, guarded memory (sodium_malloc) of
 * KEYS_PER_ARENA entries each, reused through a free list: a handshake
 * then costs no system call for its keys (one sodium_malloc each was an
 * mmap, mprotects and a munmap: a fifth of a handshake's time under a
 * flood).  Freed entries are wiped at once.  The arenas are kept for the
 * life of the process; zike bounds how many IKE SAs exist.
 */
#define KEYS_PER_ARENA 64U

union key_slot {
    struct ike_keys keys;
    union key_slot *next_free;
};

static union key_slot *free_slots;

struct ike_keys *ike_keys_new(void)
{
    union key_slot *s;

    if (free_slots == NULL) {
        union key_slot *arena =
            sodium_malloc(KEYS_PER_ARENA * sizeof(union key_slot));
        if (arena == NULL)
            return NULL;
        for (size_t i = 0; i < KEYS_PER_ARENA; i++) {
            arena[i].next_free = free_slots;
            free_slots = &arena[i];
        }
    }
    s = free_slots;
    free_slots = s->next_free;
    memset(s, 0, sizeof *s);
    return &s->keys;
}

void ike_keys_free(struct ike_keys *k)
{
    union key_slot *s = (union key_slot *)k;

    if (k == NULL)
        return;
    sodium_memzero(s, sizeof *s);
    s->next_free = free_slots;
    free_slots = s;
}

static void set_aead_key(struct sa_key *sk, const struct transform *t,
                         const uint8_t material[IKE_SK_E_BYTES])
{
    memcpy(sk->key, material, 32);
    memcpy(sk->salt, material + 32, 4);
    transform_expand_key(t, sk);
}

int ike_derive(struct ike_keys *k, uint16_t encr, const uint8_t *old_sk_d,
               const uint8_t shared[IKE_X25519_BYTES],
               const uint8_t *ni, size_t ni_len,
               const uint8_t *nr, size_t nr_len,
               const uint8_t spi_i[8], const uint8_t spi_r[8])
{
    uint8_t skeyseed[IKE_PRF_BYTES];
    uint8_t km[3 * IKE_PRF_BYTES + 2 * IKE_SK_E_BYTES];
    uint8_t nonces[2 * IKE_NONCE_MAX];
    const struct transform *t = transform_find(encr);

    if (t == NULL || !t->encrypts || !transform_usable(t))
        return -1;
    memcpy(nonces, ni, ni_len);
    memcpy(nonces + ni_len, nr, nr_len);
    if (old_sk_d == NULL) {
        struct ike_chunk s[] = { { shared, IKE_X25519_BYTES } };
        ike_prf(skeyseed, nonces, ni_len + nr_len, s, 1);
    } else {
        struct ike_chunk s[] = { { shared, IKE_X25519_BYTES },
                                 { nonces, ni_len + nr_len } };
        ike_prf(skeyseed, old_sk_d, IKE_PRF_BYTES, s, 2);
    }
    {
        /* SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr; with an
         * AEAD SK_ai and SK_ar are empty (RFC 5282 7). */
        struct ike_chunk s[] = { { nonces, ni_len + nr_len },
                                 { spi_i, 8 }, { spi_r, 8 } };
        if (ike_prf_plus(km, sizeof km, skeyseed, sizeof skeyseed, s, 3) != 0)
            return -1;
    }
    memcpy(k->sk_d, km, IKE_PRF_BYTES);
    memcpy(k->sk_ei, km + IKE_PRF_BYTES, IKE_SK_E_BYTES);
    memcpy(k->sk_er, km + IKE_PRF_BYTES + IKE_SK_E_BYTES, IKE_SK_E_BYTES);
    memcpy(k->sk_pi, km + IKE_PRF_BYTES + 2 * IKE_SK_E_BYTES, IKE_PRF_BYTES);
    memcpy(k->sk_pr, km + 2 * IKE_PRF_BYTES + 2 * IKE_SK_E_BYTES,
           IKE_PRF_BYTES);
    k->aead = t;
    k->aead_id = encr;
    set_aead_key(&k->ei, t, k->sk_ei);
    set_aead_key(&k->er, t, k->sk_er);
    sodium_memzero(skeyseed, sizeof skeyseed);
    sodium_memzero(km, sizeof km);
    sodium_memzero(nonces, sizeof nonces);
    return 0;
}

int ike_child_keymat(uint8_t *keymat, size_t len, const uint8_t *sk_d,
                     const uint8_t *shared, const uint8_t *ni, size_t ni_len,
                     const uint8_t *nr, size_t nr_len)
{
    struct ike_chunk s[] = { { shared, shared ? IKE_X25519_BYTES : 0 },
                             { ni, ni_len }, { nr, nr_len } };

    return ike_prf_plus(keymat, len, sk_d, IKE_PRF_BYTES, s, 3);
}

int ike_x25519_keypair(uint8_t pub[IKE_X25519_BYTES],
                       uint8_t priv[IKE_X25519_BYTES])
{
    randombytes_buf(priv, IKE_X25519_BYTES);
    return crypto_scalarmult_base(pub, priv);
}

int ike_x25519_shared(uint8_t shared[IKE_X25519_BYTES],
                      const uint8_t priv[IKE_X25519_BYTES],
                      const uint8_t *peer_pub, size_t peer_len)
{
    if (peer_len != IKE_X25519_BYTES)
        return -1;
    /* libsodium refuses an all-zero result (a low-order peer point). */
    return crypto_scalarmult(shared, priv, peer_pub);
}
