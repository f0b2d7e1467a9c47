/*
 * For debugging and for the Wireshark test only: every IKE message zike
 * sends and receives appended to a pcap file (as UDP port 500 datagrams
 * between 192.0.2.1, this daemon, and 192.0.2.2, its peer), and the IKE SA
 * keys written in Wireshark's ikev2_decryption_table format so that the
 * Encrypted payloads can be read.  The keys file exposes every IKE SA:
 * both files are made new (never an existing file, never through a
 * symbolic link) with mode 0600, and neither is ever on by default.
 */
#ifndef ZESP_IKE_CAPTURE_H
#define ZESP_IKE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ike_keys;

int capture_open(const char *pcap_path, const char *keys_path);
void capture_close(void);
void capture_message(const uint8_t *buf, size_t len, bool sent);
void capture_keys(const uint8_t spi_i[8], const uint8_t spi_r[8],
                  const struct ike_keys *k);
/* Child SA keys go to the keys file's name with ".esp" appended, one line
 * each: "SPI(hex) in|out KEY-AND-SALT(hex)". */
void capture_child_key(uint32_t spi, bool in, const uint8_t key[36]);

#endif
