// Starts the real `scaffolder serve` binary on a free port with a configuration of our own, and
// stops it. The address comes from the line it prints on stdout.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');

export function binaryPath() {
  return resolve(ROOT, process.env.SCAFFOLDER_BIN ?? 'target/debug/scaffolder');
}

/** `serve` with `config` (YAML text; `WORK` stands for a fresh working directory). */
export async function startScaffolder(name, config) {
  const dir = mkdtempSync(join(tmpdir(), `ui-${name}-`));
  const text = config.replaceAll('WORK', join(dir, 'work'));
  writeFileSync(join(dir, 'app-config.yaml'), text);
  const child = spawn(binaryPath(), ['serve', '--config', join(dir, 'app-config.yaml')], {
    cwd: dir,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk) => { log += chunk; });
  const url = await new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start listening within 60 s:\n${log}`)), 60_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /scaffolder listening on (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${log}`));
    });
  });
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
