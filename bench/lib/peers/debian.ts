/**
 * Makes sure a program (or a file) from a Debian package is installed, for the peers the benchmarks
 * and tests compare against (redis-server, etcd, ZooKeeper's jar, ...). Looks on PATH, /usr/sbin and
 * /usr/bin (or at the given path); if it is not there, installs the package with apt-get (through sudo
 * unless running as root), synchronously, and fails with apt's own last lines when that does not work.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Time allowed for `apt-get update` and for `apt-get install`, each. */
export const APT_TIMEOUT_MS = 10 * 60_000;
/** Lines of apt's output quoted when it fails. */
const TAIL_LINES = 20;

/** The path of executable `binary` on PATH, /usr/sbin or /usr/bin, or null. */
export function findBinary(binary: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'].filter((d) => d !== '');
  for (const dir of dirs) {
    const path = join(dir, binary);
    try {
      if (!statSync(path).isFile()) continue;
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there, or not executable: next folder
    }
  }
  return null;
}

/**
 * The path of `binary`, installing Debian package `pkg` first if the binary is missing. Throws if the
 * installation fails or does not provide the binary.
 */
export function ensureDebianPackage(binary: string, pkg: string): string {
  if (!/^[A-Za-z0-9._+-]+$/.test(binary)) throw new Error(`${JSON.stringify(binary)} is not a program name`);
  return ensureInstalled(binary, pkg, () => findBinary(binary), 'on PATH, /usr/sbin or /usr/bin');
}

/**
 * `file` (an absolute path: a jar, a script), installing Debian package `pkg` first if it is missing.
 * Throws if the installation fails or does not provide the file.
 */
export function ensureDebianFile(file: string, pkg: string): string {
  if (!file.startsWith('/')) throw new Error(`${JSON.stringify(file)} is not an absolute path`);
  const find = () => {
    try {
      return statSync(file).isFile() ? file : null;
    } catch {
      return null;
    }
  };
  return ensureInstalled(file, pkg, find, 'there');
}

function ensureInstalled(what: string, pkg: string, find: () => string | null, where: string): string {
  if (!/^[a-z0-9][a-z0-9.+-]+$/.test(pkg)) throw new Error(`${JSON.stringify(pkg)} is not a Debian package name`);
  const found = find();
  if (found !== null) return found;
  if (findBinary('apt-get') === null) {
    throw new Error(`${what} is not installed and apt-get is not available: install ${pkg} (or the equivalent) by hand`);
  }
  const root = process.getuid?.() === 0;
  if (!root && findBinary('sudo') === null) throw new Error(`${what} is not installed; installing ${pkg} needs root or sudo: run apt-get install ${pkg}`);
  // Waits for apt's locks when another apt-get runs (up to the timeout) rather than failing at once.
  const wait = ['-o', `DPkg::Lock::Timeout=${Math.floor(APT_TIMEOUT_MS / 1000)}`];
  apt(root, [...wait, 'update']);
  apt(root, [...wait, 'install', '-y', '--no-install-recommends', pkg]);
  const installed = find();
  if (installed === null) throw new Error(`apt-get installed ${pkg}, but ${what} is still not ${where}`);
  return installed;
}

function apt(root: boolean, args: string[]): void {
  const [command, argv] = root ? ['apt-get', args] : ['sudo', ['-n', 'apt-get', ...args]];
  const shown = `${command} ${argv.join(' ')}`;
  process.stderr.write(`${shown} ...\n`);
  const result = spawnSync(command, argv, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: APT_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status === 0) return;
  const why = result.error !== undefined ? result.error.message : result.signal !== null ? `killed by ${result.signal}` : `exit code ${result.status}`;
  const tail = `${result.stdout ?? ''}${result.stderr ?? ''}`.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
  throw new Error(`${shown} failed (${why})${root ? '' : ' (sudo -n: is passwordless sudo set up?)'}:\n${tail}`);
}
