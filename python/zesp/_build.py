"""The cffi builder of zesp._native (API mode: compiled against zesp.h).

API mode rather than ABI mode because a call through a compiled stub costs a
fraction of a libffi call, and a message costs one call each way.  The few C
helpers below exist only to keep each message to that one call: they take
the socket as the integer pyzmq's ``Socket.underlying`` gives and the common
shapes of a message as plain arguments, so that Python builds no frame
arrays.  They use no Python C API.

Where libzesp is: ``ZESP_INCLUDE_DIR`` and ``ZESP_LIBRARY_DIR`` (a build
tree), else ``pkg-config libzesp`` (an installed library).
"""
import os
import shlex
import subprocess

import cffi

CDEF = """
#define ZESP_KEYBYTES 36
#define ZESP_ICVBYTES 16
#define ZESP_HEADERBYTES 16
#define ZESP_PEER_MAX 64
#define ZESP_NAME_MAX 64
#define ZESP_POLICY_IN_MAX 4
#define ZESP_SIGN_SECRETBYTES 64
#define ZESP_SIGN_PUBLICBYTES 32
#define ZESP_SENDER_ID_MAX 65535
#define ZESP_SA_NO_ESN 1
#define ZESP_SA_GROUP 2
#define ZESP_SA_SIGNED 4
#define ZESP_SA_MANUAL 8
#define ZESP_DONTWAIT 1
#define ZESP_SAD_CREATE 1
#define ZESP_SAD_OWN_WINDOWS 2
#define ZESP_SAD_GROUP 4
#define ZESP_EBASE ...
#define ZESP_DIR_IN 1
#define ZESP_DIR_OUT 2
#define ZESP_AES256GCM 20
#define ZESP_NULL_AES256GMAC 21
#define ZESP_CHACHA20_POLY1305 28
#define ZESP_NULL_CHACHA20_POLY1305 1024

enum zesp_error {
    ZESP_EMALFORMED, ZESP_ENOSA, ZESP_EREPLAY, ZESP_EOLD, ZESP_EICV,
    ZESP_EEXPIRED, ZESP_ESEQEXHAUSTED, ZESP_EBINDING, ZESP_ETOOBIG,
    ZESP_EUNSUPPORTED, ZESP_EEXIST, ZESP_EFULL, ZESP_EDIRECTION,
    ZESP_EBADSAD, ZESP_ESADVERSION, ZESP_ESADSIZE, ZESP_ENOPOLICY,
    ZESP_EACQUIRE, ZESP_ECONFIG, ZESP_ESIGNATURE, ZESP_ESADOWNER,
    ZESP_ESADMODE, ZESP_ESADGROUP, ZESP_ESADLINK, ZESP_ESADDIR,
    ZESP_EPOLICY, ZESP_ENOSTATE, ZESP_ESTATEUNSAFE, ZESP_ESTATEDAMAGED,
    ZESP_ESTATEIO, ZESP_ESTATEDIR, ZESP_ELANES, ZESP_ENOGROUP,
    ZESP_EKEYTEXT, ZESP_EKEYFILE, ZESP_EFORKED, ZESP_EKEYREUSE, ZESP_ELAST,
    ...
};

enum zesp_rejection {
    ZESP_REJ_MALFORMED, ZESP_REJ_NOSA, ZESP_REJ_REPLAY, ZESP_REJ_OLD,
    ZESP_REJ_ICV, ZESP_REJ_EXPIRED, ZESP_REJ_BINDING, ZESP_REJ_TOOBIG,
    ZESP_REJ_SIGNATURE, ZESP_REJ_POLICY, ZESP_REJ_COUNT, ...
};

typedef struct zesp_lifetime {
    uint64_t seconds;
    uint64_t messages;
    uint64_t bytes;
} zesp_lifetime;

typedef struct zesp_sa_params {
    uint32_t spi;
    uint32_t direction;
    uint32_t transform;
    uint32_t flags;
    uint32_t replay_window;
    uint64_t next_seq;
    zesp_lifetime soft;
    zesp_lifetime hard;
    uint8_t key[36];
    char peer[64];
    uint32_t sender_id;
    uint8_t sign_key[64];
    ...;
} zesp_sa_params;

typedef struct zesp_sa_stats {
    uint64_t messages;
    uint64_t bytes;
    uint64_t rejected_malformed;
    uint64_t rejected_replay;
    uint64_t rejected_old;
    uint64_t rejected_icv;
    uint64_t rejected_expired;
    uint64_t rejected_binding;
    uint64_t rejected_toobig;
    uint64_t rejected_signature;
    uint64_t rejected_policy;
    ...;
} zesp_sa_stats;

typedef struct zesp_sa_info {
    uint32_t spi;
    uint32_t direction;
    uint32_t transform;
    uint32_t flags;
    uint32_t replay_window;
    uint64_t seq;
    uint64_t created;
    int soft_expired;
    int hard_expired;
    zesp_lifetime soft, hard;
    zesp_sa_stats stats;
    char peer[64];
    uint32_t sender_id;
    ...;
} zesp_sa_info;

typedef struct zesp_sad_stats {
    uint64_t rejected_nosa;
    uint64_t rejected_malformed;
    uint64_t rejected[...];
    uint64_t repairs;
    uint32_t sas;
    uint32_t capacity;
    int keys_locked;
    ...;
} zesp_sad_stats;

typedef struct zesp_sad_opts {
    uint32_t capacity;
    uint32_t max_replay_window;
    uint32_t policies;
    uint32_t mode;
    uint64_t max_message;
    uint32_t acquire_timeout_ms;
    ...;
} zesp_sad_opts;

typedef struct zesp_frame {
    const void *data;
    size_t size;
} zesp_frame;

typedef struct zesp_sad zesp_sad;
typedef struct zesp_msg zesp_msg;

typedef struct zesp_policy {
    char name[64];
    char peer[64];
    uint32_t out_spi;
    uint32_t in_spi[4];
    uint64_t acquire;
    uint64_t rejected[...];
    ...;
} zesp_policy;

int zesp_init(void);
const char *zesp_version(void);
const char *zesp_strerror(int err);
int zesp_transform_available(uint32_t transform);
const char *zesp_transform_name(uint32_t transform);
const char *zesp_rejection_name(unsigned kind);

zesp_sad *zesp_sad_new(const zesp_sad_opts *opts);
zesp_sad *zesp_sad_open(const char *path, int flags, const zesp_sad_opts *opts);
void zesp_sad_free(zesp_sad *sad);
const char *zesp_sad_default_path(void);
const char *zesp_sad_path(const zesp_sad *sad);
void zesp_sad_set_acquire_timeout(zesp_sad *sad, uint32_t ms);
int zesp_sad_expire(zesp_sad *sad);
int zesp_sad_flush(zesp_sad *sad);
int zesp_sad_verify(zesp_sad *sad);

int zesp_sa_add(zesp_sad *sad, const zesp_sa_params *params);
int zesp_sa_del(zesp_sad *sad, uint32_t spi, uint32_t direction);
int zesp_sa_info_get(zesp_sad *sad, uint32_t spi, uint32_t direction,
                     zesp_sa_info *info);
int zesp_sa_info_get_sender(zesp_sad *sad, uint32_t spi, uint32_t direction,
                            uint32_t sender_id, zesp_sa_info *info);
int zesp_sad_stats_get(zesp_sad *sad, zesp_sad_stats *stats);

int zesp_policy_set(zesp_sad *sad, const zesp_policy *policy);
int zesp_policy_get(zesp_sad *sad, const char *name, zesp_policy *policy);
int zesp_policy_del(zesp_sad *sad, const char *name);
int zesp_policy_set_out(zesp_sad *sad, const char *name, uint32_t spi);

int zesp_config_load(zesp_sad *sad, const char *path, char *err,
                     size_t errlen);
int zesp_config_check(const char *path, char *err, size_t errlen);

zesp_msg *zesp_msg_new(void);
void zesp_msg_free(zesp_msg *msg);
size_t zesp_msg_envelope_count(const zesp_msg *msg);
zesp_frame zesp_msg_envelope(const zesp_msg *msg, size_t i);
size_t zesp_msg_clear_count(const zesp_msg *msg);
zesp_frame zesp_msg_clear(const zesp_msg *msg, size_t i);
size_t zesp_msg_body_count(const zesp_msg *msg);
zesp_frame zesp_msg_body(const zesp_msg *msg, size_t i);
uint32_t zesp_msg_spi(const zesp_msg *msg);
uint64_t zesp_msg_seq(const zesp_msg *msg);
uint32_t zesp_msg_sender_id(const zesp_msg *msg);
const char *zesp_msg_peer(const zesp_msg *msg);

/* The helpers of this binding (HELPERS below). */
const char *zesp_py_version(void);
int zesp_py_send(zesp_sad *sad, const char *policy, uint32_t spi,
                 uintptr_t socket, const zesp_frame *frames,
                 size_t nenvelope, size_t nclear, size_t nbody, int flags);
int zesp_py_send1(zesp_sad *sad, const char *policy, uint32_t spi,
                  uintptr_t socket, const char *clear, size_t clear_size,
                  int nclear, const char *body, size_t body_size, int flags);
int zesp_py_send_body(zesp_sad *sad, const char *policy, uint32_t spi,
                      uintptr_t socket, const char *body, size_t body_size,
                      int flags);
typedef struct zesp_py_frame {
    const char *data;
    size_t size;
    size_t count;
} zesp_py_frame;
typedef struct zesp_py_body {
    const char *data;
    size_t size;
} zesp_py_body;
int zesp_py_recv(zesp_sad *sad, const char *policy, uintptr_t socket,
                 int flags, zesp_msg *msg, zesp_py_body *body);
int zesp_py_msg_wipe(zesp_msg *msg);
void zesp_py_msg_free(zesp_msg *msg);
zesp_py_frame zesp_py_frame_at(const zesp_msg *msg, int kind, size_t i);
"""

HELPERS = r"""
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>

/* The zesp.h this binding was compiled against. */
static const char *zesp_py_version(void)
{
    return ZESP_VERSION_STRING;
}

/* frames: envelope, clear, then body frames, one array. */
static int zesp_py_send(zesp_sad *sad, const char *policy, uint32_t spi,
                        uintptr_t socket, const zesp_frame *frames,
                        size_t nenvelope, size_t nclear, size_t nbody,
                        int flags)
{
    zesp_parts p = { frames, nenvelope, frames + nenvelope, nclear,
                     frames + nenvelope + nclear, nbody };

    return policy ? zesp_send_policy(sad, policy, (void *)socket, &p, flags)
                  : zesp_send(sad, spi, (void *)socket, &p, flags);
}

/* The common message: at most one clear frame and one body frame. */
static int zesp_py_send1(zesp_sad *sad, const char *policy, uint32_t spi,
                         uintptr_t socket, const char *clear,
                         size_t clear_size, int nclear, const char *body,
                         size_t body_size, int flags)
{
    zesp_frame c = { clear, clear_size }, b = { body, body_size };
    zesp_parts p = { NULL, 0, &c, nclear ? 1 : 0, &b, 1 };

    return policy ? zesp_send_policy(sad, policy, (void *)socket, &p, flags)
                  : zesp_send(sad, spi, (void *)socket, &p, flags);
}

/* The most common message of all: one body frame. */
static int zesp_py_send_body(zesp_sad *sad, const char *policy, uint32_t spi,
                             uintptr_t socket, const char *body,
                             size_t body_size, int flags)
{
    return zesp_py_send1(sad, policy, spi, socket, NULL, 0, 0, body,
                         body_size, flags);
}

/* Frame i of a kind (0: envelope, 1: clear, 2: body) with the count of
 * that kind, in one call.  Answers are returned by value, never through
 * memory of the thread: Python code can run between a call's return and
 * the caller's reading of its answer (a signal's handler, a finalizer),
 * and receive there. */
typedef struct zesp_py_frame {
    const char *data;
    size_t size;
    size_t count;
} zesp_py_frame;

static zesp_py_frame zesp_py_frame_at(const zesp_msg *msg, int kind, size_t i)
{
    zesp_py_frame a = { NULL, 0, 0 };
    zesp_frame f;

    if (kind == 0) {
        a.count = zesp_msg_envelope_count(msg);
        f = zesp_msg_envelope(msg, i);
    } else if (kind == 1) {
        a.count = zesp_msg_clear_count(msg);
        f = zesp_msg_clear(msg, i);
    } else {
        a.count = zesp_msg_body_count(msg);
        f = zesp_msg_body(msg, i);
    }
    a.data = f.data ? (const char *)f.data : "";
    a.size = f.size;
    return a;
}

/* A message received on policy (NULL: unchecked) into msg: 0, or the
 * error (errno too).  msg and body are the caller's, held before the call
 * and owned throughout: a receive made as this call returns (a signal's
 * handler) has its own, and an exception raised there finds msg where the
 * caller left it, to wipe.  body: the first body frame; its size SIZE_MAX
 * unless it is the only one (one test in Python for "one small frame").
 * An int and a struct of the caller's, not a struct returned: cffi
 * allocates an object for a struct returned by value. */
typedef struct zesp_py_body {
    const char *data;
    size_t size;
} zesp_py_body;

static int zesp_py_recv(zesp_sad *sad, const char *policy, uintptr_t socket,
                        int flags, zesp_msg *msg, zesp_py_body *body)
{
    zesp_frame f;

    if (zesp_recv_policy(sad, policy, (void *)socket, msg, flags) != 0)
        return errno;
    f = zesp_msg_body(msg, 0);
    body->data = f.data ? (const char *)f.data : "";
    body->size = zesp_msg_body_count(msg) == 1 ? f.size : SIZE_MAX;
    return 0;
}

/* A message's decrypted body wiped: the plaintext lives no longer than
 * the Message and its views (the body is the msg's own memory, never a
 * buffer another message shares: zesp_recv decrypts those into msg's).
 * 1 if msg may be kept for a later receive: its frames small together,
 * so that no large buffer stays held (a refused message, whose ESP frame
 * the API does not show, is never kept: Python frees it).  Each frame
 * counts its entry in msg's arrays too, which msg keeps and only grows:
 * an ESP frame of many empty frames grows them as much as its bytes. */
#define SPARE_MAX_BYTES 65536U

static int zesp_py_msg_wipe(zesp_msg *msg)
{
    size_t bytes = 0;

    for (size_t i = 0; i < zesp_msg_body_count(msg); i++) {
        zesp_frame f = zesp_msg_body(msg, i);

        if (f.data != NULL)
            explicit_bzero((void *)f.data, f.size);
        bytes += f.size + sizeof f;
    }
    for (size_t i = 0; i < zesp_msg_envelope_count(msg); i++)
        bytes += zesp_msg_envelope(msg, i).size + sizeof(zesp_frame);
    for (size_t i = 0; i < zesp_msg_clear_count(msg); i++)
        bytes += zesp_msg_clear(msg, i).size + sizeof(zesp_frame);
    return bytes <= SPARE_MAX_BYTES;
}

/* Wiped, then freed. */
static void zesp_py_msg_free(zesp_msg *msg)
{
    zesp_py_msg_wipe(msg);
    zesp_msg_free(msg);
}
"""


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "libzesp"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(
            "zesp: libzesp not found by pkg-config (%s). Install libzesp "
            "(make install), set PKG_CONFIG_PATH to the folder of "
            "libzesp.pc, or set ZESP_INCLUDE_DIR and ZESP_LIBRARY_DIR to a "
            "build tree." % (getattr(e, "stderr", "") or e).strip())
    return shlex.split(out)


def library_flags():
    """include_dirs, library_dirs of libzesp."""
    inc, lib = os.environ.get("ZESP_INCLUDE_DIR"), os.environ.get("ZESP_LIBRARY_DIR")
    if inc and lib:
        return [inc], [lib]
    cflags, libs = _pkg_config("--cflags"), _pkg_config("--libs")
    return ([f[2:] for f in cflags if f.startswith("-I")],
            [f[2:] for f in libs if f.startswith("-L")])


def runtime_dirs(libdirs):
    """Where the module finds libzesp at run time: an installed library's
    folder (pkg-config), never a build tree's (LD_LIBRARY_PATH there)."""
    if os.environ.get("ZESP_LIBRARY_DIR"):
        return []
    return [d for d in libdirs if d not in ("/usr/lib", "/lib")]


def library_version():
    """The version of libzesp, as its zesp.h (or pkg-config) says."""
    inc, _ = library_flags()
    for d in inc + ["/usr/local/include", "/usr/include"]:
        try:
            with open(os.path.join(d, "zesp.h"), encoding="utf-8") as h:
                for line in h:
                    if line.startswith("#define ZESP_VERSION_STRING"):
                        return line.split('"')[1]
        except OSError:
            continue
    return _pkg_config("--modversion")[0]


def make_builder():
    inc, libdirs = library_flags()
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source("zesp._native", HELPERS, include_dirs=inc,
                   library_dirs=libdirs, libraries=["zesp"],
                   runtime_library_dirs=runtime_dirs(libdirs),
                   extra_compile_args=["-std=c11", "-D_GNU_SOURCE"])
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
