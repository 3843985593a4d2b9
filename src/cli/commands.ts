// The commands of vpc-peerctl (SPEC §6) and how their command lines become one JSON-RPC call.
// Parsing is node:util parseArgs over one option set shared by every command; which options a
// command accepts is checked afterwards, so `vpc list --json` and `--json vpc list` both work.
import { parseArgs } from 'node:util';

/** A command line that cannot be run as written: exit 2 with the usage text. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type View = 'vpc' | 'vpc-list' | 'vpc-deleted' | 'peering' | 'peering-list' | 'reconcile' | 'status' | 'raw';

/** One RPC to make, and how to show its result. */
export interface Call {
  readonly method: string;
  readonly params: Record<string, unknown>;
  readonly view: View;
}

export interface GlobalOptions {
  readonly socket?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly config?: string;
  readonly json: boolean;
}

export type Invocation = { readonly help: true } | { readonly help: false; readonly globals: GlobalOptions; readonly call: Call };

const OPTIONS = {
  socket: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  bridge: { type: 'string' },
  'dry-run': { type: 'boolean' },
  id: { type: 'string' },
  tenant: { type: 'string' },
  cidr: { type: 'string', multiple: true },
  name: { type: 'string' },
  requester: { type: 'string' },
  accepter: { type: 'string' },
  vpc: { type: 'string' },
  status: { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;

function parseArgv(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
}

type Values = ReturnType<typeof parseArgv>['values'];

const GLOBAL_OPTIONS: readonly OptionName[] = ['socket', 'token', 'token-file', 'config', 'json', 'help'];

interface CommandSpec {
  readonly words: readonly string[];
  /** Names of the positional arguments, for messages; `?` marks an optional one. */
  readonly args: readonly string[];
  readonly options: readonly OptionName[];
  build(args: readonly string[], values: Values): Call;
}

const byId = (method: string, view: View): CommandSpec['build'] => (args) => ({ method, params: { id: args[0] }, view });

/** Drops the keys whose value is undefined, so absent options are absent params. */
function defined(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
}

function required<T>(value: T | undefined, option: string): T {
  if (value === undefined) throw new UsageError(`missing --${option}`);
  return value;
}

const COMMANDS: readonly CommandSpec[] = [
  { words: ['status'], args: [], options: [], build: () => ({ method: 'status', params: {}, view: 'status' }) },
  {
    words: ['reconcile'],
    args: [],
    options: ['bridge', 'dry-run'],
    build: (_args, v) => ({ method: 'reconcile.run', params: defined({ bridge: v.bridge, dryRun: v['dry-run'] }), view: 'reconcile' }),
  },
  {
    words: ['vpc', 'create'],
    args: [],
    options: ['id', 'tenant', 'cidr', 'bridge', 'name'],
    build: (_args, v) => ({
      method: 'vpc.create',
      params: defined({
        id: required(v.id, 'id'),
        tenantId: required(v.tenant, 'tenant'),
        cidrs: required(v.cidr, 'cidr'),
        bridge: required(v.bridge, 'bridge'),
        name: v.name,
      }),
      view: 'vpc',
    }),
  },
  {
    words: ['vpc', 'update'],
    args: ['ID'],
    options: ['name', 'cidr'],
    build: (args, v) => {
      if (v.name === undefined && v.cidr === undefined) throw new UsageError('nothing to update: give --name or --cidr');
      return { method: 'vpc.update', params: defined({ id: args[0], name: v.name, cidrs: v.cidr }), view: 'vpc' };
    },
  },
  { words: ['vpc', 'get'], args: ['ID'], options: [], build: byId('vpc.get', 'vpc') },
  {
    words: ['vpc', 'list'],
    args: [],
    options: ['tenant'],
    build: (_args, v) => ({ method: 'vpc.list', params: defined({ tenantId: v.tenant }), view: 'vpc-list' }),
  },
  { words: ['vpc', 'delete'], args: ['ID'], options: [], build: byId('vpc.delete', 'vpc-deleted') },
  {
    words: ['peering', 'create'],
    args: [],
    options: ['requester', 'accepter', 'name'],
    build: (_args, v) => ({
      method: 'peering.create',
      params: defined({ requesterVpcId: required(v.requester, 'requester'), accepterVpcId: required(v.accepter, 'accepter'), name: v.name }),
      view: 'peering',
    }),
  },
  { words: ['peering', 'accept'], args: ['ID'], options: [], build: byId('peering.accept', 'peering') },
  { words: ['peering', 'reject'], args: ['ID'], options: [], build: byId('peering.reject', 'peering') },
  { words: ['peering', 'delete'], args: ['ID'], options: [], build: byId('peering.delete', 'peering') },
  { words: ['peering', 'get'], args: ['ID'], options: [], build: byId('peering.get', 'peering') },
  {
    words: ['peering', 'list'],
    args: [],
    options: ['vpc', 'status'],
    build: (_args, v) => ({ method: 'peering.list', params: defined({ vpcId: v.vpc, status: v.status }), view: 'peering-list' }),
  },
  {
    words: ['call'],
    args: ['METHOD', 'JSON?'],
    options: [],
    build: (args) => ({ method: args[0] ?? '', params: parseParams(args[1]), view: 'raw' }),
  },
];

function parseParams(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError('the params of call must be JSON, e.g. \'{"id":"vpc-a"}\'');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('the params of call must be a JSON object (named params)');
  }
  return value as Record<string, unknown>;
}

export const USAGE = `usage: vpc-peerctl [--socket PATH] [--token TOKEN | --token-file FILE] [--config PATH] [--json] COMMAND

commands:
  status
  reconcile [--bridge B] [--dry-run]
  vpc create --id ID --tenant T --cidr C [--cidr C ...] --bridge B [--name N]
  vpc update ID [--name N] [--cidr C ...]
  vpc get ID
  vpc list [--tenant T]
  vpc delete ID
  peering create --requester VPC --accepter VPC [--name N]
  peering accept|reject|delete|get ID
  peering list [--vpc V] [--status S]
  call METHOD [JSON]

The socket is --socket, else socket.path of --config, else $VPC_PEERCTL_SOCKET, else
/run/vpc-peerd/vpc-peerd.sock. The token is --token or --token-file, else the file named by
auth.adminTokenFile of --config, else /run/vpc-peerd/admin.token; it is sent as params.auth.
Exit status: 0 success, 1 the daemon refused or could not be reached, 2 usage error.
`;

/** Turns argv into the call to make. Throws UsageError for anything not runnable as written. */
export function parseInvocation(argv: readonly string[]): Invocation {
  let parsed: ReturnType<typeof parseArgv>;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals, tokens } = parsed;
  if (values.help || positionals[0] === 'help') return { help: true };
  if (positionals.length === 0) throw new UsageError('no command given');

  const command = COMMANDS.find((c) => c.words.every((w, i) => positionals[i] === w));
  if (!command) throw new UsageError(`unknown command "${positionals.slice(0, 2).join(' ')}"`);
  const name = command.words.join(' ');
  const args = positionals.slice(command.words.length);
  const mandatory = command.args.filter((a) => !a.endsWith('?')).length;
  if (args.length < mandatory) throw new UsageError(`${name}: missing ${command.args[args.length]}`);
  if (args.length > command.args.length) throw new UsageError(`${name}: unexpected argument "${args[command.args.length]}"`);
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = token.name;
    if (!GLOBAL_OPTIONS.includes(option) && !command.options.includes(option)) {
      throw new UsageError(`${name}: option --${option} does not apply`);
    }
  }
  if (values.token !== undefined && values['token-file'] !== undefined) {
    throw new UsageError('give --token or --token-file, not both');
  }
  const globals: GlobalOptions = {
    socket: values.socket,
    token: values.token,
    tokenFile: values['token-file'],
    config: values.config,
    json: values.json ?? false,
  };
  return { help: false, globals, call: command.build(args, values) };
}
