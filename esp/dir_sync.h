/* A new name made durable: the directory that holds it fsync'd. */
#ifndef ZESP_DIR_SYNC_H
#define ZESP_DIR_SYNC_H

/* fsync the directory that path's last part is in ("." for a bare name,
 * "/" for "/x").  0, or an errno value. */
int dir_sync_of(const char *path);

#endif
