// Builds and drives the native oracle binary (protocol: see the header of oracle.c).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const ORACLE_BIN = join(here, 'bin', 'oracle');

/** True when gcc is on PATH (the oracle can be built). */
export function haveGcc() {
  return spawnSync('sh', ['-c', 'command -v gcc'], { encoding: 'utf8' }).status === 0;
}

/** Builds bin/oracle unless it is newer than oracle.c. */
export function buildOracle() {
  const src = join(here, 'oracle.c');
  if (existsSync(ORACLE_BIN) && statSync(ORACLE_BIN).mtimeMs >= statSync(src).mtimeMs) return ORACLE_BIN;
  execFileSync('bash', [join(here, 'build.sh')], { stdio: 'inherit' });
  return ORACLE_BIN;
}

const hx = (v) => BigInt.asUintN(64, BigInt(v)).toString(16);
const bytesHex = (b) => Buffer.from(b).toString('hex');

/** One protocol line for a case from casegen.generateForm. */
export function caseLine(c) {
  const mem = c.mem ? `${hx(c.mem.addr)} ${bytesHex(c.mem.bytes)}` : '- -';
  const fx = c.fx ? ` ${bytesHex(c.fx)}` : '';
  return `C ${c.code} ${hx(c.rflags & 0xcd7n)} ${c.gpr.map(hx).join(' ')} ${mem}${fx}`;
}

/**
 * Runs cases on the host CPU. Returns, per case, { fault, rflags, gpr, mem, fx } (BigInts, mem as
 * Uint8Array or null). Throws on an `E` answer: that means a broken form, not a CPU result.
 */
export function runOracle(cases) {
  const input = `${cases.map(caseLine).join('\n')}\n`;
  const res = spawnSync(buildOracle(), [], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new Error(`oracle exited with ${res.status}: ${res.stderr}`);
  const lines = res.stdout.split('\n').filter(Boolean);
  if (lines.length !== cases.length)
    throw new Error(`oracle answered ${lines.length} of ${cases.length} cases`);
  return lines.map((line, i) => {
    const t = line.split(' ');
    if (t[0] !== 'R')
      throw new Error(`oracle rejected case of "${cases[i].form}" (${cases[i].code}): ${line}`);
    return {
      fault: t[1] === '-' ? null : Number.parseInt(t[1], 16),
      rflags: BigInt(`0x${t[2]}`),
      gpr: t.slice(3, 19).map((v) => BigInt(`0x${v}`)),
      mem: t[19] === '-' ? null : new Uint8Array(Buffer.from(t[19], 'hex')),
      fx: t[20] ? new Uint8Array(Buffer.from(t[20], 'hex')) : null,
    };
  });
}
