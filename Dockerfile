# One image for every tsmfs daemon; docker-compose.yml picks the command.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libfuse2 fuse3 g++ make python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tsmfs
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund && npm run build
ENV PATH=/opt/tsmfs/node_modules/.bin:$PATH
