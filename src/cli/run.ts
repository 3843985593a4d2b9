// vpc-peerctl as a function: argv and streams in, exit code out, so tests run it in-process.
// Exit codes (SPEC §6): 0 success, 1 the daemon refused the call or could not be reached (or a
// config/token file could not be read), 2 the command line is wrong.
import { connectClient, RpcClientError, RpcTransportError, type RpcClient } from '../rpc/client.js';
import { parseInvocation, USAGE, UsageError, type Invocation } from './commands.js';
import { render, renderJson } from './render.js';
import { resolveSettings, SetupError, type Settings } from './settings.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** A reconcile of a large host can take a while; anything slower than this is a hung daemon. */
const CALL_TIMEOUT_MS = 60_000;

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseInvocation(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`error: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (invocation.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const { globals, call } = invocation;

  let settings: Settings;
  try {
    settings = await resolveSettings(globals, io.env);
  } catch (err) {
    if (!(err instanceof SetupError)) throw err;
    io.stderr.write(`error: ${err.message}\n`);
    return 1;
  }

  // An explicit `auth` in the params of `call` is the user's choice and is kept.
  const params = settings.token !== undefined && !('auth' in call.params) ? { ...call.params, auth: settings.token } : call.params;
  let client: RpcClient | undefined;
  try {
    client = await connectClient(settings.socketPath, { timeoutMs: CALL_TIMEOUT_MS });
    const result = await client.call(call.method, params);
    io.stdout.write(globals.json ? renderJson(result) : render(call.view, result, { dryRun: params.dryRun === true }));
    return 0;
  } catch (err) {
    if (err instanceof RpcClientError) reportRpcError(err, globals.json, settings, io);
    else if (err instanceof RpcTransportError) io.stderr.write(`error: ${transportMessage(err, settings.socketPath)}\n`);
    else throw err;
    return 1;
  } finally {
    await client?.close();
  }
}

function reportRpcError(err: RpcClientError, json: boolean, settings: Settings, io: CliIo): void {
  if (json) {
    // Machines get the error object itself, reason and all, still on stderr.
    io.stderr.write(JSON.stringify({ error: { code: err.code, message: err.message, data: err.data } }) + '\n');
    return;
  }
  io.stderr.write(`error: ${err.message} (${err.reason ?? `code ${err.code}`})\n`);
  if (err.code === 401 && settings.tokenNote !== undefined) {
    io.stderr.write(`hint: ${settings.tokenNote}; pass --token or --token-file\n`);
  }
}

function transportMessage(err: RpcTransportError, path: string): string {
  if (err.kind === 'unreachable' && err.errno === 'EACCES') {
    return `permission denied on ${path}: run as root or as a member of the socket's group`;
  }
  if (err.kind === 'unreachable') return `cannot reach vpc-peerd at ${path}: is it running? (${err.errno ?? err.message})`;
  if (err.kind === 'timeout') return `no reply from vpc-peerd at ${path} within ${CALL_TIMEOUT_MS / 1000} s`;
  return err.message;
}
