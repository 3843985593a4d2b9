// When the initiator of a link opens its next anti-entropy round (docs/GOSSIP.md "Pacing of
// rounds"): an interval after the last round ended, never while it is still open. A round over
// many differences (100k records) can take longer than the interval; opened on a timer alone,
// rounds would pile up, each finding again the differences the one before is still settling.
// A round whose answer never comes (a peer that dropped it, a ref it no longer holds) is given up
// after a ceiling, so rounds never stop for good. Plain logic over an injected timer.
import type { GossipEngine, LinkPort, Scheduler } from './engine.js';

/** Intervals an open round is waited for at most before the next is opened anyway (20 s at the default 2 s). */
export const ROUND_CEILING_INTERVALS = 10;

export interface RoundPacerOptions {
  /** gossip.antiEntropyIntervalMs now (SIGHUP changes it), read before each wait. */
  readonly intervalMs: () => number;
  readonly schedule: Scheduler;
  readonly ceilingIntervals?: number;
}

/**
 * The rounds of one link this host dialled. The engine opens the first at link-up; start() then
 * waits for it. Each wait ends when the engine says the round ended (ended(), from
 * LinkPort.roundEnded) or when ROUND_CEILING_INTERVALS intervals passed; the next round opens one
 * interval after that. stop() when the link goes down.
 */
export class RoundPacer {
  private cancel: (() => void) | null = null;
  private waiting = false;

  constructor(
    private readonly engine: Pick<GossipEngine, 'startRound' | 'roundOpen'>,
    private readonly link: LinkPort,
    private readonly opts: RoundPacerOptions,
  ) {}

  /** Starts pacing: waits for the round open now, if any, else opens the next after an interval. */
  start(): void {
    if (this.engine.roundOpen(this.link)) this.await();
    else this.next();
  }

  /** The round open ended (the engine's LinkPort.roundEnded): the next opens an interval from now. */
  ended(): void {
    if (!this.waiting) return;
    this.next();
  }

  stop(): void {
    this.waiting = false;
    this.cancel?.();
    this.cancel = null;
  }

  /** Waits for the open round to end, at most the ceiling. */
  private await(): void {
    this.waiting = true;
    this.cancel?.();
    this.cancel = this.opts.schedule((this.opts.ceilingIntervals ?? ROUND_CEILING_INTERVALS) * this.opts.intervalMs(), () => this.next());
  }

  /** An interval from now, the next round. */
  private next(): void {
    this.waiting = false;
    this.cancel?.();
    this.cancel = this.opts.schedule(this.opts.intervalMs(), () => {
      this.cancel = null;
      this.engine.startRound(this.link);
      if (this.engine.roundOpen(this.link)) this.await();
      else this.next();
    });
  }
}
