// `systemd-analyze verify` of a unit's text. It exits 0 even on parse warnings (FIELD-NOTES), so
// callers treat any output as a failure.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs systemd-analyze verify on `unitText` (as vpc-peerd.service in a temp folder): its whole output. */
export function verifyUnit(unitText: string): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-unit-'));
  const path = join(dir, 'vpc-peerd.service');
  writeFileSync(path, unitText);
  return new Promise((resolve) => {
    execFile('systemd-analyze', ['verify', path], { cwd: dir }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}
