/* A session's life: mount, unmount and detach, and the end of the libfuse session once
   nothing refers to it any more (its loop is loop.c's). */
#include "fuse_ll.h"

#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static void destroy_fuse(session_t *s) {
  s->destroyed = 1;
  /* Closes /dev/fuse too, which aborts the connection if it is still mounted. Not
     fuse_session_unmount: the mount was detached already (detach_mount), and unmounting by
     path now could hit a new mount at the same place. (libfuse keeps its copy of the path:
     a few bytes per session.) */
  fuse_session_destroy(s->se);
  s->se = NULL;
  free(s->buf.mem);
  s->buf.mem = NULL;
  free(s->conn_opts);
  s->conn_opts = NULL;
}

/* The libfuse session is freed once its loop has ended and nothing refers to it. */
void maybe_destroy(session_t *s) {
  if (s->loop_ended && s->inflight == 0 && s->notifying == 0 && !s->destroyed) destroy_fuse(s);
}

/* The loop has stopped reading (loop.c, once its poll handle is closed). */
void loop_ended(session_t *s) {
  s->loop_ended = 1;
  maybe_destroy(s);
}

static void free_session(session_t *s) {
  no_xattrs_free(s);
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
     poll handle and the request table still point at it. */
  if (s->destroyed) free_session(s);
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
   capabilities: CAP_POSIX_LOCKS, CAP_FLOCK, CAP_HANDLE_KILLPRIV, CAP_READDIRPLUS, CAP_POSIX_ACL. Without
   the lock ones getlk/setlk/flock stay unregistered, so libfuse does not announce them and
   the kernel keeps such locks local; registered but answered ENOSYS, they would fail
   fcntl() and flock() for every program. Without CAP_READDIRPLUS the kernel uses READDIR. */
napi_value js_mount(napi_env env, napi_callback_info info) {
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
  struct fuse_lowlevel_ops ops; /* fuse_session_new keeps a copy */
  ll_ops_for(&ops, s->caps);
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

  if (start_loop(env, s, argv[2]) != 0) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    free_session(s);
    return throw_error(env, "tsmfs-fuse: cannot poll /dev/fuse");
  }

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

session_t *arg_session(napi_env env, napi_value v) {
  void *data = NULL;
  napi_get_value_external(env, v, &data);
  return data;
}

/* unmount(session): stop reading requests and detach the mount (lazily, as fusermount -u -z
   would, so that the main thread never waits on the file system it serves). Returns false
   once the loop has ended (ENDED comes on a later turn of the event loop). Safe to call
   repeatedly. */
napi_value js_unmount(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = arg_session(env, argv[0]);
  if (s == NULL) return throw_error(env, "tsmfs-fuse: not a session");
  if (s->loop_ended) return boolean(env, 0);
  fuse_session_exit(s->se);
  if (!s->exit_requested) {
    s->exit_requested = 1;
    detach_mount(s->mountpoint);
  }
  stop_loop(s, 0);
  return boolean(env, 1);
}

/* detachSync(session): lazy unmount only, for process exit, when no loop will run again. */
napi_value js_detach_sync(napi_env env, napi_callback_info info) {
  ARGS(1);
  session_t *s = arg_session(env, argv[0]);
  if (s != NULL && !s->loop_ended && !s->exit_requested) {
    s->exit_requested = 1;
    detach_mount(s->mountpoint);
  }
  return undef(env);
}

