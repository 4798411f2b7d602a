/**
 * `multi`: several namespace writes (and version checks) applied atomically, in one log entry.
 * Either all apply, in order, or none does; then the error is the first failing op's, with its
 * position in `details.opIndex`.
 */
import { ArgReader, RequestLimits } from '../args';
import { HikariError } from '../errors';
import { isPlainObject } from '../json';
import { MULTI_OPS_MAX } from '../limits';
import {
  CREATE_FIELDS,
  CreateFields,
  DELETE_FIELDS,
  DeleteFields,
  readCreate,
  readDelete,
  readSeq,
  readSet,
  readVersion,
  SET_FIELDS,
  SetFields,
  Stat,
  WriteArgs,
} from './namespace';
import { FenceOp, readFenceOp } from './lock';

/** Fails the multi unless the node exists (NO_NODE) at `version` (BAD_VERSION); -1 matches any version. */
export interface CheckOp {
  op: 'check';
  path: string;
  version: number;
}
export interface CreateOp extends CreateFields {
  op: 'create';
}
export interface SetOp extends SetFields {
  op: 'set';
}
export interface DeleteOp extends DeleteFields {
  op: 'delete';
}
/** `fence` (see lock.ts) fails the multi with FENCE_MISMATCH unless `token` is a current grant of `lock`. */
export type MultiOp = CheckOp | CreateOp | SetOp | DeleteOp | FenceOp;
export type MultiOpName = MultiOp['op'];

export interface MultiArgs extends WriteArgs {
  /** 1 to MULTI_OPS_MAX ops, applied in order. */
  ops: MultiOp[];
}

export type MultiOpResult =
  | { op: 'check' }
  | { op: 'create'; path: string; stat: Stat }
  | { op: 'set'; stat: Stat }
  | { op: 'delete' }
  | { op: 'fence' };

/** One result per op, in the order of `ops`. */
export interface MultiResult {
  results: MultiOpResult[];
}

const MULTI_OP_NAMES: readonly MultiOpName[] = ['check', 'create', 'set', 'delete', 'fence'];

function readOp(item: unknown, index: number, limits: RequestLimits): MultiOp {
  const where = `ops[${index}]`;
  if (!isPlainObject(item)) throw HikariError.invalidArgument(where, 'must be a map');
  const name = item.op;
  if (typeof name !== 'string' || !(MULTI_OP_NAMES as readonly string[]).includes(name)) {
    throw HikariError.invalidArgument(`${where}.op`, `must be one of ${MULTI_OP_NAMES.join(', ')}`);
  }
  const prefix = `${where}.`;
  switch (name as MultiOpName) {
    case 'check': {
      const r = ArgReader.of(item, ['op', 'path', 'version'], prefix);
      const path = r.path('path');
      const version = readVersion(r);
      if (version === undefined) throw r.invalid('version', 'is required');
      return { op: 'check', path, version };
    }
    case 'create':
      return { op: 'create', ...readCreate(ArgReader.of(item, ['op', ...CREATE_FIELDS], prefix), limits) };
    case 'set':
      return { op: 'set', ...readSet(ArgReader.of(item, ['op', ...SET_FIELDS], prefix), limits) };
    case 'delete':
      return { op: 'delete', ...readDelete(ArgReader.of(item, ['op', ...DELETE_FIELDS], prefix)) };
    case 'fence':
      return readFenceOp(ArgReader.of(item, ['op', 'lock', 'token'], prefix));
  }
}

export function validateMulti(args: unknown, limits: RequestLimits): MultiArgs {
  const r = ArgReader.of(args, ['ops', 'seq']);
  const ops = r.array('ops', MULTI_OPS_MAX).map((item, index) => readOp(item, index, limits));
  return { ops, seq: readSeq(r) };
}
