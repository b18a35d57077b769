// The committed vector format: test/vectors/<family>.jsonl.gz, one JSON object per line:
//   { form, code,                                   code: instruction bytes, hex
//     in:   { gpr: [16 hex], rflags: hex, mem: { addr: hex, bytes: hex } | null },
//     out:  { fault: vector | null, rflags: hex, gpr: { "<index>": hex } (only registers that
//             changed), mem: hex | null },
//     mask: { flags: number (RFLAGS bits to compare), gpr: [indices not compared], mem: bool,
//             fsw?: FSW bits to compare } }
// x87/MMX forms add in.fx and out.fx: the first 160 bytes of an FXSAVE image (hex) before and
// after; compared are FCW, FSW (under mask.fsw), the abridged tag word, MXCSR and ST0-7 bytes 0-9.
// out.rflags keeps only CF PF AF ZF SF OF DF (and bit 1): other host bits (IF, RF) mean nothing here.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { COMPARED } from './flags.mjs';

const hx = (v) => BigInt.asUintN(64, BigInt(v)).toString(16);
const bytesHex = (b) => Buffer.from(b).toString('hex');

/** A vector record from a generated case and the oracle's answer. */
export function toRecord(c, r) {
  const changed = {};
  r.gpr.forEach((v, i) => {
    if (v !== c.gpr[i]) changed[i] = hx(v);
  });
  return {
    form: c.form,
    code: c.code,
    in: {
      gpr: c.gpr.map(hx),
      rflags: hx(c.rflags),
      mem: c.mem ? { addr: hx(c.mem.addr), bytes: bytesHex(c.mem.bytes) } : null,
      ...(c.fx ? { fx: bytesHex(c.fx) } : {}),
    },
    out: {
      fault: r.fault,
      rflags: hx((r.rflags & BigInt(COMPARED)) | 2n),
      gpr: changed,
      mem: r.mem ? bytesHex(r.mem) : null,
      ...(r.fx ? { fx: bytesHex(r.fx) } : {}),
    },
    mask: c.mask,
  };
}

export function writeFamily(dir, family, records) {
  const text = `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
  const file = join(dir, `${family}.jsonl.gz`);
  writeFileSync(file, gzipSync(text, { level: 9 }));
  return file;
}

/** Reads every <family>.jsonl.gz in dir: returns [{ family, records }]. */
export function readVectors(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl.gz'))
    .sort()
    .map((f) => ({
      family: f.replace(/\.jsonl\.gz$/, ''),
      records: gunzipSync(readFileSync(join(dir, f)))
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    }));
}
