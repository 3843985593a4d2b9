// Polling with a deadline, for tests that wait on a real process: no fixed sleeps.

/** Polls `check` every `everyMs` until it holds or `deadlineMs` passes; says whether it held and how long it took. */
export async function until(check: () => Promise<boolean>, deadlineMs: number, everyMs = 10): Promise<{ ok: boolean; ms: number }> {
  const start = Date.now();
  for (;;) {
    if (await check()) return { ok: true, ms: Date.now() - start };
    if (Date.now() - start > deadlineMs) return { ok: false, ms: Date.now() - start };
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
