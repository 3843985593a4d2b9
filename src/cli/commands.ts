// The commands of vpc-peerctl (SPEC §6) as one commander program: its options, help texts and
// examples are the single definition that parsing, `--help`, shell completion and the man page
// all read. Parsing only decides what to do (an Action); run.ts does it.
import { Command, CommanderError, Option } from 'commander';
import { Status } from '../rpc/methods/schemas.js';
import { VERSION } from '../version.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { manPage } from './manpage.js';

/** A command line that cannot be run as written: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type View =
  | 'vpc' | 'vpc-list' | 'vpc-deleted' | 'peering' | 'peering-list' | 'peering-flows' | 'reconcile' | 'status' | 'raw';

/** Client-side narrowing of a list the daemon cannot filter by itself (SPEC §5 has one status, no tenant). */
export interface ItemFilter {
  readonly tenantId?: string;
  readonly statuses?: readonly string[];
}

/** One RPC to make, and how to show its result. */
export interface Call {
  readonly method: string;
  readonly params: Record<string, unknown>;
  readonly view: View;
  /** Lists: print only the ids, one a line. */
  readonly quiet?: boolean;
  readonly filter?: ItemFilter;
}

/** Peering statuses that never change again (SPEC §2; src/domain TerminalStatuses, which src/cli may not import). */
export const TERMINAL_STATUSES: readonly string[] = ['rejected', 'deleted', 'expired', 'failed'];

export type WaitTarget = 'active' | 'programmed' | 'deleted';
export const WAIT_TARGETS: readonly WaitTarget[] = ['active', 'programmed', 'deleted'];

export type Action =
  | { readonly kind: 'call'; readonly call: Call }
  | { readonly kind: 'wait'; readonly id: string; readonly target: WaitTarget; readonly allHosts: boolean }
  | { readonly kind: 'watch'; readonly intervalMs: number }
  | { readonly kind: 'print'; readonly text: string };

export interface GlobalOptions {
  readonly socket?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly config?: string;
  readonly json: boolean;
  /** --timeout in ms: a call's deadline, or the whole of `peering wait`. Undefined: the default. */
  readonly timeoutMs?: number;
  readonly verbose: boolean;
}

export type Invocation =
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'run'; readonly globals: GlobalOptions; readonly action: Action };

export interface ParserOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** The deadline of one call when --timeout is not given: a large host's reconcile can take a while. */
export const DEFAULT_CALL_TIMEOUT_S = 60;
/** How long `peering wait` waits when --timeout is not given. */
export const DEFAULT_WAIT_TIMEOUT_S = 300;
const DEFAULT_WATCH_S = 2;

const PROGRAM = 'vpc-peerctl';

/**
 * The exit codes (SPEC §6 has 0, 1 and 2; 3 keeps a local problem apart from a refusal of the
 * daemon, so a script can tell "fix the request" from "fix this host's set-up").
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, local: 3 } as const;

const EXIT_STATUS: readonly (readonly [string, string])[] = [
  [String(EXIT.ok), 'success'],
  [String(EXIT.refused), 'the daemon refused the call (its message and UPPER_SNAKE reason on stderr), peering wait timed out, or reconcile had errors on a bridge'],
  [String(EXIT.usage), 'the command line is wrong (nothing was sent)'],
  [String(EXIT.local), 'a local problem: the config or token file cannot be read, or the daemon cannot be reached or did not answer in time'],
];
const PEERING_STATUSES: readonly string[] = Status.options;

// Option value parsers. A repeated single-valued option is refused rather than last-wins.

function once<T>(flag: string, convert: (value: string) => T): (value: string, previous: T | undefined) => T {
  return (value, previous) => {
    if (previous !== undefined) throw new UsageError(`${flag} was given twice; give it once`);
    return convert(value);
  };
}

const text = (flag: string) => once(flag, (v) => v);

function seconds(flag: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min) {
      throw new UsageError(`${flag} takes a number of seconds of at least ${min}, not "${value}"`);
    }
    return n;
  };
}

function oneOf<T extends string>(flag: string, choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, not "${value}"`);
    return value as T;
  };
}

function many(convert: (value: string) => string = (v) => v): (value: string, previous: string[] | undefined) => string[] {
  return (value, previous) => [...(previous ?? []), convert(value)];
}

/** Drops the keys whose value is undefined, so absent options are absent params. */
function defined(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
}

function parseParams(value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UsageError('the params of call must be JSON, e.g. \'{"id":"vpc-a"}\'');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('the params of call must be a JSON object (named params)');
  }
  return parsed as Record<string, unknown>;
}

const EXAMPLES = new WeakMap<Command, readonly string[]>();

/** Adds examples to a command's help; the man page reads them back. */
function examples(cmd: Command, lines: readonly string[]): Command {
  EXAMPLES.set(cmd, lines);
  return cmd.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/** An option whose value is one of `list`: shown in help and completed by the shells. */
function withChoices(option: Option, list: readonly string[]): Option {
  option.argChoices = [...list];
  return option;
}

/**
 * Marks an option as required in its help. The check itself is in the action, after
 * commander's own: an unknown (misspelt) option is reported before a missing one.
 */
function required(option: Option): Option {
  option.description += ' (required)';
  return option;
}

/** The value of a required option, or a UsageError naming it. */
function need<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new UsageError(`missing ${flag}, which is required`);
  return value;
}

const quiet = (): Option => new Option('-q, --quiet', 'print only the ids, one a line (for scripts)');

/**
 * The whole command tree. `onAction` receives what the command line asks for; commander
 * calls it from the matched command's action. Also read by completion.ts and manpage.ts.
 */
export function buildProgram(onAction: (action: Action) => void): Command {
  const program = new Command(PROGRAM)
    .description('Operate vpc-peerd, the VPC peering daemon of this host, over its Unix socket.')
    .version(VERSION, '-V, --version', 'print the version of vpc-peerctl and exit')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show help for a command')
    .addOption(new Option('--socket <path>', 'the daemon\'s API socket (default: socket.path of --config, else $VPC_PEERCTL_SOCKET, else /run/vpc-peerd/vpc-peerd.sock)').argParser(text('--socket')))
    .addOption(new Option('--config <path>', 'the daemon\'s config file, to find its socket and operator token file').argParser(text('--config')))
    .addOption(new Option('--token <token>', 'the token to send (default: the file auth.adminTokenFile of --config, else /run/vpc-peerd/admin.token)').argParser(text('--token')).conflicts('tokenFile'))
    .addOption(new Option('--token-file <file>', 'read the token from this file').argParser(text('--token-file')))
    .addOption(new Option('--json', 'print the daemon\'s reply as JSON, for machines (errors too, on stderr)'))
    .addOption(new Option('--timeout <seconds>', `give up after this many seconds: per call (default ${DEFAULT_CALL_TIMEOUT_S}), or the whole wait of peering wait (default ${DEFAULT_WAIT_TIMEOUT_S})`).argParser(once('--timeout', seconds('--timeout', 0.1))))
    .addOption(new Option('--verbose', 'say more: the JSON-RPC exchange on stderr (the token masked); for reconcile, the flows and ports changed'))
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false });
  program.addHelpText('after', `
Exit status:
${EXIT_STATUS.map(([code, meaning]) => `  ${code}  ${meaning}`).join('\n')}

Examples:
  $ vpc-peerctl status
  $ vpc-peerctl --config config.example.json vpc list
  $ vpc-peerctl peering wait pcx-0123456789abcdef0 --for programmed
`);

  const call = (c: Call) => onAction({ kind: 'call', call: c });

  examples(
    program
      .command('status')
      .description('Show the health of this daemon: store, OVS, gossip and counts of records.')
      .addOption(new Option('-w, --watch [seconds]', `redraw every this many seconds (default ${DEFAULT_WATCH_S}) until interrupted`).argParser(once('--watch', seconds('--watch', 0.1))))
      .action((opts: { watch?: number | true }) => {
        if (opts.watch === undefined) call({ method: 'status', params: {}, view: 'status' });
        else onAction({ kind: 'watch', intervalMs: (opts.watch === true ? DEFAULT_WATCH_S : opts.watch) * 1000 });
      }),
    ['vpc-peerctl status', 'vpc-peerctl status --watch 5', 'vpc-peerctl --json status'],
  );

  examples(
    program
      .command('reconcile')
      .description('Diff the flows of this host against the desired state and repair them; exits 1 if a bridge had errors. With --verbose, also prints the flows and ports added and removed, per bridge.')
      .addOption(new Option('--bridge <bridge>', 'only this bridge (it must be one of this host\'s bridges)').argParser(text('--bridge')))
      .addOption(new Option('--dry-run', 'change nothing: print the flows and ports that would be added and removed'))
      .action((opts: { bridge?: string; dryRun?: boolean }) => {
        // The one --verbose ("say more") also asks the daemon for the changes it made.
        const verbose = program.opts<{ verbose?: boolean }>().verbose;
        call({ method: 'reconcile.run', params: defined({ bridge: opts.bridge, dryRun: opts.dryRun, verbose }), view: 'reconcile' });
      }),
    ['vpc-peerctl reconcile --dry-run', 'vpc-peerctl reconcile --bridge br-a --verbose'],
  );

  const vpc = examples(program.command('vpc').description('Create, change, show, list and delete VPCs.'), [
    'vpc-peerctl vpc create --id vpc-a --tenant acme --cidr 10.0.0.0/16 --bridge br-a',
    'vpc-peerctl vpc list --tenant acme',
  ]);
  examples(
    vpc
      .command('create')
      .description('Create a VPC: its address ranges and the OVS bridge its instances attach to.')
      .addOption(required(new Option('--id <id>', 'the VPC\'s id: lowercase letters, digits and \'-\', starting with a letter or digit')).argParser(text('--id')))
      .addOption(required(new Option('--tenant <tenant>', 'the tenant that owns it')).argParser(text('--tenant')))
      .addOption(required(new Option('--cidr <cidr>', 'an IPv4 or IPv6 range of the VPC; repeat for more (up to 5)')).argParser(many()))
      .addOption(required(new Option('--bridge <bridge>', 'the OVS bridge of the VPC on this host')).argParser(text('--bridge')))
      .addOption(new Option('--name <name>', 'a free-text name').argParser(text('--name')))
      .action((o: { id?: string; tenant?: string; cidr?: string[]; bridge?: string; name?: string }) =>
        call({
          method: 'vpc.create',
          params: defined({ id: need(o.id, '--id'), tenantId: need(o.tenant, '--tenant'), cidrs: need(o.cidr, '--cidr'), bridge: need(o.bridge, '--bridge'), name: o.name }),
          view: 'vpc',
        }),
      ),
    ['vpc-peerctl vpc create --id vpc-a --tenant acme --cidr 10.0.0.0/16 --cidr fd00:a::/64 --bridge br-a --name web'],
  );
  examples(
    vpc
      .command('update')
      .description('Rename a VPC or change its ranges (ranges are locked while a peering is active).')
      .argument('<id>', 'the VPC')
      .addOption(new Option('--name <name>', 'the new name; "" clears it').argParser(text('--name')))
      .addOption(new Option('--cidr <cidr>', 'the new ranges, all of them; repeat for more').argParser(many()))
      .action((id: string, o: { name?: string; cidr?: string[] }) => {
        if (o.name === undefined && o.cidr === undefined) throw new UsageError('nothing to update: give --name or --cidr');
        call({ method: 'vpc.update', params: defined({ id, name: o.name, cidrs: o.cidr }), view: 'vpc' });
      }),
    ['vpc-peerctl vpc update vpc-a --name api'],
  );
  examples(
    vpc.command('get').description('Show one VPC.').argument('<id>', 'the VPC').action((id: string) => call({ method: 'vpc.get', params: { id }, view: 'vpc' })),
    ['vpc-peerctl vpc get vpc-a'],
  );
  examples(
    vpc
      .command('list')
      .description('List the VPCs you can see.')
      .addOption(new Option('--tenant <tenant>', 'only this tenant\'s VPCs').argParser(text('--tenant')))
      .addOption(quiet())
      .action((o: { tenant?: string; quiet?: boolean }) =>
        call({ method: 'vpc.list', params: defined({ tenantId: o.tenant }), view: 'vpc-list', quiet: o.quiet === true }),
      ),
    ['vpc-peerctl vpc list --tenant acme', 'vpc-peerctl vpc list -q'],
  );
  examples(
    vpc
      .command('delete')
      .description('Delete a VPC (refused while it has a live peering).')
      .argument('<id>', 'the VPC')
      .action((id: string) => call({ method: 'vpc.delete', params: { id }, view: 'vpc-deleted' })),
    ['vpc-peerctl vpc delete vpc-a'],
  );

  const peering = examples(program.command('peering').description('Request, accept, reject, delete, show, list and wait for peerings.'), [
    'vpc-peerctl peering create --requester vpc-a --accepter vpc-b',
    'vpc-peerctl peering accept pcx-0123456789abcdef0',
    'vpc-peerctl peering wait pcx-0123456789abcdef0 --for programmed',
  ]);
  examples(
    peering
      .command('create')
      .description('Request a peering between two VPCs of one tenant; it waits for acceptance.')
      .addOption(required(new Option('--requester <vpc>', 'the VPC that asks')).argParser(text('--requester')))
      .addOption(required(new Option('--accepter <vpc>', 'the VPC asked to accept')).argParser(text('--accepter')))
      .addOption(new Option('--name <name>', 'a free-text name').argParser(text('--name')))
      .action((o: { requester?: string; accepter?: string; name?: string }) =>
        call({ method: 'peering.create', params: defined({ requesterVpcId: need(o.requester, '--requester'), accepterVpcId: need(o.accepter, '--accepter'), name: o.name }), view: 'peering' }),
      ),
    ['vpc-peerctl peering create --requester vpc-a --accepter vpc-b --name a-to-b'],
  );
  const byId = (name: string, description: string, example: string): void => {
    examples(
      peering
        .command(name)
        .description(description)
        .argument('<id>', 'the peering (pcx-...)')
        .action((id: string) => call({ method: `peering.${name}`, params: { id }, view: 'peering' })),
      [`vpc-peerctl peering ${name} ${example}`],
    );
  };
  byId('accept', 'Accept a pending peering: it becomes active and is programmed.', 'pcx-0123456789abcdef0');
  byId('reject', 'Reject a pending peering.', 'pcx-0123456789abcdef0');
  byId('delete', 'Cancel a pending peering or tear down an active one.', 'pcx-0123456789abcdef0');
  byId('get', 'Show one peering, with its data plane on this host (per bridge: patch port, cookie, flows).', 'pcx-0123456789abcdef0');
  examples(
    peering
      .command('list')
      .description('List the peerings you can see.')
      .addOption(new Option('--vpc <vpc>', 'only the peerings of this VPC').argParser(text('--vpc')))
      .addOption(new Option('--tenant <tenant>', 'only this tenant\'s peerings').argParser(text('--tenant')))
      .addOption(withChoices(new Option('--status <status>', 'only peerings in this status; repeat for any of several').argParser(many(oneOf('--status', PEERING_STATUSES))), PEERING_STATUSES))
      .addOption(quiet())
      .action((o: { vpc?: string; tenant?: string; status?: string[]; quiet?: boolean }) => {
        const statuses = o.status === undefined ? undefined : [...new Set(o.status)];
        call({
          method: 'peering.list',
          // One status the daemon filters; several, and the tenant, are filtered here.
          params: defined({ vpcId: o.vpc, status: statuses?.length === 1 ? statuses[0] : undefined }),
          view: 'peering-list',
          quiet: o.quiet === true,
          filter: defined({ tenantId: o.tenant, statuses: statuses !== undefined && statuses.length > 1 ? statuses : undefined }),
        });
      }),
    ['vpc-peerctl peering list --status pending-acceptance --status active', 'vpc-peerctl peering list --vpc vpc-a -q'],
  );
  examples(
    peering
      .command('flows')
      .description('Print the OVS flows of a peering installed on this host, per bridge.')
      .argument('<id>', 'the peering (pcx-...)')
      .action((id: string) => call({ method: 'peering.flows', params: { id }, view: 'peering-flows' })),
    ['vpc-peerctl peering flows pcx-0123456789abcdef0'],
  );
  examples(
    peering
      .command('wait')
      .description(
        `Wait until a peering reaches a state; exits 0 when it does, 1 on --timeout (default ${DEFAULT_WAIT_TIMEOUT_S} s) with the last state seen, or at once if it can no longer get there.`,
      )
      .argument('<id>', 'the peering (pcx-...)')
      .addOption(required(withChoices(new Option('--for <state>', 'the state to wait for: active (accepted), programmed (its flows verified on this host) or deleted (and its flows gone from this host)').argParser(once('--for', oneOf('--for', WAIT_TARGETS))), WAIT_TARGETS)))
      .addOption(new Option('--all-hosts', 'with gossip: wait for every host\'s data plane, not only this host\'s'))
      .action((id: string, o: { for?: WaitTarget; allHosts?: boolean }) => onAction({ kind: 'wait', id, target: need(o.for, '--for'), allHosts: o.allHosts === true })),
    ['vpc-peerctl peering wait pcx-0123456789abcdef0 --for programmed --timeout 60'],
  );

  examples(
    program
      .command('call')
      .description('Call any API method with JSON params and print the reply (see: call rpc.discover).')
      .argument('<method>', 'the JSON-RPC method')
      .argument('[params]', 'its params, a JSON object')
      .action((method: string, params: string | undefined) => call({ method, params: parseParams(params), view: 'raw' })),
    ['vpc-peerctl --json call rpc.discover', 'vpc-peerctl call vpc.get \'{"id":"vpc-a"}\''],
  );

  examples(
    program
      .command('completion')
      .description('Print a shell completion script (scripts/install.sh installs both).')
      .argument('<shell>', 'bash or zsh')
      .action((shell: string) => {
        if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`completion is for bash or zsh, not "${shell}"`);
        onAction({ kind: 'print', text: shell === 'bash' ? bashCompletion(program) : zshCompletion(program) });
      }),
    ['source <(vpc-peerctl completion bash)'],
  );
  // The man page, for scripts/install.sh; `man vpc-peerctl` is how people read it.
  program
    .command('man', { hidden: true })
    .description('Print the vpc-peerctl(1) man page in roff.')
    .action(() => onAction({ kind: 'print', text: manPage(program, MAN_EXTRAS) }));
  return program;
}

const MAN_EXTRAS = {
  version: VERSION,
  examples: (cmd: Command) => EXAMPLES.get(cmd) ?? [],
  exitStatus: EXIT_STATUS,
  environment: [
    ['VPC_PEERCTL_SOCKET', 'the socket to use when neither --socket nor --config names one'],
    ['NO_COLOR', 'when set, no colour even on a terminal'],
  ],
  files: [
    ['/run/vpc-peerd/vpc-peerd.sock', 'the default API socket'],
    ['/run/vpc-peerd/admin.token', 'the default operator token, rewritten at each start of the daemon'],
    ['/etc/vpc-peerd/config.json', 'the daemon\'s config, for --config'],
  ],
} as const;

/**
 * Turns argv into what to do. Help and version are written through `out` (exit 0); parser
 * errors are written through `out` too and give exit 2. Throws UsageError for the checks of
 * vpc-peerctl itself (the caller prints it).
 */
export function parseInvocation(argv: readonly string[], out: ParserOutput): Invocation {
  let action: Action | undefined;
  const program = buildProgram((a) => {
    action = a;
  });
  program.exitOverride().configureOutput({
    writeOut: (s) => out.writeOut(s),
    writeErr: (s) => out.writeErr(s),
    outputError: (s, write) => write(s),
  });
  for (const sub of allCommands(program)) {
    sub.exitOverride().showSuggestionAfterError(true).configureOutput(program.configureOutput());
  }
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return { kind: 'exit', code: EXIT.ok };
    // `help CMD` (exit code 0), or a group without its subcommand (`vpc-peerctl vpc`, 1):
    // either way commander listed the subcommands.
    if (err.code === 'commander.help') return { kind: 'exit', code: err.exitCode === 0 ? EXIT.ok : EXIT.usage };
    out.writeErr(`Run '${commandPath(argv, program)} --help' for usage.\n`);
    return { kind: 'exit', code: EXIT.usage };
  }
  if (action === undefined) return { kind: 'exit', code: EXIT.usage };
  const o = program.opts<{ socket?: string; token?: string; tokenFile?: string; config?: string; json?: boolean; timeout?: number; verbose?: boolean }>();
  const globals: GlobalOptions = {
    socket: o.socket,
    token: o.token,
    tokenFile: o.tokenFile,
    config: o.config,
    json: o.json === true,
    timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000,
    verbose: o.verbose === true,
  };
  return { kind: 'run', globals, action };
}

/** Every command below `cmd`, depth first. */
function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** The command argv names (`vpc-peerctl vpc create`), for "Run '... --help'". */
export function commandOf(argv: readonly string[]): string {
  return commandPath(argv, buildProgram(() => undefined));
}

/** `vpc-peerctl vpc create` for argv naming that command, as far as the words match. */
function commandPath(argv: readonly string[], program: Command): string {
  const words = [program.name()];
  let cmd = program;
  for (const arg of argv) {
    const next = cmd.commands.find((c) => c.name() === arg);
    if (next) {
      words.push(arg);
      cmd = next;
    }
  }
  return words.join(' ');
}
