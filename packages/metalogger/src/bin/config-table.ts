#!/usr/bin/env node
// Prints tsmfs-metalogger's configuration keys as the Markdown table of docs/configuration.md.
import { describeConfigMarkdown } from '@tsmfs/daemon';
import { metaloggerSchema } from '../config.js';

process.stdout.write(`${describeConfigMarkdown(metaloggerSchema)}\n`);
