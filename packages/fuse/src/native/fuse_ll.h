/*
 * tsmfs's binding to libfuse 3's low-level (inode-based) API, written against libfuse
 * 3.14's fuse_lowlevel.h and node_api.h only. The files, by responsibility:
 *
 *   ops.gen.h/.c     (generated from codegen/ops.mjs) op codes; each libfuse callback
 *                    copying its arguments into a call; the fuse_lowlevel_ops table
 *   loop.c           the loop: /dev/fuse polled and read on the main thread
 *   calls.c          libfuse's callbacks: making calls, interrupts, forget, INIT
 *   dispatch.c       a call becomes one JS dispatch(...) call
 *   request_table.c  main thread: fuse_req_t by numeric id, for the replies
 *   replies.c        main thread: replyErr/replyEntry/... called by JS
 *   session.c        mount, unmount, the end of the session
 *   notify.c         cache invalidation (on the libuv pool)
 *   no_xattrs.c      main thread: getxattr/listxattr of inodes known to have none, answered in C
 *   addon.c          the module's exports
 *
 * Threading (see docs/fuse-binding.md): everything but the invalidations runs on the
 * main (JS) thread.
 *  - libuv polls /dev/fuse (non-blocking); each wake-up reads every request queued, up to
 *    a batch, and libfuse processes each: its callback copies the arguments into a
 *    `call_t` and calls JS's dispatch at once, which starts the handler and returns
 *    without waiting for it, so the next request is read at once;
 *  - each call's fuse_req_t goes into a request table under a numeric id; the JS handler
 *    replies later through reply*(id, ...), which calls fuse_reply_*;
 *  - when the connection ends (our unmount, or an external `fusermount -u`), the poll
 *    handle is closed and JS gets an ENDED call; the libfuse session is destroyed once
 *    no request is in flight, because a fuse_req_t refers to the session;
 *  - invalidations (notify.c) run on the libuv pool: the kernel may make them wait for a
 *    lock held by a request only the main thread can answer.
 * The request table and everything reachable from JS is touched on the main thread only.
 */
#ifndef TSMFS_FUSE_LL_H
#define TSMFS_FUSE_LL_H

#define _GNU_SOURCE
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ops.gen.h"

/* Capabilities JS asks for at mount(): served only when the file system says so. */
#define CAP_POSIX_LOCKS 1u
#define CAP_FLOCK 2u
#define CAP_HANDLE_KILLPRIV 4u
#define CAP_READDIRPLUS 8u
#define CAP_POSIX_ACL 16u

/* Numbers before a call's own in the inbox JS reads: uid, gid, pid, umask, serial,
   interrupted (INBOX_HEAD in ops.gen.ts). */
#define INBOX_HEAD 6

typedef struct no_xattrs no_xattrs_t; /* no_xattrs.c */

typedef struct session {
  struct fuse_session *se;
  struct fuse_conn_info_opts *conn_opts; /* max_write=, async_read, … applied at INIT */
  uint32_t caps;
  unsigned max_read; /* the max_read= mount option: INIT must announce the same */
  char *mountpoint;
  uv_poll_t poll;       /* /dev/fuse, readable */
  uv_check_t check;     /* after a turn that answered requests outside a wake-up (loop.c) */
  int watch;            /* the last request in flight was answered outside a wake-up */
  struct fuse_buf buf;  /* the receive buffer, reused (libfuse allocates it) */
  napi_env env;
  napi_ref dispatch_ref;  /* JS's dispatch(op, id, …) */
  napi_ref resource_ref;  /* the async resource of the callback scopes */
  napi_async_context async_context;
  napi_value js_cb;     /* dispatch, while a wake-up's requests are processed; else NULL */
  int closing;          /* stop_loop ran: the poll handle is closing */
  int loop_result;
  int loop_ended;       /* the poll handle is closed and ENDED delivered */
  int destroyed;        /* libfuse session freed */
  int exit_requested;   /* unmount() was called */
  uint32_t inflight;    /* requests handed to JS and not yet answered */
  uint32_t notifying;   /* invalidations running on the libuv pool */
  uint64_t next_serial;
  int js_released;      /* the JS handle was finalized */
  no_xattrs_t *no_xattrs; /* inodes answered "no xattrs" here (no_xattrs.c); NULL until the first */
} session_t;

/* One request (or notification) on its way to JS: numbers (in the
   order codegen/ops.mjs lists an op's fields), up to two names, bytes, a lock owner. */
typedef struct call {
  enum op op;
  fuse_req_t req; /* NULL for notifications (forget is answered already, INIT, ENDED, …) */
  uint32_t uid, gid, pid, umask;
  uint64_t serial; /* names the request in INTERRUPT notifications */
  int interrupted; /* interrupted before it was queued */
  int bad_name;    /* a name is not UTF-8: answered EILSEQ, never mangled */
  uint32_t nnum;
  double num[CALL_NUMS];
  int has_owner;
  uint64_t owner;
  char *name, *name2; /* into `tail` */
  char *data;         /* separately allocated: write data, xattr value, forgets */
  size_t datalen;
  char tail[];
} call_t;

/* loop.c */
int start_loop(napi_env env, session_t *s, napi_value dispatch);
void stop_loop(session_t *s, int result);
void deliver(session_t *s, call_t *c);
void answered_all(session_t *s);

/* calls.c */
call_t *call_new(fuse_req_t req, enum op op, const char *name, const char *name2);
call_t *call_data(call_t *c, const char *data, size_t size);
void call_free(call_t *c);
void submit(fuse_req_t req, call_t *c);
void queue_notification(session_t *s, call_t *c);
void ll_init(void *userdata, struct fuse_conn_info *conn);
void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);

/* ops.gen.c */
extern const struct fuse_lowlevel_ops ll_ops;
void ll_ops_for(struct fuse_lowlevel_ops *ops, uint32_t caps);

/* dispatch.c */
void call_js(napi_env env, napi_value js_cb, void *context, void *data);
napi_value js_set_buffers(napi_env env, napi_callback_info info);
extern double *scratch; /* Float64Array shared with JS for attr / statfs / dirents */
extern size_t scratch_len;

/* no_xattrs.c (main thread) */
int no_xattrs_answer(fuse_req_t req, fuse_ino_t ino, int list, size_t size);
void no_xattrs_free(session_t *s);
napi_value js_no_xattrs(napi_env env, napi_callback_info info);
napi_value js_no_xattrs_answered(napi_env env, napi_callback_info info);

/* request_table.c (main thread) */
double table_put(session_t *s, fuse_req_t req);
fuse_req_t table_take(double id);
session_t *table_session(double id);
fuse_req_t table_peek(double id);

/* session.c (main thread) */
void maybe_destroy(session_t *s);
void loop_ended(session_t *s);
napi_value js_mount(napi_env env, napi_callback_info info);
napi_value js_unmount(napi_env env, napi_callback_info info);
napi_value js_detach_sync(napi_env env, napi_callback_info info);
napi_value js_notify(napi_env env, napi_callback_info info);
session_t *arg_session(napi_env env, napi_value v);

/* replies.c (main thread) */
napi_value js_reply_err(napi_env env, napi_callback_info info);
napi_value js_reply_none(napi_env env, napi_callback_info info);
napi_value js_reply_entry(napi_env env, napi_callback_info info);
napi_value js_reply_create(napi_env env, napi_callback_info info);
napi_value js_reply_attr(napi_env env, napi_callback_info info);
napi_value js_reply_readlink(napi_env env, napi_callback_info info);
napi_value js_reply_open(napi_env env, napi_callback_info info);
napi_value js_reply_write(napi_env env, napi_callback_info info);
napi_value js_reply_buf(napi_env env, napi_callback_info info);
napi_value js_reply_ioctl(napi_env env, napi_callback_info info);
napi_value js_reply_xattr(napi_env env, napi_callback_info info);
napi_value js_reply_lock(napi_env env, napi_callback_info info);
napi_value js_reply_statfs(napi_env env, napi_callback_info info);
napi_value js_reply_dirents(napi_env env, napi_callback_info info);
napi_value js_reply_dirents_plus(napi_env env, napi_callback_info info);
napi_value js_get_groups(napi_env env, napi_callback_info info);

/* ---- small N-API helpers ------------------------------------------------------------- */

#define ARGS(n)                                                                 \
  size_t argc = n;                                                              \
  napi_value argv[n];                                                           \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

static inline napi_value num(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static inline napi_value str(napi_env env, const char *s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

static inline napi_value boolean(napi_env env, int v) {
  napi_value out;
  napi_get_boolean(env, v != 0, &out);
  return out;
}

static inline napi_value undef(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

static inline double arg_num(napi_env env, napi_value v) {
  double out = 0;
  napi_get_value_double(env, v, &out);
  return out;
}

static inline napi_value int_result(napi_env env, int r) {
  napi_value out;
  napi_create_int32(env, r, &out);
  return out;
}

static inline napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

#endif
