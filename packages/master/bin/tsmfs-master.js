#!/usr/bin/env -S node --max-semi-space-size=4
// Committed entry point so that npm links the command before the first build.
import "../dist/bin/tsmfs-master.js";
