// An ovs-ofctl that logs its arguments, then runs the real one: put its folder first on a daemon's
// PATH to count the ovs-ofctl processes the daemon starts (the test's own calls, through the
// sandbox's runner, go to the real one and are not counted).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface OfctlShim {
  /** PATH for the daemon: the shim's folder, then the test's own PATH. */
  readonly path: string;
  /** Every call so far, one argument line each, in order. */
  calls(): string[];
}

/** Creates the shim in a temporary folder, removed at teardown. */
export function ofctlShim(t: Teardown): OfctlShim {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-shim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  const real = execFileSync('sh', ['-c', 'command -v ovs-ofctl'], { env: { PATH: [process.env.PATH, '/usr/sbin', '/usr/bin'].join(delimiter) } })
    .toString()
    .trim();
  writeFileSync(join(dir, 'ovs-ofctl'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(join(dir, 'ovs-ofctl'), 0o755);
  return {
    path: [dir, process.env.PATH ?? '/usr/bin:/bin'].join(delimiter),
    calls: () => readFileSync(log, 'utf8').split('\n').filter((l) => l !== ''),
  };
}
