// The one error a bad configuration raises: at start, before anything listens, so the operator
// sees every problem of the file at once, each named by its key path.

/** One problem with one key. `key` is a dotted path (`socket.maxLineBytes`); '' is the whole file. */
export interface ConfigIssue {
  readonly key: string;
  readonly reason: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  /** `source` (the file as the operator named it) prefixes each line of the message. */
  constructor(issues: readonly ConfigIssue[], source = '') {
    super(issues.map((i) => [source, i.key, i.reason].filter((part) => part !== '').join(': ')).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
