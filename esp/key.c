/*
 * Key material as text, one grammar for the CLI, the YAML loader and
 * applications: "hex:" and two digits an octet, "z85:" and five Z85
 * characters for four octets, or "file:PATH", a file of one such line
 * that only its owner may read (mode 0600).  Decoded keys leave no copy
 * behind: the file is read with read(2), never through stdio's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "key.h"
#include "owner.h"


int key_decode(const char *text, uint8_t *key, size_t octets)
{
    size_t len, digits = strlen(text) >= 4 ? strlen(text + 4) : 0;

    if (strncmp(text, "hex:", 4) == 0 && digits == 2 * octets &&
        sodium_hex2bin(key, octets, text + 4, digits, NULL, &len, NULL) == 0 &&
        len == octets)
        return 0;
    if (strncmp(text, "z85:", 4) == 0 && octets % 4 == 0 &&
        digits == Z85_CHARS(octets) && zmq_z85_decode(key, text + 4) != NULL)
        return 0;
    sodium_memzero(key, octets);
    return ZESP_EKEYTEXT;
}

static bool line_end(char c)
{
    return c == '\r' || c == '\n';
}

/* Whether anything but line ends follows the first line: in the len
 * bytes read after it, or, unless the file ended there, in the rest of
 * the file (read and wiped). */
static bool text_after(int fd, const char *rest, size_t len, bool eof)
{
    char buf[64];
    bool found = false;
    ssize_t r;

    for (size_t i = 0; i < len; i++)
        if (!line_end(rest[i]))
            return true;
    while (!eof && !found) {
        if ((r = read(fd, buf, sizeof buf)) < 0 && errno == EINTR)
            continue;
        eof = r <= 0;
        for (ssize_t i = 0; i < r && !found; i++)
            found = !line_end(buf[i]);
    }
    sodium_memzero(buf, sizeof buf);
    return found;
}

int key_read_line(const char *path, char *text, size_t textlen,
                  unsigned *mode, unsigned *owner, bool *more)
{
    struct stat st;
    size_t got = 0, line;
    int fd, err = 0;
    bool eof = false;

    *mode = 0;
    *owner = 0;
    if (more != NULL)
        *more = false;
    /* Whoever may write in the key's folder could put there a link to a
     * file of ours whose first line it knows (the owner judged would be
     * the target's), or a FIFO that open(2) would wait on for ever. */
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                             O_CLOEXEC)) < 0)
        return errno;
    if (fstat(fd, &st) != 0)
        err = errno;
    else if (!S_ISREG(st.st_mode))
        err = EINVAL;
    if (err != 0) {
        close(fd);
        return err;
    }
    /* Whoever owns the file may rewrite the key: only we, or root. */
    if ((st.st_mode & 077) != 0 || !owner_trusted(st.st_uid)) {
        *mode = (unsigned)(st.st_mode & 0777);
        *owner = (unsigned)st.st_uid;
        close(fd);
        return ZESP_EKEYFILE;
    }
    memset(text, 0, textlen);
    while (got + 1 < textlen && memchr(text, '\n', got) == NULL) {
        ssize_t r = read(fd, text + got, textlen - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = r < 0 ? errno : 0;
            eof = true;
            break;
        }
        got += (size_t)r;
    }
    line = strcspn(text, "\r\n");
    /* Past the line, a line end or a NUL byte; a line the buffer cut
     * short, or the file's last without its end, has nothing after it. */
    if (more != NULL && err == 0 && line < got)
        *more = text_after(fd, text + line, got - line, eof);
    close(fd);
    sodium_memzero(text + line, textlen - line);   /* what followed it */
    if (err != 0)
        sodium_memzero(text, textlen);
    return err;
}

int zesp_key_generate(uint8_t key[ZESP_KEYBYTES])
{
    if (key == NULL || zesp_init() != 0) {
        errno = EINVAL;
        return -1;
    }
    randombytes_buf(key, ZESP_KEYBYTES);
    return 0;
}

int zesp_key_format(char *text, size_t textlen, const uint8_t *key,
                    size_t keylen, int format)
{
    size_t need = 4 + (format == ZESP_KEY_Z85 ? Z85_CHARS(keylen)
                                              : 2 * keylen) + 1;

    if (text == NULL || key == NULL || keylen == 0 || textlen < need ||
        (format != ZESP_KEY_HEX && format != ZESP_KEY_Z85) ||
        (format == ZESP_KEY_Z85 && keylen % 4 != 0)) {
        if (text && textlen)
            text[0] = '\0';
        errno = EINVAL;
        return -1;
    }
    memcpy(text, format == ZESP_KEY_Z85 ? "z85:" : "hex:", 4);
    if (format == ZESP_KEY_Z85)
        zmq_z85_encode(text + 4, key, keylen);
    else
        sodium_bin2hex(text + 4, textlen - 4, key, keylen);
    return 0;
}

int zesp_key_parse(uint8_t *key, size_t keylen, const char *text)
{
    char line[256];
    unsigned mode, owner;
    int err;

    if (key == NULL || keylen == 0 || keylen > 64 || text == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (strncmp(text, "file:", 5) != 0)
        err = key_decode(text, key, keylen);
    else if ((err = key_read_line(text + 5, line, sizeof line, &mode,
                                  &owner, NULL)) == 0)
        err = key_decode(line, key, keylen);
    sodium_memzero(line, sizeof line);
    if (err != 0) {
        sodium_memzero(key, keylen);
        errno = err;
        return -1;
    }
    return 0;
}
