import { it } from "vitest";
import { Decoder, DecoderOptions, Code, Mnemonic } from 'iced-x86';
import { Cpu, SEG_DB, SEG_L } from '../../../src/cpu/cpu.js';
import { decode } from '../../../src/cpu/decode.js';
import { Insn } from '../../../src/cpu/insn.js';
import { Op } from '../../../src/cpu/ops.js';
import { CS, CR0_PE, EFER_LMA, EFER_LME } from '../../../src/cpu/regs.js';
import { FAULT } from '../../../src/cpu/cpu.js';

const buf = new ArrayBuffer(0x10000);
const ram = new Uint8Array(buf);
const cpu = new Cpu({ ram: buf, io: { portRead: () => 0, portWrite: () => {} }, mmio: { mmioRead: () => -1, mmioWrite: () => {} } });
function setMode(bits: number) {
  cpu.reset();
  if (bits >= 32) { cpu.cr0 |= CR0_PE; cpu.segAttr[CS] |= SEG_DB; }
  if (bits === 64) { cpu.efer = EFER_LME | EFER_LMA; cpu.segAttr[CS] = (cpu.segAttr[CS] & ~SEG_DB) | SEG_L; }
  cpu.updateMode();
  if (cpu.codeSize !== bits) throw new Error('mode');
}
const ADDR = 0x1000;
const insn = new Insn();
const seen = new Map<string, string>();
let rnd = 12345;
function r8() { rnd = (rnd * 1103515245 + 12345) >>> 0; return rnd >>> 24; }
const prefixes = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x3e, 0x26, 0x64, 0x65, 0x36];
let compared = 0;
for (const bits of [16, 32, 64]) {
  setMode(bits);
  for (let n = 0; n < 400000; n++) {
    const bytes = new Uint8Array(15);
    for (let i = 0; i < 15; i++) bytes[i] = r8();
    let p = 0;
    const np = r8() % 4;
    for (let k = 0; k < np; k++) bytes[p++] = prefixes[r8() % prefixes.length];
    if (bits === 64 && r8() & 1) bytes[p++] = 0x40 | (r8() & 15);
    const m = r8() % 4;
    if (m >= 1) { bytes[p++] = 0x0f; if (m === 2) bytes[p++] = 0x38; if (m === 3) bytes[p++] = 0x3a; }
    ram.set(bytes, ADDR);
    let ours = -1; let op = -1;
    try { decode(cpu, ADDR, insn); ours = insn.len; op = insn.op; } catch (e) { if (e !== FAULT) throw e; }
    const d = new Decoder(bits, bytes, DecoderOptions.None);
    const ins = d.decode();
    if (ours < 0 && !ins.isInvalid) { const key='FAULT:'+bits+Code[ins.code]; if(!seen.has(key)) seen.set(key, Array.from(bytes).map(x=>x.toString(16)).join(' ')); continue; }
    if (op === Op.UD || ours < 0) continue;
    if (ins.isInvalid) {
      const key = `INVALID-BUT-OURS:${bits}:${Op[op]}:${insn.opcode.toString(16)}`;
      if (!seen.has(key)) seen.set(key, `${Array.from(bytes.slice(0, ours)).map(x => x.toString(16).padStart(2, '0')).join(' ')} ours=${ours} err=${d.lastError}`);
      continue;
    }
    compared++;
    if (ins.length !== ours) {
      const key = `${bits}:${Mnemonic[ins.mnemonic]}:${Code[ins.code]}`;
      if (!seen.has(key)) seen.set(key, `${Array.from(bytes.slice(0, Math.max(ours, ins.length))).map(x => x.toString(16).padStart(2, '0')).join(' ')} ours=${ours} iced=${ins.length} op=${Op[op]}`);
    }
    d.free?.(); ins.free?.();
  }
}
it("x",()=>{});console.log('compared', compared);
console.log("seen", seen.size, [...seen].map(([k,v])=>k+" "+v).join("\n"));
