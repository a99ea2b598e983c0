{
  "targets": [
    {
      "target_name": "fuse_ll",
      "sources": [
        "src/native/addon.c",
        "src/native/calls.c",
        "src/native/dispatch.c",
        "src/native/loop.c",
        "src/native/no_xattrs.c",
        "src/native/notify.c",
        "src/native/ops.gen.c",
        "src/native/replies.c",
        "src/native/request_table.c",
        "src/native/session.c"
      ],
      "defines": ["FUSE_USE_VERSION=312", "NAPI_VERSION=8"],
      "cflags": ["<!@(pkg-config fuse3 --cflags)", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["<!@(pkg-config fuse3 --libs)"]
    }
  ]
}
