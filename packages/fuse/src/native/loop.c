/* The session's loop, on the main thread: libuv polls /dev/fuse (non-blocking) and each
   wake-up reads and processes every request queued there, up to READ_BATCH. libfuse runs
   the op's callback (ops.gen.c, calls.c) during processing, and the call goes straight
   to JS. Before, a loop thread read each request and handed it over through a
   threadsafe function: two thread wake-ups more per request (the loop thread's, then the
   main thread's through uv_async), which on a 2-core VM cost more than the request's JS
   (docs/benchmarks.md, "FUSE requests read on the main thread"). */
#include "fuse_ll.h"

#include <poll.h>
#include <uv.h>

/* Requests processed per wake-up before libuv runs anything else (timers, sockets). */
#define READ_BATCH 64

static void poll_closed(uv_handle_t *h);

/* Stops reading for good: the kernel's connection went away, or unmount() asked. */
void stop_loop(session_t *s, int result) {
  if (s->closing) return;
  s->closing = 1;
  s->loop_result = result;
  uv_check_stop(&s->check);
  uv_close((uv_handle_t *)&s->check, NULL);
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, poll_closed);
}

/* Runs fn(s) in a callback scope: JS called from a libuv callback needs one, and its
   close runs the microtasks and nextTicks the calls queued (replies of cached answers). */
static void in_js(session_t *s, void (*fn)(session_t *s, napi_env env)) {
  napi_env env = s->env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value resource;
  napi_open_handle_scope(env, &hs);
  napi_get_reference_value(env, s->resource_ref, &resource);
  napi_get_reference_value(env, s->dispatch_ref, &s->js_cb);
  napi_open_callback_scope(env, resource, s->async_context, &cs);
  fn(s, env);
  s->js_cb = NULL;
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
}

/* Hands a call to JS now (only ever during in_js: from a libfuse callback while a request
   is processed, or at the loop's end). */
void deliver(session_t *s, call_t *c) {
  if (s->js_cb == NULL) { /* cannot happen: libfuse calls back only while processing */
    if (c->req) fuse_reply_err(c->req, EIO);
    call_free(c);
    return;
  }
  call_js(s->env, s->js_cb, s, c);
}

static void read_requests(session_t *s, napi_env env) {
  (void)env;
  for (int i = 0; i < READ_BATCH; i++) {
    int res = fuse_session_receive_buf(s->se, &s->buf);
    if (res == -EINTR) continue;
    if (res == -EAGAIN) return;
    /* 0: the connection ended (ENODEV: unmounted, or aborted); < 0: a read error. */
    if (res <= 0) return stop_loop(s, res);
    fuse_session_process_buf(s->se, &s->buf);
    if (fuse_session_exited(s->se)) return stop_loop(s, 0);
  }
}

/* How long, once every request read has been answered, the loop watches /dev/fuse for
   the caller's next request before it goes back to sleep in epoll (µs); and how long one
   wake-up may go on so, before libuv runs the rest of the process (sockets, timers). */
#define SPIN_US 50
#define WAKE_BUDGET_US 2000

/* Whether a request arrived within SPIN_US (and before `deadline`), none being in flight.
   Why: a caller that makes one system call after another (ls -l: lstat, two getxattrs
   per name, all answered here or from the mount's leases) sends its next request a few
   µs after our answer; sleeping in epoll meanwhile costs a context switch and a wake-up
   each time, more than the request's own work (docs/benchmarks.md, "The next request
   awaited awake"). A request waiting on the master (in flight) ends the watch at once. */
static int next_request_soon(session_t *s, uint64_t deadline) {
  if (s->closing || s->inflight != 0) return 0;
  struct pollfd p = {.fd = fuse_session_fd(s->se), .events = POLLIN};
  uint64_t now = uv_hrtime();
  uint64_t until = now + SPIN_US * 1000ull;
  if (until > deadline) until = deadline;
  while (now < until) {
    if (poll(&p, 1, 0) > 0) return 1;
    now = uv_hrtime();
  }
  return 0;
}

/* Reads and processes requests for as long as each comes within SPIN_US of the last
   answer, up to WAKE_BUDGET_US in all. */
static void read_while_coming(session_t *s) {
  uint64_t deadline = uv_hrtime() + WAKE_BUDGET_US * 1000ull;
  while (!s->closing && next_request_soon(s, deadline)) in_js(s, read_requests);
}

static void readable(uv_poll_t *h, int status, int events) {
  (void)events;
  session_t *s = h->data;
  if (s->closing) return;
  in_js(s, read_requests);
  read_while_coming(s);
  s->watch = 0; /* watched just now */
  /* An error from the poll itself (libuv stops the watcher): the read above saw ENODEV
     and ended the loop, or nothing more will come. */
  if (status < 0 && !s->closing) stop_loop(s, status);
}

/* The check phase after a turn whose socket callbacks answered the last requests in
   flight (a create once the master replied): the caller's next request is watched for
   as after a wake-up's own answers. */
static void after_answers(uv_check_t *h) {
  session_t *s = h->data;
  uv_check_stop(h);
  if (s->closing || !s->watch) return;
  s->watch = 0;
  read_while_coming(s);
}

/* Every request handed to JS is answered (request_table.c): outside a wake-up of the
   FUSE loop, the check phase watches for the next one. */
void answered_all(session_t *s) {
  if (s->closing || s->js_cb != NULL) return;
  s->watch = 1;
  if (!uv_is_active((uv_handle_t *)&s->check)) uv_check_start(&s->check, after_answers);
}

static void tell_ended(session_t *s, napi_env env) {
  call_t *c = call_new(NULL, OP_ENDED, NULL, NULL);
  if (c == NULL) {
    loop_ended(s);
    return;
  }
  c->num[0] = s->loop_result;
  c->nnum = 1;
  call_js(env, s->js_cb, s, c); /* loop_ended(s), then JS's 'unmounted' */
}

static void poll_closed(uv_handle_t *h) {
  session_t *s = h->data;
  in_js(s, tell_ended);
  napi_delete_reference(s->env, s->dispatch_ref);
  napi_delete_reference(s->env, s->resource_ref);
  napi_async_destroy(s->env, s->async_context);
}

/* Starts reading /dev/fuse on the main thread's loop; 0 or -1 (nothing to undo then). */
int start_loop(napi_env env, session_t *s, napi_value dispatch) {
  int fd = fuse_session_fd(s->se);
  int flags = fcntl(fd, F_GETFL);
  uv_loop_t *loop;
  napi_value resource, name;
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) return -1;
  s->poll.data = s;
  uv_check_init(loop, &s->check);
  s->check.data = s;
  s->env = env;
  napi_create_object(env, &resource);
  name = str(env, "tsmfs-fuse");
  napi_create_reference(env, dispatch, 1, &s->dispatch_ref);
  napi_create_reference(env, resource, 1, &s->resource_ref);
  napi_async_init(env, resource, name, &s->async_context);
  uv_poll_start(&s->poll, UV_READABLE, readable);
  return 0;
}
