// Code caches on different threads share a CodeShare (src/cpu/code-share.ts): a store by one
// processor to code another processor's cache decoded drops that code at the other's next run()
// entry (its serializing point), including a store through a write-TLB entry the writer held
// before the page became code. Two caches on one thread stand in for two workers here.
import { describe, expect, it } from 'vitest';
import { CodeCache } from '../../src/cpu/code-cache.js';
import { CodeShare } from '../../src/cpu/code-share.js';
import { run, Stop } from '../../src/cpu/run.js';
import { makePm32, RAM_BYTES } from '../support/pm32.js';

const CALLER = 0x10000; // call T / mov [0x5000], eax / hlt
const STORER = 0x30000; // mov [ebx], al / hlt
const T = 0x23000; // mov eax, 1 / ret
const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

function machines(share: boolean) {
  const ram = new SharedArrayBuffer(RAM_BYTES);
  const code = share ? new CodeShare(RAM_BYTES, new SharedArrayBuffer(CodeShare.bytes(RAM_BYTES))) : null;
  const reader = makePm32({ ram, codeCache: new CodeCache(RAM_BYTES, code) });
  const writer = makePm32({ ram, codeCache: new CodeCache(RAM_BYTES, code) });
  reader.load(CALLER, [0xe8, ...le32(T - (CALLER + 5)), 0xa3, ...le32(0x5000), 0xf4]);
  reader.load(T, [0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3]);
  writer.load(STORER, [0x88, 0x03, 0xf4]);
  const call = () => {
    reader.cpu.rip = CALLER;
    reader.cpu.halted = false;
    expect(run(reader.cpu, 1000)).toBe(Stop.HALT);
    return reader.dv.getUint32(0x5000, true);
  };
  const store = (addr: number, value: number) => {
    writer.cpu.rip = STORER;
    writer.cpu.halted = false;
    writer.cpu.r32[3 * 2] = addr; // EBX
    writer.cpu.r32[0] = value; // EAX
    expect(run(writer.cpu, 1000)).toBe(Stop.HALT);
  };
  return { call, store };
}

describe('code shared across caches', () => {
  it('a store to code another cache decoded is seen at its next run() entry', () => {
    const { call, store } = machines(true);
    expect(call()).toBe(1);
    store(T + 1, 2);
    expect(call()).toBe(2);
  });

  it('also when the writer had the page in its write TLB before it became code', () => {
    const { call, store } = machines(true);
    store(T + 0x800, 0x55); // data on T's page: a writable TLB entry, no code there yet
    expect(call()).toBe(1);
    store(T + 1, 3);
    expect(call()).toBe(3);
  });

  it('without a share the other cache keeps the old code (what the share is for)', () => {
    const { call, store } = machines(false);
    expect(call()).toBe(1);
    store(T + 1, 2);
    expect(call()).toBe(1);
  });
});
