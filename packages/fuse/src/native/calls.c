/* libfuse's callbacks (while loop.c processes a request): each copies its arguments into
   a call and hands it to JS, which answers later (the per-op callbacks are in ops.gen.c). */
#include "fuse_ll.h"

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

/* Only the fields a call uses are written: the names go into its tail, one allocation. */
call_t *call_new(fuse_req_t req, enum op op, const char *name, const char *name2) {
  size_t l1 = name ? strlen(name) + 1 : 0, l2 = name2 ? strlen(name2) + 1 : 0;
  call_t *c = malloc(sizeof(call_t) + l1 + l2);
  if (c == NULL) return NULL;
  memset(c, 0, offsetof(call_t, num));
  c->has_owner = 0;
  c->name = c->name2 = c->data = NULL;
  c->datalen = 0;
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

/* The loop reuses its receive buffer for the next request: bytes are copied here; JS receives this memory as an external Buffer (no second copy).
   Returns NULL (c freed) when out of memory. */
call_t *call_data(call_t *c, const char *data, size_t size) {
  c->data = malloc(size ? size : 1);
  if (c->data == NULL) {
    call_free(c);
    return NULL;
  }
  memcpy(c->data, data, size);
  c->datalen = size;
  return c;
}

void call_free(call_t *c) {
  free(c->data);
  free(c);
}

/* The call being registered for interrupts: an interrupt that has already arrived is
   reported synchronously by libfuse and is then folded into it. */
static call_t *registering;

/* Hands a call without a request to JS. */
void queue_notification(session_t *s, call_t *c) {
  if (c == NULL) return;
  deliver(s, c);
}

/* While a request is processed, when the kernel sends INTERRUPT for a request still unanswered.
   `data` is the request's serial, not a pointer: it stays meaningful whenever libfuse
   calls this, even after JS has answered the request. */
static void on_interrupt(fuse_req_t req, void *data) {
  uint64_t serial = (uint64_t)(uintptr_t)data;
  if (registering != NULL && registering->serial == serial) {
    registering->interrupted = 1;
    return;
  }
  call_t *c = call_new(NULL, OP_INTERRUPT, NULL, NULL);
  if (c == NULL) return;
  c->num[0] = (double)serial;
  c->nnum = 1;
  queue_notification(fuse_req_userdata(req), c);
}

/* Hands the call to JS; if that is impossible the request is answered here. */
void submit(fuse_req_t req, call_t *c) {
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
  /* Registered before JS sees it: a synchronous handler answers (and frees) req at once. */
  c->serial = ++s->next_serial;
  registering = c;
  fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)c->serial);
  registering = NULL;
  deliver(s, c);
}

/* forget has no reply: answer now, and tell JS afterwards as a notification carrying
   (ino, nlookup) pairs of doubles. */
static void queue_forgets(fuse_req_t req, size_t count, const struct fuse_forget_data *items) {
  session_t *s = fuse_req_userdata(req);
  call_t *c = call_new(NULL, OP_FORGET, NULL, NULL);
  double *pairs = c ? malloc(count * 2 * sizeof(double)) : NULL;
  fuse_reply_none(req);
  if (pairs == NULL) {
    if (c) call_free(c);
    return;
  }
  for (size_t i = 0; i < count; i++) {
    pairs[2 * i] = (double)items[i].ino;
    pairs[2 * i + 1] = (double)items[i].nlookup;
  }
  c->data = (char *)pairs;
  c->datalen = count * 2 * sizeof(double);
  queue_notification(s, c);
}

void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct fuse_forget_data item = {.ino = ino, .nlookup = nlookup};
  queue_forgets(req, 1, &item);
}

void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  queue_forgets(req, count, forgets);
}

/* INIT is answered by libfuse itself once this returns; JS hears what was negotiated. */
void ll_init(void *userdata, struct fuse_conn_info *conn) {
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
  /* POSIX ACLs: the kernel enforces the ACLs it reads through getxattr (default_permissions
     stays on) and leaves the umask to the file system, which applies it only where no
     default ACL decides. Both or neither: a kernel that enforced ACLs but still applied the
     umask would mask a new node twice, by the umask and by the default ACL. */
  if ((s->caps & CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
    conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
  call_t *c = call_new(NULL, OP_INIT, NULL, NULL);
  if (c == NULL) return;
  c->num[0] = conn->proto_major;
  c->num[1] = conn->proto_minor;
  c->num[2] = conn->max_write;
  c->num[3] = conn->max_readahead;
  c->num[4] = conn->capable;
  c->num[5] = conn->want;
  c->num[6] = conn->max_background;
  c->nnum = 7;
  queue_notification(s, c);
}
