/*
 * tsmfs's binding to libfuse 3's low-level (inode-based) API, written against libfuse
 * 3.14's fuse_lowlevel.h and node_api.h only.
 *
 * Threading (see docs/fuse-binding.md):
 *  - one loop thread per session runs fuse_session_loop(); every callback copies its
 *    arguments into a `call_t`, queues it on ONE napi_threadsafe_function without
 *    blocking, and returns without replying, so the loop reads the next request at once;
 *  - the JS (main) thread turns each call into JS values, registers its fuse_req_t in a
 *    request table and gets back a numeric id; the JS handler replies later through
 *    reply*(id, ...), which calls fuse_reply_* from the main thread (libfuse's low-level
 *    replies may be made from any thread);
 *  - when the loop returns (our unmount, or an external `fusermount -u`), the loop
 *    thread queues an ENDED call and releases the threadsafe function, so the Node
 *    process may exit; the libfuse session is destroyed once no request is in flight,
 *    because a fuse_req_t refers to the session.
 *
 * The request table and everything reachable from JS is touched on the main thread only.
 */
#define _GNU_SOURCE
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <node_api.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/statvfs.h>
#include <fcntl.h>

/* Operation codes shared with JS through the exported `ops` table (never duplicated). */
#define OP_LIST(X)                                                                      \
  X(LOOKUP, lookup) X(FORGET, forget) X(GETATTR, getattr) X(SETATTR, setattr)           \
  X(READLINK, readlink) X(MKNOD, mknod) X(MKDIR, mkdir) X(UNLINK, unlink)               \
  X(RMDIR, rmdir) X(SYMLINK, symlink) X(RENAME, rename) X(LINK, link) X(OPEN, open)     \
  X(READ, read) X(WRITE, write) X(FLUSH, flush) X(RELEASE, release) X(FSYNC, fsync)     \
  X(OPENDIR, opendir) X(READDIR, readdir) X(READDIRPLUS, readdirplus)                   \
  X(RELEASEDIR, releasedir)                                                             \
  X(FSYNCDIR, fsyncdir) X(STATFS, statfs) X(SETXATTR, setxattr) X(GETXATTR, getxattr)   \
  X(LISTXATTR, listxattr) X(REMOVEXATTR, removexattr) X(ACCESS, access)                 \
  X(CREATE, create) X(FALLOCATE, fallocate) X(GETLK, getlk) X(SETLK, setlk)               \
  X(FLOCK, flock) X(INTERRUPT, interrupt) X(INIT, init) X(ENDED, ended)

enum op {
  OP_NONE = 0,
#define X(upper, lower) OP_##upper,
  OP_LIST(X)
#undef X
      OP_COUNT
};

/* The loop thread is woken out of read(2) with this signal when unmount() is asked. */
#define KICK_SIGNAL (SIGRTMIN + 5)

typedef struct session session_t;

/* One request (or notification) on its way from the loop thread to JS. */
typedef struct call {
  enum op op;
  fuse_req_t req; /* NULL for forget (already answered) and ENDED */
  uint32_t uid, gid, pid, umask;
  uint64_t ino, ino2;
  uint64_t fh;
  int has_fh;
  int64_t off, len;
  uint64_t size;
  int bad_name;            /* a name is not UTF-8: answered EILSEQ, never mangled */
  uint64_t serial;         /* names the request in INTERRUPT notifications */
  int interrupted;         /* interrupted before it was queued */
  struct flock lock;       /* getlk / setlk */
  struct fuse_conn_info conn; /* init */
  int32_t flags, arg;      /* arg: mode / mask / datasync / to_set / fallocate mode / rename flags */
  uint32_t mode, rdev;
  uint64_t lock_owner;
  uint32_t fi_bits;        /* 1 writepage, 2 flush, 4 flock_release */
  struct stat attr;        /* setattr */
  char *name, *name2;      /* into `tail` */
  char *data;              /* separately allocated: write data, xattr value, forgets */
  size_t datalen;
  char tail[];
} call_t;

/* Capabilities JS asks for at mount(): served only when the file system says so. */
#define CAP_POSIX_LOCKS 1u
#define CAP_FLOCK 2u
#define CAP_HANDLE_KILLPRIV 4u
#define CAP_READDIRPLUS 8u

struct session {
  struct fuse_session *se;
  struct fuse_conn_info_opts *conn_opts; /* max_write=, async_read, … applied at INIT */
  uint32_t caps;
  unsigned max_read; /* the max_read= mount option: INIT must announce the same */
  char *mountpoint;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  int thread_running;
  int loop_result;
  int loop_ended;     /* main thread: ENDED was received */
  int destroyed;      /* main thread: libfuse session freed */
  int exit_requested; /* main thread: unmount() was called */
  uint32_t inflight;  /* main thread: requests handed to JS and not yet answered */
  uint32_t notifying; /* main thread: invalidations running on the libuv pool */
  uint64_t next_serial; /* loop thread only */
  int js_released;    /* main thread: the JS handle was finalized */
};

/* ---- request table (main thread only) ----------------------------------------- */

typedef struct slot {
  fuse_req_t req;
  session_t *session;
  uint32_t gen;
  uint32_t next_free;
} slot_t;

#define SLOT_BITS 22
#define SLOT_LIMIT (1u << SLOT_BITS)
#define NO_SLOT UINT32_MAX

static slot_t *slots;
static uint32_t slots_len, slots_cap, free_head = NO_SLOT;

static double *scratch;      /* Float64Array shared with JS for attr / statfs / dirents */
static size_t scratch_len;

static double table_put(session_t *s, fuse_req_t req) {
  uint32_t index;
  if (free_head != NO_SLOT) {
    index = free_head;
    free_head = slots[index].next_free;
  } else {
    if (slots_len == slots_cap) {
      uint32_t cap = slots_cap ? slots_cap * 2 : 1024;
      if (cap > SLOT_LIMIT) return -1;
      slot_t *grown = realloc(slots, cap * sizeof(slot_t));
      if (grown == NULL) return -1;
      slots = grown;
      slots_cap = cap;
    }
    index = slots_len++;
    slots[index].gen = 0;
  }
  slots[index].req = req;
  slots[index].session = s;
  /* 31 bits of generation and 22 of slot keep the id an exact double (< 2^53). */
  slots[index].gen = (slots[index].gen + 1) & 0x7FFFFFFFu;
  s->inflight++;
  /* id = gen * 2^22 + index: a stale id (answered twice) never matches a reused slot. */
  return (double)slots[index].gen * (double)SLOT_LIMIT + (double)index;
}

static void destroy_fuse(session_t *s);

/* Takes the request out of the table; NULL if the id is unknown or already answered. */
static fuse_req_t table_take(double id) {
  if (!(id >= 0)) return NULL;
  uint64_t n = (uint64_t)id;
  uint32_t index = (uint32_t)(n & (SLOT_LIMIT - 1));
  uint32_t gen = (uint32_t)(n >> SLOT_BITS);
  if (index >= slots_len || slots[index].req == NULL || slots[index].gen != gen) return NULL;
  fuse_req_t req = slots[index].req;
  session_t *s = slots[index].session;
  slots[index].req = NULL;
  slots[index].session = NULL;
  slots[index].next_free = free_head;
  free_head = index;
  s->inflight--;
  return req;
}

/* The libfuse session is freed once its loop has ended and nothing refers to it. */
static void maybe_destroy(session_t *s) {
  if (s->loop_ended && s->inflight == 0 && s->notifying == 0 && !s->destroyed) destroy_fuse(s);
}

static void after_reply(session_t *s) { maybe_destroy(s); }

static session_t *table_session(double id) {
  if (!(id >= 0)) return NULL;
  uint64_t n = (uint64_t)id;
  uint32_t index = (uint32_t)(n & (SLOT_LIMIT - 1));
  uint32_t gen = (uint32_t)(n >> SLOT_BITS);
  if (index >= slots_len || slots[index].req == NULL || slots[index].gen != gen) return NULL;
  return slots[index].session;
}

/* ---- loop thread: callbacks copy and queue ------------------------------------- */

/* Names reach JS as strings. A name that is not UTF-8 would be decoded with U+FFFD and
   could then match another file, so such names are refused instead (EILSEQ). */
static int utf8_valid(const unsigned char *s) {
  while (*s) {
    unsigned char c = *s;
    int n;
    uint32_t cp;
    if (c < 0x80) {
      s++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    for (int i = 1; i <= n; i++) {
      if ((s[i] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    s += n + 1;
  }
  return 1;
}

static call_t *call_new(fuse_req_t req, enum op op, const char *name, const char *name2) {
  size_t l1 = name ? strlen(name) + 1 : 0, l2 = name2 ? strlen(name2) + 1 : 0;
  call_t *c = calloc(1, sizeof(call_t) + l1 + l2);
  if (c == NULL) return NULL;
  c->op = op;
  c->req = req;
  if (req != NULL) {
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    c->uid = ctx->uid;
    c->gid = ctx->gid;
    c->pid = (uint32_t)ctx->pid;
    c->umask = ctx->umask;
  }
  c->bad_name = (name && !utf8_valid((const unsigned char *)name)) ||
                (name2 && !utf8_valid((const unsigned char *)name2));
  if (name) {
    c->name = c->tail;
    memcpy(c->name, name, l1);
  }
  if (name2) {
    c->name2 = c->tail + l1;
    memcpy(c->name2, name2, l2);
  }
  return c;
}

static void call_free(call_t *c) {
  free(c->data);
  free(c);
}

static void set_fi(call_t *c, const struct fuse_file_info *fi) {
  if (fi == NULL) return;
  c->has_fh = 1;
  c->fh = fi->fh;
  c->flags = fi->flags;
  c->lock_owner = fi->lock_owner;
  c->fi_bits = (fi->writepage ? 1u : 0u) | (fi->flush ? 2u : 0u) | (fi->flock_release ? 4u : 0u);
}

/* The call being registered for interrupts on this (loop) thread: an interrupt that has
   already arrived is reported synchronously by libfuse and is then folded into it. */
static __thread call_t *registering;

/* On the loop thread, when the kernel sends INTERRUPT for a request still unanswered.
   `data` is the request's serial, not a pointer: it stays meaningful whenever libfuse
   calls this, even while the main thread is answering the request. */
static void on_interrupt(fuse_req_t req, void *data) {
  uint64_t serial = (uint64_t)(uintptr_t)data;
  if (registering != NULL && registering->serial == serial) {
    registering->interrupted = 1;
    return;
  }
  session_t *s = fuse_req_userdata(req);
  call_t *c = call_new(NULL, OP_INTERRUPT, NULL, NULL);
  if (c == NULL) return;
  c->serial = serial;
  if (napi_call_threadsafe_function(s->tsfn, c, napi_tsfn_nonblocking) != napi_ok) call_free(c);
}

/* Hands the call to JS; if that is impossible the request is answered here. */
static void submit(fuse_req_t req, call_t *c) {
  session_t *s = fuse_req_userdata(req);
  if (c == NULL) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  if (c->bad_name) {
    fuse_reply_err(req, EILSEQ);
    call_free(c);
    return;
  }
  /* Registered before queueing: once queued, JS may answer (and free) req at any time. */
  c->serial = ++s->next_serial;
  registering = c;
  fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)c->serial);
  registering = NULL;
  if (napi_call_threadsafe_function(s->tsfn, c, napi_tsfn_nonblocking) != napi_ok) {
    if (c->req) fuse_reply_err(c->req, EIO);
    call_free(c);
  }
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  call_t *c = call_new(req, OP_LOOKUP, name, NULL);
  if (c) c->ino = parent;
  submit(req, c);
}

static void queue_forgets(fuse_req_t req, size_t count, const struct fuse_forget_data *items) {
  session_t *s = fuse_req_userdata(req);
  /* forget has no reply: answer now, and tell JS afterwards as a notification. */
  call_t *c = call_new(NULL, OP_FORGET, NULL, NULL);
  if (c) {
    c->data = malloc(count * sizeof(struct fuse_forget_data));
    if (c->data) {
      memcpy(c->data, items, count * sizeof(struct fuse_forget_data));
      c->datalen = count;
    }
  }
  fuse_reply_none(req);
  if (c == NULL || c->data == NULL) {
    if (c) call_free(c);
    return;
  }
  if (napi_call_threadsafe_function(s->tsfn, c, napi_tsfn_nonblocking) != napi_ok) call_free(c);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, unsigned long nlookup) {
  struct fuse_forget_data item = {.ino = ino, .nlookup = nlookup};
  queue_forgets(req, 1, &item);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  queue_forgets(req, count, forgets);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  call_t *c = call_new(req, OP_GETATTR, NULL, NULL);
  if (c) {
    c->ino = ino;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  call_t *c = call_new(req, OP_SETATTR, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->attr = *attr;
    c->arg = to_set;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) {
  call_t *c = call_new(req, OP_READLINK, NULL, NULL);
  if (c) c->ino = ino;
  submit(req, c);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     dev_t rdev) {
  call_t *c = call_new(req, OP_MKNOD, name, NULL);
  if (c) {
    c->ino = parent;
    c->mode = mode;
    c->rdev = (uint32_t)rdev;
  }
  submit(req, c);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  call_t *c = call_new(req, OP_MKDIR, name, NULL);
  if (c) {
    c->ino = parent;
    c->mode = mode;
  }
  submit(req, c);
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  call_t *c = call_new(req, OP_UNLINK, name, NULL);
  if (c) c->ino = parent;
  submit(req, c);
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  call_t *c = call_new(req, OP_RMDIR, name, NULL);
  if (c) c->ino = parent;
  submit(req, c);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  call_t *c = call_new(req, OP_SYMLINK, name, link);
  if (c) c->ino = parent;
  submit(req, c);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  call_t *c = call_new(req, OP_RENAME, name, newname);
  if (c) {
    c->ino = parent;
    c->ino2 = newparent;
    c->arg = (int32_t)flags; /* RENAME_NOREPLACE / RENAME_EXCHANGE, checked by the handler */
  }
  submit(req, c);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  call_t *c = call_new(req, OP_LINK, newname, NULL);
  if (c) {
    c->ino = ino;
    c->ino2 = newparent;
  }
  submit(req, c);
}

static void with_fi(fuse_req_t req, enum op op, fuse_ino_t ino, struct fuse_file_info *fi) {
  call_t *c = call_new(req, op, NULL, NULL);
  if (c) {
    c->ino = ino;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  with_fi(req, OP_OPEN, ino, fi);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  with_fi(req, OP_OPENDIR, ino, fi);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  with_fi(req, OP_FLUSH, ino, fi);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  with_fi(req, OP_RELEASE, ino, fi);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  with_fi(req, OP_RELEASEDIR, ino, fi);
}

static void sized(fuse_req_t req, enum op op, fuse_ino_t ino, size_t size, off_t off,
                  struct fuse_file_info *fi) {
  call_t *c = call_new(req, op, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->size = size;
    c->off = off;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  sized(req, OP_READ, ino, size, off, fi);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi) {
  sized(req, OP_READDIR, ino, size, off, fi);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi) {
  sized(req, OP_READDIRPLUS, ino, size, off, fi);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  call_t *c = call_new(req, OP_WRITE, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->off = off;
    set_fi(c, fi);
    /* The loop reuses its receive buffer for the next request: copy here, off the main
       thread; JS receives this memory as an external Buffer (no second copy). */
    c->data = malloc(size ? size : 1);
    if (c->data == NULL) {
      call_free(c);
      c = NULL;
    } else {
      memcpy(c->data, buf, size);
      c->datalen = size;
    }
  }
  submit(req, c);
}

static void synced(fuse_req_t req, enum op op, fuse_ino_t ino, int datasync,
                   struct fuse_file_info *fi) {
  call_t *c = call_new(req, op, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->arg = datasync;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  synced(req, OP_FSYNC, ino, datasync, fi);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                        struct fuse_file_info *fi) {
  synced(req, OP_FSYNCDIR, ino, datasync, fi);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  call_t *c = call_new(req, OP_STATFS, NULL, NULL);
  if (c) c->ino = ino;
  submit(req, c);
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
  call_t *c = call_new(req, OP_SETXATTR, name, NULL);
  if (c) {
    c->ino = ino;
    c->flags = flags;
    c->data = malloc(size ? size : 1);
    if (c->data == NULL) {
      call_free(c);
      c = NULL;
    } else {
      memcpy(c->data, value, size);
      c->datalen = size;
    }
  }
  submit(req, c);
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  call_t *c = call_new(req, OP_GETXATTR, name, NULL);
  if (c) {
    c->ino = ino;
    c->size = size;
  }
  submit(req, c);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  call_t *c = call_new(req, OP_LISTXATTR, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->size = size;
  }
  submit(req, c);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  call_t *c = call_new(req, OP_REMOVEXATTR, name, NULL);
  if (c) c->ino = ino;
  submit(req, c);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  call_t *c = call_new(req, OP_ACCESS, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->arg = mask;
  }
  submit(req, c);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  call_t *c = call_new(req, OP_CREATE, name, NULL);
  if (c) {
    c->ino = parent;
    c->mode = mode;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi) {
  call_t *c = call_new(req, OP_FALLOCATE, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->arg = mode;
    c->off = offset;
    c->len = length;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct flock *lock) {
  call_t *c = call_new(req, OP_GETLK, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->lock = *lock;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct flock *lock, int sleep) {
  call_t *c = call_new(req, OP_SETLK, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->lock = *lock;
    c->arg = sleep;
    set_fi(c, fi);
  }
  submit(req, c);
}

static void ll_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op) {
  call_t *c = call_new(req, OP_FLOCK, NULL, NULL);
  if (c) {
    c->ino = ino;
    c->arg = op;
    set_fi(c, fi);
  }
  submit(req, c);
}

/* INIT is answered by libfuse itself once this returns; JS hears what was negotiated. */
static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  session_t *s = userdata;
  /* libfuse 3 turns these on by default; each changes what the handlers receive, so each
     is the file system's choice: HANDLE_KILLPRIV (below), ATOMIC_O_TRUNC and
     AUTO_INVAL_DATA (the options atomic_o_trunc, auto_inval_data) as under libfuse 2.
     READDIRPLUS_AUTO would fall back to plain READDIR (then one LOOKUP per entry) after
     the first batch; a listing here carries its attributes anyway: always plus. */
  conn->want &= ~(FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_AUTO_INVAL_DATA |
                  FUSE_CAP_READDIRPLUS_AUTO);
  /* -o max_write=, max_readahead=, async_read, atomic_o_trunc, … (fuse_parse_conn_info_opts) */
  fuse_apply_conn_info_opts(s->conn_opts, conn);
  /* libfuse 3 refuses the connection if INIT's max_read differs from the mount option's. */
  conn->max_read = s->max_read;
  /* The kernel then leaves clearing setuid/setgid on write, truncate and chown to us: only
     when the file system does it (the tsmfs master does, docs/metadata.md). */
  if ((s->caps & CAP_HANDLE_KILLPRIV) && (conn->capable & FUSE_CAP_HANDLE_KILLPRIV))
    conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
  call_t *c = call_new(NULL, OP_INIT, NULL, NULL);
  if (c == NULL) return;
  c->conn = *conn;
  if (napi_call_threadsafe_function(s->tsfn, c, napi_tsfn_nonblocking) != napi_ok) call_free(c);
}

static const struct fuse_lowlevel_ops ll_ops = {
    .init = ll_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .readlink = ll_readlink,
    .mknod = ll_mknod,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .symlink = ll_symlink,
    .rename = ll_rename,
    .link = ll_link,
    .open = ll_open,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .fsyncdir = ll_fsyncdir,
    .statfs = ll_statfs,
    .setxattr = ll_setxattr,
    .getxattr = ll_getxattr,
    .listxattr = ll_listxattr,
    .removexattr = ll_removexattr,
    .access = ll_access,
    .create = ll_create,
    .fallocate = ll_fallocate,
    .getlk = ll_getlk,
    .setlk = ll_setlk,
    .flock = ll_flock,
};

static void kick_handler(int sig) { (void)sig; }

static void *loop_thread(void *arg) {
  session_t *s = arg;
  /* Node owns signals: this thread takes none but the kick that interrupts read(2). */
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, KICK_SIGNAL);
  pthread_sigmask(SIG_SETMASK, &set, NULL);

  int result = fuse_session_loop(s->se);

  call_t *c = call_new(NULL, OP_ENDED, NULL, NULL);
  if (c) {
    c->arg = result;
    napi_call_threadsafe_function(s->tsfn, c, napi_tsfn_nonblocking);
  }
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  return NULL;
}

/* ---- main thread: from call to JS ---------------------------------------------- */

static napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value str(napi_env env, const char *s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value boolean(napi_env env, int v) {
  napi_value out;
  napi_get_boolean(env, v != 0, &out);
  return out;
}

static napi_value undef(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static napi_value big(napi_env env, uint64_t v) {
  napi_value out;
  napi_create_bigint_uint64(env, v, &out);
  return out;
}

static napi_value fh_value(napi_env env, const call_t *c) {
  return c->has_fh ? num(env, (double)c->fh) : undef(env);
}

static void free_external(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* Takes ownership of c->data. */
static napi_value data_buffer(napi_env env, call_t *c) {
  napi_value out;
  if (napi_create_external_buffer(env, c->datalen, c->data, free_external, NULL, &out) ==
      napi_ok) {
    c->data = NULL;
    return out;
  }
  void *copy;
  napi_create_buffer_copy(env, c->datalen, c->data, &copy, &out);
  return out;
}

static napi_value forget_list(napi_env env, call_t *c) {
  const struct fuse_forget_data *items = (const struct fuse_forget_data *)c->data;
  napi_value list;
  napi_create_array_with_length(env, c->datalen * 2, &list);
  for (size_t i = 0; i < c->datalen; i++) {
    napi_set_element(env, list, (uint32_t)(2 * i), num(env, (double)items[i].ino));
    napi_set_element(env, list, (uint32_t)(2 * i + 1), num(env, (double)items[i].nlookup));
  }
  return list;
}

static void destroy_fuse(session_t *s) {
  s->destroyed = 1;
  /* Closes /dev/fuse too, which aborts the connection if it is still mounted. Not
     fuse_session_unmount: the mount was detached already (detach_mount), and unmounting by
     path now could hit a new mount at the same place. (libfuse keeps its copy of the path:
     a few bytes per session.) */
  fuse_session_destroy(s->se);
  s->se = NULL;
  free(s->conn_opts);
  s->conn_opts = NULL;
}

static void loop_ended(session_t *s) {
  s->loop_ended = 1;
  if (s->thread_running) {
    pthread_join(s->thread, NULL); /* it has only the release left to do */
    s->thread_running = 0;
  }
  maybe_destroy(s);
}

/* Fills argv after the fixed head (op, id, uid, gid, pid, umask, serial, interrupted);
   returns argc. */
static size_t call_args(napi_env env, call_t *c, napi_value *a) {
  switch (c->op) {
    case OP_LOOKUP:
    case OP_UNLINK:
    case OP_RMDIR:
    case OP_REMOVEXATTR:
      a[0] = num(env, (double)c->ino);
      a[1] = str(env, c->name);
      return 2;
    case OP_FORGET:
      a[0] = forget_list(env, c);
      return 1;
    case OP_GETATTR:
    case OP_READLINK:
    case OP_STATFS:
      a[0] = num(env, (double)c->ino);
      a[1] = fh_value(env, c);
      return 2;
    case OP_SETATTR:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, c->arg);
      a[2] = num(env, c->attr.st_mode);
      a[3] = num(env, c->attr.st_uid);
      a[4] = num(env, c->attr.st_gid);
      a[5] = num(env, (double)c->attr.st_size);
      a[6] = num(env, (double)c->attr.st_atim.tv_sec);
      a[7] = num(env, (double)c->attr.st_atim.tv_nsec);
      a[8] = num(env, (double)c->attr.st_mtim.tv_sec);
      a[9] = num(env, (double)c->attr.st_mtim.tv_nsec);
      a[10] = fh_value(env, c);
      return 11;
    case OP_MKNOD:
    case OP_MKDIR:
      a[0] = num(env, (double)c->ino);
      a[1] = str(env, c->name);
      a[2] = num(env, c->mode);
      a[3] = num(env, c->rdev);
      return 4;
    case OP_SYMLINK:
      a[0] = str(env, c->name2); /* target */
      a[1] = num(env, (double)c->ino);
      a[2] = str(env, c->name);
      return 3;
    case OP_RENAME:
      a[0] = num(env, (double)c->ino);
      a[1] = str(env, c->name);
      a[2] = num(env, (double)c->ino2);
      a[3] = str(env, c->name2);
      a[4] = num(env, c->arg);
      return 5;
    case OP_LINK:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, (double)c->ino2);
      a[2] = str(env, c->name);
      return 3;
    case OP_OPEN:
    case OP_OPENDIR:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, c->flags);
      return 2;
    case OP_READ:
    case OP_READDIR:
    case OP_READDIRPLUS:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, (double)c->size);
      a[2] = num(env, (double)c->off);
      a[3] = fh_value(env, c);
      return 4;
    case OP_WRITE:
      a[0] = num(env, (double)c->ino);
      a[1] = data_buffer(env, c);
      a[2] = num(env, (double)c->off);
      a[3] = fh_value(env, c);
      a[4] = num(env, c->flags);
      a[5] = boolean(env, c->fi_bits & 1);
      return 6;
    case OP_FLUSH:
      a[0] = num(env, (double)c->ino);
      a[1] = fh_value(env, c);
      a[2] = big(env, c->lock_owner);
      return 3;
    case OP_RELEASE:
    case OP_RELEASEDIR:
      a[0] = num(env, (double)c->ino);
      a[1] = fh_value(env, c);
      a[2] = num(env, c->flags);
      a[3] = boolean(env, c->fi_bits & 2);
      a[4] = boolean(env, c->fi_bits & 4);
      a[5] = big(env, c->lock_owner);
      return 6;
    case OP_FSYNC:
    case OP_FSYNCDIR:
      a[0] = num(env, (double)c->ino);
      a[1] = boolean(env, c->arg);
      a[2] = fh_value(env, c);
      return 3;
    case OP_SETXATTR:
      a[0] = num(env, (double)c->ino);
      a[1] = str(env, c->name);
      a[2] = data_buffer(env, c);
      a[3] = num(env, c->flags);
      return 4;
    case OP_GETXATTR:
      a[0] = num(env, (double)c->ino);
      a[1] = str(env, c->name);
      a[2] = num(env, (double)c->size);
      return 3;
    case OP_LISTXATTR:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, (double)c->size);
      return 2;
    case OP_ACCESS:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, c->arg);
      return 2;
    case OP_CREATE:
      a[0] = num(env, (double)c->ino);
      a[1] = str(env, c->name);
      a[2] = num(env, c->mode);
      a[3] = num(env, c->flags);
      return 4;
    case OP_FALLOCATE:
      a[0] = num(env, (double)c->ino);
      a[1] = num(env, c->arg);
      a[2] = num(env, (double)c->off);
      a[3] = num(env, (double)c->len);
      a[4] = fh_value(env, c);
      return 5;
    case OP_GETLK:
    case OP_SETLK:
      a[0] = num(env, (double)c->ino);
      a[1] = fh_value(env, c);
      a[2] = big(env, c->lock_owner);
      a[3] = num(env, c->lock.l_type);
      a[4] = num(env, (double)c->lock.l_start);
      a[5] = num(env, (double)c->lock.l_len);
      a[6] = num(env, c->lock.l_pid);
      a[7] = boolean(env, c->arg);
      return 8;
    case OP_FLOCK:
      a[0] = num(env, (double)c->ino);
      a[1] = fh_value(env, c);
      a[2] = big(env, c->lock_owner);
      a[3] = num(env, c->arg);
      return 4;
    case OP_INTERRUPT:
      a[0] = num(env, (double)c->serial);
      return 1;
    case OP_INIT:
      a[0] = num(env, c->conn.proto_major);
      a[1] = num(env, c->conn.proto_minor);
      a[2] = num(env, c->conn.max_write);
      a[3] = num(env, c->conn.max_readahead);
      a[4] = num(env, c->conn.capable);
      a[5] = num(env, c->conn.want);
      a[6] = num(env, c->conn.max_background);
      return 7;
    case OP_ENDED:
      a[0] = num(env, c->arg);
      return 1;
    default:
      return 0;
  }
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  session_t *s = context;
  call_t *c = data;
  if (env == NULL) { /* the environment is going away: answer what is left */
    if (c->req) fuse_reply_err(c->req, EIO);
    call_free(c);
    return;
  }
  if (c->op == OP_ENDED) loop_ended(s);

  napi_value argv[20];
  double id = 0;
  if (c->req != NULL) {
    id = table_put(s, c->req);
    if (id < 0) {
      fuse_reply_err(c->req, ENOMEM);
      call_free(c);
      return;
    }
  }
  argv[0] = num(env, c->op);
  argv[1] = num(env, id);
  argv[2] = num(env, c->uid);
  argv[3] = num(env, c->gid);
  argv[4] = num(env, c->pid);
  argv[5] = num(env, c->umask);
  argv[6] = num(env, (double)c->serial);
  argv[7] = boolean(env, c->interrupted);
  size_t argc = 8 + call_args(env, c, argv + 8);
  call_free(c);

  napi_value global;
  napi_get_global(env, &global);
  napi_status status = napi_call_function(env, global, js_cb, argc, argv, NULL);
  if (status == napi_pending_exception) {
    /* The JS dispatcher never throws by contract; if it does, do not kill the process. */
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}

/* ---- JS-callable functions ------------------------------------------------------ */

#define ARGS(n)                                                                 \
  size_t argc = n;                                                              \
  napi_value argv[n];                                                           \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

static double arg_num(napi_env env, napi_value v) {
  double out = 0;
  napi_get_value_double(env, v, &out);
  return out;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value int_result(napi_env env, int r) {
  napi_value out;
  napi_create_int32(env, r, &out);
  return out;
}

/* Looks the request up and removes it; throws if the id is not an open request. */
#define TAKE_REQ(idv)                                                           \
  double id_ = arg_num(env, idv);                                               \
  session_t *s_ = table_session(id_);                                           \
  fuse_req_t req = table_take(id_);                                             \
  if (req == NULL) return throw_error(env, "tsmfs-fuse: unknown or already answered request")

#define DONE(expr)                                                              \
  int r_ = (expr);                                                              \
  after_reply(s_);                                                              \
  return int_result(env, r_)

/* An attribute record: 15 doubles in the order of replies.ts's putAttr. */
#define ATTR_FIELDS 15

static void stat_from(const double *d, struct stat *st) {
  memset(st, 0, sizeof(*st));
  st->st_ino = (ino_t)d[0];
  st->st_mode = (mode_t)d[1];
  st->st_nlink = (nlink_t)d[2];
  st->st_uid = (uid_t)d[3];
  st->st_gid = (gid_t)d[4];
  st->st_rdev = (dev_t)d[5];
  st->st_size = (off_t)d[6];
  st->st_blocks = (blkcnt_t)d[7];
  st->st_blksize = (blksize_t)d[8];
  st->st_atim.tv_sec = (time_t)d[9];
  st->st_atim.tv_nsec = (long)d[10];
  st->st_mtim.tv_sec = (time_t)d[11];
  st->st_mtim.tv_nsec = (long)d[12];
  st->st_ctim.tv_sec = (time_t)d[13];
  st->st_ctim.tv_nsec = (long)d[14];
}

static int scratch_stat(struct stat *st) {
  if (scratch == NULL || scratch_len < ATTR_FIELDS) return -1;
  stat_from(scratch, st);
  return 0;
}

static napi_value js_set_scratch(napi_env env, napi_callback_info info) {
  ARGS(1);
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array)
    return throw_error(env, "tsmfs-fuse: scratch must be a Float64Array");
  /* Keep the array alive for the life of the process: its memory is read by replies. */
  napi_ref ref;
  napi_create_reference(env, argv[0], 1, &ref);
  scratch = data;
  scratch_len = length;
  return undef(env);
}

static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  DONE(fuse_reply_err(req, (int)arg_num(env, argv[1])));
}

static napi_value js_reply_none(napi_env env, napi_callback_info info) {
  ARGS(1);
  TAKE_REQ(argv[0]);
  fuse_reply_none(req);
  DONE(0);
}

static void fill_entry(napi_env env, napi_value *argv, struct fuse_entry_param *e) {
  memset(e, 0, sizeof(*e));
  scratch_stat(&e->attr);
  e->ino = e->attr.st_ino;
  e->entry_timeout = arg_num(env, argv[1]);
  e->attr_timeout = arg_num(env, argv[2]);
  e->generation = (unsigned long)arg_num(env, argv[3]);
}

/* replyEntry(id, entryTimeout, attrTimeout, generation): attr from the scratch array. */
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  ARGS(4);
  TAKE_REQ(argv[0]);
  struct fuse_entry_param e;
  fill_entry(env, argv, &e);
  DONE(fuse_reply_entry(req, &e));
}

static void fill_open(napi_env env, napi_value fh, napi_value bits, struct fuse_file_info *fi) {
  memset(fi, 0, sizeof(*fi));
  fi->fh = (uint64_t)arg_num(env, fh);
  uint32_t b = (uint32_t)arg_num(env, bits);
  fi->direct_io = (b & 1) != 0;
  fi->keep_cache = (b & 2) != 0;
  fi->nonseekable = (b & 4) != 0;
}

/* replyCreate(id, entryTimeout, attrTimeout, generation, fh, bits) */
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(6);
  TAKE_REQ(argv[0]);
  struct fuse_entry_param e;
  struct fuse_file_info fi;
  fill_entry(env, argv, &e);
  fill_open(env, argv[4], argv[5], &fi);
  DONE(fuse_reply_create(req, &e, &fi));
}

/* replyAttr(id, timeout): attr from the scratch array. */
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  struct stat st;
  scratch_stat(&st);
  DONE(fuse_reply_attr(req, &st, arg_num(env, argv[1])));
}

static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  size_t len = 0;
  napi_get_value_string_utf8(env, argv[1], NULL, 0, &len);
  char *link = malloc(len + 1);
  if (link == NULL) {
    DONE(fuse_reply_err(req, ENOMEM));
  }
  napi_get_value_string_utf8(env, argv[1], link, len + 1, &len);
  int r = fuse_reply_readlink(req, link);
  free(link);
  DONE(r);
}

/* replyOpen(id, fh, bits): bits 1 direct_io, 2 keep_cache, 4 nonseekable */
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  TAKE_REQ(argv[0]);
  struct fuse_file_info fi;
  fill_open(env, argv[1], argv[2], &fi);
  DONE(fuse_reply_open(req, &fi));
}

static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  DONE(fuse_reply_write(req, (size_t)arg_num(env, argv[1])));
}

/* replyBuf(id, buffer | undefined) */
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  void *data = NULL;
  size_t len = 0;
  bool is_buffer = false;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (is_buffer) napi_get_buffer_info(env, argv[1], &data, &len);
  DONE(fuse_reply_buf(req, data, len));
}

/* replyLock(id, type, start, len, pid) */
static napi_value js_reply_lock(napi_env env, napi_callback_info info) {
  ARGS(5);
  TAKE_REQ(argv[0]);
  struct flock lock;
  memset(&lock, 0, sizeof(lock));
  lock.l_type = (short)arg_num(env, argv[1]);
  lock.l_whence = SEEK_SET;
  lock.l_start = (off_t)arg_num(env, argv[2]);
  lock.l_len = (off_t)arg_num(env, argv[3]);
  lock.l_pid = (pid_t)arg_num(env, argv[4]);
  DONE(fuse_reply_lock(req, &lock));
}

static napi_value js_reply_xattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  DONE(fuse_reply_xattr(req, (size_t)arg_num(env, argv[1])));
}

/* replyStatfs(id): bsize frsize blocks bfree bavail files ffree favail fsid flag namemax
   from the scratch array. */
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  ARGS(1);
  TAKE_REQ(argv[0]);
  struct statvfs st;
  memset(&st, 0, sizeof(st));
  if (scratch != NULL && scratch_len >= 11) {
    st.f_bsize = (unsigned long)scratch[0];
    st.f_frsize = (unsigned long)scratch[1];
    st.f_blocks = (fsblkcnt_t)scratch[2];
    st.f_bfree = (fsblkcnt_t)scratch[3];
    st.f_bavail = (fsblkcnt_t)scratch[4];
    st.f_files = (fsfilcnt_t)scratch[5];
    st.f_ffree = (fsfilcnt_t)scratch[6];
    st.f_favail = (fsfilcnt_t)scratch[7];
    st.f_fsid = (unsigned long)scratch[8];
    st.f_flag = (unsigned long)scratch[9];
    st.f_namemax = (unsigned long)scratch[10];
  }
  DONE(fuse_reply_statfs(req, &st));
}

/* One directory entry into a reply buffer from its scratch record; returns the size it
   needs (larger than bufsize: it did not fit, nothing was written). */
typedef size_t (*add_entry_fn)(fuse_req_t req, char *buf, size_t bufsize, const char *name,
                               const double *d);

/* A plain entry: ino, mode, next offset. */
static size_t add_plain(fuse_req_t req, char *buf, size_t bufsize, const char *name,
                        const double *d) {
  struct stat st;
  memset(&st, 0, sizeof(st));
  st.st_ino = (ino_t)d[0];
  st.st_mode = (mode_t)d[1];
  return fuse_add_direntry(req, buf, bufsize, name, &st, (off_t)d[2]);
}

/* A READDIRPLUS entry: the attr (ATTR_FIELDS), entry timeout, attr timeout, next offset.
   A negative entry timeout lists the name without an entry (nodeid 0: "." and "..", whose
   lookup count must not move). */
#define PLUS_FIELDS (ATTR_FIELDS + 3)
static size_t add_plus(fuse_req_t req, char *buf, size_t bufsize, const char *name,
                       const double *d) {
  struct fuse_entry_param e;
  memset(&e, 0, sizeof(e));
  stat_from(d, &e.attr);
  if (d[ATTR_FIELDS] >= 0) {
    e.ino = e.attr.st_ino;
    e.entry_timeout = d[ATTR_FIELDS];
    e.attr_timeout = d[ATTR_FIELDS + 1];
  }
  return fuse_add_direntry_plus(req, buf, bufsize, name, &e, (off_t)d[ATTR_FIELDS + 2]);
}

/* (id, size, names[], count): entry i's record is scratch[stride*i ...]. Packs entries
   until `size` is full; returns how many fit (or a negative errno). */
static napi_value reply_entries(napi_env env, napi_callback_info info, size_t stride,
                                add_entry_fn add) {
  ARGS(4);
  TAKE_REQ(argv[0]);
  size_t size = (size_t)arg_num(env, argv[1]);
  uint32_t count = (uint32_t)arg_num(env, argv[3]);
  if (scratch == NULL || (size_t)count * stride > scratch_len) {
    DONE(fuse_reply_err(req, EIO));
  }
  char *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    DONE(fuse_reply_err(req, ENOMEM));
  }
  size_t used = 0;
  uint32_t packed = 0;
  char name[1024];
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    size_t len;
    napi_get_element(env, argv[2], i, &v);
    if (napi_get_value_string_utf8(env, v, name, sizeof(name), &len) != napi_ok) break;
    size_t need = add(req, buf + used, size - used, name, scratch + (size_t)i * stride);
    if (need > size - used) break;
    used += need;
    packed++;
  }
  int r = fuse_reply_buf(req, buf, used);
  free(buf);
  after_reply(s_);
  return int_result(env, r < 0 ? r : (int)packed);
}

/* replyDirents(id, size, names[], count): records of ino, mode, next offset. */
static napi_value js_reply_dirents(napi_env env, napi_callback_info info) {
  return reply_entries(env, info, 3, add_plain);
}

/* replyDirentsPlus(id, size, names[], count): records of PLUS_FIELDS (add_plus). */
static napi_value js_reply_dirents_plus(napi_env env, napi_callback_info info) {
  return reply_entries(env, info, PLUS_FIELDS, add_plus);
}

/* getGroups(id): the supplementary groups of the requesting process. */
static napi_value js_get_groups(napi_env env, napi_callback_info info) {
  ARGS(1);
  double id = arg_num(env, argv[0]);
  if (table_session(id) == NULL) return throw_error(env, "tsmfs-fuse: unknown request");
  uint64_t n = (uint64_t)id;
  fuse_req_t req = slots[n & (SLOT_LIMIT - 1)].req;
  gid_t small[64];
  gid_t *list = small;
  int total = fuse_req_getgroups(req, 64, small);
  if (total > 64) {
    list = malloc(sizeof(gid_t) * (size_t)total);
    if (list == NULL) return throw_error(env, "tsmfs-fuse: out of memory");
    total = fuse_req_getgroups(req, total, list);
  }
  napi_value out;
  napi_create_array(env, &out);
  for (int i = 0; i < total; i++) napi_set_element(env, out, (uint32_t)i, num(env, list[i]));
  if (list != small) free(list);
  return out;
}

static void free_session(session_t *s) {
  free(s->conn_opts);
  free(s->mountpoint);
  free(s);
}

static void session_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  session_t *s = data;
  s->js_released = 1;
  /* A session whose loop still runs (or whose requests are unanswered) is kept: the
     loop thread and the request table still point at it. */
  if (s->destroyed && !s->thread_running) free_session(s);
}

static char *escape_commas(const char *opt) {
  /* fuse_opt splits -o values on commas; a backslash keeps one literal. */
  size_t n = strlen(opt), extra = 0;
  for (size_t i = 0; i < n; i++) extra += (opt[i] == ',' || opt[i] == '\\');
  char *out = malloc(n + extra + 1), *p = out;
  if (out == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (opt[i] == ',' || opt[i] == '\\') *p++ = '\\';
    *p++ = opt[i];
  }
  *p = 0;
  return out;
}

static int build_args(napi_env env, napi_value options, struct fuse_args *args,
                      unsigned *max_read) {
  uint32_t count = 0;
  napi_get_array_length(env, options, &count);
  if (fuse_opt_add_arg(args, "tsmfs") != 0) return -1;
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    size_t len;
    char opt[4096];
    napi_get_element(env, options, i, &v);
    if (napi_get_value_string_utf8(env, v, opt, sizeof(opt), &len) != napi_ok) return -1;
    if (strcmp(opt, "debug") == 0) {
      if (fuse_opt_add_arg(args, "-d") != 0) return -1;
      continue;
    }
    if (strncmp(opt, "max_read=", 9) == 0) *max_read = (unsigned)strtoul(opt + 9, NULL, 10);
    char *escaped = escape_commas(opt);
    if (escaped == NULL) return -1;
    int bad = fuse_opt_add_arg(args, "-o") != 0 || fuse_opt_add_arg(args, escaped) != 0;
    free(escaped);
    if (bad) return -1;
  }
  return 0;
}

/* Takes `big_writes` out of the options: FUSE 3 has no such option (large writes are
   always allowed, up to max_write), and refusing it would break mount lines written for
   FUSE 2 (MooseFS documents it). */
static void drop_big_writes(struct fuse_args *args) {
  int out = 0;
  for (int i = 0; i < args->argc; i++) {
    if (i + 1 < args->argc && strcmp(args->argv[i], "-o") == 0 &&
        strcmp(args->argv[i + 1], "big_writes") == 0) {
      free(args->argv[i]);
      free(args->argv[i + 1]);
      i++;
      continue;
    }
    args->argv[out++] = args->argv[i];
  }
  args->argc = out;
  args->argv[out] = NULL;
}

/* mount(mountpoint, options[], dispatcher, capabilities) -> session handle.
   capabilities: CAP_POSIX_LOCKS, CAP_FLOCK, CAP_HANDLE_KILLPRIV, CAP_READDIRPLUS. Without
   the lock ones getlk/setlk/flock stay unregistered, so libfuse does not announce them and
   the kernel keeps such locks local; registered but answered ENOSYS, they would fail
   fcntl() and flock() for every program. Without CAP_READDIRPLUS the kernel uses READDIR. */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(4);
  size_t len;
  char mountpoint[4096];
  if (napi_get_value_string_utf8(env, argv[0], mountpoint, sizeof(mountpoint), &len) != napi_ok)
    return throw_error(env, "tsmfs-fuse: mountpoint must be a string");

  struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
  unsigned max_read = 0;
  if (build_args(env, argv[1], &args, &max_read) != 0) {
    fuse_opt_free_args(&args);
    return throw_error(env, "tsmfs-fuse: bad mount options");
  }
  drop_big_writes(&args);
  session_t *s = calloc(1, sizeof(session_t));
  if (s == NULL || (s->mountpoint = strdup(mountpoint)) == NULL) {
    free(s);
    fuse_opt_free_args(&args);
    return throw_error(env, "tsmfs-fuse: out of memory");
  }
  s->max_read = max_read;
  /* The connection options (max_write=, async_read, …) come out of args here; the mount
     options (fsname=, allow_other, max_read=, …) and the session's own stay for
     fuse_session_new, which refuses anything left that it does not know. */
  s->conn_opts = fuse_parse_conn_info_opts(&args);
  if (s->conn_opts == NULL) {
    fuse_opt_free_args(&args);
    free_session(s);
    return throw_error(env, "tsmfs-fuse: bad connection options (see stderr)");
  }
  s->caps = (uint32_t)arg_num(env, argv[3]);
  struct fuse_lowlevel_ops ops = ll_ops; /* fuse_session_new keeps a copy */
  if (!(s->caps & CAP_POSIX_LOCKS)) {
    ops.getlk = NULL;
    ops.setlk = NULL;
  }
  if (!(s->caps & CAP_FLOCK)) ops.flock = NULL;
  if (!(s->caps & CAP_READDIRPLUS)) ops.readdirplus = NULL;
  s->se = fuse_session_new(&args, &ops, sizeof(ops), s);
  fuse_opt_free_args(&args);
  if (s->se == NULL) {
    free_session(s);
    return throw_error(env, "tsmfs-fuse: fuse_session_new failed (unknown option? see stderr)");
  }
  if (fuse_session_mount(s->se, mountpoint) != 0) {
    fuse_session_destroy(s->se);
    free_session(s);
    return throw_error(env, "tsmfs-fuse: fuse_session_mount failed (see stderr)");
  }

  napi_value name = str(env, "tsmfs-fuse");
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, s, call_js,
                                      &s->tsfn) != napi_ok) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    free_session(s);
    return throw_error(env, "tsmfs-fuse: cannot create the threadsafe function");
  }
  if (pthread_create(&s->thread, NULL, loop_thread, s) != 0) {
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    free_session(s);
    return throw_error(env, "tsmfs-fuse: cannot start the loop thread");
  }
  s->thread_running = 1;

  napi_value handle;
  napi_create_external(env, s, session_finalize, NULL, &handle);
  return handle;
}

/* Detaches the mount lazily and leaves /dev/fuse open, so that requests in flight can
   still be answered (fuse_session_unmount would close it). As root umount2(MNT_DETACH);
   otherwise `fusermount -u -z`, as libfuse itself does for users. */
static void detach_mount(const char *mountpoint) {
  if (geteuid() == 0) {
    umount2(mountpoint, MNT_DETACH);
    return;
  }
  char *const argv[] = {"fusermount", "-u", "-q", "-z", "--", (char *)mountpoint, NULL};
  extern char **environ;
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount", NULL, NULL, argv, environ) == 0)
    waitpid(pid, NULL, 0);
}

static session_t *arg_session(napi_env env, napi_value v) {
  void *data = NULL;
  napi_get_value_external(env, v, &data);
  return data;
}

/* unmount(session): ask the loop to stop and detach the mount (lazily, as fusermount -u -z
   would, so that the main thread never waits on the file system it serves). Returns false
   once the loop has ended. Safe to call repeatedly: each call kicks the loop again. */
static napi_value js_unmount(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = arg_session(env, argv[0]);
  if (s == NULL) return throw_error(env, "tsmfs-fuse: not a session");
  if (s->loop_ended) return boolean(env, 0);
  fuse_session_exit(s->se);
  if (!s->exit_requested) {
    s->exit_requested = 1;
    detach_mount(s->mountpoint);
  }
  /* read(2) on /dev/fuse ends by the abort that the detach brings, or by this signal. */
  pthread_kill(s->thread, KICK_SIGNAL);
  return boolean(env, 1);
}

/* detachSync(session): lazy unmount only, for process exit, when no loop will run again. */
static napi_value js_detach_sync(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = arg_session(env, argv[0]);
  if (s != NULL && !s->loop_ended && !s->exit_requested) {
    s->exit_requested = 1;
    detach_mount(s->mountpoint);
  }
  return undef(env);
}

/* ---- cache invalidation ----------------------------------------------------------
   fuse_lowlevel_notify_inval_* write to /dev/fuse and may wait in the kernel for locks that
   a request in flight holds; that request can only be answered by the main thread, so the
   notification runs on the libuv pool and resolves a promise. */

typedef struct notify {
  napi_async_work work;
  napi_deferred deferred;
  session_t *s;
  uint64_t ino;
  int64_t off, len;
  char *name; /* NULL: invalidate the inode's attributes and data */
  int result;
} notify_t;

static void notify_execute(napi_env env, void *data) {
  notify_t *n = data;
  if (n->name != NULL)
    n->result = fuse_lowlevel_notify_inval_entry(n->s->se, n->ino, n->name, strlen(n->name));
  else
    n->result = fuse_lowlevel_notify_inval_inode(n->s->se, n->ino, n->off, n->len);
}

static void notify_complete(napi_env env, napi_status status, void *data) {
  notify_t *n = data;
  n->s->notifying--;
  napi_resolve_deferred(env, n->deferred, int_result(env, status == napi_ok ? n->result : -EIO));
  napi_delete_async_work(env, n->work);
  maybe_destroy(n->s);
  free(n->name);
  free(n);
}

/* notify(session, ino, name | null, off, len) -> Promise<0 | -errno> */
static napi_value js_notify(napi_env env, napi_callback_info info) {
  ARGS(5);
  session_t *s = arg_session(env, argv[0]);
  napi_value promise;
  napi_deferred deferred;
  napi_create_promise(env, &deferred, &promise);
  if (s == NULL || s->destroyed || s->loop_ended) {
    napi_resolve_deferred(env, deferred, int_result(env, -ENOTCONN));
    return promise;
  }
  notify_t *n = calloc(1, sizeof(notify_t));
  if (n == NULL) {
    napi_resolve_deferred(env, deferred, int_result(env, -ENOMEM));
    return promise;
  }
  n->deferred = deferred;
  n->s = s;
  n->ino = (uint64_t)arg_num(env, argv[1]);
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  if (type == napi_string) {
    size_t len;
    napi_get_value_string_utf8(env, argv[2], NULL, 0, &len);
    n->name = malloc(len + 1);
    napi_get_value_string_utf8(env, argv[2], n->name, len + 1, &len);
  }
  n->off = (int64_t)arg_num(env, argv[3]);
  n->len = (int64_t)arg_num(env, argv[4]);
  napi_create_async_work(env, NULL, str(env, "tsmfs-fuse-notify"), notify_execute,
                         notify_complete, n, &n->work);
  s->notifying++;
  napi_queue_async_work(env, n->work);
  return promise;
}

static napi_value op_table(napi_env env) {
  napi_value table;
  napi_create_object(env, &table);
#define X(upper, lower) napi_set_named_property(env, table, #lower, num(env, OP_##upper));
  OP_LIST(X)
#undef X
  return table;
}

static napi_value init(napi_env env, napi_value exports) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = kick_handler; /* no SA_RESTART: the kick must interrupt read(2) */
  sigemptyset(&sa.sa_mask);
  sigaction(KICK_SIGNAL, &sa, NULL);

  napi_property_descriptor props[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"unmount", NULL, js_unmount, NULL, NULL, NULL, napi_default, NULL},
      {"notify", NULL, js_notify, NULL, NULL, NULL, napi_default, NULL},
      {"detachSync", NULL, js_detach_sync, NULL, NULL, NULL, napi_default, NULL},
      {"setScratch", NULL, js_set_scratch, NULL, NULL, NULL, napi_default, NULL},
      {"replyErr", NULL, js_reply_err, NULL, NULL, NULL, napi_default, NULL},
      {"replyNone", NULL, js_reply_none, NULL, NULL, NULL, napi_default, NULL},
      {"replyEntry", NULL, js_reply_entry, NULL, NULL, NULL, napi_default, NULL},
      {"replyCreate", NULL, js_reply_create, NULL, NULL, NULL, napi_default, NULL},
      {"replyAttr", NULL, js_reply_attr, NULL, NULL, NULL, napi_default, NULL},
      {"replyReadlink", NULL, js_reply_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"replyOpen", NULL, js_reply_open, NULL, NULL, NULL, napi_default, NULL},
      {"replyWrite", NULL, js_reply_write, NULL, NULL, NULL, napi_default, NULL},
      {"replyBuf", NULL, js_reply_buf, NULL, NULL, NULL, napi_default, NULL},
      {"replyXattr", NULL, js_reply_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"replyLock", NULL, js_reply_lock, NULL, NULL, NULL, napi_default, NULL},
      {"replyStatfs", NULL, js_reply_statfs, NULL, NULL, NULL, napi_default, NULL},
      {"replyDirents", NULL, js_reply_dirents, NULL, NULL, NULL, napi_default, NULL},
      {"replyDirentsPlus", NULL, js_reply_dirents_plus, NULL, NULL, NULL, napi_default, NULL},
      {"getGroups", NULL, js_get_groups, NULL, NULL, NULL, napi_default, NULL},
      {"ops", NULL, NULL, NULL, NULL, op_table(env), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
