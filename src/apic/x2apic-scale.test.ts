// More than 255 APICs on one bus: x2APIC's 32-bit IDs and destinations (SDM 11.12.9, 11.12.10), and
// why xAPIC mode cannot name them. The x2APIC spec (SDM 11.12.8.1, "Consistency of APIC IDs and
// CPUID"): the initial xAPIC ID is always bits 7:0 of the x2APIC ID, and a BIOS must hand processors
// with IDs of FFh and above to the OS in x2APIC mode, because FFh is the xAPIC broadcast.
import { describe, expect, it } from 'vitest';
import { EV_INIT, EV_NMI, EV_SIPI, LocalApic } from './local-apic.js';
import {
  APIC_ICR_HIGH,
  APIC_ID,
  DM_FIXED,
  DM_INIT,
  DM_NMI,
  DM_STARTUP,
  ICR_DEST_LOGICAL,
  ICR_LEVEL_ASSERT,
  MSR_IA32_APIC_BASE,
  MSR_X2APIC_ICR,
} from './registers.js';
import { FakeClock, makeBus, sendXapic } from './test-helpers.js';

const N = 1024;
const X2APIC = 0xfee00c00n;
const ids = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function x2Bus(n = N): LocalApic[] {
  const { apics } = makeBus(ids(n));
  for (const a of apics) a.msrWrite(MSR_IA32_APIC_BASE, X2APIC);
  return apics;
}

/** One WRMSR to the x2APIC ICR: destination in bits 63:32. */
const send = (from: LocalApic, low: number, dest: number): void =>
  from.msrWrite(MSR_X2APIC_ICR, (BigInt(dest >>> 0) << 32n) | BigInt(low));

/** Indices of the APICs with `ev` latched. */
const withEvent = (apics: LocalApic[], ev: number): number[] =>
  apics.flatMap((a, i) => ((a.pendingEvents & ev) !== 0 ? [i] : []));

describe(`x2APIC with ${N} APICs`, () => {
  it('INIT, SIPI, SIPI to physical ID 1000 start that AP and no other', () => {
    const apics = x2Bus();
    send(apics[0], (DM_INIT << 8) | ICR_LEVEL_ASSERT, 1000);
    send(apics[0], (DM_STARTUP << 8) | ICR_LEVEL_ASSERT | 0x08, 1000);
    send(apics[0], (DM_STARTUP << 8) | ICR_LEVEL_ASSERT | 0x08, 1000);
    expect(withEvent(apics, EV_INIT)).toEqual([1000]);
    expect(withEvent(apics, EV_SIPI)).toEqual([1000]);
    expect(apics[1000].sipiVector).toBe(8);
  });

  it('the ID register is the 32-bit x2APIC ID; LDR = cluster (ID >> 4) : 1 << (ID & 15) (11.12.10.2)', () => {
    const apics = x2Bus();
    expect(apics[1000].msrRead(0x802)).toBe(1000n);
    // 1000 = 3E8h: cluster 3Eh, member bit 8.
    expect(apics[1000].msrRead(0x80d)).toBe(0x003e_0100n);
    expect(apics[1023].msrRead(0x80d)).toBe(0x003f_8000n);
  });

  it('logical destination: cluster 3Eh, members 0 and 8 are IDs 3E0h and 3E8h', () => {
    const apics = x2Bus();
    send(apics[0], (DM_NMI << 8) | ICR_DEST_LOGICAL, 0x003e_0101);
    expect(withEvent(apics, EV_NMI)).toEqual([0x3e0, 0x3e8]);
  });

  it('a logical destination never crosses clusters: the member bits belong to cluster 3Fh only', () => {
    const apics = x2Bus();
    send(apics[0], (DM_NMI << 8) | ICR_DEST_LOGICAL, 0x003f_ffff);
    expect(withEvent(apics, EV_NMI)).toEqual(ids(16).map((i) => 0x3f0 + i));
  });

  it('physical and logical FFFFFFFFh are broadcast to all 1024; FFh is APIC 255 alone', () => {
    const apics = x2Bus();
    send(apics[0], DM_NMI << 8, 0xffff_ffff);
    expect(withEvent(apics, EV_NMI)).toHaveLength(N);
    for (const a of apics) a.takeEvents();
    send(apics[5], (DM_NMI << 8) | ICR_DEST_LOGICAL, 0xffff_ffff);
    expect(withEvent(apics, EV_NMI)).toHaveLength(N);
    for (const a of apics) a.takeEvents();
    send(apics[0], DM_NMI << 8, 0xff);
    expect(withEvent(apics, EV_NMI)).toEqual([255]);
  });

  it('a fixed IPI to ID 1023 reaches its IRR', () => {
    const apics = x2Bus();
    send(apics[3], (DM_FIXED << 8) | 0x41, 1023);
    expect(apics[1023].pendingVector()).toBe(0x41);
    expect(apics.filter((a) => a.pendingVector() >= 0)).toHaveLength(1);
  });
});

describe('xAPIC mode cannot name IDs of FFh and above', () => {
  it('the destination is ICR bits 63:56 only: a write of 3E8h to ICR high keeps none of it', () => {
    const { apics } = makeBus(ids(4));
    apics[0].mmioWrite(APIC_ICR_HIGH, 4, 1000);
    expect(apics[0].mmioRead(APIC_ICR_HIGH, 4)).toBe(0);
  });

  it('the xAPIC ID is bits 7:0 of the x2APIC ID, so APIC 1000 answers to E8h with 232, 488 and 744', () => {
    // As on hardware with more than 255 processors left in xAPIC mode: aliases, which is why the
    // BIOS must switch them to x2APIC mode (or park them) first.
    const { apics } = makeBus(ids(N));
    expect(apics[1000].mmioRead(APIC_ID, 4)).toBe(0xe800_0000);
    sendXapic(apics[0], (DM_INIT << 8) | ICR_LEVEL_ASSERT, 0xe8);
    expect(withEvent(apics, EV_INIT)).toEqual([0xe8, 0x1e8, 0x2e8, 0x3e8]);
  });

  it('FFh is the broadcast, so an APIC whose xAPIC ID is FFh cannot be sent to alone', () => {
    const { apics } = makeBus(ids(8));
    apics[7].mmioWrite(APIC_ID, 4, 0xff << 24);
    sendXapic(apics[0], (DM_NMI << 8) | ICR_LEVEL_ASSERT, 0xff);
    expect(withEvent(apics, EV_NMI)).toEqual(ids(8));
  });

  it('an 8-bit destination does not reach an x2APIC-mode APIC whose 32-bit ID ends in those bits', () => {
    const { apics } = makeBus(ids(N));
    apics[1000].msrWrite(MSR_IA32_APIC_BASE, X2APIC);
    sendXapic(apics[0], (DM_INIT << 8) | ICR_LEVEL_ASSERT, 0xe8);
    expect(withEvent(apics, EV_INIT)).toEqual([0xe8, 0x1e8, 0x2e8]);
  });
});

describe('APIC IDs', () => {
  it('FFFFFFFFh is reserved: no APIC may have it (11.12.1.3)', () => {
    expect(() => new LocalApic({ apicId: 0xffff_ffff, clock: new FakeClock() })).toThrow(RangeError);
    expect(() => new LocalApic({ apicId: -1, clock: new FakeClock() })).toThrow(RangeError);
    expect(new LocalApic({ apicId: 0xffff_fffe, clock: new FakeClock() }).apicId).toBe(0xffff_fffe);
  });

  it('the largest usable x2APIC ID is reachable by physical destination', () => {
    const { apics } = makeBus([0, 0xffff_fffe]);
    for (const a of apics) a.msrWrite(MSR_IA32_APIC_BASE, X2APIC);
    send(apics[0], DM_NMI << 8, 0xffff_fffe);
    expect(withEvent(apics, EV_NMI)).toEqual([1]);
    // Its logical ID keeps bits 19:4 of the ID as the cluster (11.12.10.2).
    expect(apics[1].msrRead(0x80d)).toBe(0xffff_4000n);
  });
});
