// rpc.discover: an OpenRPC 1.2 document built from the same method table the dispatcher runs, so
// the documentation cannot drift from what is served. Params are by-name, one per property of
// the method's params schema (as JSON Schema, via zod), plus the optional `auth` every method
// accepts; `x-permission` and `x-operator-only` say who may call it, as the dispatcher checks.
import { z } from 'zod';
import type { Permission } from '../domain/rbac.js';
import { isPlainObject } from './messages.js';
import { defineMethod, type MethodSpec } from './method.js';

export interface OpenRpcInfo {
  readonly title: string;
  readonly version: string;
  readonly description?: string;
}

type JsonSchema = Record<string, unknown>;

export interface OpenRpcContentDescriptor {
  readonly name: string;
  readonly required?: boolean;
  readonly description?: string;
  readonly schema: JsonSchema;
}

export interface OpenRpcMethod {
  readonly name: string;
  readonly summary: string;
  readonly paramStructure: 'by-name';
  readonly params: OpenRpcContentDescriptor[];
  readonly result: OpenRpcContentDescriptor;
  /** Whether the method needs a principal (an OpenRPC specification extension). */
  readonly 'x-auth': MethodSpec['auth'];
  /** The permission it needs (SPEC §4), absent for a public method. */
  readonly 'x-permission'?: Permission;
  /** Present (true) when only an operator (tenant `*`) may call it. */
  readonly 'x-operator-only'?: true;
}

export interface OpenRpcDocument {
  readonly openrpc: string;
  readonly info: OpenRpcInfo;
  readonly methods: OpenRpcMethod[];
}

const OPENRPC_VERSION = '1.2.6';

const AUTH_PARAM: OpenRpcContentDescriptor = {
  name: 'auth',
  required: false,
  description: 'A token for this call only; it wins over the connection\'s auth.login.',
  schema: { type: 'string' },
};

export function buildOpenRpc(methods: readonly MethodSpec[], info: OpenRpcInfo): OpenRpcDocument {
  return { openrpc: OPENRPC_VERSION, info, methods: methods.map(describeMethod) };
}

function describeMethod(spec: MethodSpec): OpenRpcMethod {
  return {
    name: spec.name,
    summary: spec.summary,
    paramStructure: 'by-name',
    params: [...paramsOf(spec.params), AUTH_PARAM],
    result: { name: 'result', schema: spec.result ? jsonSchema(spec.result, 'output') : {} },
    'x-auth': spec.auth,
    ...(spec.auth === 'required' ? { 'x-permission': spec.permission } : {}),
    ...(spec.auth === 'required' && spec.operatorOnly ? { 'x-operator-only': true as const } : {}),
  };
}

/** One descriptor per property, read from the JSON Schema so defaults and optionals count right. */
function paramsOf(schema: z.ZodType): OpenRpcContentDescriptor[] {
  const json = jsonSchema(schema, 'input');
  const properties = isPlainObject(json.properties) ? json.properties : {};
  const required = new Set(Array.isArray(json.required) ? json.required : []);
  return Object.entries(properties).map(([name, sub]) => ({
    name,
    required: required.has(name),
    schema: isPlainObject(sub) ? sub : {},
  }));
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // 'any' keeps documentation working for types JSON Schema cannot express (a transform, a date).
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest;
}

/**
 * The `rpc.discover` method. The table usually includes this method itself, so it is passed as a
 * thunk, read at the first request; the document is built then and cached (the table is fixed).
 */
export function rpcDiscoverMethod(getMethods: () => readonly MethodSpec[], info: OpenRpcInfo): MethodSpec {
  let cached: OpenRpcDocument | null = null;
  return defineMethod({
    name: 'rpc.discover',
    summary: 'This API as an OpenRPC document.',
    auth: 'none',
    params: z.strictObject({}),
    handler: () => (cached ??= buildOpenRpc(getMethods(), info)),
  });
}
