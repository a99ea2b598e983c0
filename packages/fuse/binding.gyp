{
  "targets": [
    {
      "target_name": "fuse_ll",
      "sources": ["src/native/fuse_ll.c"],
      "defines": ["FUSE_USE_VERSION=312", "NAPI_VERSION=8"],
      "cflags": ["<!@(pkg-config fuse3 --cflags)", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["<!@(pkg-config fuse3 --libs)"]
    }
  ]
}
