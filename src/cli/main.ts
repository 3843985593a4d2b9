#!/usr/bin/env node
// The vpc-peerctl program: runs the CLI on this process's argv and streams. Ctrl-C ends
// `status --watch` cleanly and any other command with 130; so does a reader that went away
// (`vpc-peerctl status --watch | head`), instead of an EPIPE stack trace.
import { runCli } from './run.js';

const interrupt = new AbortController();
const stop = (): void => interrupt.abort();
process.once('SIGINT', stop);
process.stdout.on('error', stop);
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal });
// The SIGINT listener alone must not keep a finished command alive.
process.off('SIGINT', stop);
