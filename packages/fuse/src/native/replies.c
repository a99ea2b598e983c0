/* The replies JS makes (main thread): each takes the request out of the table by its id
   and answers it; structured results are read from the scratch Float64Array that
   replies.ts fills, so a reply costs one native call and no property lookups here. */
#include "fuse_ll.h"

#include <sys/statvfs.h>

/* Looks the request up and removes it; throws if the id is not an open request. */
#define TAKE_REQ(idv)                                                           \
  double id_ = arg_num(env, idv);                                               \
  session_t *s_ = table_session(id_);                                           \
  fuse_req_t req = table_take(id_);                                             \
  if (req == NULL) return throw_error(env, "tsmfs-fuse: unknown or already answered request")

#define DONE(expr)                                                              \
  int r_ = (expr);                                                              \
  maybe_destroy(s_);                                                              \
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

napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  DONE(fuse_reply_err(req, (int)arg_num(env, argv[1])));
}

napi_value js_reply_none(napi_env env, napi_callback_info info) {
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
napi_value js_reply_entry(napi_env env, napi_callback_info info) {
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
napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(6);
  TAKE_REQ(argv[0]);
  struct fuse_entry_param e;
  struct fuse_file_info fi;
  fill_entry(env, argv, &e);
  fill_open(env, argv[4], argv[5], &fi);
  DONE(fuse_reply_create(req, &e, &fi));
}

/* replyAttr(id, timeout): attr from the scratch array. */
napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  struct stat st;
  scratch_stat(&st);
  DONE(fuse_reply_attr(req, &st, arg_num(env, argv[1])));
}

napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
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
napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  TAKE_REQ(argv[0]);
  struct fuse_file_info fi;
  fill_open(env, argv[1], argv[2], &fi);
  DONE(fuse_reply_open(req, &fi));
}

napi_value js_reply_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  DONE(fuse_reply_write(req, (size_t)arg_num(env, argv[1])));
}

/* A Buffer argument's bytes; anything else (undefined) is none. */
static void buffer_arg(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buffer = false;
  *data = NULL;
  *len = 0;
  napi_is_buffer(env, v, &is_buffer);
  if (is_buffer) napi_get_buffer_info(env, v, data, len);
}

/* replyBuf(id, buffer | undefined) */
napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  void *data;
  size_t len;
  buffer_arg(env, argv[1], &data, &len);
  DONE(fuse_reply_buf(req, data, len));
}

/* replyIoctl(id, result, buffer | undefined): an ioctl's result and the bytes it hands back. */
napi_value js_reply_ioctl(napi_env env, napi_callback_info info) {
  ARGS(3);
  TAKE_REQ(argv[0]);
  void *data;
  size_t len;
  buffer_arg(env, argv[2], &data, &len);
  DONE(fuse_reply_ioctl(req, (int)arg_num(env, argv[1]), data, len));
}

/* replyLock(id, type, start, len, pid) */
napi_value js_reply_lock(napi_env env, napi_callback_info info) {
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

napi_value js_reply_xattr(napi_env env, napi_callback_info info) {
  ARGS(2);
  TAKE_REQ(argv[0]);
  DONE(fuse_reply_xattr(req, (size_t)arg_num(env, argv[1])));
}

/* replyStatfs(id): bsize frsize blocks bfree bavail files ffree favail fsid flag namemax
   from the scratch array. */
napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
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
  maybe_destroy(s_);
  return int_result(env, r < 0 ? r : (int)packed);
}

/* replyDirents(id, size, names[], count): records of ino, mode, next offset. */
napi_value js_reply_dirents(napi_env env, napi_callback_info info) {
  return reply_entries(env, info, 3, add_plain);
}

/* replyDirentsPlus(id, size, names[], count): records of PLUS_FIELDS (add_plus). */
napi_value js_reply_dirents_plus(napi_env env, napi_callback_info info) {
  return reply_entries(env, info, PLUS_FIELDS, add_plus);
}

/* getGroups(id): the supplementary groups of the requesting process. */
napi_value js_get_groups(napi_env env, napi_callback_info info) {
  ARGS(1);
  double id = arg_num(env, argv[0]);
  fuse_req_t req = table_peek(id);
  if (req == NULL) return throw_error(env, "tsmfs-fuse: unknown request");
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

