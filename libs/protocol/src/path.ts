/**
 * Node paths. A path is absolute (`/` is the root), has no empty segment, no trailing slash (except
 * the root), no `.` or `..` segment, no control character and no unpaired surrogate (two such
 * strings would encode to the same UTF-8 bytes), and stays within the byte and depth limits.
 * Paths are compared byte for byte: no Unicode normalization, as in ZooKeeper and etcd.
 */
import { HikariError } from './errors';
import { PATH_BYTES_MAX, PATH_DEPTH_MAX, SEGMENT_BYTES_MAX, SEQUENCE_DIGITS, SEQUENCE_MAX } from './limits';

export const ROOT_PATH = '/';

// C0 and C1 control characters (NUL included), and surrogates that are not part of a pair.
const BAD_CHARACTER = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function characterProblem(text: string): string | null {
  const match = BAD_CHARACTER.exec(text);
  if (match === null) return null;
  const unit = match[0].charCodeAt(0);
  const hex = unit.toString(16).toUpperCase().padStart(4, '0');
  const what = unit >= 0xd800 ? 'an unpaired surrogate' : 'a control character';
  return `contains ${what} U+${hex} at offset ${match.index}`;
}

// Every UTF-16 unit takes 1 to 3 UTF-8 bytes. A string far over the limit is reported without
// measuring it, so that a hostile multi-megabyte string is not scanned again.
function utf8BytesProblem(text: string, bytesMax: number): string | null {
  if (text.length > 4 * bytesMax) return `is at least ${text.length} bytes, over the limit of ${bytesMax}`;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > bytesMax ? `is ${bytes} bytes, over the limit of ${bytesMax}` : null;
}

/** Why `name` cannot be a node name (one path segment), or null if it can. */
export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name === '.' || name === '..') return `is '${name}'`;
  if (name.includes('/')) return "contains '/'";
  return utf8BytesProblem(name, SEGMENT_BYTES_MAX) ?? characterProblem(name);
}

/** Why `path` is not a valid path, or null if it is. */
export function pathProblem(path: string): string | null {
  if (path.length === 0) return 'is empty';
  if (path[0] !== '/') return "must start with '/'";
  const problem = utf8BytesProblem(path, PATH_BYTES_MAX) ?? characterProblem(path);
  if (problem !== null) return problem;
  if (path === ROOT_PATH) return null;
  if (path.endsWith('/')) return "must not end with '/'";
  const segments = path.slice(1).split('/');
  if (segments.length > PATH_DEPTH_MAX) return `has depth ${segments.length}, over the limit of ${PATH_DEPTH_MAX}`;
  for (let i = 0; i < segments.length; i++) {
    const segmentProblem = nameProblem(segments[i]!);
    if (segmentProblem !== null) return `segment ${i + 1} ${segmentProblem}`;
  }
  return null;
}

/** Throws INVALID_PATH, with the broken rule as `details.reason`, unless `path` is valid. */
export function validatePath(path: string): void {
  if (typeof path !== 'string') throw HikariError.invalidPath(String(path), 'is not a string');
  const problem = pathProblem(path);
  if (problem !== null) throw HikariError.invalidPath(path, problem);
}

/**
 * Why the path given to a sequential create is not valid, or null if it is. It is checked as the
 * node's path will be once the server appends the counter; as in ZooKeeper it may end with '/'
 * (`/queue/` makes `/queue/0000000001`).
 */
export function sequentialPathProblem(prefix: string): string | null {
  const problem = pathProblem(prefix + '0'.repeat(SEQUENCE_DIGITS));
  return problem === null ? null : `${problem} (counting the ${SEQUENCE_DIGITS}-digit sequence suffix)`;
}

/** Throws INVALID_PATH unless `prefix` is a valid path for a sequential create (see sequentialPathProblem). */
export function validateSequentialPath(prefix: string): void {
  if (typeof prefix !== 'string') throw HikariError.invalidPath(String(prefix), 'is not a string');
  const problem = sequentialPathProblem(prefix);
  if (problem !== null) throw HikariError.invalidPath(prefix, problem);
}

/** The parent of a valid path; null for the root. */
export function parentOf(path: string): string | null {
  if (path === ROOT_PATH) return null;
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? ROOT_PATH : path.slice(0, slash);
}

/** The last segment of a valid path; '' for the root. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `parent` + '/' + `name`, validated: throws INVALID_PATH if `name` is not one segment or the result breaks a limit. */
export function joinPath(parent: string, name: string): string {
  const joined = parent === ROOT_PATH ? `/${name}` : `${parent}/${name}`;
  const problem = nameProblem(name);
  if (problem !== null) throw HikariError.invalidPath(joined, `name ${problem}`);
  validatePath(joined);
  return joined;
}

/** Number of segments of a valid path: 0 for the root, 2 for `/a/b`. */
export function depthOf(path: string): number {
  if (path === ROOT_PATH) return 0;
  let depth = 0;
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) depth++;
  return depth;
}

/** True when `ancestor` is a strict ancestor of `path` (a path is not its own ancestor). */
export function isAncestor(ancestor: string, path: string): boolean {
  if (ancestor === path) return false;
  return ancestor === ROOT_PATH ? path.startsWith('/') : path.startsWith(`${ancestor}/`);
}

/** The name (or path) of a sequential node: `prefix` + counter zero-padded to 10 digits (`lock-0000000042`). */
export function sequentialName(prefix: string, counter: number): string {
  if (!Number.isSafeInteger(counter) || counter < 0 || counter > SEQUENCE_MAX) {
    throw HikariError.invalidArgument('counter', `must be an integer in [0, ${SEQUENCE_MAX}]`);
  }
  return prefix + String(counter).padStart(SEQUENCE_DIGITS, '0');
}

/** The counter of a sequential node's name or path (its last 10 characters, all digits), or null. */
export function parseSequence(name: string): number | null {
  const suffix = name.slice(-SEQUENCE_DIGITS);
  return suffix.length === SEQUENCE_DIGITS && /^[0-9]+$/.test(suffix) ? Number(suffix) : null;
}
