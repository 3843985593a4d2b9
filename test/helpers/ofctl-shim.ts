// An ovs-ofctl (and ovs-vsctl, ovs-appctl) that logs its arguments, then runs the real one: put
// its folder first on a daemon's PATH to count the OVS tool processes the daemon starts (the
// test's own calls, through the sandbox's runner, go to the real ones and are not counted).
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
  /** Every ovs-ofctl call so far, one argument line each, in order. */
  calls(): string[];
  /** Every call of any of the tools so far, `TOOL ARGS` a line, in order. */
  processes(): string[];
}

/** The OVS tools the daemon may start (src/ovs/runner.ts OvsBinary). */
const TOOLS = ['ovs-ofctl', 'ovs-vsctl', 'ovs-appctl'] as const;

/** Creates the shim in a temporary folder, removed at teardown. */
export function ofctlShim(t: Teardown): OfctlShim {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-shim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  for (const tool of TOOLS) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: [process.env.PATH, '/usr/sbin', '/usr/bin'].join(delimiter) } })
      .toString()
      .trim();
    writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> '${log}'\nexec '${real}' "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  const processes = (): string[] => readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
  return {
    path: [dir, process.env.PATH ?? '/usr/bin:/bin'].join(delimiter),
    calls: () => processes().flatMap((l) => (l.startsWith('ovs-ofctl ') ? [l.slice('ovs-ofctl '.length)] : [])),
    processes,
  };
}
