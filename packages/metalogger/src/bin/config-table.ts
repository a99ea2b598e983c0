#!/usr/bin/env node
// Prints tsmfs-metalogger's configuration keys as the Markdown table of docs/configuration.md.
import { configTable } from '@tsmfs/master';
import { metaloggerSchema } from '../config.js';

process.stdout.write(`${configTable(metaloggerSchema)}\n`);
