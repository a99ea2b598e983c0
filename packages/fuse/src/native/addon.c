/* The module's exports (see native.ts for their JS types). */
#include "fuse_ll.h"

static napi_value op_table(napi_env env) {
  napi_value table;
  napi_create_object(env, &table);
#define X(upper, lower) napi_set_named_property(env, table, #lower, num(env, OP_##upper));
  OP_LIST(X)
#undef X
  return table;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"unmount", NULL, js_unmount, NULL, NULL, NULL, napi_default, NULL},
      {"notify", NULL, js_notify, NULL, NULL, NULL, napi_default, NULL},
      {"detachSync", NULL, js_detach_sync, NULL, NULL, NULL, napi_default, NULL},
      {"setBuffers", NULL, js_set_buffers, NULL, NULL, NULL, napi_default, NULL},
      {"replyErr", NULL, js_reply_err, NULL, NULL, NULL, napi_default, NULL},
      {"replyNone", NULL, js_reply_none, NULL, NULL, NULL, napi_default, NULL},
      {"replyEntry", NULL, js_reply_entry, NULL, NULL, NULL, napi_default, NULL},
      {"replyCreate", NULL, js_reply_create, NULL, NULL, NULL, napi_default, NULL},
      {"replyAttr", NULL, js_reply_attr, NULL, NULL, NULL, napi_default, NULL},
      {"replyReadlink", NULL, js_reply_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"replyOpen", NULL, js_reply_open, NULL, NULL, NULL, napi_default, NULL},
      {"replyWrite", NULL, js_reply_write, NULL, NULL, NULL, napi_default, NULL},
      {"replyBuf", NULL, js_reply_buf, NULL, NULL, NULL, napi_default, NULL},
      {"replyIoctl", NULL, js_reply_ioctl, NULL, NULL, NULL, napi_default, NULL},
      {"replyXattr", NULL, js_reply_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"replyLock", NULL, js_reply_lock, NULL, NULL, NULL, napi_default, NULL},
      {"replyStatfs", NULL, js_reply_statfs, NULL, NULL, NULL, napi_default, NULL},
      {"replyDirents", NULL, js_reply_dirents, NULL, NULL, NULL, napi_default, NULL},
      {"replyDirentsPlus", NULL, js_reply_dirents_plus, NULL, NULL, NULL, napi_default, NULL},
      {"getGroups", NULL, js_get_groups, NULL, NULL, NULL, napi_default, NULL},
      {"noXattrs", NULL, js_no_xattrs, NULL, NULL, NULL, napi_default, NULL},
      {"noXattrsAnswered", NULL, js_no_xattrs_answered, NULL, NULL, NULL, napi_default, NULL},
      {"ops", NULL, NULL, NULL, NULL, op_table(env), napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
