/* Key material as text (key.c), shared by the library's calls and the
 * YAML loader. */
#ifndef ZESP_KEY_H
#define ZESP_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zesp.h"

/* hex: or z85: text of exactly `octets` octets: 0, else ZESP_EKEYTEXT
 * (key cleared). */
/* Z85 characters for octets (a multiple of 4). */
#define Z85_CHARS(octets) ((octets) / 4U * 5U)
int key_decode(const char *text, uint8_t *key, size_t octets);
/* The first line of a key file into text (the caller wipes it): 0, an
 * errno (ELOOP: its name is a symbolic link; EINVAL: not a regular
 * file), or ZESP_EKEYFILE when group or others may read it or another
 * user than ours or root owns it (*mode, *owner: what it has).  *more
 * (unless NULL): whether anything but line ends follows that line. */
int key_read_line(const char *path, char *text, size_t textlen,
                  unsigned *mode, unsigned *owner, bool *more);

#endif
