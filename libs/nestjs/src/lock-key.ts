/**
 * Lock names built from a method's arguments, for @DistributedLock:
 *
 * - A template: text with placeholders. `{0}` is the first argument, `{0.id}` a property of it,
 *   `{dto.id}` a property of the parameter named `dto`. `{{` and `}}` are literal braces.
 * - A function of the arguments: `(orderId: string) => \`orders:${orderId}\``.
 *
 * Parameter names come from the method's source text (`Function.prototype.toString`), read once when
 * the decorator is applied. They are unavailable when the code was minified or the parameter is
 * destructured (`({ id }) => ...`): give them with the decorator's `params` option then, or use
 * indexes. A template naming a parameter that cannot be found fails at once, when the class is
 * defined, not at the first call.
 *
 * A placeholder must come out as a string, a number, a bigint or a boolean; anything else (undefined,
 * null, an object) fails the call with INVALID_ARGUMENT: a lock name must not silently become
 * 'orders:undefined', shared by every call that lacks an id.
 */
import { HikariError } from '@hikarikeeper/client';

/** A lock key: a template (see the head comment), or a function of the method's arguments. */
export type LockKey = string | ((...args: any[]) => string);

/** Builds the lock name from the arguments of one call. */
export type KeyBuilder = (args: readonly unknown[]) => string;

type Part = string | { readonly placeholder: string; readonly index: number; readonly path: readonly string[] };

/**
 * The key builder for `key` on method `fn` (named `where` in errors). `params` overrides the
 * parameter names read from the source. Throws (an Error naming `where`) for a malformed template.
 */
export function compileKey(key: LockKey, fn: Function, where: string, params?: readonly string[]): KeyBuilder {
  if (typeof key === 'function') {
    return (args) => {
      const name: unknown = key(...args);
      if (typeof name !== 'string' || name.length === 0) {
        throw HikariError.invalidArgument('key', `the key function of ${where} must return a non-empty string, not ${describe(name)}`);
      }
      return name;
    };
  }
  if (typeof key !== 'string' || key.length === 0) throw new Error(`${where}: the lock key must be a non-empty string or a function of the arguments`);
  let names: readonly (string | null)[] | null = null;
  const parts = parseTemplate(key, where).map((part): Part => {
    if (typeof part === 'string') return part;
    const { placeholder } = part;
    const [root, ...path] = placeholder.split('.');
    if (/^[0-9]+$/.test(root!)) return { placeholder, index: Number(root), path };
    names ??= params ?? parameterNames(fn);
    if (names === null) {
      throw new Error(
        `${where}: the key '${key}' names the parameter '${root}', but the parameter names of the method cannot be read from its source ` +
          "(minified code?): give them with the `params` option, or use indexes ('{0}')",
      );
    }
    const index = names.indexOf(root!);
    if (index < 0) {
      const known = names.filter((n): n is string => n !== null);
      throw new Error(
        `${where}: the key '${key}' names the parameter '${root}', which the method does not have (its parameters: ${known.length === 0 ? 'none that can be named' : known.join(', ')}). ` +
          'A destructured parameter has no name: use its index, or name it with the `params` option',
      );
    }
    return { placeholder, index, path };
  });
  return (args) => parts.map((part) => (typeof part === 'string' ? part : valueOf(part, args, key, where))).join('');
}

function valueOf(part: Exclude<Part, string>, args: readonly unknown[], key: string, where: string): string {
  let value: unknown = args[part.index];
  for (const step of part.path) {
    if (value === null || value === undefined) break;
    value = (value as Record<string, unknown>)[step];
  }
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    default:
      throw HikariError.invalidArgument('key', `{${part.placeholder}} of the lock key '${key}' of ${where} is ${describe(value)}, not a string or a number`);
  }
}

/** The template's pieces, in order: text, and placeholders (their inner text, as `{ placeholder }`). */
function parseTemplate(template: string, where: string): Array<string | { readonly placeholder: string }> {
  const parts: Array<string | { readonly placeholder: string }> = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      text += c;
      i++;
      continue;
    }
    if (c === '}') throw new Error(`${where}: the key '${template}' has a '}' that closes nothing (write '}}' for a brace)`);
    if (c !== '{') {
      text += c;
      continue;
    }
    const end = template.indexOf('}', i + 1);
    if (end < 0) throw new Error(`${where}: the key '${template}' has a '{' that is never closed (write '{{' for a brace)`);
    const placeholder = template.slice(i + 1, end).trim();
    if (!/^(?:[0-9]+|[A-Za-z_$][\w$]*)(?:\.[\w$]+)*$/.test(placeholder)) {
      throw new Error(
        `${where}: the key '${template}' has the placeholder '{${placeholder}}': expected an argument index or a parameter name, then .property steps ('{0}', '{dto.id}')`,
      );
    }
    if (text !== '') parts.push(text);
    text = '';
    parts.push({ placeholder });
    i = end;
  }
  if (text !== '') parts.push(text);
  return parts;
}

/**
 * The names of `fn`'s parameters, from its source text: null for a parameter without one (destructured),
 * or null for the whole list when the source cannot be read (native or bound functions, a syntax this does not know).
 */
export function parameterNames(fn: Function): (string | null)[] | null {
  let source: string;
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    return null;
  }
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) return null; // built-in, bound, or a proxy: no source to read
  const list = parameterList(source);
  if (list === null) return null;
  if (list.trim() === '') return [];
  return splitTopLevel(list).map((param) => {
    const withoutDefault = param.split('=')[0]!.trim().replace(/^\.\.\./, '').trim(); // a name comes before any '='
    return /^[A-Za-z_$][\w$]*$/.test(withoutDefault) ? withoutDefault : null;
  });
}

/** The text between the parentheses of the parameter list, comments removed; null when not found. */
function parameterList(source: string): string | null {
  const code = stripComments(source);
  const arrow = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(code); // x => ...
  if (arrow !== null) return arrow[1]!;
  const open = code.indexOf('(');
  if (open < 0) return null;
  // A computed method name (`[key](a) {}`) comes before the list: skip the brackets.
  let start = open;
  const bracket = code.indexOf('[');
  if (bracket >= 0 && bracket < open) {
    const close = matching(code, bracket);
    if (close < 0) return null;
    start = code.indexOf('(', close);
    if (start < 0) return null;
  }
  const end = matching(code, start);
  return end < 0 ? null : code.slice(start + 1, end);
}

/** The index of the bracket closing the one at `open`, skipping strings; -1 if none. */
function matching(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    const c = code[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(code, i);
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

/** `text` split at the commas outside brackets and strings. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(text, i);
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && c === ',') {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts;
}

/** The index of the quote closing the string that opens at `open`. */
function skipString(code: string, open: number): number {
  const quote = code[open];
  for (let i = open + 1; i < code.length; i++) {
    if (code[i] === '\\') i++;
    else if (code[i] === quote) return i;
  }
  return code.length;
}

function stripComments(source: string): string {
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '"' || c === "'" || c === '`') {
      const end = skipString(source, i);
      out += source.slice(i, end + 1);
      i = end;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 1;
      out += ' ';
    } else if (c === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i + 2);
      i = end < 0 ? source.length : end;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  return typeof value === 'object' ? (Array.isArray(value) ? 'an array' : 'an object') : `a ${typeof value}`;
}
