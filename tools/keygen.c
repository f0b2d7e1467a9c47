/*
 * zesp keygen: SA key material (36 octets: key and salt), and Ed25519
 * identity key pairs printed in Z85 as ZeroMQ's curve_keygen prints its
 * keys.  Files are written with mode 0600 and never overwritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "commands.h"
#include "dir_sync.h"
#include "std_streams.h"

/* Write text to a new file of the given mode; refuse an existing one.
 * Whatever fails (the disk full, a quota, a close that reports a write
 * the disk refused late), it is said and the file removed: a key file is
 * whole or not there.  Its directory is fsync'd too: the file's fsync
 * makes its bytes durable, not its name, and a key said to be made must
 * not be gone after a crash. */
static int write_new(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    size_t len = strlen(text);
    int ok;

    if (fd < 0) {
        fprintf(stderr, "zesp: %s: %s\n", path, strerror(errno));
        return -1;
    }
    ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len &&
         fsync(fd) == 0;
    if (close(fd) != 0)
        ok = 0;
    if (ok && (errno = dir_sync_of(path)) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "zesp: %s: %s\n", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int sa_key(int z85, const char *out)
{
    uint8_t key[ZESP_KEYBYTES];
    char text[ZESP_KEY_TEXTBYTES + 1];
    int rc = EXIT_OK;

    if (zesp_key_generate(key) != 0 ||
        zesp_key_format(text, sizeof text - 1, key, sizeof key,
                        z85 ? ZESP_KEY_Z85 : ZESP_KEY_HEX) != 0) {
        sodium_memzero(key, sizeof key);
        fprintf(stderr, "zesp: keygen: %s\n", zesp_strerror(errno));
        return EXIT_FAILED;
    }
    strcat(text, "\n");
    if (out != NULL)
        rc = write_new(out, text, 0600) == 0 ? EXIT_OK : EXIT_FAILED;
    else if (fputs(text, stdout) == EOF || stdout_done("zesp", "keygen") != 0)
        rc = EXIT_FAILED;
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, sizeof text);
    return rc;
}

/* NAME.key holds the 32-octet seed in Z85, NAME.pub the public key. */
static int identity(const char *name)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t seed[crypto_sign_SEEDBYTES];
    char pub[41 + 1], sec[41 + 1], path[4096], key_path[4096], line[64];
    int rc = EXIT_FAILED;

    randombytes_buf(seed, sizeof seed);
    if (crypto_sign_seed_keypair(pk, sk, seed) != 0 ||
        zmq_z85_encode(pub, pk, sizeof pk) == NULL ||
        zmq_z85_encode(sec, seed, sizeof seed) == NULL)
        goto out;
    snprintf(key_path, sizeof key_path, "%s.key", name);
    snprintf(line, sizeof line, "%s\n", sec);
    if (write_new(key_path, line, 0600) != 0)
        goto out;
    /* Both or neither: a NAME.pub already there (an old identity's) must
     * not be left beside a new secret key it does not match. */
    snprintf(path, sizeof path, "%s.pub", name);
    snprintf(line, sizeof line, "%s\n", pub);
    if (write_new(path, line, 0644) != 0) {
        unlink(key_path);
        goto out;
    }
    printf("== Ed25519 identity %s ==\npublic: %s\nsecret: %s.key (mode 0600)\n",
           name, pub, name);
    /* Not said, not made: a caller that sees the failure makes it again,
     * which files left behind would refuse. */
    if (stdout_done("zesp", "keygen") != 0) {
        unlink(path);
        unlink(key_path);
        goto out;
    }
    rc = EXIT_OK;
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sec, sizeof sec);
    sodium_memzero(line, sizeof line);
    return rc;
}

/* The caller has refused --identity with --z85 or --out. */
int cmd_keygen(const struct options *o)
{
    return o->identity != NULL ? identity(o->identity)
                               : sa_key(o->z85, o->out);
}
