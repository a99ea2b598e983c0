/* Cache invalidation. fuse_lowlevel_notify_inval_* write to /dev/fuse and may wait in the
   kernel for locks that a request in flight holds; that request can only be answered by
   the main thread, so the notification runs on the libuv pool and resolves a promise. */
#include "fuse_ll.h"


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
napi_value js_notify(napi_env env, napi_callback_info info) {
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

