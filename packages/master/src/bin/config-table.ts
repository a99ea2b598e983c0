#!/usr/bin/env node
// Prints tsmfs-master's configuration keys as the Markdown table of docs/configuration.md.
import { configTable } from '../config.js';

process.stdout.write(`${configTable()}\n`);
