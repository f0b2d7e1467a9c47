#ifndef ZESP_SPD_H
#define ZESP_SPD_H

#include <stdint.h>

#include "sad.h"

/* The data path's view of policies: no lock, no system call. */
int spd_out_spi(struct zesp_sad *sad, const char *name, uint32_t *spi);
void spd_acquire(struct zesp_sad *sad, const char *name);

#endif
