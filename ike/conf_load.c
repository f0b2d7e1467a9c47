/*
 * Loading zike's configuration (doc/zike.conf.5): the YAML file, its main
 * part (zike_config.c), then its groups (group_config.c), which may name
 * the peers.  Checked whole: any error rejects the file, with its line and
 * column, and nothing of it is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "yaml_fields.h"
#include "zike.h"

/* Whoever may write the configuration chooses zike's peers, keys and
 * control socket: it must be our user's or root's, and no other user's
 * to write (iked's rule; the group may be one's own). */
static int conf_trusted(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        snprintf(err, errlen, "%s: owned by uid %u, not by zike's user "
                 "(uid %u) nor root: chown it", path, (unsigned)st.st_uid,
                 (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & S_IWOTH) {
        snprintf(err, errlen, "%s: any user may write it (mode %03o): "
                 "chmod o-w it", path, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

int zike_conf_load(const char *path, struct zike_conf *conf, char *err,
                   size_t errlen)
{
    struct yctx y;
    int rc;

    memset(conf, 0, sizeof *conf);
    memset(&y, 0, sizeof y);
    y.err = err;
    y.errlen = errlen;
    if (zesp_init() != 0 || conf_trusted(path, err, errlen) != 0 ||
        ydoc_load(path, &y.doc, err, errlen) != 0)
        return -1;
    snprintf(conf->file, sizeof conf->file, "%s", path);
    rc = zike_conf_main(&y, conf);
    if (rc == 0)
        rc = zike_conf_groups(&y, y.doc.root, conf);
    ydoc_free(&y.doc);
    if (rc != 0)
        zike_conf_free(conf);
    return rc;
}

void zike_conf_free(struct zike_conf *conf)
{
    for (size_t i = 0; i < conf->npeers; i++)
        sodium_free(conf->peers[i].psk);
    free(conf->peers);
    for (size_t i = 0; i < conf->njoins; i++)
        sodium_free(conf->joins[i].sign_sk);
    free(conf->joins);
    free(conf->groups);
    sodium_free(conf->sign_sk);
    memset(conf, 0, sizeof *conf);
}
