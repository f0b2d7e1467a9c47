/*
 * Loading zike's configuration (doc/zike.conf.5): the YAML file, its main
 * part (zike_config.c), then its groups (group_config.c), which may name
 * the peers.  Checked whole: any error rejects the file, with its line and
 * column, and nothing of it is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_fields.h"
#include "zike.h"

/* Whoever may write the configuration chooses zike's peers, keys and
 * control socket: it must be our user's or root's, and no other user's
 * to write (iked's rule; the group may be one's own), judged on the file
 * read, not on a path looked at before. */
int zike_conf_load(const char *path, struct zike_conf *conf, char *err,
                   size_t errlen)
{
    struct yctx y;
    int rc;

    memset(conf, 0, sizeof *conf);
    memset(&y, 0, sizeof y);
    y.err = err;
    y.errlen = errlen;
    if (zesp_init() != 0 || yf_load(&y, path) != 0)
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
