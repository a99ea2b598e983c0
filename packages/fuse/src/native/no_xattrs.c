/* Inodes the file system has said hold no extended attribute, each until a deadline:
   their GETXATTR (ENODATA) and LISTXATTR (empty) are answered here, in C, without a call
   into JS. The kernel asks for security.capability before every write, and `ls -l` for
   security.selinux and system.posix_acl_access of every name it lists; the mount knows
   those answers from its leases, and a trip through JS for each cost more than the rest
   of the request (docs/benchmarks.md, "Answers of no xattrs in the binding").

   JS keeps the table exact: it sets an inode when a lease says "no xattrs" and drops it
   when the lease is recalled, the node changes, or the session's leases end. Everything
   runs on the main thread (requests are read there, loop.c), so a drop made by JS is
   seen by the very next request. An entry also ends at its deadline on its own.

   Open addressing with linear probing; deletion shifts the following entries back, so
   no tombstones accumulate. Inode 0 marks an empty slot (FUSE never uses it). */
#include "fuse_ll.h"

struct no_xattrs {
  uint64_t *ino;
  uint64_t *until; /* uv_hrtime() ns */
  size_t mask;     /* slots - 1, a power of two minus one */
  size_t used;
  double answered_get, answered_list;
};

/* Slots: twice the mount's lease table (MAX_LEASED in lease-cache.ts, 100,000). */
#define SLOTS (1u << 18)

static size_t home(const no_xattrs_t *t, uint64_t ino) {
  return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 40) & t->mask;
}

static no_xattrs_t *table_of(session_t *s) {
  if (s->no_xattrs) return s->no_xattrs;
  no_xattrs_t *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->ino = calloc(SLOTS, sizeof *t->ino);
  t->until = calloc(SLOTS, sizeof *t->until);
  if (t->ino == NULL || t->until == NULL) {
    free(t->ino);
    free(t->until);
    free(t);
    return NULL;
  }
  t->mask = SLOTS - 1;
  s->no_xattrs = t;
  return t;
}

/* The slot holding `ino`, or the empty slot that ends its probe sequence. */
static size_t find(const no_xattrs_t *t, uint64_t ino) {
  size_t i = home(t, ino);
  while (t->ino[i] != 0 && t->ino[i] != ino) i = (i + 1) & t->mask;
  return i;
}

static void drop_at(no_xattrs_t *t, size_t i) {
  /* Backward-shift deletion: entries after the hole move into it when the hole lies
     between their home slot and where they sit (cyclically). */
  size_t j = i;
  t->used--;
  for (;;) {
    t->ino[i] = 0;
    for (;;) {
      j = (j + 1) & t->mask;
      if (t->ino[j] == 0) return;
      size_t h = home(t, t->ino[j]);
      if (i <= j ? (i < h && h <= j) : (i < h || h <= j)) continue;
      break;
    }
    t->ino[i] = t->ino[j];
    t->until[i] = t->until[j];
    i = j;
  }
}

static void drop_ended(no_xattrs_t *t, uint64_t now) {
  for (size_t i = 0; i <= t->mask;) {
    if (t->ino[i] != 0 && t->until[i] <= now) drop_at(t, i); /* the slot may refill: look again */
    else i++;
  }
}

void no_xattrs_free(session_t *s) {
  no_xattrs_t *t = s->no_xattrs;
  if (t == NULL) return;
  free(t->ino);
  free(t->until);
  free(t);
  s->no_xattrs = NULL;
}

/* Called first by the getxattr and listxattr callbacks (codegen/ops.mjs `answered`):
   1 when the request was answered here. */
int no_xattrs_answer(fuse_req_t req, fuse_ino_t ino, int list, size_t size) {
  session_t *s = fuse_req_userdata(req);
  no_xattrs_t *t = s->no_xattrs;
  if (t == NULL || t->used == 0 || ino == 0) return 0;
  size_t i = find(t, ino);
  if (t->ino[i] == 0) return 0;
  if (t->until[i] <= uv_hrtime()) {
    drop_at(t, i);
    return 0;
  }
  if (list) {
    t->answered_list++;
    if (size == 0) fuse_reply_xattr(req, 0);
    else fuse_reply_buf(req, NULL, 0);
  } else {
    t->answered_get++;
    fuse_reply_err(req, ENODATA);
  }
  return 1;
}

/* noXattrs(session, ino, ms): `ino` holds no xattr for `ms` more milliseconds; ms <= 0
   forgets it; ino 0 forgets every inode. Returns whether the inode is held now (a full
   table keeps answering through JS). */
napi_value js_no_xattrs(napi_env env, napi_callback_info info) {
  ARGS(3);
  session_t *s = arg_session(env, argv[0]);
  double ino = arg_num(env, argv[1]), ms = arg_num(env, argv[2]);
  if (s == NULL || !(ino >= 0) || ino > 9007199254740991.0) return throw_error(env, "noXattrs: bad session or inode");
  no_xattrs_t *t = s->no_xattrs;
  if (ino == 0) {
    if (t != NULL && t->used > 0) {
      memset(t->ino, 0, (t->mask + 1) * sizeof *t->ino);
      t->used = 0;
    }
    return boolean(env, 0);
  }
  if (!(ms > 0)) {
    if (t != NULL && t->used > 0) {
      size_t i = find(t, (uint64_t)ino);
      if (t->ino[i] != 0) drop_at(t, i);
    }
    return boolean(env, 0);
  }
  if ((t = table_of(s)) == NULL) return boolean(env, 0);
  uint64_t now = uv_hrtime();
  uint64_t until = now + (uint64_t)(ms * 1e6);
  size_t i = find(t, (uint64_t)ino);
  if (t->ino[i] == 0) {
    /* At most half full, so that probes stay short. */
    if (t->used >= (t->mask + 1) / 2) {
      drop_ended(t, now);
      if (t->used >= (t->mask + 1) / 2) return boolean(env, 0);
      i = find(t, (uint64_t)ino);
    }
    t->ino[i] = (uint64_t)ino;
    t->used++;
  }
  t->until[i] = until;
  return boolean(env, 1);
}

/* noXattrsAnswered(session): [getxattrs, listxattrs] answered here so far. */
napi_value js_no_xattrs_answered(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = arg_session(env, argv[0]);
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  no_xattrs_t *t = s ? s->no_xattrs : NULL;
  napi_set_element(env, out, 0, num(env, t ? t->answered_get : 0));
  napi_set_element(env, out, 1, num(env, t ? t->answered_list : 0));
  return out;
}
