# One image for every tsmfs daemon; docker-compose.yml picks the command.
# It is set up the way a fresh machine is, by scripts/setup.sh: the Debian packages of
# scripts/debian-packages.txt (--image: without the test-only ones), npm ci, the native
# FUSE binding of packages/fuse (node-gyp, against the image's own Node headers), the build.
FROM node:20-bookworm
WORKDIR /opt/tsmfs
COPY package.json package-lock.json tsconfig.base.json ./
COPY scripts ./scripts
COPY packages ./packages
RUN bash scripts/setup.sh --image && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/tsmfs/node_modules/.bin:$PATH
