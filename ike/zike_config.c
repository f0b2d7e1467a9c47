/*
 * The main part of zike's YAML configuration (doc/zike.conf.5): identity,
 * listen and control endpoints, the SAD, and the peers with their
 * authentication, proposals, lifetimes and policies; the field readers
 * the group part shares, and the lookups the daemon uses.  conf_load.c
 * reads the file and checks it whole.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <zmq.h>

#include "yaml_fields.h"
#include "zike.h"

#define FAIL(y, n, f, ...) YFAIL(y, n, f, __VA_ARGS__)

int zike_conf_text(struct yctx *y, const struct ydoc_node *n,
                   const char *field, char *out, size_t outlen)
{
    if (yf_type(y, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (n->scalar[0] == '\0' || strlen(n->scalar) >= outlen)
        return FAIL(y, n, field, "expected 1 to %zu characters", outlen - 1);
    memcpy(out, n->scalar, strlen(n->scalar) + 1);
    return 0;
}

/* An Ed25519 secret key: a file holding the 32-octet seed in Z85, as
 * written by `zesp keygen --identity`; *sk in locked memory. */
int zike_conf_sign_key(struct yctx *y, const struct ydoc_node *n,
                       const char *field, uint8_t **sk)
{
    char text[128];
    uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    int rc = -1;

    if (yf_type(y, n, YDOC_SCALAR, field) != 0 ||
        yf_secret_line(y, n, field, n->scalar, text, sizeof text,
                       false) != 0)
        return -1;
    if (strlen(text) != 40 || zmq_z85_decode(seed, text) == NULL) {
        FAIL(y, n, field, "%s: expected 40 Z85 characters "
             "(zesp keygen --identity)", n->scalar);
        goto out;
    }
    if ((*sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL ||
        crypto_sign_seed_keypair(pk, *sk, seed) != 0) {
        FAIL(y, n, field, "cannot hold the key: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(text, sizeof text);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

/* The length of the port from 1 to 65535 that s begins with, in decimal
 * digits; 0 if it begins with none, or with a 0: libzmq and getaddrinfo
 * read 0080 as 80, a reader may take it for octal, and the YAML integers
 * refuse a leading 0 for that reason (yaml_fields.c). */
static size_t port_digits(const char *s)
{
    size_t n = strspn(s, "0123456789");
    unsigned long v = n > 0 && n <= 5 && s[0] != '0' ? strtoul(s, NULL, 10)
                                                    : 0;

    return v >= 1 && v <= 65535 ? n : 0;
}

/* Whether the len bytes at s, digits and dots only, are an IPv4 address
 * as inet_pton reads one: four numbers from 0 to 255, none with a leading
 * 0.  libzmq and getaddrinfo read addresses as inet_aton does, where
 * 010.0.0.1 is 8.0.0.1 (octal) and 10.1 is 10.0.0.1: not the host its
 * reader sees. */
static bool dotted_quad(const char *s, size_t len)
{
    unsigned parts = 0;

    if (strspn(s, "0123456789.") < len)
        return false;
    for (size_t i = 0; i < len; i++) {
        size_t n = 0;
        unsigned v = 0;
        while (i + n < len && s[i + n] != '.' && n < 4)
            v = v * 10 + (unsigned)(s[i + n++] - '0');
        if (n == 0 || n > 3 || v > 255 || (n > 1 && s[i] == '0'))
            return false;
        parts++;
        i += n;                     /* the dot, or the end */
        if (i + 1 == len && s[i] == '.')
            return false;
    }
    return parts == 4;
}

/* The first part of host (up to len) that looks like an IPv4 address and
 * is not one as dotted_quad says, or NULL: the parts between the
 * separators of libzmq's syntax (src;host, [IPv6], %zone, :port). */
static const char *octal_trap(const char *host, size_t len, size_t *partlen)
{
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(host + i, ";:[]%");
        if (n > len - i)
            n = len - i;
        if (n > 0 && strspn(host + i, "0123456789.") >= n &&
            memchr(host + i, '.', n) != NULL && !dotted_quad(host + i, n)) {
            *partlen = n;
            return host + i;
        }
        i += n + 1;
    }
    return NULL;
}

/* Whether the len bytes at s, a host alone (no port, no [IPv6]), are an
 * IPv4 address to inet_aton but not to dotted_quad: one number
 * (2130706433 is 127.0.0.1 to getaddrinfo) or hexadecimal (0x7f000001,
 * 0x7f.0.0.1), which have no dot or no digits only, so that octal_trap
 * does not see them. */
static bool aton_trap(const char *s, size_t len)
{
    char text[64];
    struct in_addr a;

    if (len == 0 || len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_aton(text, &a) != 0 && !dotted_quad(s, len);
}

/* The length of the host at s (len bytes) before a zone ("%eth0"). */
static size_t before_zone(const char *s, size_t len)
{
    const char *zone = memchr(s, '%', len);

    return zone ? (size_t)(zone - s) : len;
}

/* aton_trap for an endpoint's host (up to len): libzmq's "src:port;dst"
 * or "dst", each an address, a name or an interface; one in brackets, or
 * with a ':' left in it, is IPv6. */
static bool endpoint_aton_trap(const char *host, size_t len)
{
    const char *semi = memrchr(host, ';', len);
    const char *dst = semi ? semi + 1 : host;
    size_t dlen = len - (size_t)(dst - host);

    if (semi != NULL) {
        size_t slen = (size_t)(semi - host);
        const char *colon = memrchr(host, ':', slen);
        if (colon != NULL)
            slen = (size_t)(colon - host);
        if (slen > 0 && host[0] != '[' && memchr(host, ':', slen) == NULL &&
            aton_trap(host, before_zone(host, slen)))
            return true;
    }
    return dlen > 0 && dst[0] != '[' && memchr(dst, ':', dlen) == NULL &&
           aton_trap(dst, before_zone(dst, dlen));
}

#define OCTAL_TRAP_FAULT "its host is not an IPv4 address written as four " \
    "numbers from 0 to 255 with no leading 0 (010.0.0.1 would be 8.0.0.1, " \
    "octal; 10.1 would be 10.0.0.1; 167772161 and 0xa000001 would be " \
    "10.0.0.1)"
#define PORT_FAULT "its port is not a number from 1 to 65535 (no leading 0)"

/* What libzmq would refuse when zike binds or connects, said now: a
 * reload with a mistyped endpoint is refused whole, not half applied.
 * NULL, or what is wrong. */
static const char *endpoint_fault(const char *ep, bool bind)
{
    const size_t path_max = sizeof ((struct sockaddr_un *)0)->sun_path;
    const char *port;
    size_t n;

    if (strncmp(ep, "ipc://", 6) == 0)
        return strlen(ep + 6) < path_max ? NULL : "its path is too long";
    port = strrchr(ep + 6, ':');
    if (port == NULL || port == ep + 6)
        return "no HOST:PORT";
    /* libzmq's own check: a name, an address, [IPv6], %zone, src;host */
    if (ep[6 + strspn(ep + 6, "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                              ".-:%;[]_*")] != '\0')
        return "its host has a character an address or name cannot have";
    if (octal_trap(ep + 6, (size_t)(port - (ep + 6)), &n) != NULL ||
        endpoint_aton_trap(ep + 6, (size_t)(port - (ep + 6))))
        return OCTAL_TRAP_FAULT;
    if (bind && strcmp(port + 1, "*") == 0)
        return NULL;                 /* any free port */
    if ((n = port_digits(port + 1)) == 0 || port[1 + n] != '\0')
        return PORT_FAULT;
    return NULL;
}

/* The transports zike's sockets (sockets.c) carry between processes. */
static int parse_endpoint(struct yctx *y, const struct ydoc_node *n,
                          const char *field, char *out, size_t outlen,
                          bool bind)
{
    static const char *const schemes[] = { "tcp://", "ipc://", NULL };
    const char *fault;

    if (zike_conf_text(y, n, field, out, outlen) != 0)
        return -1;
    for (const char *const *s = schemes; *s; s++)
        if (strncmp(out, *s, strlen(*s)) == 0 && out[strlen(*s)] != '\0') {
            if ((fault = endpoint_fault(out, bind)) != NULL)
                return FAIL(y, n, field, "'%s': %s", out, fault);
            return 0;
        }
    return FAIL(y, n, field, "'%s': zike's endpoints are tcp://HOST:PORT "
                "or ipc://PATH", out);
}

/* The SAD is made at start, in a directory that must be there. */
static int parse_sad(struct yctx *y, const struct ydoc_node *n,
                     struct zike_conf *c)
{
    char dir[sizeof c->sad_path];
    const char *slash;
    struct stat st;

    if (yf_sad(y, n, "sad", c->sad_path, sizeof c->sad_path, &c->sad_opts) != 0)
        return -1;
    if ((slash = strrchr(c->sad_path, '/')) == NULL)
        return 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - c->sad_path),
             c->sad_path);
    if (dir[0] == '\0')
        return 0;
    if (stat(dir, &st) != 0)
        return FAIL(y, n, "sad", "directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return FAIL(y, n, "sad", "%s is not a directory", dir);
    return 0;
}

/* The key server's state file (gcks_state.c): an absolute path, in a
 * directory that must be there. */
static int parse_group_state(struct yctx *y, const struct ydoc_node *n,
                             struct zike_conf *c)
{
    char dir[sizeof c->group_state];
    const char *slash;
    struct stat st;

    if (zike_conf_text(y, n, "group-state", c->group_state,
                       sizeof c->group_state) != 0)
        return -1;
    if (c->group_state[0] != '/')
        return FAIL(y, n, "group-state", "an absolute path, found '%s'",
                    c->group_state);
    slash = strrchr(c->group_state, '/');
    if (slash[1] == '\0')
        return FAIL(y, n, "group-state", "a file, not a directory");
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - c->group_state),
             c->group_state);
    if (dir[0] != '\0' && stat(dir, &st) != 0)
        return FAIL(y, n, "group-state", "directory %s: %s", dir,
                    strerror(errno));
    if (dir[0] != '\0' && !S_ISDIR(st.st_mode))
        return FAIL(y, n, "group-state", "%s is not a directory", dir);
    return 0;
}

/* path with its directory resolved (realpath: "//", "/./", "../" and
 * symbolic links to directories give one spelling), the last name as it
 * is: the files below are opened, locked and renamed over by that name,
 * in that directory.  A directory that cannot be resolved (not there:
 * load says so for the SAD's and the state file's) leaves path as it
 * is.  0, or -1 if the result does not fit. */
static int path_in_dir(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = NULL, *real = NULL;
    int n;

    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || base[0] == '\0')
        real = realpath(path, NULL);   /* a directory itself */
    else if ((dir = strndup(path, slash ? (size_t)(slash - path) : 0)) != NULL)
        real = realpath(slash == NULL ? "." : dir[0] ? dir : "/", NULL);
    if (real == NULL)
        n = snprintf(out, len, "%s", path);
    else if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 ||
             base[0] == '\0')
        n = snprintf(out, len, "%s", real);
    else
        n = snprintf(out, len, "%s%s%s", real,
                     strcmp(real, "/") == 0 ? "" : "/", base);
    free(dir);
    free(real);
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* Do the names a and b reach one file: the same name in the same
 * directory, or (where both are there) the same file by another name, a
 * hard link or a symbolic link to it?  A name too long to resolve is
 * compared as it is. */
static bool same_file(const char *a, const char *b)
{
    char ra[PATH_MAX + 64], rb[PATH_MAX + 64];
    struct stat sa, sb;

    if (strcmp(a, b) == 0)
        return true;
    if (path_in_dir(a, ra, sizeof ra) == 0 &&
        path_in_dir(b, rb, sizeof rb) == 0 && strcmp(ra, rb) == 0)
        return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* zike locks PATH.lock for the key server state, SAD.zike.lock for the
 * SAD and CONTROL.lock for an ipc:// control socket (zike.c): a state
 * file named SAD.zike or CONTROL would take a lock zike already holds,
 * and zike would stop as if another ran; one named SAD or CONTROL, or
 * one of those locks, would be renamed over that file (a lock replaced
 * lets a second zike run); one whose lock is the SAD (sad: X.lock,
 * group-state: X) would have the SAD truncated to zike's pid as its
 * lock.  Refused here, where `zike -t` says so; by the file each name
 * reaches (same_file), not its spelling: "//", "/./", "dir/../" or a
 * symbolic link to the directory went around a comparison of strings. */
static int group_state_apart(struct yctx *y, const struct ydoc_node *root,
                             const struct zike_conf *c)
{
    const struct ydoc_node *at = ydoc_get(root, "group-state");
    const char *control = zike_endpoint_is_file(c->control) ? c->control + 6
                                                            : NULL;
    const char *gs = c->group_state, *sad = c->sad_path;
    char sad_lock[sizeof c->sad_path + 16], ctl_lock[ZIKE_ENDPOINT_MAX + 16];
    char gs_lock[sizeof c->group_state + 16];

    if (at == NULL)
        at = root;
    snprintf(sad_lock, sizeof sad_lock, "%s.zike.lock", sad);
    snprintf(gs_lock, sizeof gs_lock, "%s.lock", gs);
    if (same_file(gs, sad) || same_file(gs_lock, sad_lock) ||
        same_file(gs, sad_lock) || same_file(gs_lock, sad))
        return FAIL(y, at, "group-state", "%s collides with the SAD %s (zike "
                    "keeps %s.zike.lock for the SAD and PATH.lock for the "
                    "state file): name the state file otherwise", gs, sad,
                    sad);
    if (control == NULL)
        return 0;
    snprintf(ctl_lock, sizeof ctl_lock, "%s.lock", control);
    if (same_file(gs, control) || same_file(gs, ctl_lock) ||
        same_file(gs_lock, control))
        return FAIL(y, at, "group-state", "%s is the control socket's path "
                    "or its lock's (control: %s; zike locks PATH.lock for "
                    "each): name the state file otherwise", gs, c->control);
    return 0;
}

static int parse_identity(struct yctx *y, const struct ydoc_node *n,
                          struct zike_conf *conf)
{
    static const char *const keys[] = { "id", "key", NULL };
    const struct ydoc_node *v;

    if (yf_type(y, n, YDOC_MAP, "identity") != 0 ||
        yf_known_keys(y, n, "identity", keys) != 0)
        return -1;
    if ((v = ydoc_get(n, "id")) == NULL)
        return FAIL(y, n, "identity", "missing 'id'");
    if (zike_conf_text(y, v, "identity.id", conf->id, sizeof conf->id) != 0)
        return -1;
    if ((v = ydoc_get(n, "key")) &&
        zike_conf_sign_key(y, v, "identity.key", &conf->sign_sk) != 0)
        return -1;
    return 0;
}

/* psk: file:PATH (a file of mode 0600), or the secret itself when the
 * configuration file is readable by its owner only. */
static int parse_psk(struct yctx *y, const struct ydoc_node *n,
                     const char *field, struct zike_peer *p)
{
    char text[ZIKE_PSK_MAX + 2];
    size_t len;

    if (yf_type(y, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (strncmp(n->scalar, "file:", 5) == 0) {
        if (yf_secret_line(y, n, field, n->scalar + 5, text,
                           sizeof text, true) != 0)
            return -1;
    } else {
        if (yf_inline_secret(y, n, field) != 0)
            return -1;
        snprintf(text, sizeof text, "%s", n->scalar);
    }
    len = strlen(text);
    if (len < 16 || len > ZIKE_PSK_MAX) {
        sodium_memzero(text, sizeof text);
        return FAIL(y, n, field, "a pre-shared key of 16 to %u characters",
                    ZIKE_PSK_MAX);
    }
    if ((p->psk = sodium_malloc(len)) == NULL) {
        sodium_memzero(text, sizeof text);
        return FAIL(y, n, field, "%s", strerror(errno));
    }
    memcpy(p->psk, text, len);
    p->psk_len = len;
    sodium_memzero(text, sizeof text);
    return 0;
}

static int parse_ike_encr(struct yctx *y, const struct ydoc_node *n,
                          const char *field, uint16_t *out)
{
    uint32_t t;

    if (yf_transform(y, n, field, &t) != 0)
        return -1;
    if (t != ZESP_CHACHA20_POLY1305 && t != ZESP_AES256GCM)
        return FAIL(y, n, field, "IKE needs an encrypting AEAD: "
                    "chacha20-poly1305 or aes256gcm");
    *out = (uint16_t)t;
    return 0;
}

/* replay-scope: host or process, as ZESP_POLICY_* flags. */
int zike_conf_replay_scope(struct yctx *y, const struct ydoc_node *n,
                           const char *field, uint32_t *policy_flags)
{
    int per_process;

    if (yf_replay_scope(y, n, field, &per_process) != 0)
        return -1;
    *policy_flags = per_process ? ZESP_POLICY_PER_PROCESS_WINDOW : 0;
    return 0;
}

/* A policy: its name, or { name, replay-scope }. */
static int parse_policy(struct yctx *y, const struct ydoc_node *n,
                        const char *field, char *name, uint32_t *flags)
{
    static const char *const keys[] = { "name", "replay-scope", NULL };
    const struct ydoc_node *v;
    char f[128];

    *flags = 0;
    if (n->type != YDOC_MAP)
        return yf_name(y, n, field, name, ZESP_NAME_MAX);
    if (yf_known_keys(y, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.name", field);
    if ((v = ydoc_get(n, "name")) == NULL)
        return FAIL(y, n, f, "missing");
    if (yf_name(y, v, f, name, ZESP_NAME_MAX) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.replay-scope", field);
    if ((v = ydoc_get(n, "replay-scope")) != NULL &&
        zike_conf_replay_scope(y, v, f, flags) != 0)
        return -1;
    return 0;
}

static int parse_policies(struct yctx *y, const struct ydoc_node *n,
                          const char *field, struct zike_peer *p)
{
    char f[96];

    if (yf_type(y, n, YDOC_SEQ, field) != 0)
        return -1;
    if (n->n > ZIKE_MAX_POLICIES)
        return FAIL(y, n, field, "at most %u policy names", ZIKE_MAX_POLICIES);
    for (size_t i = 0; i < n->n; i++) {
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (parse_policy(y, n->items[i], f, p->policies[i],
                         &p->policy_flags[i]) != 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->policies[k], p->policies[i]) == 0)
                return FAIL(y, n->items[i], field, "'%s' listed twice",
                            p->policies[i]);
    }
    p->npolicies = n->n;
    return 0;
}

static int parse_peer(struct yctx *y, const struct ydoc_node *n, size_t i,
                      struct zike_peer *p)
{
    static const char *const keys[] = {
        "name", "id", "endpoint", "auth", "psk", "pubkey", "ike", "esp",
        "esn", "lanes", "start", "dpd", "lifetime", "ike-lifetime",
        "max-child-sas", "policies", NULL };
    const struct ydoc_node *v;
    char f[64];
    uint64_t u;
    int b;

#define F(key) (snprintf(f, sizeof f, "peers[%zu].%s", i, key), f)
    if (yf_type(y, n, YDOC_MAP, F("")) != 0 ||
        yf_known_keys(y, n, F(""), keys) != 0)
        return -1;
    p->ike_encr = 0;            /* negotiated: proposals.c */
    p->esp_transform = 0;
    p->esn = true;
    p->lanes = true;
    p->child_life.seconds = 3600;
    p->ike_lifetime = 14400;
    if ((v = ydoc_get(n, "name")) == NULL)
        return FAIL(y, n, F("name"), "missing");
    if (yf_name(y, v, F("name"), p->name, sizeof p->name) != 0)
        return -1;
    if ((v = ydoc_get(n, "id")) == NULL)
        return FAIL(y, n, F("id"), "missing");
    if (zike_conf_text(y, v, F("id"), p->id, sizeof p->id) != 0)
        return -1;
    if ((v = ydoc_get(n, "endpoint")) &&
        parse_endpoint(y, v, F("endpoint"), p->endpoint, sizeof p->endpoint,
                       false) != 0)
        return -1;
    if ((v = ydoc_get(n, "auth")) == NULL)
        return FAIL(y, n, F("auth"), "missing (psk or ed25519)");
    if (yf_type(y, v, YDOC_SCALAR, F("auth")) != 0)
        return -1;
    if (strcmp(v->scalar, "psk") == 0) {
        p->auth = ZIKE_AUTH_PSK;
        if (ydoc_get(n, "pubkey") != NULL)
            return FAIL(y, ydoc_get(n, "pubkey"), F("pubkey"), "a public key "
                        "with auth: psk: remove it, or use auth: ed25519");
        if ((v = ydoc_get(n, "psk")) == NULL)
            return FAIL(y, n, F("psk"), "missing for auth: psk");
        if (parse_psk(y, v, F("psk"), p) != 0)
            return -1;
    } else if (strcmp(v->scalar, "ed25519") == 0) {
        p->auth = ZIKE_AUTH_ED25519;
        if (ydoc_get(n, "psk") != NULL)
            return FAIL(y, ydoc_get(n, "psk"), F("psk"), "a pre-shared key "
                        "with auth: ed25519: remove it, or use auth: psk");
        if ((v = ydoc_get(n, "pubkey")) == NULL)
            return FAIL(y, n, F("pubkey"), "missing for auth: ed25519");
        if (yf_type(y, v, YDOC_SCALAR, F("pubkey")) != 0)
            return -1;
        if (strlen(v->scalar) != 40 ||
            zmq_z85_decode(p->pubkey, v->scalar) == NULL)
            return FAIL(y, v, F("pubkey"), "expected 40 Z85 characters");
    } else {
        return FAIL(y, v, F("auth"), "expected psk or ed25519, found '%s'",
                    v->scalar);
    }
    if ((v = ydoc_get(n, "ike")) && parse_ike_encr(y, v, F("ike"),
                                                   &p->ike_encr) != 0)
        return -1;
    if ((v = ydoc_get(n, "esp")) &&
        yf_transform(y, v, F("esp"), &p->esp_transform) != 0)
        return -1;
    if ((v = ydoc_get(n, "esn"))) {
        if (yf_bool(y, v, F("esn"), &b) != 0)
            return -1;
        p->esn = b;
    }
    if ((v = ydoc_get(n, "lanes"))) {
        if (yf_bool(y, v, F("lanes"), &b) != 0)
            return -1;
        p->lanes = b;
    }
    if ((v = ydoc_get(n, "start"))) {
        if (yf_bool(y, v, F("start"), &b) != 0)
            return -1;
        p->start = b;
    }
    if (p->start && p->endpoint[0] == '\0')
        return FAIL(y, v, F("start"), "needs an endpoint to initiate to");
    if ((v = ydoc_get(n, "dpd"))) {
        if (yf_uint(y, v, F("dpd"), 86400, "smh", &u) != 0)
            return -1;
        p->dpd_seconds = (uint32_t)u;
    }
    if ((v = ydoc_get(n, "lifetime"))) {
        memset(&p->child_life, 0, sizeof p->child_life);
        if (yf_limits(y, v, F("lifetime"), &p->child_life) != 0)
            return -1;
        if (p->child_life.seconds != 0 && p->child_life.seconds < 2)
            return FAIL(y, v, F("lifetime"), "at least 2 seconds");
    }
    if ((v = ydoc_get(n, "ike-lifetime"))) {
        if (yf_uint(y, v, F("ike-lifetime"), 30 * 86400, "smhd", &u) != 0)
            return -1;
        if (u != 0 && u < 2)
            return FAIL(y, v, F("ike-lifetime"), "at least 2 seconds");
        p->ike_lifetime = (uint32_t)u;
    }
    if ((v = ydoc_get(n, "max-child-sas"))) {
        if (yf_uint(y, v, F("max-child-sas"), 100000, NULL, &u) != 0)
            return -1;
        if (u == 0)
            return FAIL(y, v, F("max-child-sas"), "must be at least 1");
        p->max_child_sas = (uint32_t)u;
    }
    /* None: an IKE SA without child SAs (RFC 6023), e.g. with a group
     * key server. */
    if ((v = ydoc_get(n, "policies")) == NULL)
        return 0;
    return parse_policies(y, v, F("policies"), p);
#undef F
}

/* An ipc:// socket that is a file, whose mode says who may connect; one
 * in Linux's abstract namespace (ipc://@NAME) has no mode: any local
 * user may connect to it. */
bool zike_endpoint_is_file(const char *endpoint)
{
    return strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '@';
}

/* The control socket answers whoever connects: only an ipc:// socket
 * file, mode 0600, says who that can be.  Another transport only when the
 * configuration says it knows. */
static int parse_control_auth(struct yctx *y, const struct ydoc_node *root,
                              struct zike_conf *c)
{
    const struct ydoc_node *v = ydoc_get(root, "control-unauthenticated");
    int b = 0;

    if (v != NULL && yf_bool(y, v, "control-unauthenticated", &b) != 0)
        return -1;
    c->control_unauthenticated = b;
    if (zike_endpoint_is_file(c->control) || b)
        return 0;
    return FAIL(y, ydoc_get(root, "control"), "control",
                "%s has no authentication: whoever can connect to it can "
                "list, rekey and delete SAs.  Use ipc://PATH (a file, "
                "mode 0600), or set control-unauthenticated: true to "
                "accept that", c->control);
}

/* metrics: http://HOST:PORT[/metrics], HOST a name, an IPv4 address or
 * an IPv6 one in brackets: where zike serves its OpenMetrics text. */
static int parse_metrics(struct yctx *y, const struct ydoc_node *v,
                         struct zike_conf *c)
{
    const char *host, *end, *port, *path;
    size_t hlen, plen;
    bool ipv6;

    if (zike_conf_text(y, v, "metrics", c->metrics, sizeof c->metrics) != 0)
        return -1;
    if (strncmp(c->metrics, "http://", 7) != 0)
        return FAIL(y, v, "metrics", "expected http://HOST:PORT, found '%s'",
                    c->metrics);
    host = c->metrics + 7;
    if ((ipv6 = host[0] == '[')) {
        if ((end = strchr(++host, ']')) == NULL)
            return FAIL(y, v, "metrics", "an IPv6 address without its ']'");
        port = end + 1;
    } else {
        end = host + strcspn(host, ":/");
        port = end;
    }
    hlen = (size_t)(end - host);
    if (hlen == 0 || *port != ':')
        return FAIL(y, v, "metrics", "expected http://HOST:PORT (a port is "
                    "needed: 9810, say), found '%s'", c->metrics);
    if (octal_trap(host, hlen, &plen) != NULL ||
        (!ipv6 && aton_trap(host, hlen)))
        return FAIL(y, v, "metrics", "'%s': %s", c->metrics,
                    OCTAL_TRAP_FAULT);
    plen = port_digits(++port);
    path = port + plen;
    if (plen == 0)
        return FAIL(y, v, "metrics", "'%s': %s", c->metrics, PORT_FAULT);
    if (*path != '\0' && strcmp(path, "/") != 0 &&
        strcmp(path, "/metrics") != 0)
        return FAIL(y, v, "metrics", "zike serves /metrics only, found '%s'",
                    path);
#ifndef HAVE_MHD
    return FAIL(y, v, "metrics", "needs a zike built with libmicrohttpd "
                "(apt-get install libmicrohttpd-dev, then configure and "
                "make again), or no metrics: key");
#endif
    memcpy(c->metrics_host, host, hlen);
    c->metrics_host[hlen] = '\0';
    memcpy(c->metrics_port, port, plen);
    c->metrics_port[plen] = '\0';
    return 0;
}

/* The daemon's numeric settings: default, smallest and largest value.
 * Durations are milliseconds, written bare or with a unit (yf_millis). */
static const struct {
    const char *key;
    size_t offset;                   /* a uint32_t in struct zike_conf */
    uint32_t fallback, min, max;
    bool millis;
} limits[] = {
#define LIMIT(key, field, fallback, min, max, millis) \
    { key, offsetof(struct zike_conf, field), fallback, min, max, millis }
    LIMIT("half-open-limit", half_open_limit, 16, 0, 100000, false),
    LIMIT("half-open-per-source", half_open_per_source, 5, 1, 100000, false),
    LIMIT("half-open-timeout", half_open_ms, 10000, 1, 600000, true),
    LIMIT("max-ike-sas", max_ike_sas, 4096, 0, 1000000, false),
    LIMIT("max-connections", max_connections, 256, 1, 100000, false),
    LIMIT("connections-per-source", connections_per_source, 32, 1, 100000,
          false),
    LIMIT("unauthenticated-timeout", unauthenticated_ms, 60000, 0, 86400000,
          true),
    LIMIT("rekey-overlap", rekey_overlap_ms, 2000, 0, 600000, true),
#undef LIMIT
};

/* a and b hold the same pre-shared key (compared in constant time;
 * keys of different lengths differ). */
static bool same_psk(const struct zike_peer *a, const struct zike_peer *b)
{
    return a->auth == ZIKE_AUTH_PSK && b->auth == ZIKE_AUTH_PSK &&
           a->psk_len == b->psk_len &&
           sodium_memcmp(a->psk, b->psk, a->psk_len) == 0;
}

/* No other peer can pose as peer i.  zike finds a peer by the identity
 * it claims, then checks its key: a pre-shared key or public key two
 * peers hold lets either authenticate as the other and take its policies
 * and groups (RFC 7296 2.15).  A policy has one outbound SA and one peer
 * in the SAD: two peers on it would each move its traffic onto their own
 * SA, and each one's SA would be accepted as the other's. */
static int peer_own(struct yctx *y, const struct ydoc_node *n, size_t i,
                    const struct zike_conf *c)
{
    const struct zike_peer *p = &c->peers[i];
    const struct ydoc_node *v;
    uint8_t own[crypto_sign_PUBLICKEYBYTES];
    char f[64];

    /* Our own .pub pasted for the peer's: the peer could never
     * authenticate, and whoever holds our key would be taken for it. */
    snprintf(f, sizeof f, "peers[%zu].pubkey", i);
    if (p->auth == ZIKE_AUTH_ED25519 && c->sign_sk != NULL &&
        crypto_sign_ed25519_sk_to_pk(own, c->sign_sk) == 0 &&
        sodium_memcmp(p->pubkey, own, sizeof own) == 0)
        return FAIL(y, ydoc_get(n, "pubkey"), f, "peer '%s' has our own "
                    "public key (identity.key's): give the text of the "
                    "peer's NAME.pub", p->name);
    for (size_t k = 0; k < i; k++) {
        const struct zike_peer *o = &c->peers[k];

        snprintf(f, sizeof f, "peers[%zu].psk", i);
        if (same_psk(p, o))
            return FAIL(y, ydoc_get(n, "psk"), f, "peer '%s' has peer '%s''s "
                        "pre-shared key: either could authenticate as the "
                        "other; give each peer its own key", p->name,
                        o->name);
        snprintf(f, sizeof f, "peers[%zu].pubkey", i);
        if (p->auth == ZIKE_AUTH_ED25519 && o->auth == ZIKE_AUTH_ED25519 &&
            sodium_memcmp(p->pubkey, o->pubkey, sizeof p->pubkey) == 0)
            return FAIL(y, ydoc_get(n, "pubkey"), f, "peer '%s' has peer "
                        "'%s''s public key: either could authenticate as "
                        "the other; give each peer its own key", p->name,
                        o->name);
        for (size_t j = 0; j < p->npolicies; j++) {
            if (!zike_conf_serves(o, p->policies[j]))
                continue;
            snprintf(f, sizeof f, "peers[%zu].policies[%zu]", i, j);
            v = ydoc_get(n, "policies");
            return FAIL(y, v ? v->items[j] : n, f, "'%s' is peer '%s''s "
                        "policy too: a policy is one peer's (each would "
                        "send the other's traffic on its own SA); give "
                        "each peer its own policy", p->policies[j],
                        o->name);
        }
    }
    return 0;
}

/* The main part: everything but the groups. */
int zike_conf_main(struct yctx *y, struct zike_conf *c)
{
    static const char *const keys[] = {
        "identity", "listen", "control", "sad", "log", "retransmit",
        "half-open-limit", "half-open-per-source", "half-open-timeout",
        "max-ike-sas", "max-connections", "connections-per-source",
        "unauthenticated-timeout", "rekey-overlap", "peers", "groups", "join",
        "control-unauthenticated", "metrics", "group-state", NULL };
    static const char *const levels[] = { "error", "warning", "notice",
                                          "info", "debug" };
    static const int level_values[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE,
                                        LOG_INFO, LOG_DEBUG };
    const struct ydoc_node *root = y->doc.root, *v, *peers;
    uint64_t u;

    if (root == NULL)
        return FAIL(y, NULL, "", "empty configuration");
    if (yf_type(y, root, YDOC_MAP, "(top)") != 0 ||
        yf_known_keys(y, root, "(top)", keys) != 0)
        return -1;
    if ((v = ydoc_get(root, "identity")) == NULL)
        return FAIL(y, root, "identity", "missing");
    if (parse_identity(y, v, c) != 0)
        return -1;
    if ((v = ydoc_get(root, "listen")) &&
        parse_endpoint(y, v, "listen", c->listen, sizeof c->listen, true) != 0)
        return -1;
    if ((v = ydoc_get(root, "sad")) == NULL)
        return FAIL(y, root, "sad", "missing (the SAD file to install SAs in)");
    if (parse_sad(y, v, c) != 0)
        return -1;
    if (c->sad_path[0] == '\0')
        return FAIL(y, v, "sad", "no path (the SAD file to install SAs in)");
    if ((v = ydoc_get(root, "group-state"))) {
        if (parse_group_state(y, v, c) != 0)
            return -1;
    } else if ((size_t)snprintf(c->group_state, sizeof c->group_state,
                                "%s.gcks", c->sad_path) >=
               sizeof c->group_state) {
        return FAIL(y, root, "sad", "too long a path for SAD.gcks beside it");
    }
    if ((v = ydoc_get(root, "control"))) {
        if (parse_endpoint(y, v, "control", c->control, sizeof c->control,
                           true) != 0)
            return -1;
    } else {
        snprintf(c->control, sizeof c->control, "ipc://%.240s.ctl",
                 c->sad_path);
    }
    if (parse_control_auth(y, root, c) != 0 ||
        group_state_apart(y, root, c) != 0)
        return -1;
    if ((v = ydoc_get(root, "metrics")) && parse_metrics(y, v, c) != 0)
        return -1;
    c->log_level = LOG_INFO;
    if ((v = ydoc_get(root, "log"))) {
        size_t k;
        if (yf_type(y, v, YDOC_SCALAR, "log") != 0)
            return -1;
        for (k = 0; k < 5 && strcmp(levels[k], v->scalar) != 0; k++)
            ;
        if (k == 5)
            return FAIL(y, v, "log", "expected error, warning, notice, "
                        "info or debug");
        c->log_level = level_values[k];
    }
    c->retransmit_ms = 500;
    c->retransmit_tries = 5;
    if ((v = ydoc_get(root, "retransmit"))) {
        static const char *const rk[] = { "timeout-ms", "tries", NULL };
        const struct ydoc_node *w;
        if (yf_type(y, v, YDOC_MAP, "retransmit") != 0 ||
            yf_known_keys(y, v, "retransmit", rk) != 0)
            return -1;
        if ((w = ydoc_get(v, "timeout-ms"))) {
            if (yf_uint(y, w, "retransmit.timeout-ms", 60000, NULL, &u) != 0)
                return -1;
            if (u < 10)
                return FAIL(y, w, "retransmit.timeout-ms", "at least 10");
            c->retransmit_ms = (uint32_t)u;
        }
        if ((w = ydoc_get(v, "tries"))) {
            if (yf_uint(y, w, "retransmit.tries", 20, NULL, &u) != 0)
                return -1;
            c->retransmit_tries = (uint32_t)u;
        }
    }
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        uint32_t *to = (uint32_t *)((char *)c + limits[i].offset);

        *to = limits[i].fallback;
        if ((v = ydoc_get(root, limits[i].key)) == NULL)
            continue;
        if ((limits[i].millis
                 ? yf_millis(y, v, limits[i].key, limits[i].max, &u)
                 : yf_uint(y, v, limits[i].key, limits[i].max, NULL, &u)) != 0)
            return -1;
        if (u < limits[i].min)
            return FAIL(y, v, limits[i].key, "must be at least %u%s",
                        limits[i].min, limits[i].millis ? " ms" : "");
        *to = (uint32_t)u;
    }
    if ((peers = ydoc_get(root, "peers")) == NULL)
        return 0;
    if (yf_type(y, peers, YDOC_SEQ, "peers") != 0)
        return -1;
    if (peers->n > ZIKE_MAX_PEERS)
        return FAIL(y, peers, "peers", "at most %u peers", ZIKE_MAX_PEERS);
    if ((c->peers = calloc(peers->n ? peers->n : 1, sizeof *c->peers)) == NULL)
        return FAIL(y, peers, "peers", "%s", strerror(errno));
    for (size_t i = 0; i < peers->n; i++) {
        struct zike_peer *p = &c->peers[i];
        c->npeers = i + 1;
        if (parse_peer(y, peers->items[i], i, p) != 0)
            return -1;
        if (p->auth == ZIKE_AUTH_ED25519 && c->sign_sk == NULL)
            return FAIL(y, peers->items[i], "identity.key",
                        "peer %s uses ed25519: zike needs its own key", p->name);
        for (size_t k = 0; k < i; k++) {
            char f[64];

            snprintf(f, sizeof f, "peers[%zu].name", i);
            if (strcmp(c->peers[k].name, p->name) == 0)
                return FAIL(y, ydoc_get(peers->items[i], "name"), f,
                            "peer '%s' twice (also peers[%zu])", p->name, k);
            snprintf(f, sizeof f, "peers[%zu].id", i);
            if (strcmp(c->peers[k].id, p->id) == 0)
                return FAIL(y, ydoc_get(peers->items[i], "id"), f,
                            "id '%s' twice (also peers[%zu])", p->id, k);
        }
        if (peer_own(y, peers->items[i], i, c) != 0)
            return -1;
    }
    return 0;
}

const struct zike_peer *zike_conf_peer_by_id(const struct zike_conf *conf,
                                             const uint8_t *id, size_t len)
{
    for (size_t i = 0; i < conf->npeers; i++)
        if (strlen(conf->peers[i].id) == len &&
            memcmp(conf->peers[i].id, id, len) == 0)
            return &conf->peers[i];
    return NULL;
}

const struct zike_peer *zike_conf_peer(const struct zike_conf *conf,
                                       const char *name)
{
    for (size_t i = 0; i < conf->npeers; i++)
        if (strcmp(conf->peers[i].name, name) == 0)
            return &conf->peers[i];
    return NULL;
}

bool zike_conf_serves(const struct zike_peer *peer, const char *policy)
{
    for (size_t i = 0; i < peer->npolicies; i++)
        if (strcmp(peer->policies[i], policy) == 0)
            return true;
    return false;
}

uint32_t zike_conf_policy_flags(const struct zike_conf *conf,
                                const char *policy)
{
    uint32_t flags = 0;

    for (size_t i = 0; i < conf->npeers; i++)
        for (size_t k = 0; k < conf->peers[i].npolicies; k++)
            if (strcmp(conf->peers[i].policies[k], policy) == 0)
                flags |= conf->peers[i].policy_flags[k];
    for (size_t i = 0; i < conf->njoins; i++)
        if (strcmp(conf->joins[i].policy, policy) == 0)
            flags |= conf->joins[i].policy_flags;
    return flags;
}

uint32_t zike_conf_in_flags(const struct zike_conf *conf, const char *policy)
{
    return (zike_conf_policy_flags(conf, policy) &
            ZESP_POLICY_PER_PROCESS_WINDOW) ? ZESP_SA_PER_PROCESS_WINDOW : 0;
}
