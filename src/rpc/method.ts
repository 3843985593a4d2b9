// The method-table contract between the dispatcher and the API methods (src/rpc/methods/): what a
// method declares (name, params schema, auth need, permission) and what its handler receives. The
// dispatcher authenticates, authorises and validates before a handler runs, so a handler sees a
// principal allowed to call it and typed, checked params.
import type { z } from 'zod';
import type { Permission } from '../domain/rbac.js';
import type { Principal } from '../domain/types.js';

/** Per-connection state, owned by the server; `auth.login` sets `principal`. */
export interface ConnectionState {
  principal: Principal | null;
  readonly id: number;
}

/** What a handler of an `auth: 'required'` method receives besides its params. */
export interface CallContext {
  /** From `params.auth` if given, else from the connection's `auth.login`. */
  readonly principal: Principal;
  readonly connection: ConnectionState;
  /** Names this call in the daemon's log (and in the data of an internal error). */
  readonly requestId: string;
}

/** What a handler of an `auth: 'none'` method (public: no permission either) receives: there may be no principal. */
export interface PublicCallContext {
  readonly principal: Principal | null;
  readonly connection: ConnectionState;
  readonly requestId: string;
}

interface MethodBase<P> {
  /** The wire name, e.g. 'vpc.create'. */
  readonly name: string;
  /** One line, for rpc.discover. */
  readonly summary: string;
  /**
   * Validates the params (after `auth` is stripped) before the handler runs; a failure is -32602
   * with `data.field`. Its output type is what the handler gets.
   */
  readonly params: z.ZodType<P>;
  /** The result's shape, documented in rpc.discover; not checked at run time. */
  readonly result?: z.ZodType;
}

export interface AuthenticatedMethodSpec<P = unknown, R = unknown> extends MethodBase<P> {
  readonly auth: 'required';
  /** What the principal must hold (SPEC §4); the dispatcher refuses FORBIDDEN before the params. */
  readonly permission: Permission;
  /**
   * The method shows or acts on the whole host, so only an operator (tenant `*`) may call it;
   * the dispatcher refuses OPERATOR_ONLY after the permission.
   */
  readonly operatorOnly?: true;
  // Method syntax on purpose: it makes the handler bivariant in P, so a table of specific
  // methods is assignable to MethodSpec[] without casts.
  handler(params: P, ctx: CallContext): Promise<R> | R;
}

export interface PublicMethodSpec<P = unknown, R = unknown> extends MethodBase<P> {
  readonly auth: 'none';
  handler(params: P, ctx: PublicCallContext): Promise<R> | R;
}

export type MethodSpec<P = unknown, R = unknown> = AuthenticatedMethodSpec<P, R> | PublicMethodSpec<P, R>;

/**
 * Declares a method with its handler's params typed from the schema:
 * `defineMethod({ name, summary, auth: 'required', permission: 'vpc:read', params: z.strictObject({ id: VpcId }), handler: (p, ctx) => ... })`.
 */
export function defineMethod<S extends z.ZodType, R>(spec: AuthenticatedMethodSpec<z.output<S>, R> & { readonly params: S }): MethodSpec;
export function defineMethod<S extends z.ZodType, R>(spec: PublicMethodSpec<z.output<S>, R> & { readonly params: S }): MethodSpec;
export function defineMethod(spec: MethodSpec): MethodSpec {
  return spec;
}
