#!/usr/bin/env node
// Committed entry point so that npm links the command before the first build.
import "../dist/bin/mount-tsmfs.js";
