/* The main thread's side of a call: one JS dispatch(op, id, name, name2, data, owner)
   call per request or notification. The numbers (the caller and the op's fields) go
   through the inbox, a Float64Array JS reads at once, rather than one napi value each. */
#include "fuse_ll.h"

double *scratch; /* replies: attr / statfs / dirent records written by JS */
size_t scratch_len;
static double *inbox;
static size_t inbox_len;

static double *float64_array(napi_env env, napi_value v, size_t *length) {
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array)
    return NULL;
  /* Kept alive for the life of the process: its memory is used outside any JS call. */
  napi_ref ref;
  napi_create_reference(env, v, 1, &ref);
  return data;
}

/* setBuffers(scratch, inbox): both Float64Arrays, shared by every session. */
napi_value js_set_buffers(napi_env env, napi_callback_info info) {
  ARGS(2);
  size_t slen, ilen;
  double *s = float64_array(env, argv[0], &slen);
  double *i = float64_array(env, argv[1], &ilen);
  if (s == NULL || i == NULL || ilen < INBOX_HEAD + CALL_NUMS)
    return throw_error(env, "tsmfs-fuse: setBuffers needs two Float64Arrays (inbox of INBOX_LENGTH)");
  scratch = s;
  scratch_len = slen;
  inbox = i;
  inbox_len = ilen;
  return undef(env);
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

void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  session_t *s = context;
  call_t *c = data;
  if (env == NULL) { /* the environment is going away: answer what is left */
    if (c->req) fuse_reply_err(c->req, EIO);
    call_free(c);
    return;
  }
  if (c->op == OP_ENDED) loop_ended(s);
  if (inbox == NULL) { /* setBuffers runs when the JS module loads: never the case */
    if (c->req) fuse_reply_err(c->req, EIO);
    call_free(c);
    return;
  }
  double id = 0;
  if (c->req != NULL) {
    id = table_put(s, c->req);
    if (id < 0) {
      fuse_reply_err(c->req, ENOMEM);
      call_free(c);
      return;
    }
  }
  inbox[0] = c->uid;
  inbox[1] = c->gid;
  inbox[2] = c->pid;
  inbox[3] = c->umask;
  inbox[4] = (double)c->serial;
  inbox[5] = c->interrupted;
  memcpy(inbox + INBOX_HEAD, c->num, c->nnum * sizeof(double));

  /* Only as many arguments as the call has: most requests pass (op, id) or one name. */
  napi_value argv[6];
  size_t argc = c->has_owner ? 6 : c->data ? 5 : c->name2 ? 4 : c->name ? 3 : 2;
  argv[0] = num(env, c->op);
  argv[1] = num(env, id);
  napi_value none = argc > 2 ? undef(env) : NULL;
  if (argc > 2) argv[2] = c->name ? str(env, c->name) : none;
  if (argc > 3) argv[3] = c->name2 ? str(env, c->name2) : none;
  if (argc > 4) argv[4] = c->data ? data_buffer(env, c) : none;
  if (argc > 5) napi_create_bigint_uint64(env, c->owner, &argv[5]);
  call_free(c);

  napi_value recv = none ? none : undef(env);
  napi_status status = napi_call_function(env, recv, js_cb, argc, argv, NULL);
  if (status == napi_pending_exception) {
    /* The JS dispatcher never throws by contract; if it does, do not kill the process. */
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
}
