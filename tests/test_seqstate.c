/*
 * Manual keys installed again (issue 14, item 1): after a flush, a delete,
 * an expiry or a lost SAD file, the same key must never send an (SPI, IV)
 * twice, nor accept a frame received before.  Each case sends before and
 * after, keeps every frame, and counts repeated IVs and replays accepted.
 * Then: senders killed with SIGKILL at random points between record writes;
 * a sender that cannot write its record stops at its reservation; loads
 * refused without a usable record, with the error text checked.  A fork
 * while another thread writes a record leaves the directory's lock to no
 * one.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acl_xattr.h"
#include "new_file_watch.h"
#include "test.h"
#include "zesp.h"

#define BLOCK 16U        /* small, so that blocks run out many times */
#define SPI 0x5001U

static char dir[128];

struct wire {
    uint8_t **buf;
    size_t *len;
    size_t n, cap;
};

/* One host: its SAD file and its state directory. */
struct host {
    char sad_path[192];
    char state[192];
    zesp_sad *sad;
};

static void host_init(struct host *h, const char *name)
{
    snprintf(h->sad_path, sizeof h->sad_path, "%s/%s.sad", dir, name);
    snprintf(h->state, sizeof h->state, "%s/%s.state", dir, name);
    h->sad = NULL;
}

static int host_open(struct host *h)
{
    h->sad = zesp_sad_open(h->sad_path, ZESP_SAD_CREATE, NULL);
    return h->sad != NULL ? zesp_sad_set_state_dir(h->sad, h->state) : -1;
}

static void host_close(struct host *h)
{
    zesp_sad_free(h->sad);
    h->sad = NULL;
}

static zesp_sa_params manual_sa(uint32_t spi, uint32_t direction,
                                uint8_t key_seed, uint64_t hard_messages)
{
    zesp_sa_params p;

    memset(&p, 0, sizeof p);
    p.spi = spi;
    p.direction = direction;
    p.flags = ZESP_SA_MANUAL;
    p.seq_block = BLOCK;
    p.hard.messages = hard_messages;
    for (unsigned i = 0; i < ZESP_KEYBYTES; i++)
        p.key[i] = (uint8_t)(key_seed * 31U + i);
    strcpy(p.peer, "peer");
    return p;
}

static void wire_free(struct wire *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->buf[i]);
    free(w->buf);
    free(w->len);
    memset(w, 0, sizeof *w);
}

/* Seal up to count messages on spi; returns how many, errno the reason it
 * stopped. */
static int wire_seal(struct wire *w, zesp_sad *sad, uint32_t spi, int count)
{
    for (int i = 0; i < count; i++) {
        char text[32];
        zesp_frame body = { text, (size_t)snprintf(text, sizeof text,
                                                   "message %zu", w->n) };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        uint8_t *esp;
        size_t n;

        if (zesp_seal(sad, spi, &parts, &esp, &n) != 0)
            return i;
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 256;
            w->buf = realloc(w->buf, w->cap * sizeof *w->buf);
            w->len = realloc(w->len, w->cap * sizeof *w->len);
        }
        w->buf[w->n] = esp;
        w->len[w->n++] = n;
    }
    return count;
}

/* Frames [from, to) given to the receiver (copies: opened in place). */
static int wire_open(const struct wire *w, zesp_sad *sad, size_t from,
                     size_t to)
{
    zesp_msg *msg = zesp_msg_new();
    int accepted = 0;

    for (size_t i = from; i < to && i < w->n; i++) {
        uint8_t *copy = malloc(w->len[i]);
        memcpy(copy, w->buf[i], w->len[i]);
        accepted += zesp_open(sad, NULL, 0, copy, w->len[i], msg) == 0;
        free(copy);
    }
    zesp_msg_free(msg);
    return accepted;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* How many frames repeat an (SPI, IV) of another; with_spi false: an IV
 * alone. */
static size_t repeated(const struct wire *w, bool with_spi)
{
    long dup = test_repeated_ivs(w->buf, w->n, with_spi);

    return dup < 0 ? SIZE_MAX : (size_t)dup;
}

/* A sender host a and a receiver host b with one manual SA between them
 * (out on a, in on b), and the wire the frames go over. */
struct link {
    zesp_sa_params out, in;
    struct host a, b;
    struct wire w;
};

static void link_begin(struct link *l, uint32_t spi, uint8_t key_seed,
                       uint64_t hard_messages)
{
    l->out = manual_sa(spi, ZESP_DIR_OUT, key_seed, hard_messages);
    l->in = manual_sa(spi, ZESP_DIR_IN, key_seed, hard_messages);
    memset(&l->w, 0, sizeof l->w);
    host_init(&l->a, "sender");
    host_init(&l->b, "receiver");
    CHECK_OK(host_open(&l->a));
    CHECK_OK(host_open(&l->b));
    CHECK_OK(zesp_sa_add(l->a.sad, &l->out));
    CHECK_OK(zesp_sa_add(l->b.sad, &l->in));
}

static void link_end(struct link *l)
{
    wire_free(&l->w);
    host_close(&l->a);
    host_close(&l->b);
}

enum reload { RELOAD_FLUSH, RELOAD_DEL, RELOAD_EXPIRE, RELOAD_SAD_FILE };
static const char *const reload_names[] = { "flush", "sa del", "expiry",
                                            "SAD file deleted" };

/* Take the SA out of a host the way `kind` says. */
static void take_out(struct host *h, enum reload kind, uint32_t direction)
{
    switch (kind) {
    case RELOAD_FLUSH:
        CHECK_OK(zesp_sad_flush(h->sad));
        break;
    case RELOAD_DEL:
        CHECK_OK(zesp_sa_del(h->sad, SPI, direction));
        break;
    case RELOAD_EXPIRE:
        CHECK(zesp_sad_expire(h->sad) == 1);
        break;
    case RELOAD_SAD_FILE:
        host_close(h);
        CHECK(unlink(h->sad_path) == 0);
        CHECK_OK(host_open(h));
        break;
    }
}

/* Traffic, the SA taken out of both hosts and installed again, traffic:
 * no (SPI, IV) twice, every new frame accepted, no old one. */
static void reload_case(enum reload kind)
{
    enum { N = 100 };
    struct link l;
    int before, after, replayed;

    link_begin(&l, SPI, (uint8_t)kind, kind == RELOAD_EXPIRE ? N : 0);
    CHECK(wire_seal(&l.w, l.a.sad, SPI, N) == N);
    before = wire_open(&l.w, l.b.sad, 0, N);
    if (kind == RELOAD_EXPIRE) {
        /* Both ends reach the hard limit and refuse more. */
        CHECK_ERR(wire_seal(&l.w, l.a.sad, SPI, 1) == 1 ? 0 : -1,
                  ZESP_EEXPIRED);
        CHECK(wire_open(&l.w, l.b.sad, 0, 1) == 0);
    }
    take_out(&l.a, kind, ZESP_DIR_OUT);
    take_out(&l.b, kind, ZESP_DIR_IN);
    CHECK_OK(zesp_sa_add(l.a.sad, &l.out));
    CHECK_OK(zesp_sa_add(l.b.sad, &l.in));
    /* An attacker replays the old frames at once, and again later. */
    replayed = wire_open(&l.w, l.b.sad, 0, N);
    CHECK(wire_seal(&l.w, l.a.sad, SPI, N) == N);
    after = wire_open(&l.w, l.b.sad, N, 2 * N);
    replayed += wire_open(&l.w, l.b.sad, 0, N);
    CHECK(before == N && after == N && replayed == 0);
    CHECK(repeated(&l.w, true) == 0);
    if (test_case_failed)
        fprintf(stderr, "  %s: %d accepted before, %d after, %d replays "
                "accepted, %zu (SPI, IV) repeated\n", reload_names[kind],
                before, after, replayed, repeated(&l.w, true));
    unlink(l.a.sad_path);
    unlink(l.b.sad_path);
    link_end(&l);
}

static void test_flush_and_load(void) { reload_case(RELOAD_FLUSH); }
static void test_del_and_load(void) { reload_case(RELOAD_DEL); }
static void test_expiry_and_load(void) { reload_case(RELOAD_EXPIRE); }
static void test_sad_file_lost_and_load(void) { reload_case(RELOAD_SAD_FILE); }

/* Only the receiver reloads: the old frames stay refused; of the sender's
 * next ones at most a block falls at or below the record and is lost. */
static void test_receiver_alone_reloads(void)
{
    struct link l;
    int after;

    link_begin(&l, 0x5101, 41, 0);
    CHECK(wire_seal(&l.w, l.a.sad, 0x5101, 100) == 100);
    CHECK(wire_open(&l.w, l.b.sad, 0, 100) == 100);
    CHECK_OK(zesp_sa_del(l.b.sad, 0x5101, ZESP_DIR_IN));
    CHECK_OK(zesp_sa_add(l.b.sad, &l.in));
    CHECK(wire_seal(&l.w, l.a.sad, 0x5101, 100) == 100);
    CHECK(wire_open(&l.w, l.b.sad, 0, 100) == 0);
    after = wire_open(&l.w, l.b.sad, 100, 200);
    CHECK(after >= 100 - (int)BLOCK && after < 100);
    /* Those refused are the first ones, up to the record's multiple. */
    CHECK(wire_open(&l.w, l.b.sad, 199, 200) == 0);   /* accepted already */
    link_end(&l);
}

/* Only the sender reloads: it jumps above its reservation, the receiver
 * follows and refuses nothing new. */
static void test_sender_alone_reloads(void)
{
    struct link l;
    zesp_sa_info info;

    link_begin(&l, 0x5102, 42, 0);
    CHECK(wire_seal(&l.w, l.a.sad, 0x5102, 100) == 100);
    CHECK(wire_open(&l.w, l.b.sad, 0, 100) == 100);
    CHECK_OK(zesp_sa_info_get(l.a.sad, 0x5102, ZESP_DIR_OUT, &info));
    CHECK(info.seq == 100 && info.seq_reserved % BLOCK == 0 &&
          info.seq_reserved >= 100);
    CHECK_OK(zesp_sad_flush(l.a.sad));
    CHECK_OK(zesp_sa_add(l.a.sad, &l.out));
    CHECK(wire_seal(&l.w, l.a.sad, 0x5102, 100) == 100);
    CHECK(wire_open(&l.w, l.b.sad, 100, 200) == 100);
    CHECK(wire_open(&l.w, l.b.sad, 0, 200) == 0);
    CHECK(repeated(&l.w, true) == 0);
    link_end(&l);
}

/* A record that cannot be written: the sender stops at its reservation,
 * the receiver accepts nothing above its own; both go on once it can. */
static void test_stops_at_reservation(void)
{
    char away[256];
    struct link l;
    zesp_sa_info info;

    link_begin(&l, 0x5103, 43, 0);
    snprintf(away, sizeof away, "%s.away", l.a.state);
    CHECK(wire_seal(&l.w, l.a.sad, 0x5103, 3) == 3);
    CHECK(wire_open(&l.w, l.b.sad, 0, 3) == 3);
    CHECK_OK(zesp_sa_info_get(l.a.sad, 0x5103, ZESP_DIR_OUT, &info));
    CHECK(rename(l.a.state, away) == 0);
    /* Exactly up to the reservation, then a clear error. */
    CHECK((uint64_t)wire_seal(&l.w, l.a.sad, 0x5103, 100) ==
          info.seq_reserved - 3);
    CHECK(errno == ZESP_ENOSTATE);
    CHECK(rename(away, l.a.state) == 0);
    CHECK(wire_seal(&l.w, l.a.sad, 0x5103, 100) == 100);

    snprintf(away, sizeof away, "%s.away", l.b.state);
    CHECK(rename(l.b.state, away) == 0);
    CHECK_OK(zesp_sa_info_get(l.b.sad, 0x5103, ZESP_DIR_IN, &info));
    CHECK(wire_open(&l.w, l.b.sad, 3, l.w.n) ==
          (int)(info.seq_reserved - 3));
    CHECK_OK(zesp_sa_info_get(l.b.sad, 0x5103, ZESP_DIR_IN, &info));
    CHECK(info.stats.messages == info.seq_reserved &&
          info.seq <= info.seq_reserved);
    CHECK(rename(away, l.b.state) == 0);
    CHECK(wire_open(&l.w, l.b.sad, 3, l.w.n) ==
          (int)(l.w.n - info.seq_reserved));
    CHECK(repeated(&l.w, true) == 0);
    link_end(&l);
}

/* One key under two SPIs: the nonce is (key, IV), so their IVs must not
 * meet; the record belongs to the key, not the SPI. */
static void test_one_key_two_spis(void)
{
    zesp_sa_params p1 = manual_sa(0x5201, ZESP_DIR_OUT, 44, 0);
    zesp_sa_params p2 = manual_sa(0x5202, ZESP_DIR_OUT, 44, 0);
    struct host a;
    struct wire w = { 0 };

    host_init(&a, "sender");
    CHECK_OK(host_open(&a));
    CHECK_OK(zesp_sa_add(a.sad, &p1));
    CHECK_OK(zesp_sa_add(a.sad, &p2));
    for (int i = 0; i < 20; i++) {
        CHECK(wire_seal(&w, a.sad, 0x5201, 7) == 7);
        CHECK(wire_seal(&w, a.sad, 0x5202, 5) == 5);
    }
    CHECK_OK(zesp_sa_del(a.sad, 0x5201, ZESP_DIR_OUT));
    CHECK(wire_seal(&w, a.sad, 0x5202, 50) == 50);
    CHECK_OK(zesp_sa_add(a.sad, &p1));
    CHECK(wire_seal(&w, a.sad, 0x5201, 50) == 50);
    CHECK(repeated(&w, false) == 0);
    wire_free(&w);
    host_close(&a);
}

/*
 * One key pasted into both directions of a pair through the API (as
 * Python's add_sa does), the mistake zesp load refuses in a file: each
 * direction keeps its own record, so a's out SA and b's out SA would both
 * number from 1 under the key.  The second of the two on each host is
 * refused, naming no SA (the API has no file to point into); had both
 * gone ahead, every IV each host sent was the other's too.
 */
static void test_one_key_both_directions_by_api(void)
{
    zesp_sa_params a_out = manual_sa(0x5401, ZESP_DIR_OUT, 46, 0);
    zesp_sa_params a_in = manual_sa(0x5402, ZESP_DIR_IN, 46, 0);
    zesp_sa_params b_in = manual_sa(0x5401, ZESP_DIR_IN, 46, 0);
    zesp_sa_params b_out = manual_sa(0x5402, ZESP_DIR_OUT, 46, 0);
    zesp_sa_params loop = manual_sa(0x5401, ZESP_DIR_IN, 46, 0);
    struct host a, b;
    struct wire w = { 0 };
    int a_sent, b_sent;

    host_init(&a, "both-a");
    host_init(&b, "both-b");
    CHECK_OK(zesp_state_dir_init(a.state));
    CHECK_OK(zesp_state_dir_init(b.state));
    CHECK_OK(host_open(&a));
    CHECK_OK(host_open(&b));
    CHECK_OK(zesp_sa_add(a.sad, &a_out));
    CHECK_ERR(zesp_sa_add(a.sad, &a_in), ZESP_EKEYREUSE);
    /* Its own sentence: no SA has that SPI, the key is what clashes. */
    CHECK(strstr(zesp_strerror(ZESP_EKEYREUSE),
                 "the other direction on another SPI") != NULL);
    CHECK_OK(zesp_sa_add(b.sad, &b_in));
    CHECK_ERR(zesp_sa_add(b.sad, &b_out), ZESP_EKEYREUSE);
    a_sent = wire_seal(&w, a.sad, 0x5401, 20);
    b_sent = wire_seal(&w, b.sad, 0x5402, 20);
    printf("     a sent %d, b sent %d under one key: %zu IVs twice\n",
           a_sent, b_sent, repeated(&w, false));
    CHECK(a_sent == 20 && b_sent == 0 && repeated(&w, false) == 0);
    /* One SA's two ends on one SPI (a loop back) still share a key. */
    CHECK_OK(zesp_sa_add(a.sad, &loop));
    wire_free(&w);
    host_close(&a);
    host_close(&b);
}

/* Group SAs: a record per Sender ID, for the sender and each window. */
static void test_group_sender_reloads(void)
{
    zesp_sa_params out = manual_sa(0x5301, ZESP_DIR_OUT, 45, 0);
    zesp_sa_params in = manual_sa(0x5301, ZESP_DIR_IN, 45, 0);
    zesp_sa_params in2 = manual_sa(0x5301, ZESP_DIR_IN, 45, 0);
    struct host a, b;
    struct wire w = { 0 };

    out.flags |= ZESP_SA_GROUP;
    in.flags |= ZESP_SA_GROUP;
    in2.flags |= ZESP_SA_GROUP;
    out.sender_id = in.sender_id = 3;
    in2.sender_id = 4;
    host_init(&a, "sender");
    host_init(&b, "receiver");
    CHECK_OK(host_open(&a));
    CHECK_OK(host_open(&b));
    CHECK_OK(zesp_sa_add(a.sad, &out));
    CHECK_OK(zesp_sa_add(b.sad, &in));
    CHECK_OK(zesp_sa_add(b.sad, &in2));
    CHECK(wire_seal(&w, a.sad, 0x5301, 60) == 60);
    CHECK(wire_open(&w, b.sad, 0, 60) == 60);
    CHECK_OK(zesp_sad_flush(a.sad));
    CHECK_OK(zesp_sa_del(b.sad, 0x5301, ZESP_DIR_IN));   /* every window */
    CHECK_OK(zesp_sa_add(a.sad, &out));
    CHECK_OK(zesp_sa_add(b.sad, &in));
    CHECK_OK(zesp_sa_add(b.sad, &in2));
    CHECK(wire_seal(&w, a.sad, 0x5301, 60) == 60);
    CHECK(wire_open(&w, b.sad, 60, 120) == 60);
    CHECK(wire_open(&w, b.sad, 0, 60) == 0);
    CHECK(repeated(&w, true) == 0);
    wire_free(&w);
    host_close(&a);
    host_close(&b);
}

/* A group Sender ID and a lane are both the IV's top 16 bits: a key
 * that served a group sender and is loaded again for a lanes SA (or the
 * other way round) must not count its lane from 1 in the space its
 * Sender ID used, though the two keep records of their own.  On a shared
 * SAD the first lane taken is lane 1, as Sender ID 1. */
static void test_group_and_lanes_one_key(void)
{
    zesp_sa_params group = manual_sa(0x5401, ZESP_DIR_OUT, 47, 0);
    zesp_sa_params lanes = manual_sa(0x5401, ZESP_DIR_OUT, 47, 0);
    zesp_sa_params group2 = manual_sa(0x5402, ZESP_DIR_OUT, 48, 0);
    zesp_sa_params lanes2 = manual_sa(0x5402, ZESP_DIR_OUT, 48, 0);
    struct host a;
    struct wire w = { 0 }, w2 = { 0 };

    group.flags |= ZESP_SA_GROUP;
    group.sender_id = 1;
    lanes.flags |= ZESP_SA_LANES;
    group2.flags |= ZESP_SA_GROUP;
    group2.sender_id = 1;
    lanes2.flags |= ZESP_SA_LANES;
    host_init(&a, "sender");
    CHECK_OK(host_open(&a));
    /* Group sender first, then the key as a lanes SA. */
    CHECK_OK(zesp_sa_add(a.sad, &group));
    CHECK(wire_seal(&w, a.sad, 0x5401, 40) == 40);
    CHECK_OK(zesp_sad_flush(a.sad));
    CHECK_OK(zesp_sa_add(a.sad, &lanes));
    CHECK(wire_seal(&w, a.sad, 0x5401, 40) == 40);
    CHECK(repeated(&w, false) == 0);
    CHECK_OK(zesp_sad_flush(a.sad));
    /* A lanes SA first, then the key for Sender ID 1. */
    CHECK_OK(zesp_sa_add(a.sad, &lanes2));
    CHECK(wire_seal(&w2, a.sad, 0x5402, 40) == 40);
    CHECK_OK(zesp_sad_flush(a.sad));
    CHECK_OK(zesp_sa_add(a.sad, &group2));
    CHECK(wire_seal(&w2, a.sad, 0x5402, 40) == 40);
    CHECK(repeated(&w2, false) == 0);
    if (test_case_failed)
        fprintf(stderr, "  IVs repeated: group then lanes %zu, lanes then "
                "group %zu\n", repeated(&w, false), repeated(&w2, false));
    wire_free(&w);
    wire_free(&w2);
    host_close(&a);
    unlink(a.sad_path);
}

/* A manual key's lanes SA, then the key as a pairwise SA on the SPI: a
 * lane's IV is the lane above 48 bits of number, and a pairwise SA's the
 * number itself, so pairwise numbers past 2^48 - 1 are the lanes' IVs.
 * Before, the pairwise SA took them: started by zesp_sa_params.next_seq
 * (an SA migrated) at lane 1's first IV, it sealed 40 of 40 IVs lane 1 had
 * sealed; started just below 2^48 it would have gone on into them.  Now a
 * manual SA stops at 2^48 - 1 whatever its kind, as a group sender and a
 * lane do: the first is refused (ZESP_ESEQEXHAUSTED), the second sends
 * its one number below and is then exhausted. */
static void test_pairwise_after_lanes_one_key(void)
{
    enum { N = 40 };
    zesp_sa_params lanes = manual_sa(0x5405, ZESP_DIR_OUT, 51, 0);
    zesp_sa_params pairwise = manual_sa(0x5405, ZESP_DIR_OUT, 51, 0);
    struct host a;
    struct wire w = { 0 };
    uint64_t first = 0;
    int sealed, err;

    lanes.flags |= ZESP_SA_LANES;
    host_init(&a, "sender");
    CHECK_OK(host_open(&a));
    CHECK_OK(zesp_sa_add(a.sad, &lanes));
    CHECK(wire_seal(&w, a.sad, 0x5405, N) == N);
    for (int i = 8; i < 16 && w.n > 0; i++)
        first = first << 8 | w.buf[0][i];
    CHECK(first >> 48 == 1);                /* lane 1, the first taken */
    CHECK_OK(zesp_sad_flush(a.sad));
    /* Started at lane 1's first IV. */
    pairwise.next_seq = first;
    if (zesp_sa_add(a.sad, &pairwise) == 0) {
        sealed = wire_seal(&w, a.sad, 0x5405, N);
        printf("     pairwise from lane 1's first IV: %d sealed\n", sealed);
        CHECK_OK(zesp_sad_flush(a.sad));
    } else {
        CHECK(errno == ZESP_ESEQEXHAUSTED);
    }
    CHECK(repeated(&w, false) == 0);
    /* Started below 2^48: the one number there, no more. */
    pairwise.next_seq = ZESP_SEQ_MAX_LANE;
    CHECK_OK(zesp_sa_add(a.sad, &pairwise));
    sealed = wire_seal(&w, a.sad, 0x5405, N);
    err = sealed < N ? errno : 0;
    printf("     pairwise from 2^48 - 1: %d sealed (%s)\n", sealed,
           err ? zesp_strerror(err) : "-");
    CHECK(sealed == 1 && err == ZESP_ESEQEXHAUSTED);
    CHECK(repeated(&w, false) == 0);
    if (test_case_failed)
        fprintf(stderr, "  IVs repeated: %zu\n", repeated(&w, false));
    wire_free(&w);
    host_close(&a);
    unlink(a.sad_path);
}

/* The receivers' side of the switch: frames a key carried as a group SA,
 * replayed once the key is loaded again for a lanes SA under the same SPI
 * (or the other way round), are refused, and the new kind's fresh frames
 * accepted.  Going from the group, a second member on a host of its own
 * sent as Sender ID 2, more than Sender ID 1: its frames reach the lanes
 * SA in lane 2 and are refused there, while lane 1, the sender's, whose
 * host never sent as Sender ID 2, is not held back to Sender ID 2's record. */
static void switch_case(bool group_first, uint32_t spi, uint8_t seed)
{
    enum { N = 40, N2 = 80 };
    zesp_sa_params grp_out = manual_sa(spi, ZESP_DIR_OUT, seed, 0);
    zesp_sa_params grp_in = manual_sa(spi, ZESP_DIR_IN, seed, 0);
    zesp_sa_params mem_out = manual_sa(spi, ZESP_DIR_OUT, seed, 0);
    zesp_sa_params mem_in = manual_sa(spi, ZESP_DIR_IN, seed, 0);
    zesp_sa_params lanes_out = manual_sa(spi, ZESP_DIR_OUT, seed, 0);
    zesp_sa_params lanes_in = manual_sa(spi, ZESP_DIR_IN, seed, 0);
    struct wire old = { 0 }, old2 = { 0 }, fresh = { 0 };
    struct host a, b, c;
    int before, replayed, accepted;

    grp_out.flags |= ZESP_SA_GROUP;
    grp_in.flags |= ZESP_SA_GROUP;
    mem_out.flags |= ZESP_SA_GROUP;
    mem_in.flags |= ZESP_SA_GROUP;
    grp_out.sender_id = grp_in.sender_id = 1;
    mem_out.sender_id = mem_in.sender_id = 2;
    lanes_out.flags |= ZESP_SA_LANES;
    lanes_in.flags |= ZESP_SA_LANES;
    host_init(&a, "sender");
    host_init(&b, "receiver");
    host_init(&c, "member");
    CHECK_OK(host_open(&a));
    CHECK_OK(host_open(&b));
    CHECK_OK(host_open(&c));
    if (group_first) {
        CHECK_OK(zesp_sa_add(a.sad, &grp_out));
        CHECK_OK(zesp_sa_add(c.sad, &mem_out));
        CHECK_OK(zesp_sa_add(b.sad, &grp_in));
        CHECK_OK(zesp_sa_add(b.sad, &mem_in));
        CHECK(wire_seal(&old2, c.sad, spi, N2) == N2);
    } else {
        CHECK_OK(zesp_sa_add(a.sad, &lanes_out));
        CHECK_OK(zesp_sa_add(b.sad, &lanes_in));
    }
    CHECK(wire_seal(&old, a.sad, spi, N) == N);
    before = wire_open(&old, b.sad, 0, N) + wire_open(&old2, b.sad, 0, N2);
    /* The operator's switch: the key's SAs out, the other kind in. */
    CHECK_OK(zesp_sad_flush(a.sad));
    CHECK_OK(zesp_sad_flush(b.sad));
    CHECK_OK(zesp_sad_flush(c.sad));
    CHECK_OK(zesp_sa_add(a.sad, group_first ? &lanes_out : &grp_out));
    CHECK_OK(zesp_sa_add(b.sad, group_first ? &lanes_in : &grp_in));
    replayed = wire_open(&old, b.sad, 0, N) + wire_open(&old2, b.sad, 0, N2);
    CHECK(wire_seal(&fresh, a.sad, spi, N) == N);
    accepted = wire_open(&fresh, b.sad, 0, N);
    replayed += wire_open(&fresh, b.sad, 0, N) + wire_open(&old, b.sad, 0, N) +
                wire_open(&old2, b.sad, 0, N2);
    CHECK(before == N + (int)old2.n && replayed == 0 && accepted == N);
    if (test_case_failed)
        fprintf(stderr, "  %s: %d accepted before, %d replays accepted after "
                "the switch, %d of %d fresh\n",
                group_first ? "group then lanes" : "lanes then group", before,
                replayed, accepted, N);
    wire_free(&old);
    wire_free(&old2);
    wire_free(&fresh);
    host_close(&a);
    host_close(&b);
    host_close(&c);
    unlink(a.sad_path);
    unlink(b.sad_path);
    unlink(c.sad_path);
}

static void test_group_and_lanes_receivers(void)
{
    switch_case(true, 0x5403, 90);
    switch_case(false, 0x5404, 91);
}

/* The key daemon's SAs are fresh keys: no flag, no record, no directory. */
static void test_unflagged_sas_keep_no_record(void)
{
    zesp_sa_params p = manual_sa(0x5401, ZESP_DIR_OUT, 46, 0);
    zesp_sad *sad = zesp_sad_new(NULL);
    char none[256];
    zesp_sa_info info;

    p.flags = 0;
    p.seq_block = 0;
    snprintf(none, sizeof none, "%s/none", dir);
    CHECK_OK(zesp_sad_set_state_dir(sad, none));
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(zesp_sa_info_get(sad, 0x5401, ZESP_DIR_OUT, &info));
    CHECK(info.seq == 0 && info.seq_reserved == 0 && info.seq_block == 0);
    CHECK(access(none, F_OK) != 0);
    p.seq_block = 64;      /* a block without the flag means nothing */
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);
    zesp_sad_free(sad);
}

/* The record: 80 bytes, the key nowhere in it, the reservation and the
 * SA's SPI in it.  A record of version 1 (64 bytes, no SPI), as an older
 * library wrote it, is read, and written again as version 2. */
static void test_record_holds_no_key(void)
{
    zesp_sa_params out = manual_sa(0x5501, ZESP_DIR_OUT, 47, 0);
    char state[192], path[512], name[128] = "";
    uint8_t rec[128];
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_info info;
    struct stat st;
    uint64_t mark = 0;
    ssize_t n = -1;
    FILE *ls;
    int fd;

    snprintf(state, sizeof state, "%s/record.state", dir);
    CHECK_OK(zesp_state_dir_init(state));
    CHECK_OK(zesp_sad_set_state_dir(sad, state));
    CHECK_OK(zesp_sa_add(sad, &out));
    CHECK_OK(zesp_sa_info_get(sad, 0x5501, ZESP_DIR_OUT, &info));
    snprintf(path, sizeof path, "ls '%s'", state);
    ls = popen(path, "r");
    if (ls != NULL && fgets(name, sizeof name, ls) != NULL) {
        name[strcspn(name, "\n")] = '\0';
        CHECK(strlen(name) == 64);
        snprintf(path, sizeof path, "%s/%s", state, name);
    }
    if (ls != NULL)
        pclose(ls);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 &&
          st.st_size == 80);
    if ((fd = open(path, O_RDONLY)) >= 0) {
        n = read(fd, rec, sizeof rec);
        close(fd);
    }
    CHECK(n == 80 && memcmp(rec, "ZESPSEQ2", 8) == 0);
    mark = load_le64(rec + 40);
    CHECK(mark == info.seq_reserved && mark == BLOCK);
    CHECK(load_le64(rec + 48) == 0x5501 && load_le64(rec + 56) == 0x5501);
    for (ssize_t i = 0; i + 8 <= n; i++)
        for (unsigned k = 0; k + 8 <= ZESP_KEYBYTES; k++)
            CHECK(memcmp(rec + i, out.key + k, 8) != 0);
    /* Version 1: magic, id, mark, sum of the 48 bytes before it. */
    memcpy(rec, "ZESPSEQ1", 8);
    rec[40] = 3 * BLOCK;
    crypto_generichash(rec + 48, 16, rec, 48, NULL, 0);
    CHECK_OK(zesp_sa_del(sad, 0x5501, ZESP_DIR_OUT));
    if ((fd = open(path, O_WRONLY | O_TRUNC)) >= 0) {
        CHECK(write(fd, rec, 64) == 64);
        close(fd);
    }
    CHECK_OK(zesp_sa_add(sad, &out));
    CHECK_OK(zesp_sa_info_get(sad, 0x5501, ZESP_DIR_OUT, &info));
    CHECK(info.seq == 3 * BLOCK && info.seq_reserved == 4 * BLOCK);
    CHECK(stat(path, &st) == 0 && st.st_size == 80);
    zesp_sad_free(sad);
}

/* Four processes share one manual SA; blocks run out under all of them. */
static void test_four_senders_share_blocks(void)
{
    enum { PROCS = 4, EACH = 1500 };
    zesp_sa_params out = manual_sa(0x5601, ZESP_DIR_OUT, 48, 0);
    struct host a;
    struct wire w = { 0 };
    uint64_t *ivs = calloc(PROCS * EACH, sizeof *ivs);
    size_t got = 0, dup = 0;
    int fds[2];
    pid_t pid[PROCS];
    zesp_sa_info info;
    uint64_t top = 0;

    out.seq_block = 4 * BLOCK;
    host_init(&a, "shared");
    CHECK_OK(host_open(&a));
    CHECK_OK(zesp_sa_add(a.sad, &out));
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    for (int p = 0; p < PROCS; p++)
        if ((pid[p] = fork()) == 0) {
            zesp_sad *sad = zesp_sad_open(a.sad_path, 0, NULL);
            int ok = 0;
            close(fds[0]);
            for (int i = 0; sad && i < EACH; i++) {
                uint64_t iv;
                wire_seal(&w, sad, 0x5601, 1);
                if (w.n == 1 && (iv = load_be64(w.buf[0] + 8)) != 0 &&
                    write(fds[1], &iv, 8) == 8)
                    ok++;
                wire_free(&w);
            }
            zesp_sad_free(sad);
            host_close(&a);             /* the parent's, inherited */
            free(ivs);
            _exit(ok == EACH ? 0 : 1);
        }
    close(fds[1]);
    while (got < PROCS * EACH && read(fds[0], &ivs[got], 8) == 8)
        got++;
    close(fds[0]);
    for (int p = 0; p < PROCS; p++) {
        int status;
        CHECK(waitpid(pid[p], &status, 0) == pid[p] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0);
    }
    qsort(ivs, got, sizeof *ivs, cmp_u64);
    for (size_t i = 1; i < got; i++)
        dup += ivs[i] == ivs[i - 1];
    top = got ? ivs[got - 1] : 0;
    CHECK_OK(zesp_sa_info_get(a.sad, 0x5601, ZESP_DIR_OUT, &info));
    CHECK(got == PROCS * EACH && dup == 0);
    /* Each process's first use jumps over the block it found (a SAD file
     * put back would hold numbers already sent below it). */
    CHECK(top <= info.seq_reserved && info.seq >= PROCS * EACH);
    free(ivs);
    host_close(&a);
}

/*
 * kill -9 of a sender at a random number of sealed messages (never after a
 * fixed delay), then the SA installed again from the same YAML, by a flush
 * or by a new SAD file: no IV twice over all rounds.
 */
/* Mode 0600: the key is written in it. */
static void write_yaml(const char *path, const char *state)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fchmod(fileno(f), 0600) != 0) {
        if (f != NULL)
            fclose(f);
        return;
    }
    fprintf(f, "state_dir: %s\nseq_block: %u\nsas:\n"
               "  - { spi: 0x5701, direction: out, key: \"hex:%s\" }\n",
            state, BLOCK,
            "4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f6061626364");
    fclose(f);
}

static void kill_child(const char *sad_path, int fd)
{
    zesp_sad *sad = zesp_sad_open(sad_path, 0, NULL);
    struct wire w = { 0 };

    for (;;) {
        if (sad == NULL || wire_seal(&w, sad, 0x5701, 1) != 1 ||
            write(fd, w.buf[0] + 8, 8) != 8)
            _exit(1);
        wire_free(&w);
    }
}

static void test_kill_minus_nine_between_writes(void)
{
    enum { ROUNDS = 40, MAX_IVS = 200000 };
    char yaml[192], state[192], sad_path[192], err[512];
    uint64_t *ivs = calloc(MAX_IVS, sizeof *ivs);
    unsigned seed = 20260914;
    size_t got = 0, dup = 0;
    zesp_sad *sad;

    snprintf(yaml, sizeof yaml, "%s/kill.yaml", dir);
    snprintf(state, sizeof state, "%s/kill.state", dir);
    snprintf(sad_path, sizeof sad_path, "%s/kill.sad", dir);
    write_yaml(yaml, state);
    CHECK_OK(zesp_state_dir_init(state));
    unsetenv("ZESP_STATE_DIR");   /* the file's state_dir, as `zesp load` */
    sad = zesp_sad_open(sad_path, ZESP_SAD_CREATE, NULL);
    CHECK_OK(zesp_config_load(sad, yaml, err, sizeof err));
    for (int round = 0; round < ROUNDS && sad != NULL; round++) {
        size_t want = got + 1 + (size_t)(rand_r(&seed) % (5 * BLOCK));
        int fds[2];
        pid_t pid;

        CHECK(pipe(fds) == 0);
        fflush(NULL);
        if ((pid = fork()) == 0) {
            close(fds[0]);
            kill_child(sad_path, fds[1]);
        }
        close(fds[1]);
        /* The event: this many IVs sealed; the child is killed there. */
        while (got < MAX_IVS && read(fds[0], &ivs[got], 8) == 8)
            if (++got >= want) {
                kill(pid, SIGKILL);
                break;
            }
        waitpid(pid, NULL, 0);
        while (got < MAX_IVS && read(fds[0], &ivs[got], 8) == 8)
            got++;
        close(fds[0]);
        /* The host comes back: a flush, or the SAD gone (a reboot). */
        if (round % 2) {
            zesp_sad_free(sad);
            unlink(sad_path);
            sad = zesp_sad_open(sad_path, ZESP_SAD_CREATE, NULL);
        } else {
            CHECK_OK(zesp_sad_flush(sad));
        }
        CHECK_OK(zesp_config_load(sad, yaml, err, sizeof err));
    }
    qsort(ivs, got, sizeof *ivs, cmp_u64);
    for (size_t i = 1; i < got; i++)
        dup += ivs[i] == ivs[i - 1];
    CHECK(got > ROUNDS && dup == 0);
    printf("  %d kills at random counts, %zu messages sealed, %zu IVs "
           "repeated\n", ROUNDS, got, dup);
    zesp_sad_free(sad);
    free(ivs);
}

/* Loads refused, each with a sentence saying why and what to do. */
static void load_refused(const char *state, int want_errno, const char *want)
{
    char yaml[192], err[1024];
    zesp_sad *sad = zesp_sad_new(NULL);

    snprintf(yaml, sizeof yaml, "%s/refused.yaml", dir);
    write_yaml(yaml, state);
    CHECK_ERR(zesp_config_load(sad, yaml, err, sizeof err), want_errno);
    if (strstr(err, want) == NULL || strstr(err, state) == NULL) {
        fprintf(stderr, "  want '%s' and the directory, got '%s'\n", want, err);
        CHECK(!"error text");
    }
    zesp_sad_free(sad);
}

static void damage_record(const char *state, const char *how)
{
    char cmd[512];

    snprintf(cmd, sizeof cmd, "cd '%s' && f=$(ls | head -n 1) && %s", state,
             how);
    CHECK(system(cmd) == 0);
}

static void test_load_refused_without_record(void)
{
    char state[192], link[192], cmd[512], err[1024], yaml[192];
    struct rlimit fsize, zero;
    zesp_sad *sad;
    int rc, saved;

    snprintf(state, sizeof state, "%s/refused.state", dir);
    snprintf(yaml, sizeof yaml, "%s/refused.yaml", dir);
    unsetenv("ZESP_STATE_DIR");
    load_refused(state, ZESP_ENOSTATE, "does not exist: if these keys were "
                                       "never used, make it with 'zesp state init'");
    CHECK(access(state, F_OK) != 0);
    CHECK(mkdir(state, 0777) == 0 && chmod(state, 0777) == 0);
    load_refused(state, ZESP_ESTATEUNSAFE, "not writable by others");
    CHECK(chmod(state, 0700) == 0);
    snprintf(link, sizeof link, "%s/link.state", dir);
    CHECK(symlink(state, link) == 0);
    load_refused(link, ZESP_ESTATEUNSAFE, "not a symbolic link");

    /* A good record, then damaged three ways. */
    sad = zesp_sad_new(NULL);
    write_yaml(yaml, state);
    CHECK_OK(zesp_config_load(sad, yaml, err, sizeof err));
    zesp_sad_free(sad);
    damage_record(state, "cp $f keep && printf '\\377' | dd of=$f bs=1 "
                         "seek=41 conv=notrunc 2>/dev/null");
    load_refused(state, ZESP_ESTATEDAMAGED, "damaged: where its numbering "
                                            "stands is unknown; install a new key");
    damage_record(state, "mv keep $f && cp $f keep && truncate -s 63 $f");
    load_refused(state, ZESP_ESTATEDAMAGED, "damaged");
    damage_record(state, "mv keep $f && cp $f keep && rm $f && ln -s keep $f");
    load_refused(state, ZESP_ESTATEUNSAFE, "unsafe");
    damage_record(state, "rm $f && mv keep $f");
    /* No byte may be written (root writes whatever the modes say). */
    CHECK(getrlimit(RLIMIT_FSIZE, &fsize) == 0);
    zero = fsize;
    zero.rlim_cur = 0;
    CHECK(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
    sad = zesp_sad_new(NULL);
    CHECK(setrlimit(RLIMIT_FSIZE, &zero) == 0);
    rc = zesp_config_load(sad, yaml, err, sizeof err);
    saved = errno;
    CHECK(setrlimit(RLIMIT_FSIZE, &fsize) == 0);
    CHECK(signal(SIGXFSZ, SIG_DFL) != SIG_ERR);
    zesp_sad_free(sad);
    CHECK(rc == -1 && saved == ZESP_ESTATEIO &&
          strstr(err, "cannot write a manual key's sequence record") != NULL);
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q new", state);
    CHECK(system(cmd) != 0);       /* nor its temporary file left */
    sad = zesp_sad_new(NULL);
    CHECK_OK(zesp_config_load(sad, yaml, err, sizeof err));
    zesp_sad_free(sad);
}

/*
 * A SAD file put back from an older copy (a backup, a VM's files copied)
 * while the state directory kept the newer records: issue 31.  Each step
 * runs in a process of its own; the copy is taken while a sender has the
 * file open, and put back with cp, as an operator would.
 */
struct step {
    int ivs[2], go[2];
};

/* A child: open the SAD, seal first, tell its IVs, wait for the parent's
 * go, seal then more, tell those; its exit status says all went. */
static pid_t sender_child(const char *sad_path, uint32_t spi, int first,
                          int then, struct step *st)
{
    pid_t pid;

    if (pipe(st->ivs) != 0 || pipe(st->go) != 0)
        return -1;
    fflush(NULL);
    if ((pid = fork()) == 0) {
        zesp_sad *sad = zesp_sad_open(sad_path, 0, NULL);
        struct wire w = { 0 };
        char go;
        int ok;

        close(st->ivs[0]);
        close(st->go[1]);
        ok = sad != NULL && wire_seal(&w, sad, spi, first) == first;
        for (size_t i = 0; ok && i < w.n; i++)
            ok = write(st->ivs[1], w.buf[i] + 8, 8) == 8;
        wire_free(&w);
        ok = ok && read(st->go[0], &go, 1) == 1;
        ok = ok && wire_seal(&w, sad, spi, then) == then;
        for (size_t i = 0; ok && i < w.n; i++)
            ok = write(st->ivs[1], w.buf[i] + 8, 8) == 8;
        _exit(ok ? 0 : 1);
    }
    close(st->ivs[1]);
    close(st->go[0]);
    return pid;
}

/* n IVs from the child, each as its sequence number (a lane's taken off). */
static size_t read_seqs(struct step *st, uint64_t *seq, size_t n)
{
    uint8_t iv[8];
    size_t got = 0;

    while (got < n && read(st->ivs[0], iv, 8) == 8)
        seq[got++] = load_be64(iv) & ((UINT64_C(1) << 48) - 1U);
    return got;
}

static bool child_done(struct step *st, pid_t pid)
{
    int status = -1;

    close(st->ivs[0]);
    close(st->go[1]);
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

static int run_cp(const char *from, const char *to)
{
    char cmd[600];

    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd);
}

/* Rows: how much the sender sends between the copy and the restore, and
 * with which flags.  Within a block the copy's reservation equals the
 * record; across blocks the record is above it. */
static const struct restore_case {
    const char *name;
    uint32_t flags;
    int between;
} restore_cases[] = {
    { "across blocks", 0, 3 * BLOCK },
    { "within a block", 0, 2 },
    { "lanes, across blocks", ZESP_SA_LANES, 3 * BLOCK },
    { "lanes, within a block", ZESP_SA_LANES, 2 },
};

static void restore_case(const struct restore_case *c, uint32_t spi,
                         uint8_t seed)
{
    enum { FIRST = 5, AFTER = 20, MAX = FIRST + 3 * BLOCK + AFTER };
    zesp_sa_params out = manual_sa(spi, ZESP_DIR_OUT, seed, 0);
    char old[256];
    uint64_t seq[MAX], before_max = 0, after_min = UINT64_MAX;
    size_t n = 0, got;
    struct step st;
    struct host h;
    pid_t pid;

    out.flags |= c->flags;
    host_init(&h, "restore");
    snprintf(old, sizeof old, "%s.old", h.sad_path);
    CHECK_OK(host_open(&h));
    CHECK_OK(zesp_sa_add(h.sad, &out));
    host_close(&h);

    pid = sender_child(h.sad_path, spi, FIRST, c->between, &st);
    n += read_seqs(&st, seq + n, FIRST);
    CHECK(n == FIRST && run_cp(h.sad_path, old) == 0);
    CHECK(write(st.go[1], "g", 1) == 1);
    n += read_seqs(&st, seq + n, (size_t)c->between);
    CHECK(child_done(&st, pid) && n == FIRST + (size_t)c->between);
    CHECK(run_cp(old, h.sad_path) == 0);         /* the copy put back */
    for (size_t i = 0; i < n; i++)
        before_max = seq[i] > before_max ? seq[i] : before_max;

    pid = sender_child(h.sad_path, spi, AFTER, 0, &st);
    CHECK(write(st.go[1], "g", 1) == 1);
    got = read_seqs(&st, seq + n, AFTER);
    CHECK(child_done(&st, pid) && got == AFTER);
    for (size_t i = n; i < n + got; i++)
        after_min = seq[i] < after_min ? seq[i] : after_min;
    CHECK(after_min > before_max);
    if (test_case_failed)
        fprintf(stderr, "  %s: %zu sent after the restore, the lowest %llu, "
                "the highest before %llu\n", c->name, got,
                (unsigned long long)after_min, (unsigned long long)before_max);
    unlink(old);
    unlink(h.sad_path);
}

static void test_restored_sad_file_sends_above_record(void)
{
    for (size_t i = 0; i < sizeof restore_cases / sizeof *restore_cases; i++)
        restore_case(&restore_cases[i], 0x5901U + (uint32_t)i,
                     (uint8_t)(60 + i));
}

/* A receiver's child: open its SAD, give it the frames [from, to), report
 * how many it accepted. */
static int open_in_child(const char *sad_path, const struct wire *w,
                         size_t from, size_t to)
{
    int fds[2], accepted = -1;
    pid_t pid;

    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    if ((pid = fork()) == 0) {
        zesp_sad *sad = zesp_sad_open(sad_path, 0, NULL);
        int n = sad != NULL ? wire_open(w, sad, from, to) : -1;
        close(fds[0]);
        _exit(write(fds[1], &n, sizeof n) == sizeof n ? 0 : 1);
    }
    close(fds[1]);
    if (read(fds[0], &accepted, sizeof accepted) != sizeof accepted)
        accepted = -1;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    return accepted;
}

/* The receiver's SAD put back: what its record says was accepted stays
 * refused, in the SAD's window and in a process's own window alike; what
 * the sender sends above the record is accepted. */
static void test_restored_sad_file_refuses_replays(void)
{
    static const uint32_t flags[] = { 0, ZESP_SA_PER_PROCESS_WINDOW };

    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
        enum { FIRST = 5, BETWEEN = 3 * BLOCK, AFTER = 2 * BLOCK };
        uint32_t spi = 0x5a01U + (uint32_t)i;
        struct link l;
        char old[256];
        int replayed, fresh;

        link_begin(&l, spi, (uint8_t)(70 + i), 0);
        /* The receiver again, with the flag; on its own SAD file. */
        CHECK_OK(zesp_sa_del(l.b.sad, spi, ZESP_DIR_IN));
        l.in.flags |= flags[i];
        l.in.spi = spi;
        CHECK_OK(zesp_sa_add(l.b.sad, &l.in));
        host_close(&l.b);
        snprintf(old, sizeof old, "%s.old", l.b.sad_path);
        CHECK(wire_seal(&l.w, l.a.sad, spi, FIRST + BETWEEN) ==
              FIRST + BETWEEN);
        CHECK(open_in_child(l.b.sad_path, &l.w, 0, FIRST) == FIRST);
        CHECK(run_cp(l.b.sad_path, old) == 0);
        CHECK(open_in_child(l.b.sad_path, &l.w, FIRST, FIRST + BETWEEN) ==
              BETWEEN);
        CHECK(run_cp(old, l.b.sad_path) == 0);
        replayed = open_in_child(l.b.sad_path, &l.w, 0, FIRST + BETWEEN);
        CHECK(wire_seal(&l.w, l.a.sad, spi, AFTER) == AFTER);
        fresh = open_in_child(l.b.sad_path, &l.w, FIRST + BETWEEN,
                              FIRST + BETWEEN + AFTER);
        /* The sender did not go back: of its next numbers, those up to the
         * receiver's record are lost, as when a receiver reloads alone. */
        CHECK(replayed == 0 && fresh > AFTER - (int)BLOCK && fresh <= AFTER);
        if (test_case_failed)
            fprintf(stderr, "  flags 0x%x: %d replays accepted after the "
                    "restore, %d of %d fresh\n", flags[i], replayed, fresh,
                    AFTER);
        unlink(old);
        unlink(l.a.sad_path);
        unlink(l.b.sad_path);
        link_end(&l);
    }
}

/* One manual key, under one SPI, as group sender 1 and as a lanes SA,
 * each way: `used` the kind that serves first, `kept` the kind the SAD
 * copy holds (the lanes SA when group_first). */
struct kinds {
    zesp_sa_params grp_out, grp_in, lanes_out, lanes_in;
    const zesp_sa_params *kept_out, *kept_in, *used_out, *used_in;
};

static void kinds_init(struct kinds *k, bool group_first, uint32_t spi,
                       uint8_t seed)
{
    k->grp_out = k->lanes_out = manual_sa(spi, ZESP_DIR_OUT, seed, 0);
    k->grp_in = k->lanes_in = manual_sa(spi, ZESP_DIR_IN, seed, 0);
    k->grp_out.flags |= ZESP_SA_GROUP;
    k->grp_in.flags |= ZESP_SA_GROUP;
    k->grp_out.sender_id = k->grp_in.sender_id = 1;
    k->lanes_out.flags |= ZESP_SA_LANES;
    k->lanes_in.flags |= ZESP_SA_LANES;
    k->kept_out = group_first ? &k->lanes_out : &k->grp_out;
    k->kept_in = group_first ? &k->lanes_in : &k->grp_in;
    k->used_out = group_first ? &k->grp_out : &k->lanes_out;
    k->used_in = group_first ? &k->grp_in : &k->lanes_in;
}

/* A copy of h's SAD file (at copy, h's path + ".old") holding the key's
 * SA of the kind kept; then h's SAD emptied, for the other kind. */
static void copy_holding(struct host *h, const zesp_sa_params *kept,
                         char *copy, size_t cap)
{
    snprintf(copy, cap, "%s.old", h->sad_path);
    CHECK_OK(zesp_sa_add(h->sad, kept));
    host_close(h);
    CHECK(run_cp(h->sad_path, copy) == 0);
    CHECK_OK(host_open(h));
    CHECK_OK(zesp_sad_flush(h->sad));
}

/* The receiver's SAD put back across a switch of kinds: the copy holds the
 * key's SA of one kind, installed before the key served the other kind at
 * this receiver.  A process using the copy's SA still refuses the other
 * kind's frames up to that kind's record (at its first use), and accepts
 * the fresh frames of the copy's kind. */
static void restore_switch_case(bool group_first, uint32_t spi, uint8_t seed)
{
    enum { N = 40 };
    struct kinds k;
    struct wire old = { 0 }, fresh = { 0 };
    struct host a, b;
    char copy[256];
    int before, replayed, accepted;

    kinds_init(&k, group_first, spi, seed);
    host_init(&a, "sender");
    host_init(&b, "receiver");
    CHECK_OK(host_open(&a));
    CHECK_OK(host_open(&b));
    copy_holding(&b, k.kept_in, copy, sizeof copy);
    CHECK_OK(zesp_sa_add(b.sad, k.used_in));
    CHECK_OK(zesp_sa_add(a.sad, k.used_out));
    CHECK(wire_seal(&old, a.sad, spi, N) == N);
    before = wire_open(&old, b.sad, 0, N);
    host_close(&b);
    CHECK(run_cp(copy, b.sad_path) == 0);        /* the copy put back */
    replayed = open_in_child(b.sad_path, &old, 0, N);
    CHECK_OK(zesp_sad_flush(a.sad));
    CHECK_OK(zesp_sa_add(a.sad, k.kept_out));
    CHECK(wire_seal(&fresh, a.sad, spi, N) == N);
    accepted = open_in_child(b.sad_path, &fresh, 0, N);
    replayed += open_in_child(b.sad_path, &old, 0, N);
    CHECK(before == N && replayed == 0 && accepted == N);
    if (test_case_failed)
        fprintf(stderr, "  %s: %d accepted before, %d replays accepted by the "
                "copy's SA, %d of %d fresh\n",
                group_first ? "group then the copy's lanes SA"
                            : "lanes then the copy's group SA",
                before, replayed, accepted, N);
    wire_free(&old);
    wire_free(&fresh);
    host_close(&a);
    unlink(copy);
    unlink(a.sad_path);
    unlink(b.sad_path);
}

static void test_restored_sad_file_across_kinds(void)
{
    restore_switch_case(true, 0x5a11, 92);
    restore_switch_case(false, 0x5a12, 93);
}

/* The sender's SAD put back across a switch of kinds: the copy holds the
 * key's outbound SA of one kind, installed before the key served the
 * other kind at this sender (lane 1 and Sender ID 1 are one IV field).  A
 * new process sending on the copy's SA must start above what the other
 * kind sent, not at its own kind's record: no IV twice under the key, and
 * the receiver, switched the usual way, accepts every fresh frame. */
static void restore_tx_switch_case(bool group_first, uint32_t spi,
                                   uint8_t seed)
{
    enum { N = 40 };
    struct kinds k;
    struct wire w = { 0 };
    struct host a, b;
    char copy[256];
    int before, replayed, accepted;
    size_t dup;

    kinds_init(&k, group_first, spi, seed);
    host_init(&a, "sender");
    host_init(&b, "receiver");
    CHECK_OK(host_open(&a));
    CHECK_OK(host_open(&b));
    copy_holding(&a, k.kept_out, copy, sizeof copy);
    CHECK_OK(zesp_sa_add(a.sad, k.used_out));
    CHECK_OK(zesp_sa_add(b.sad, k.used_in));
    CHECK(wire_seal(&w, a.sad, spi, N) == N);
    before = wire_open(&w, b.sad, 0, N);
    host_close(&a);
    CHECK(run_cp(copy, a.sad_path) == 0);        /* the copy put back */
    CHECK_OK(host_open(&a));
    CHECK(wire_seal(&w, a.sad, spi, N) == N);
    CHECK_OK(zesp_sad_flush(b.sad));
    CHECK_OK(zesp_sa_add(b.sad, k.kept_in));
    accepted = wire_open(&w, b.sad, N, 2 * N);
    replayed = wire_open(&w, b.sad, 0, 2 * N);
    dup = repeated(&w, false);
    CHECK(dup == 0 && before == N && accepted == N && replayed == 0);
    if (test_case_failed)
        fprintf(stderr, "  %s: %zu of %d IVs sent twice under the key; "
                "receiver: %d accepted before, %d of %d fresh, %d replays\n",
                group_first ? "group then the copy's lanes SA"
                            : "lanes then the copy's group SA",
                dup, N, before, accepted, N, replayed);
    wire_free(&w);
    host_close(&a);
    host_close(&b);
    unlink(copy);
    unlink(a.sad_path);
    unlink(b.sad_path);
}

static void test_restored_sad_file_sender_across_kinds(void)
{
    restore_tx_switch_case(true, 0x5a13, 94);
    restore_tx_switch_case(false, 0x5a14, 95);
}

/* A state directory its group may write, for a SAD that is not
 * group-shared: refused with the reason; for a group-shared SAD, used. */
static void test_group_writable_state_dir(void)
{
    zesp_sa_params p = manual_sa(0x5b01, ZESP_DIR_OUT, 80, 0);
    zesp_sad_opts opts = { .mode = 0660 };
    char state[192], path[192];
    zesp_sad *sad;

    snprintf(state, sizeof state, "%s/group.state", dir);
    CHECK_OK(zesp_state_dir_init(state));
    CHECK(chmod(state, 0770) == 0);
    load_refused(state, ZESP_ESTATEUNSAFE, "nor by its group unless the SA "
                                           "database is group-shared");
    snprintf(path, sizeof path, "%s/private.sad", dir);
    sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL);
    if (sad != NULL) {
        CHECK_OK(zesp_sad_set_state_dir(sad, state));
        CHECK_ERR(zesp_sa_add(sad, &p), ZESP_ESTATEUNSAFE);
        zesp_sad_free(sad);
    }
    snprintf(path, sizeof path, "%s/group.sad", dir);
    sad = zesp_sad_open(path, ZESP_SAD_CREATE | ZESP_SAD_GROUP, &opts);
    CHECK(sad != NULL);
    if (sad != NULL) {
        CHECK_OK(zesp_sad_set_state_dir(sad, state));
        CHECK_OK(zesp_sa_add(sad, &p));
        zesp_sad_free(sad);
    }
}

/*
 * A POSIX ACL naming a user outside the group (uid 65534) who may write:
 * the mode's group bits show only the mask, so a group-shared state
 * directory or record "of its group" is that user's too, who could remove
 * or put back a record and so make a key count again.  A directory or a
 * record an ACL gives a named user write to is refused; a record made
 * where the directory's default ACL names a user is made without it.
 */
enum { ACL_NAMED_UID = 65534 };

static int set_acl(const char *path, const char *xattr, unsigned perm)
{
    return acl_xattr_set(path, xattr, perm, ACL_NAMED_UID, perm, perm);
}

/* The one record in state (a regular file), its path into out. */
static int the_record(const char *state, char *out, size_t outlen)
{
    DIR *d = opendir(state);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && n++ == 0)
            snprintf(out, outlen, "%s/%s", state, e->d_name);
    closedir(d);
    return n == 1 ? 0 : -1;
}

static void test_acl_on_state_dir(void)
{
    zesp_sa_params p = manual_sa(0x5c01, ZESP_DIR_OUT, 81, 0);
    zesp_sad_opts opts = { .mode = 0660 };
    char state[192], path[192], rec[512];
    zesp_sad *sad;

    snprintf(state, sizeof state, "%s/acl.state", dir);
    snprintf(path, sizeof path, "%s/acl.sad", dir);
    CHECK_OK(zesp_state_dir_init(state));
    CHECK(chmod(state, 0770) == 0);
    if (set_acl(state, "system.posix_acl_access", 7) != 0) {
        printf("     skip: no POSIX ACLs here (%s)\n", strerror(errno));
        return;
    }
    sad = zesp_sad_open(path, ZESP_SAD_CREATE | ZESP_SAD_GROUP, &opts);
    CHECK(sad != NULL);
    if (sad == NULL)
        return;
    CHECK_OK(zesp_sad_set_state_dir(sad, state));
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_ESTATEUNSAFE);
    CHECK_OK(zesp_sad_flush(sad));
    /* The directory the group's alone, its default ACL naming the user. */
    CHECK(removexattr(state, "system.posix_acl_access") == 0);
    CHECK(chmod(state, 0770) == 0);
    CHECK(set_acl(state, "system.posix_acl_default", 6) == 0);
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(the_record(state, rec, sizeof rec) == 0);
    CHECK(!acl_xattr_names_a_user(rec, 2));
    /* The record given to the user afterwards: not read again. */
    CHECK(set_acl(rec, "system.posix_acl_access", 6) == 0);
    CHECK_OK(zesp_sad_flush(sad));
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_ESTATEUNSAFE);
    zesp_sad_free(sad);
}

/* A record written in a group-shared state directory whose default ACL
 * names a user outside the group (who may look names up in it, not write
 * it, so the directory is used): that user cannot open the record while
 * it is made.  Before, it was created with mode 0660, which let the
 * default ACL's named entry through its mask until the ACL was stripped:
 * uid 65534 opened it for writing in that window. */
static void test_acl_default_record_while_made(void)
{
    zesp_sa_params p = manual_sa(0x5c02, ZESP_DIR_OUT, 82, 0);
    zesp_sad_opts opts = { .mode = 0660 };
    char state[192], path[192];
    struct stat st;
    zesp_sad *sad;

    if (geteuid() != 0) {
        printf("     skip: needs root to open it as another user\n");
        return;
    }
    snprintf(state, sizeof state, "%s/acl-made.state", dir);
    snprintf(path, sizeof path, "%s/acl-made.sad", dir);
    CHECK_OK(zesp_state_dir_init(state));
    CHECK(chmod(state, 0770) == 0);
    if (acl_xattr_set(state, "system.posix_acl_access", 7, ACL_NAMED_UID, 1,
                      7) != 0 || set_acl(state, "system.posix_acl_default",
                                         6) != 0) {
        printf("     skip: no POSIX ACLs here (%s)\n", strerror(errno));
        return;
    }
    CHECK(stat(dir, &st) == 0 && chmod(dir, 0711) == 0);
    sad = zesp_sad_open(path, ZESP_SAD_CREATE | ZESP_SAD_GROUP, &opts);
    CHECK(sad != NULL);
    if (sad != NULL) {
        CHECK_OK(zesp_sad_set_state_dir(sad, state));
        new_watch_uid = ACL_NAMED_UID;
        new_watch_flags = O_WRONLY;
        new_watch = true;
        CHECK_OK(zesp_sa_add(sad, &p));
        new_watch = false;
        zesp_sad_free(sad);
    }
    CHECK(new_seen);
    if (new_opened)
        fprintf(stderr, "  uid %u opened the record being written\n",
                (unsigned)ACL_NAMED_UID);
    CHECK(!new_opened);
    CHECK(chmod(dir, st.st_mode & 07777) == 0);
}

/* Run as another user: write a copy of the record where root can take it. */
static int plant_as(uid_t uid, const char *from, const char *to)
{
    uint8_t rec[64];
    int in, out, ok;

    if ((in = open(from, O_RDONLY)) < 0 || read(in, rec, sizeof rec) != 64)
        return 1;
    close(in);
    if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
        return 77;
    if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
        return 2;
    ok = write(out, rec, sizeof rec) == 64;
    return close(out) == 0 && ok ? 0 : 3;
}

/*
 * A record put back by another user (an older one, that would make the
 * key count again from there): refused, as is a record its group may
 * write in a directory that is not the group's.
 */
static void test_record_of_another_user(void)
{
    enum { OTHER_UID = 65534 };
    char state[192], yaml[192], rec[512], keep[sizeof ".keep" + 512], scratch[192],
        planted[256], cmd[512], err[1024];
    zesp_sad *sad;
    FILE *ls;
    int status = -1;
    pid_t pid;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as another user\n");
        return;
    }
    snprintf(state, sizeof state, "%s/planted.state", dir);
    snprintf(yaml, sizeof yaml, "%s/refused.yaml", dir);
    CHECK_OK(zesp_state_dir_init(state));
    write_yaml(yaml, state);
    sad = zesp_sad_new(NULL);
    CHECK_OK(zesp_config_load(sad, yaml, err, sizeof err));
    zesp_sad_free(sad);
    rec[0] = '\0';
    snprintf(cmd, sizeof cmd, "ls '%s'", state);
    if ((ls = popen(cmd, "r")) != NULL) {
        char name[128];
        if (fgets(name, sizeof name, ls) != NULL) {
            name[strcspn(name, "\n")] = '\0';
            snprintf(rec, sizeof rec, "%s/%s", state, name);
        }
        pclose(ls);
    }
    snprintf(keep, sizeof keep, "%s.keep", rec);
    CHECK(rec[0] != '\0' && rename(rec, keep) == 0);

    /* The other user writes it in a place of its own; it is put back. */
    snprintf(scratch, sizeof scratch, "%s/scratch", dir);
    snprintf(planted, sizeof planted, "%s/record", scratch);
    CHECK(mkdir(scratch, 0700) == 0 && chmod(scratch, 01777) == 0 &&
          chmod(dir, 0755) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(plant_as(OTHER_UID, keep, planted));
    waitpid(pid, &status, 0);
    CHECK(chmod(dir, 0700) == 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("     skip: this process may not become another user\n");
        return;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(rename(planted, rec) == 0);
    load_refused(state, ZESP_ESTATEUNSAFE, "owned by this user or root");

    /* Root's again, but its group may write it. */
    CHECK(unlink(rec) == 0 && rename(keep, rec) == 0 && chmod(rec, 0660) == 0);
    load_refused(state, ZESP_ESTATEUNSAFE, "nor by its group");
    CHECK(chmod(rec, 0600) == 0);
    sad = zesp_sad_new(NULL);
    CHECK_OK(zesp_config_load(sad, yaml, err, sizeof err));
    zesp_sad_free(sad);
}

/* Run as another user: swap directories a and b (a put aside), as
 * whoever may write their parent can, though it may write in neither. */
static int swap_as(uid_t uid, const char *a, const char *b, const char *aside)
{
    if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
        return 77;
    return rename(a, aside) == 0 && rename(b, a) == 0 ? 0 : 1;
}

/*
 * A state directory of ours in a directory another user may write, no
 * sticky bit (a team's shared folder): that user may not write in ours,
 * but may rename it.  Two of ours there, swapped, and a key installed
 * again (the next boot's load) finds no record: it counts from 1 again,
 * with the IVs it sent before.  Such a directory is refused, as is one
 * below it; one in a sticky directory (/tmp) is not.
 */
static void test_state_dir_where_others_rename_it(void)
{
    enum { OTHER_UID = 65534, N = 40 };
    zesp_sa_params p = manual_sa(0x5e01, ZESP_DIR_OUT, 96, 0);
    char shared[192], a[224], b[224], aside[224], sub[224], deep[256],
        sad1[192], sad2[192];
    struct wire w = { 0 };
    zesp_sad *sad;
    int rc, status = -1;
    pid_t pid;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as another user\n");
        return;
    }
    snprintf(shared, sizeof shared, "%s/team", dir);
    snprintf(a, sizeof a, "%s/a.state", shared);
    snprintf(b, sizeof b, "%s/b.state", shared);
    snprintf(aside, sizeof aside, "%s/aside", shared);
    snprintf(sub, sizeof sub, "%s/ours", shared);
    snprintf(deep, sizeof deep, "%s/deep.state", sub);
    snprintf(sad1, sizeof sad1, "%s/renamed1.sad", dir);
    snprintf(sad2, sizeof sad2, "%s/renamed2.sad", dir);
    CHECK(mkdir(shared, 0700) == 0 && chmod(shared, 0777) == 0);
    CHECK(mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0 && mkdir(sub, 0700) == 0 &&
          mkdir(deep, 0700) == 0);

    sad = zesp_sad_open(sad1, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL && zesp_sad_set_state_dir(sad, a) == 0);
    CHECK_ERR((rc = zesp_sa_add(sad, &p)), ZESP_ESTATEUNSAFE);
    if (rc == 0) {
        /* Accepted: what the other user can then do. */
        CHECK(wire_seal(&w, sad, 0x5e01, N) == N);
        zesp_sad_free(sad);
        CHECK(chmod(dir, 0755) == 0);
        fflush(NULL);
        if ((pid = fork()) == 0)
            _exit(swap_as(OTHER_UID, a, b, aside));
        waitpid(pid, &status, 0);
        CHECK(chmod(dir, 0700) == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        sad = zesp_sad_open(sad2, ZESP_SAD_CREATE, NULL);
        CHECK(sad != NULL && zesp_sad_set_state_dir(sad, a) == 0);
        CHECK_OK(zesp_sa_add(sad, &p));
        CHECK(wire_seal(&w, sad, 0x5e01, N) == N);
        fprintf(stderr, "  state directories swapped by uid %d: the key "
                "installed again repeats %zu (SPI, IV) of %zu\n", OTHER_UID,
                repeated(&w, true), w.n);
        wire_free(&w);
    }
    zesp_sad_free(sad);
    unlink(sad1);
    unlink(sad2);

    /* Below a directory of ours that is below the shared one. */
    sad = zesp_sad_open(sad1, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL && zesp_sad_set_state_dir(sad, deep) == 0);
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_ESTATEUNSAFE);
    zesp_sad_free(sad);
    unlink(sad1);
    CHECK_ERR(zesp_state_dir_init(deep), ZESP_ESTATEUNSAFE);

    /* Sticky, as /tmp is: only the owner of an entry may rename it. */
    CHECK(chmod(shared, 01777) == 0);
    sad = zesp_sad_open(sad1, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL && zesp_sad_set_state_dir(sad, deep) == 0);
    CHECK_OK(zesp_sa_add(sad, &p));
    zesp_sad_free(sad);
    unlink(sad1);
    CHECK_OK(zesp_state_dir_init(deep));
}

/* Run as another user: point the symbolic link at another directory. */
static int relink_as(uid_t uid, const char *link, const char *target)
{
    char tmp[256];

    if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
        return 77;
    snprintf(tmp, sizeof tmp, "%s.new", link);
    return symlink(target, tmp) == 0 && rename(tmp, link) == 0 ? 0 : 1;
}

/*
 * The state directory named through a symbolic link that sits in a
 * directory another user may write (a team's folder linking to ours):
 * every directory above the state directory is ours, yet that user may
 * point the link at another directory of ours, with no record of the key,
 * which then counts from 1 again.  Refused; a link in directories only we
 * write (/home -> /data/home) is not.
 */
static void test_state_dir_through_link_others_replace(void)
{
    enum { OTHER_UID = 65534, N = 40 };
    zesp_sa_params p = manual_sa(0x5e02, ZESP_DIR_OUT, 97, 0);
    char shared[192], ours[192], theirs[192], link[224], state[256],
        a[224], b[224], sad1[192], sad2[192];
    struct wire w = { 0 };
    zesp_sad *sad;
    int rc, status = -1;
    pid_t pid;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as another user\n");
        return;
    }
    snprintf(shared, sizeof shared, "%s/linkteam", dir);
    snprintf(ours, sizeof ours, "%s/home_a", dir);
    snprintf(theirs, sizeof theirs, "%s/home_b", dir);
    snprintf(a, sizeof a, "%s/zesp", ours);
    snprintf(b, sizeof b, "%s/zesp", theirs);
    snprintf(link, sizeof link, "%s/home", shared);
    snprintf(state, sizeof state, "%s/zesp", link);
    snprintf(sad1, sizeof sad1, "%s/linked1.sad", dir);
    snprintf(sad2, sizeof sad2, "%s/linked2.sad", dir);
    CHECK(mkdir(shared, 0700) == 0 && chmod(shared, 0777) == 0);
    CHECK(mkdir(ours, 0700) == 0 && mkdir(theirs, 0700) == 0 &&
          mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0);
    CHECK(symlink(ours, link) == 0 && lchown(link, OTHER_UID, OTHER_UID) == 0);

    sad = zesp_sad_open(sad1, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL && zesp_sad_set_state_dir(sad, state) == 0);
    CHECK_ERR((rc = zesp_sa_add(sad, &p)), ZESP_ESTATEUNSAFE);
    if (rc == 0) {
        /* Accepted: what the other user can then do. */
        CHECK(wire_seal(&w, sad, 0x5e02, N) == N);
        zesp_sad_free(sad);
        CHECK(chmod(dir, 0755) == 0);
        fflush(NULL);
        if ((pid = fork()) == 0)
            _exit(relink_as(OTHER_UID, link, theirs));
        waitpid(pid, &status, 0);
        CHECK(chmod(dir, 0700) == 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        sad = zesp_sad_open(sad2, ZESP_SAD_CREATE, NULL);
        CHECK(sad != NULL && zesp_sad_set_state_dir(sad, state) == 0);
        CHECK_OK(zesp_sa_add(sad, &p));
        CHECK(wire_seal(&w, sad, 0x5e02, N) == N);
        fprintf(stderr, "  link to the state directory replaced by uid %d: "
                "the key installed again repeats %zu (SPI, IV) of %zu\n",
                OTHER_UID, repeated(&w, true), w.n);
        wire_free(&w);
    }
    zesp_sad_free(sad);
    unlink(sad1);
    unlink(sad2);
    CHECK_ERR(zesp_state_dir_init(state), ZESP_ESTATEUNSAFE);

    /* The same link in a directory only we write: as /home -> /data/home. */
    CHECK(chmod(shared, 0755) == 0);
    sad = zesp_sad_open(sad1, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL && zesp_sad_set_state_dir(sad, state) == 0);
    CHECK_OK(zesp_sa_add(sad, &p));
    zesp_sad_free(sad);
    unlink(sad1);
    CHECK_OK(zesp_state_dir_init(state));
}

/* A user other than root whose primary group bears his name and has no
 * other member (Debian's, Ubuntu's and Fedora's user private groups). */
static bool user_private_group_user(uid_t *uid, gid_t *gid)
{
    struct passwd *pw;
    struct group *gr;
    bool found = false;

    setpwent();
    while (!found && (pw = getpwent()) != NULL)
        found = pw->pw_uid != 0 && (gr = getgrgid(pw->pw_gid)) != NULL &&
                strcmp(gr->gr_name, pw->pw_name) == 0 &&
                (gr->gr_mem[0] == NULL ||
                 (strcmp(gr->gr_mem[0], pw->pw_name) == 0 &&
                  gr->gr_mem[1] == NULL)) &&
                (*uid = pw->pw_uid, *gid = pw->pw_gid, true);
    endpwent();
    return found;
}

/* As that user, with umask 002 as those systems give him: his state
 * directory below his folders, mode 0775, made and used; refused where
 * the group of one is another's.  0: as expected. */
static int upg_user_state_dir(uid_t uid, gid_t gid, const char *base)
{
    zesp_sa_params p = manual_sa(0x5e03, ZESP_DIR_OUT, 98, 0);
    char home[224], local[256], state[320];
    zesp_sad *sad;
    int bad = 0;

    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return 77;
    umask(002);
    snprintf(home, sizeof home, "%s/home", base);
    snprintf(local, sizeof local, "%s/.local", home);
    snprintf(state, sizeof state, "%s/state/zesp", local);
    if (mkdir(home, 0775) != 0 || mkdir(local, 0775) != 0)
        return 2;
    if (zesp_state_dir_init(state) != 0) {
        fprintf(stderr, "  %s, below 0775 folders of group %d: %s\n", state,
                (int)gid, zesp_strerror(errno));
        bad++;
    }
    sad = zesp_sad_new(NULL);
    if (sad == NULL || zesp_sad_set_state_dir(sad, state) != 0 ||
        zesp_sa_add(sad, &p) != 0)
        bad++;
    zesp_sad_free(sad);
    return bad;
}

/*
 * A user private group has its user alone in it: his folders made with
 * umask 002 (mode 0775) let no one else rename what is in them, and his
 * state directory below them is used, as it was before the directories
 * above it were judged.  A folder of his whose group has others in it,
 * or is another's, still is no place for it.
 */
static void test_state_dir_below_user_private_group(void)
{
    char base[192], other[224];
    int status = -1;
    uid_t uid;
    gid_t gid;
    pid_t pid;

    if (geteuid() != 0 || !user_private_group_user(&uid, &gid)) {
        printf("     skip: needs root and a user with a private group\n");
        return;
    }
    snprintf(base, sizeof base, "%s/upg", dir);
    CHECK(mkdir(base, 0700) == 0 && chown(base, uid, gid) == 0);
    CHECK(chmod(dir, 0711) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(upg_user_state_dir(uid, gid, base));
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The same folder given a group of others (nogroup, or root's). */
    snprintf(other, sizeof other, "%s/home/.local", base);
    CHECK(chown(other, uid, getgrnam("nogroup") ? getgrnam("nogroup")->gr_gid
                                                : 0) == 0);
    snprintf(other, sizeof other, "%s/home/.local/state/zesp", base);
    if ((pid = fork()) == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
            _exit(77);
        _exit(zesp_state_dir_init(other) != 0 && errno == ZESP_ESTATEUNSAFE
                  ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Its own group again, and an ACL naming another user with write
     * (the group bits, 7, are the ACL's mask then). */
    snprintf(other, sizeof other, "%s/home/.local", base);
    CHECK(chown(other, uid, gid) == 0);
    if (set_acl(other, "system.posix_acl_access", 7) == 0) {
        snprintf(other, sizeof other, "%s/home/.local/state/zesp", base);
        if ((pid = fork()) == 0) {
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 ||
                setuid(uid) != 0)
                _exit(77);
            _exit(zesp_state_dir_init(other) != 0 &&
                          errno == ZESP_ESTATEUNSAFE
                      ? 0 : 1);
        }
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    CHECK(chmod(dir, 0700) == 0);
}

/*
 * The temporary file of a record's write has a random name.  Before it was
 * NAME.new: a directory, or in a group's sticky directory a file of
 * another member, planted under that name stopped every write of the
 * record (a manual key then could not be installed, nor send past its
 * reservation).  A leftover of this user's, of the random form, is
 * removed when a key is installed; another's, or what is not a regular
 * file, is left.
 */
static const char leftover_tag[] = ".0123456789abcdef.new";

static int plant(const char *rec, const char *suffix, char kind)
{
    char path[600];
    int fd;

    snprintf(path, sizeof path, "%s%s", rec, suffix);
    if (kind == 'd')
        return mkdir(path, 0700);
    if (kind == 'l')
        return symlink("/nonexistent", path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
        return -1;
    return close(fd);
}

static bool planted(const char *rec, const char *suffix)
{
    char path[600];
    struct stat st;

    snprintf(path, sizeof path, "%s%s", rec, suffix);
    return lstat(path, &st) == 0;
}

static void test_record_temp_name_planted(void)
{
    zesp_sa_params p = manual_sa(0x5f01, ZESP_DIR_OUT, 120, 0);
    const char kinds[] = { 'd', 'l', 'f' };
    char state[192], rec[512], path[600];
    zesp_sad *sad = zesp_sad_new(NULL);

    snprintf(state, sizeof state, "%s/planted-new.state", dir);
    CHECK_OK(zesp_state_dir_init(state));
    CHECK_OK(zesp_sad_set_state_dir(sad, state));
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(the_record(state, rec, sizeof rec) == 0);
    for (size_t i = 0; i < sizeof kinds; i++) {
        CHECK_OK(zesp_sad_flush(sad));
        CHECK(plant(rec, ".new", kinds[i]) == 0);
        errno = 0;
        if (zesp_sa_add(sad, &p) != 0) {
            fprintf(stderr, "  NAME.new planted as a %s: %s\n",
                    kinds[i] == 'd' ? "directory" : kinds[i] == 'l'
                                                        ? "symbolic link"
                                                        : "file",
                    zesp_strerror(errno));
            CHECK(!"the record written");
        }
        CHECK(planted(rec, ".new"));    /* not ours to remove */
        snprintf(path, sizeof path, "%s.new", rec);
        CHECK(kinds[i] == 'd' ? rmdir(path) == 0 : unlink(path) == 0);
    }
    /* A leftover of ours (a writer killed before its rename): removed;
     * another user's, a directory of that form: left. */
    CHECK_OK(zesp_sad_flush(sad));
    CHECK(plant(rec, leftover_tag, 'f') == 0);
    CHECK(plant(rec, ".fedcba9876543210.new", 'd') == 0);
    snprintf(path, sizeof path, "%s.00000000000000ff.new", rec);
    if (geteuid() == 0)
        CHECK(plant(rec, ".00000000000000ff.new", 'f') == 0 &&
              chown(path, 65534, 65534) == 0);
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(!planted(rec, leftover_tag));
    CHECK(planted(rec, ".fedcba9876543210.new"));
    CHECK(geteuid() != 0 || planted(rec, ".00000000000000ff.new"));
    zesp_sad_free(sad);
}

/* As uid: in a group's state directory (its group SHARED_GID), the first
 * install of the key ('i') or the key installed again ('a'), or plant a
 * file named as the record's temporary file ('p', suffix path). */
enum { SHARED_GID = 65533, MEMBER_UID = 65532, OTHER_MEMBER_UID = 65534 };

static int as_member(uid_t uid, char what, const char *sad_path,
                     const char *state, const char *path)
{
    zesp_sa_params p = manual_sa(0x5f02, ZESP_DIR_OUT, 121, 0);
    zesp_sad_opts opts = { .mode = 0660 };
    gid_t g = SHARED_GID;
    zesp_sad *sad;
    int fd;

    if (setgroups(1, &g) != 0 || setgid(uid) != 0 || setuid(uid) != 0)
        return 77;
    umask(007);
    if (what == 'p')
        return (fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0 &&
                       close(fd) == 0 ? 0 : 1;
    sad = zesp_sad_open(sad_path, ZESP_SAD_CREATE | ZESP_SAD_GROUP, &opts);
    if (sad == NULL || zesp_sad_set_state_dir(sad, state) != 0) {
        fprintf(stderr, "  uid %d: %s\n", (int)uid, zesp_strerror(errno));
        return 2;
    }
    if (what == 'a' && zesp_sad_flush(sad) != 0)
        return 3;
    if (zesp_sa_add(sad, &p) != 0) {
        fprintf(stderr, "  uid %d: the key %s: %s\n", (int)uid,
                what == 'a' ? "installed again" : "installed",
                zesp_strerror(errno));
        zesp_sad_free(sad);
        return 4;
    }
    zesp_sad_free(sad);
    return 0;
}

static int run_member(uid_t uid, char what, const char *sad_path,
                      const char *state, const char *path)
{
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(as_member(uid, what, sad_path, state, path));
    return test_wait_status(pid);
}

/* Another member of the group plants NAME.new, a file of its own, in the
 * group's sticky state directory: the member whose key it is may not
 * remove it (sticky), and before could write the record no more. */
static void test_record_temp_name_of_another_member(void)
{
    char state[192], sads[192], sad_path[224], rec[512], path[600];
    struct stat st;
    int rc;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as two users\n");
        return;
    }
    snprintf(state, sizeof state, "%s/members.state", dir);
    snprintf(sads, sizeof sads, "%s/members", dir);
    snprintf(sad_path, sizeof sad_path, "%s/g.sad", sads);
    CHECK(stat(dir, &st) == 0 && chmod(dir, 0711) == 0);
    CHECK(mkdir(state, 0700) == 0 && chown(state, 0, SHARED_GID) == 0 &&
          chmod(state, 03770) == 0);
    CHECK(mkdir(sads, 0700) == 0 && chown(sads, MEMBER_UID, MEMBER_UID) == 0);
    rc = run_member(MEMBER_UID, 'i', sad_path, state, NULL);
    if (rc == 77) {
        printf("     skip: this process may not become another user\n");
        CHECK(chmod(dir, st.st_mode & 07777) == 0);
        return;
    }
    CHECK(rc == 0);
    CHECK(the_record(state, rec, sizeof rec) == 0);
    snprintf(path, sizeof path, "%s.new", rec);
    CHECK(run_member(OTHER_MEMBER_UID, 'p', NULL, NULL, path) == 0);
    snprintf(path, sizeof path, "%s.00000000000000ff.new", rec);
    CHECK(run_member(OTHER_MEMBER_UID, 'p', NULL, NULL, path) == 0);
    snprintf(path, sizeof path, "%s%s", rec, leftover_tag);
    CHECK(run_member(MEMBER_UID, 'p', NULL, NULL, path) == 0);
    CHECK(run_member(MEMBER_UID, 'a', sad_path, state, NULL) == 0);
    /* The member's own leftover removed, the other's left to it. */
    CHECK(!planted(rec, leftover_tag));
    CHECK(planted(rec, ".new") && planted(rec, ".00000000000000ff.new"));
    CHECK(chmod(dir, st.st_mode & 07777) == 0);
}

/* A SAD's manual SAs keep their records in one directory. */
static void test_one_state_dir_per_sad(void)
{
    zesp_sa_params p1 = manual_sa(0x5801, ZESP_DIR_OUT, 49, 0);
    zesp_sa_params p2 = manual_sa(0x5802, ZESP_DIR_OUT, 50, 0);
    char other[192];
    zesp_sad *sad = zesp_sad_new(NULL);

    snprintf(other, sizeof other, "%s/other.state", dir);
    CHECK_OK(zesp_state_dir_init(other));
    CHECK_OK(zesp_sad_set_state_dir(sad, other));
    CHECK_OK(zesp_sa_add(sad, &p1));
    snprintf(other, sizeof other, "%s/sender.state", dir);
    CHECK_OK(zesp_sad_set_state_dir(sad, other));
    CHECK_ERR(zesp_sa_add(sad, &p2), ZESP_ESTATEDIR);
    zesp_sad_free(sad);
}

/*
 * fsync, the program's own (the statically linked library calls it): when
 * armed, its caller (a thread writing a record, the state directory's lock
 * held) waits there until hold_go.  So a fork finds the lock held, every
 * time.
 */
static _Atomic int hold_armed, hold_in, hold_go;

/* When synced_watch is set, the directories fsync'd, by inode. */
static bool synced_watch;
static ino_t synced[16];
static size_t nsynced;

int fsync(int fd)
{
    struct stat st;

    if (synced_watch && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
        nsynced < sizeof synced / sizeof synced[0])
        synced[nsynced++] = st.st_ino;
    if (atomic_exchange(&hold_armed, 0)) {
        struct timespec ms = { 0, 1000000 };
        atomic_store(&hold_in, 1);
        while (!atomic_load(&hold_go))
            nanosleep(&ms, NULL);
    }
    return (int)syscall(SYS_fsync, fd);
}

/*
 * mkdir, the program's own: when armed with a path, the directory is made
 * and at once swapped for a symbolic link to swap_target, as whoever may
 * write the parent could do between zesp_state_dir_init's mkdir and its
 * change of mode.
 */
static const char *swap_path, *swap_target;
static bool swap_by_rename;     /* the target itself moved there, no link */

int mkdir(const char *path, mode_t mode)
{
    int rc = (int)syscall(SYS_mkdir, path, mode);

    if (rc == 0 && swap_path != NULL && strcmp(path, swap_path) == 0) {
        swap_path = NULL;
        if (rmdir(path) != 0 ||
            (swap_by_rename ? rename(swap_target, path)
                            : symlink(swap_target, path)) != 0)
            return -1;
    }
    return rc;
}

/* The new state directory swapped for a link between its mkdir and its
 * mode: the directory the link names (one others use) keeps its mode, and
 * the state directory is refused. */
static void test_state_dir_swapped_for_link(void)
{
    char target[PATH_MAX], state[PATH_MAX];
    struct stat st;

    snprintf(target, sizeof target, "%s/victim", dir);
    snprintf(state, sizeof state, "%s/swapped.state", dir);
    CHECK(syscall(SYS_mkdir, target, 0755) == 0 && chmod(target, 0755) == 0);
    swap_path = state;
    swap_target = target;
    CHECK(zesp_state_dir_init(state) == -1);
    swap_path = NULL;
    CHECK(lstat(target, &st) == 0 && (st.st_mode & 07777) == 0755);
    unlink(state);
    rmdir(target);
}

/* The same, the new state directory swapped for another directory itself
 * (renamed into its place: in a folder others may write without a sticky
 * bit, whoever may write it renames any directory there, anyone's): that
 * directory keeps its mode, and the state directory is refused (the
 * folder above it is not private).  Before, a link was refused but a
 * directory was made 0700, as root whoever's it was (a site's 0755
 * folder, shut to every other user), and refused only after. */
static void test_state_dir_swapped_for_dir(void)
{
    char shared[PATH_MAX], target[PATH_MAX + 16], state[PATH_MAX + 16];
    struct stat st;

    snprintf(shared, sizeof shared, "%s/anyone", dir);
    snprintf(target, sizeof target, "%s/www", shared);
    snprintf(state, sizeof state, "%s/zesp-state", shared);
    CHECK(syscall(SYS_mkdir, shared, 0700) == 0 && chmod(shared, 0777) == 0);
    CHECK(syscall(SYS_mkdir, target, 0755) == 0 && chmod(target, 0755) == 0);
    swap_path = state;
    swap_target = target;
    swap_by_rename = true;
    CHECK(zesp_state_dir_init(state) == -1);
    swap_path = NULL;
    swap_by_rename = false;
    CHECK(lstat(state, &st) == 0 && S_ISDIR(st.st_mode));
    printf("     the directory swapped in: mode %04o\n",
           (unsigned)(st.st_mode & 07777));
    CHECK((st.st_mode & 07777) == 0755);
    rmdir(state);
    rmdir(shared);
}

static bool was_synced(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return false;
    for (size_t i = 0; i < nsynced; i++)
        if (synced[i] == st.st_ino)
            return true;
    return false;
}

/* zesp state init makes each new directory's entry durable (its parent
 * fsync'd): a crash that lost the state directory, records and all, would
 * leave one that reads as never made, and made again every manual key
 * numbers from 1.  Before, no parent was fsync'd. */
static void test_state_dir_init_syncs_parents(void)
{
    char top[192], mid[200], state[208];

    snprintf(top, sizeof top, "%s/durable", dir);
    snprintf(mid, sizeof mid, "%s/a", top);
    snprintf(state, sizeof state, "%s/b", mid);
    nsynced = 0;
    synced_watch = true;
    CHECK_OK(zesp_state_dir_init(state));
    synced_watch = false;
    printf("     %zu directories fsync'd\n", nsynced);
    CHECK(was_synced(dir) && was_synced(top) && was_synced(mid));
}

struct installer {
    zesp_sad *sad;
    zesp_sa_params p;
    int rc, err;
};

static void *install(void *arg)
{
    struct installer *t = arg;

    t->rc = zesp_sa_add(t->sad, &t->p);
    t->err = errno;
    return NULL;
}

/* Could another process take the directory's lock now? */
static bool dir_lock_free(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool got = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;

    if (fd >= 0)
        close(fd);
    return got;
}

static int exit_status(pid_t pid)
{
    int status = 0;

    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A thread installs a manual SA (the directory's lock held, its record
 * being fsync'd) while another forks; the child lives on without exec.
 * Once the install is done and the child has started, the lock must be
 * free, for the parent, the child and every other process.  Before, the child's copy of the
 * descriptor held it: no other process could take it, and the child's own
 * next record waited for ever (killed here by its alarm). */
static void test_fork_while_writing_record(void)
{
    struct host h;
    struct installer t = { .rc = -1 };
    double until = test_now() + test_ms(10000) / 1000.0;
    int go[2], up[2], status;
    bool free_now;
    pthread_t th;
    pid_t pid;

    host_init(&h, "forked");
    CHECK_OK(zesp_state_dir_init(h.state));
    CHECK_OK(host_open(&h));
    CHECK(pipe(go) == 0 && pipe(up) == 0);
    t.sad = h.sad;
    t.p = manual_sa(SPI + 40, ZESP_DIR_OUT, 40, 0);
    atomic_store(&hold_armed, 1);
    CHECK(pthread_create(&th, NULL, install, &t) == 0);
    while (!atomic_load(&hold_in) && test_now() < until)
        sched_yield();
    CHECK(atomic_load(&hold_in));
    fflush(NULL);
    if ((pid = fork()) == 0) {
        zesp_sa_params p = manual_sa(SPI + 41, ZESP_DIR_OUT, 41, 0);
        char c;

        close(go[1]);
        close(up[0]);
        alarm((unsigned)(5 * test_timeout_scale()));
        if (write(up[1], "", 1) != 1) /* started: its fork handlers ran */
            _exit(3);
        (void)read(go[0], &c, 1);     /* end of file: the parent checked */
        _exit(zesp_sa_add(h.sad, &p) == 0 ? 0 : 1);
    }
    close(go[0]);
    close(up[1]);
    atomic_store(&hold_go, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_OK(t.rc);
    CHECK(pid > 0);
    /* The child has started (a child not yet scheduled holds its copy a
     * moment longer, whatever it does with it). */
    CHECK(test_wait_readable(up[0], 10000) == 1);
    close(up[0]);
    free_now = dir_lock_free(h.state);
    if (!free_now)
        fprintf(stderr, "  the state directory's lock is held by the child\n");
    CHECK(free_now);
    if (free_now) {
        zesp_sa_params p = manual_sa(SPI + 42, ZESP_DIR_OUT, 42, 0);
        CHECK_OK(zesp_sa_add(h.sad, &p));
    }
    close(go[1]);
    status = exit_status(pid);
    if (status != 0)
        fprintf(stderr, "  child: %s\n", status == 128 + SIGALRM
                ? "waited for ever on the directory's lock (alarm)"
                : "failed");
    CHECK(status == 0);
    host_close(&h);
}

/*
 * A manual key's out SA deleted, then the key added in on another SPI, and
 * its peer the mirror (in deleted, out added on that SPI): the mistake
 * test_one_key_both_directions_by_api refuses while both SAs are in one
 * SAD.  No SA of the other direction is left to compare with, but the
 * records remember the SPIs: each host refuses, and b sends nothing under
 * the key.  Before, both installed and b numbered from 1 through every IV
 * a had sent.  One key on several SPIs of one direction bars the other
 * direction on all of them; the loop back on the key's own SPI, and the
 * key installed again on its SPI and direction, go on from the record.
 */
static void test_key_other_direction_after_del(void)
{
    zesp_sa_params a_out = manual_sa(0x5b01, ZESP_DIR_OUT, 60, 0);
    zesp_sa_params b_in = manual_sa(0x5b01, ZESP_DIR_IN, 60, 0);
    zesp_sa_params a_in = manual_sa(0x5b02, ZESP_DIR_IN, 60, 0);
    zesp_sa_params b_out = manual_sa(0x5b02, ZESP_DIR_OUT, 60, 0);
    zesp_sa_params loop = manual_sa(0x5b01, ZESP_DIR_IN, 60, 0);
    zesp_sa_params m1 = manual_sa(0x5b11, ZESP_DIR_OUT, 61, 0);
    zesp_sa_params m2 = manual_sa(0x5b12, ZESP_DIR_OUT, 61, 0);
    zesp_sa_params m_in = manual_sa(0x5b11, ZESP_DIR_IN, 61, 0);
    struct host a, b;
    struct wire w = { 0 };
    int a_sent, b_sent, a_again, accepted;
    size_t twice;

    host_init(&a, "deldir-a");
    host_init(&b, "deldir-b");
    CHECK_OK(zesp_state_dir_init(a.state));
    CHECK_OK(zesp_state_dir_init(b.state));
    CHECK_OK(host_open(&a));
    CHECK_OK(host_open(&b));
    CHECK_OK(zesp_sa_add(a.sad, &a_out));
    CHECK_OK(zesp_sa_add(b.sad, &b_in));
    a_sent = wire_seal(&w, a.sad, 0x5b01, 20);
    accepted = wire_open(&w, b.sad, 0, w.n);
    CHECK_OK(zesp_sa_del(a.sad, 0x5b01, ZESP_DIR_OUT));
    CHECK_OK(zesp_sa_del(b.sad, 0x5b01, ZESP_DIR_IN));
    CHECK_ERR(zesp_sa_add(a.sad, &a_in), ZESP_EKEYREUSE);
    CHECK_ERR(zesp_sa_add(b.sad, &b_out), ZESP_EKEYREUSE);
    b_sent = wire_seal(&w, b.sad, 0x5b02, 20);
    twice = repeated(&w, false);
    printf("     a sent %d, deleted; b sent %d under the key: %zu IVs "
           "twice\n", a_sent, b_sent, twice);
    CHECK(a_sent == 20 && accepted == 20 && b_sent == 0 && twice == 0);
    /* The loop back on the key's own SPI, and the key again where it was:
     * it goes on from its record. */
    CHECK_OK(zesp_sa_add(a.sad, &loop));
    CHECK_OK(zesp_sa_del(a.sad, 0x5b01, ZESP_DIR_IN));
    host_close(&a);
    CHECK_OK(host_open(&a));
    CHECK_OK(zesp_sa_add(a.sad, &a_out));
    a_again = wire_seal(&w, a.sad, 0x5b01, 20);
    CHECK(a_again == 20 && repeated(&w, false) == 0);
    /* Two SPIs out: in is barred on either. */
    CHECK_OK(zesp_sa_add(a.sad, &m1));
    CHECK_OK(zesp_sa_add(a.sad, &m2));
    CHECK_OK(zesp_sa_del(a.sad, 0x5b11, ZESP_DIR_OUT));
    CHECK_OK(zesp_sa_del(a.sad, 0x5b12, ZESP_DIR_OUT));
    CHECK_ERR(zesp_sa_add(a.sad, &m_in), ZESP_EKEYREUSE);
    wire_free(&w);
    host_close(&a);
    host_close(&b);
}

/*
 * Two programs of a host, each with a private SAD (zesp_sad_new), share
 * the host's state directory: one sends under a manual key, the other
 * receives under it on another SPI; the peer host the mirror.  Neither SAD
 * sees the other's SA; the records do, and the second of each host's two
 * is refused.  Before, both installed on both hosts, and b's sender
 * numbered from 1 through every IV a's had sent.  Group SAs apart by
 * Sender ID may still share a key across SPIs and directions.
 */
static void test_key_other_direction_in_another_sad(void)
{
    zesp_sa_params a_out = manual_sa(0x5c01, ZESP_DIR_OUT, 62, 0);
    zesp_sa_params a_in = manual_sa(0x5c02, ZESP_DIR_IN, 62, 0);
    zesp_sa_params b_in = manual_sa(0x5c01, ZESP_DIR_IN, 62, 0);
    zesp_sa_params b_out = manual_sa(0x5c02, ZESP_DIR_OUT, 62, 0);
    zesp_sa_params g_out = manual_sa(0x5c11, ZESP_DIR_OUT, 63, 0);
    zesp_sa_params g_in = manual_sa(0x5c12, ZESP_DIR_IN, 63, 0);
    zesp_sa_params g_same = manual_sa(0x5c12, ZESP_DIR_IN, 63, 0);
    zesp_sad *a1 = zesp_sad_new(NULL), *a2 = zesp_sad_new(NULL);
    zesp_sad *b1 = zesp_sad_new(NULL), *b2 = zesp_sad_new(NULL);
    struct host a, b;
    struct wire w = { 0 };
    int a_sent, b_sent;
    size_t twice;

    host_init(&a, "private-a");
    host_init(&b, "private-b");
    CHECK_OK(zesp_state_dir_init(a.state));
    CHECK_OK(zesp_state_dir_init(b.state));
    CHECK(a1 != NULL && a2 != NULL && b1 != NULL && b2 != NULL);
    CHECK_OK(zesp_sad_set_state_dir(a1, a.state));
    CHECK_OK(zesp_sad_set_state_dir(a2, a.state));
    CHECK_OK(zesp_sad_set_state_dir(b1, b.state));
    CHECK_OK(zesp_sad_set_state_dir(b2, b.state));
    CHECK_OK(zesp_sa_add(a1, &a_out));
    CHECK_ERR(zesp_sa_add(a2, &a_in), ZESP_EKEYREUSE);
    CHECK_OK(zesp_sa_add(b1, &b_in));
    CHECK_ERR(zesp_sa_add(b2, &b_out), ZESP_EKEYREUSE);
    a_sent = wire_seal(&w, a1, 0x5c01, 20);
    b_sent = wire_seal(&w, b2, 0x5c02, 20);
    twice = repeated(&w, false);
    printf("     two private SADs each side: a sent %d, b sent %d under one "
           "key: %zu IVs twice\n", a_sent, b_sent, twice);
    CHECK(a_sent == 20 && b_sent == 0 && twice == 0);
    /* Group senders 1 and 2 under one key: their IVs differ in the top
     * 16 bits, any SPI, any direction, any SAD. */
    g_out.flags |= ZESP_SA_GROUP;
    g_out.sender_id = 1;
    g_in.flags |= ZESP_SA_GROUP;
    g_in.sender_id = 2;
    g_same.flags |= ZESP_SA_GROUP;
    g_same.sender_id = 1;
    CHECK_OK(zesp_sa_add(a1, &g_out));
    CHECK_OK(zesp_sa_add(a2, &g_in));
    /* Sender ID 1 in on another SPI is the mirror mistake again. */
    CHECK_ERR(zesp_sa_add(a2, &g_same), ZESP_EKEYREUSE);
    wire_free(&w);
    zesp_sad_free(a1);
    zesp_sad_free(a2);
    zesp_sad_free(b1);
    zesp_sad_free(b2);
}

/*
 * flock, the program's own (the library is linked statically): it counts
 * the callers that will wait for a lock, so that a test knows when an
 * install waits for the state directory's.
 */
static _Atomic int flock_waiters;

int flock(int fd, int op)
{
    if (!(op & LOCK_NB))
        atomic_fetch_add(&flock_waiters, 1);
    return (int)syscall(SYS_flock, fd, op);
}

/*
 * Two installs at once, in two SADs (two programs) sharing one state
 * directory, of one key out on one SPI and in on another: the first holds
 * the directory's lock (its record being fsync'd) while the second waits
 * for it.  Only one may install; the other is refused when it gets the
 * lock and reads the first's record.  Before, both installed.
 */
static void test_key_other_direction_concurrent(void)
{
    struct host h;
    struct installer t1 = { .rc = -1 }, t2 = { .rc = -1 };
    double until = test_now() + test_ms(10000) / 1000.0;
    pthread_t th1, th2;
    int waiting;

    host_init(&h, "racing");
    CHECK_OK(zesp_state_dir_init(h.state));
    t1.sad = zesp_sad_new(NULL);
    t2.sad = zesp_sad_new(NULL);
    CHECK(t1.sad != NULL && t2.sad != NULL);
    CHECK_OK(zesp_sad_set_state_dir(t1.sad, h.state));
    CHECK_OK(zesp_sad_set_state_dir(t2.sad, h.state));
    t1.p = manual_sa(0x5d01, ZESP_DIR_OUT, 64, 0);
    t2.p = manual_sa(0x5d02, ZESP_DIR_IN, 64, 0);
    atomic_store(&hold_in, 0);
    atomic_store(&hold_go, 0);
    atomic_store(&hold_armed, 1);
    CHECK(pthread_create(&th1, NULL, install, &t1) == 0);
    while (!atomic_load(&hold_in) && test_now() < until)
        sched_yield();
    CHECK(atomic_load(&hold_in));
    waiting = atomic_load(&flock_waiters);
    CHECK(pthread_create(&th2, NULL, install, &t2) == 0);
    while (atomic_load(&flock_waiters) == waiting && test_now() < until)
        sched_yield();
    CHECK(atomic_load(&flock_waiters) > waiting);
    atomic_store(&hold_go, 1);
    CHECK(pthread_join(th1, NULL) == 0 && pthread_join(th2, NULL) == 0);
    printf("     out and in on two SPIs at once: %s and %s\n",
           t1.rc == 0 ? "installed" : "refused",
           t2.rc == 0 ? "installed" : "refused");
    CHECK(t1.rc == 0 && t2.rc == -1 && t2.err == ZESP_EKEYREUSE);
    zesp_sad_free(t1.sad);
    zesp_sad_free(t2.sad);
}

int main(void)
{
    char path[192];

    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "seqstate") != 0)
        return 2;
    unsetenv("ZESP_STATE_DIR");    /* each SAD is told its own */
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.state", dir,
                 i == 2 ? "member" : i ? "receiver" : "sender");
        if (zesp_state_dir_init(path) != 0)
            return 2;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.state", dir, i ? "restore" : "shared");
        if (zesp_state_dir_init(path) != 0)
            return 2;
    }
    RUN(test_flush_and_load);
    RUN(test_del_and_load);
    RUN(test_expiry_and_load);
    RUN(test_sad_file_lost_and_load);
    RUN(test_receiver_alone_reloads);
    RUN(test_sender_alone_reloads);
    RUN(test_stops_at_reservation);
    RUN(test_one_key_two_spis);
    RUN(test_one_key_both_directions_by_api);
    RUN(test_group_sender_reloads);
    RUN(test_group_and_lanes_one_key);
    RUN(test_pairwise_after_lanes_one_key);
    RUN(test_group_and_lanes_receivers);
    RUN(test_unflagged_sas_keep_no_record);
    RUN(test_record_holds_no_key);
    RUN(test_four_senders_share_blocks);
    RUN(test_kill_minus_nine_between_writes);
    RUN(test_load_refused_without_record);
    RUN(test_record_temp_name_planted);
    RUN(test_record_temp_name_of_another_member);
    RUN(test_one_state_dir_per_sad);
    RUN(test_restored_sad_file_sends_above_record);
    RUN(test_restored_sad_file_refuses_replays);
    RUN(test_restored_sad_file_across_kinds);
    RUN(test_restored_sad_file_sender_across_kinds);
    RUN(test_group_writable_state_dir);
    RUN(test_acl_on_state_dir);
    RUN(test_acl_default_record_while_made);
    RUN(test_record_of_another_user);
    RUN(test_fork_while_writing_record);
    RUN(test_state_dir_swapped_for_link);
    RUN(test_state_dir_swapped_for_dir);
    RUN(test_state_dir_init_syncs_parents);
    RUN(test_state_dir_where_others_rename_it);
    RUN(test_state_dir_through_link_others_replace);
    RUN(test_state_dir_below_user_private_group);
    RUN(test_key_other_direction_after_del);
    RUN(test_key_other_direction_in_another_sad);
    RUN(test_key_other_direction_concurrent);
    return test_done_in(dir);
}
