// IPI routing: the delivery matrix of delivery modes × destination modes × shorthands (SDM 11.6.1,
// 11.6.2; x2APIC 11.12.9-11.12.10), lowest priority arbitration, and the INIT-SIPI-SIPI sequence.
import { describe, expect, it } from 'vitest';
import { EV_EXTINT, EV_INIT, EV_NMI, EV_SIPI, EV_SMI, type LocalApic } from './local-apic.js';
import {
  APIC_DFR,
  APIC_ESR,
  APIC_LDR,
  APIC_TPR,
  DM_EXTINT,
  DM_FIXED,
  DM_INIT,
  DM_LOWEST,
  DM_NMI,
  DM_RESERVED,
  DM_SMI,
  DM_STARTUP,
  ESR_REDIRECTABLE_IPI,
  ESR_SEND_ACCEPT,
  ESR_SEND_ILLEGAL_VECTOR,
  ICR_DEST_LOGICAL,
  ICR_LEVEL_ASSERT,
  ICR_TRIGGER_LEVEL,
  MSR_IA32_APIC_BASE,
  MSR_X2APIC_ICR,
  SH_ALL_EXCLUDING_SELF,
  SH_ALL_INCLUDING_SELF,
  SH_NONE,
  SH_SELF,
} from './registers.js';
import { makeBus, sendXapic } from './test-helpers.js';

const VECTOR = 0x5a;
/** Event bit each non-vectored mode latches. */
const EVENT: Record<number, number> = {
  [DM_NMI]: EV_NMI,
  [DM_SMI]: EV_SMI,
  [DM_INIT]: EV_INIT,
  [DM_STARTUP]: EV_SIPI,
  [DM_EXTINT]: EV_EXTINT,
};

/** Indices of the APICs that received the message sent with `mode`. */
function receivers(apics: LocalApic[], mode: number): number[] {
  const out: number[] = [];
  apics.forEach((a, i) => {
    const got =
      mode === DM_FIXED || mode === DM_LOWEST
        ? a.pendingVector() === VECTOR
        : (a.pendingEvents & EVENT[mode]) !== 0;
    if (got) out.push(i);
  });
  return out;
}

function icr(mode: number, shorthand: number, logical: boolean): number {
  return VECTOR | (mode << 8) | (logical ? ICR_DEST_LOGICAL : 0) | ICR_LEVEL_ASSERT | (shorthand << 18);
}

/** Four xAPICs, IDs 0-3, flat logical IDs 1 << ID (SDM 11.6.2.2 flat model). */
function flatBus(): LocalApic[] {
  const { apics } = makeBus([0, 1, 2, 3]);
  apics.forEach((a, i) => {
    a.mmioWrite(APIC_LDR, 4, (1 << i) << 24);
  });
  return apics;
}

describe('delivery matrix (xAPIC, sender = APIC 0)', () => {
  // Destinations: physical ID 2; logical flat 1010b (APICs 1 and 3); and the three shorthands.
  const dests: [string, number, boolean, number, number[]][] = [
    ['physical ID 2', SH_NONE, false, 2, [2]],
    ['physical broadcast FFh', SH_NONE, false, 0xff, [0, 1, 2, 3]],
    ['logical flat 1010b', SH_NONE, true, 0b1010, [1, 3]],
    ['logical broadcast FFh', SH_NONE, true, 0xff, [0, 1, 2, 3]],
    ['self', SH_SELF, false, 0, [0]],
    ['all including self', SH_ALL_INCLUDING_SELF, false, 0, [0, 1, 2, 3]],
    ['all excluding self', SH_ALL_EXCLUDING_SELF, false, 0, [1, 2, 3]],
  ];
  // Table 11-3 (valid ICR combinations): only fixed may use the self shorthand and all-including-self;
  // the other modes are tested with no shorthand and all-excluding-self.
  const modes: [string, number, boolean][] = [
    ['fixed', DM_FIXED, true],
    ['NMI', DM_NMI, false],
    ['SMI', DM_SMI, false],
    ['INIT', DM_INIT, false],
    ['STARTUP', DM_STARTUP, false],
    ['ExtINT', DM_EXTINT, false],
  ];
  for (const [mname, mode, anyShorthand] of modes) {
    for (const [dname, sh, logical, dest, expected] of dests) {
      if (!anyShorthand && (sh === SH_SELF || sh === SH_ALL_INCLUDING_SELF)) continue;
      it(`${mname} to ${dname}`, () => {
        const apics = flatBus();
        sendXapic(apics[0], icr(mode, sh, logical), dest);
        expect(receivers(apics, mode)).toEqual(expected);
      });
    }
  }

  // Lowest priority delivers to exactly one member of the destination set.
  const lowest: [string, number, boolean, number, number[]][] = [
    ['physical broadcast', SH_NONE, false, 0xff, [0]],
    ['logical flat 1010b', SH_NONE, true, 0b1010, [1]],
    ['all excluding self', SH_ALL_EXCLUDING_SELF, false, 0, [1]],
  ];
  for (const [dname, sh, logical, dest, expected] of lowest) {
    it(`lowest priority to ${dname}: one target, equal priorities go to the lowest ID`, () => {
      const apics = flatBus();
      sendXapic(apics[0], icr(DM_LOWEST, sh, logical), dest);
      expect(receivers(apics, DM_LOWEST)).toEqual(expected);
    });
  }
});

describe('routing details', () => {
  it('lowest priority picks the lowest processor priority (SDM 11.6.2.4)', () => {
    const apics = flatBus();
    [0x40, 0x30, 0x20, 0x20].forEach((tpr, i) => {
      apics[i].mmioWrite(APIC_TPR, 4, tpr);
    });
    sendXapic(apics[0], icr(DM_LOWEST, SH_NONE, false), 0xff);
    expect(receivers(apics, DM_LOWEST)).toEqual([2]); // TPR 20h like APIC 3, and ID 2 < 3
  });

  it('logical cluster model: bits 7:4 select the cluster, 3:0 the members (SDM 11.6.2.2)', () => {
    const { apics } = makeBus([0, 1, 2, 3]);
    [0x11, 0x12, 0x21, 0x22].forEach((ldr, i) => {
      apics[i].mmioWrite(APIC_DFR, 4, 0x0fffffff);
      apics[i].mmioWrite(APIC_LDR, 4, ldr << 24);
    });
    sendXapic(apics[0], icr(DM_NMI, SH_NONE, true), 0x13);
    expect(receivers(apics, DM_NMI)).toEqual([0, 1]);
    for (const a of apics) a.takeEvents();
    sendXapic(apics[0], icr(DM_NMI, SH_NONE, true), 0x22);
    expect(receivers(apics, DM_NMI)).toEqual([3]);
    for (const a of apics) a.takeEvents();
    sendXapic(apics[0], icr(DM_NMI, SH_NONE, true), 0x31);
    expect(receivers(apics, DM_NMI)).toEqual([]);
  });

  it('a level-triggered fixed IPI sets the TMR at the target', () => {
    const apics = flatBus();
    sendXapic(apics[0], icr(DM_FIXED, SH_NONE, false) | ICR_TRIGGER_LEVEL, 1);
    expect(apics[1].tmr[VECTOR >>> 5] & (1 << (VECTOR & 31))).not.toBe(0);
  });

  it('software-disabled targets refuse fixed IPIs but take INIT; globally disabled ones take nothing', () => {
    const apics = flatBus();
    apics[1].mmioWrite(0xf0, 4, 0xff); // SVR: software disable
    apics[2].msrWrite(MSR_IA32_APIC_BASE, 0xfee00000n); // global disable
    sendXapic(apics[0], icr(DM_FIXED, SH_ALL_EXCLUDING_SELF, false));
    expect(receivers(apics, DM_FIXED)).toEqual([3]);
    sendXapic(apics[0], icr(DM_INIT, SH_ALL_EXCLUDING_SELF, false));
    expect(receivers(apics, DM_INIT)).toEqual([1, 3]);
  });

  it('INIT-SIPI-SIPI from the BSP latches INIT and the SIPI vector at each AP', () => {
    const { apics, kicks } = makeBus([0, 1, 2]);
    sendXapic(apics[0], 0xc4500); // INIT, level assert, all excluding self
    sendXapic(apics[0], 0xc4608); // STARTUP, vector 08h (trampoline at 8000h)
    sendXapic(apics[0], 0xc4608);
    expect(apics[0].pendingEvents).toBe(0);
    for (const ap of apics.slice(1)) {
      expect(ap.pendingEvents).toBe(EV_INIT | EV_SIPI);
      expect(ap.sipiVector).toBe(8);
    }
    expect(kicks).toEqual([0, 3, 3]);
  });

  it('I/O APIC messages: no sender, 8-bit destination', () => {
    const { bus, apics } = makeBus([0, 1]);
    expect(bus.deliverIrq(false, 1, DM_FIXED, 0x33, false)).toBe(1);
    expect(apics[1].pendingVector()).toBe(0x33);
    expect(bus.deliverIrq(false, 0xff, DM_FIXED, 0x34, false)).toBe(2);
  });
});

describe('x2APIC destinations (SDM 11.12.9, 11.12.10)', () => {
  function x2Bus(): LocalApic[] {
    return x2BusAndApics().apics;
  }
  function x2BusAndApics(): ReturnType<typeof makeBus> {
    const b = makeBus([0x10, 0x11, 0x20, 0x21]);
    for (const a of b.apics) a.msrWrite(MSR_IA32_APIC_BASE, 0xfee00c00n);
    return b;
  }
  const send = (from: LocalApic, low: number, dest: number): void =>
    from.msrWrite(0x830, (BigInt(dest) << 32n) | BigInt(low));

  it('physical: the 32-bit ID', () => {
    const apics = x2Bus();
    send(apics[0], icr(DM_FIXED, SH_NONE, false), 0x21);
    expect(receivers(apics, DM_FIXED)).toEqual([3]);
  });

  it('FFFFFFFFh is broadcast; FFh is just an ID', () => {
    const apics = x2Bus();
    send(apics[0], icr(DM_NMI, SH_NONE, false), 0xffffffff);
    expect(receivers(apics, DM_NMI)).toEqual([0, 1, 2, 3]);
    for (const a of apics) a.takeEvents();
    send(apics[0], icr(DM_NMI, SH_NONE, false), 0xff);
    expect(receivers(apics, DM_NMI)).toEqual([]);
  });

  it('logical: cluster in bits 31:16, member bits in 15:0', () => {
    const apics = x2Bus();
    send(apics[0], icr(DM_FIXED, SH_NONE, true), 0x00010003); // cluster 1, members 0 and 1
    expect(receivers(apics, DM_FIXED)).toEqual([0, 1]);
    send(apics[0], icr(DM_NMI, SH_NONE, true), 0x00020002); // cluster 2, member 1 = ID 21h
    expect(receivers(apics, DM_NMI)).toEqual([3]);
  });

  it('an I/O APIC broadcast (FFh) still reaches x2APIC targets', () => {
    const { bus } = x2BusAndApics();
    expect(bus.deliverIrq(false, 0xff, DM_FIXED, VECTOR, false)).toBe(4);
  });
});

/** The non-lowest modes of the matrices; table 11-3 allows Self and All Including Self for Fixed only. */
const MODES: [string, number, boolean][] = [
  ['Fixed', DM_FIXED, true],
  ['NMI', DM_NMI, false],
  ['SMI', DM_SMI, false],
  ['INIT', DM_INIT, false],
  ['Start Up', DM_STARTUP, false],
  ['ExtINT', DM_EXTINT, false],
];

describe('delivery matrix (xAPIC cluster model, sender = APIC 0)', () => {
  // LDRs 11h, 12h (cluster 1) and 21h, 22h (cluster 2), DFR cluster model (SDM 11.6.2.2).
  function clusterBus(): LocalApic[] {
    const { apics } = makeBus([0, 1, 2, 3]);
    [0x11, 0x12, 0x21, 0x22].forEach((ldr, i) => {
      apics[i].mmioWrite(APIC_DFR, 4, 0x0fffffff);
      apics[i].mmioWrite(APIC_LDR, 4, ldr << 24);
    });
    return apics;
  }
  const dests: [string, number, boolean, number, number[]][] = [
    ['cluster 1, members 0 and 1', SH_NONE, true, 0x13, [0, 1]],
    ['cluster 2, member 1', SH_NONE, true, 0x22, [3]],
    ['cluster 3 (nobody)', SH_NONE, true, 0x31, []],
    ['logical broadcast FFh', SH_NONE, true, 0xff, [0, 1, 2, 3]],
    ['physical ID 1', SH_NONE, false, 1, [1]],
    ['self', SH_SELF, true, 0, [0]],
    ['all excluding self', SH_ALL_EXCLUDING_SELF, true, 0, [1, 2, 3]],
  ];
  for (const [mname, mode, anyShorthand] of MODES) {
    for (const [dname, sh, logical, dest, expected] of dests) {
      if (!anyShorthand && (sh === SH_SELF || sh === SH_ALL_INCLUDING_SELF)) continue;
      it(`${mname} to ${dname}`, () => {
        const apics = clusterBus();
        sendXapic(apics[0], icr(mode, sh, logical), dest);
        expect(receivers(apics, mode)).toEqual(expected);
      });
    }
  }

  it('lowest priority within cluster 2 picks the lower TPR (SDM 11.6.2.4)', () => {
    const apics = clusterBus();
    apics[2].mmioWrite(APIC_TPR, 4, 0x50);
    apics[3].mmioWrite(APIC_TPR, 4, 0x10);
    sendXapic(apics[0], icr(DM_LOWEST, SH_NONE, true), 0x23);
    expect(receivers(apics, DM_LOWEST)).toEqual([3]);
  });
});

describe('delivery matrix (x2APIC, IDs 10h 11h 20h 21h, sender = ID 10h)', () => {
  function x2Bus(): LocalApic[] {
    const { apics } = makeBus([0x10, 0x11, 0x20, 0x21]);
    for (const a of apics) a.msrWrite(MSR_IA32_APIC_BASE, 0xfee00c00n);
    return apics;
  }
  const send = (from: LocalApic, low: number, dest: number): void =>
    from.msrWrite(MSR_X2APIC_ICR, (BigInt(dest >>> 0) << 32n) | BigInt(low));
  // Logical IDs (11.12.10.2): 10h -> 00010001h, 11h -> 00010002h, 20h -> 00020001h, 21h -> 00020002h.
  const dests: [string, number, boolean, number, number[]][] = [
    ['physical ID 21h', SH_NONE, false, 0x21, [3]],
    ['physical FFFFFFFFh (broadcast)', SH_NONE, false, 0xffffffff, [0, 1, 2, 3]],
    ['physical FFh (an ID, not a broadcast)', SH_NONE, false, 0xff, []],
    ['logical cluster 1, members 0 and 1', SH_NONE, true, 0x0001_0003, [0, 1]],
    ['logical cluster 2, member 1', SH_NONE, true, 0x0002_0002, [3]],
    ['logical cluster 2, member 0', SH_NONE, true, 0x0002_0001, [2]],
    ['logical FFFFFFFFh (broadcast)', SH_NONE, true, 0xffffffff, [0, 1, 2, 3]],
    ['self', SH_SELF, false, 0, [0]],
    ['all including self', SH_ALL_INCLUDING_SELF, false, 0, [0, 1, 2, 3]],
    ['all excluding self', SH_ALL_EXCLUDING_SELF, false, 0, [1, 2, 3]],
  ];
  for (const [mname, mode, anyShorthand] of MODES) {
    for (const [dname, sh, logical, dest, expected] of dests) {
      if (!anyShorthand && (sh === SH_SELF || sh === SH_ALL_INCLUDING_SELF)) continue;
      it(`${mname} to ${dname}`, () => {
        const apics = x2Bus();
        send(apics[0], icr(mode, sh, logical), dest);
        expect(receivers(apics, mode)).toEqual(expected);
      });
    }
  }

  it('lowest priority is reserved: Redirectable IPI (ESR bit 4) at the sender, nothing delivered', () => {
    const apics = x2Bus();
    send(apics[0], icr(DM_LOWEST, SH_NONE, false), 0xffffffff);
    expect(receivers(apics, DM_LOWEST)).toEqual([]);
    apics[0].msrWrite(0x828, 0n);
    expect(apics[0].msrRead(0x828)).toBe(BigInt(ESR_REDIRECTABLE_IPI));
  });
});

describe('messages the targets refuse or the sender does not send', () => {
  it('INIT Level De-assert reaches the targets but none latches an INIT (SDM 11.6.1)', () => {
    const { apics } = makeBus([0, 1, 2]);
    const deassert = (DM_INIT << 8) | ICR_TRIGGER_LEVEL | (SH_ALL_EXCLUDING_SELF << 18);
    sendXapic(apics[0], deassert);
    expect(receivers(apics, DM_INIT)).toEqual([]);
  });

  it('a reserved delivery mode (011b) is not sent; the sender logs Send Accept Error (bit 2)', () => {
    const { apics } = makeBus([0, 1, 2]);
    sendXapic(apics[0], icr(DM_RESERVED, SH_ALL_INCLUDING_SELF, false));
    expect(apics.map((a) => a.pendingVector())).toEqual([-1, -1, -1]);
    expect(apics.map((a) => a.pendingEvents)).toEqual([0, 0, 0]);
    apics[0].mmioWrite(APIC_ESR, 4, 0);
    expect(apics[0].mmioRead(APIC_ESR, 4)).toBe(ESR_SEND_ACCEPT);
  });

  it('x2APIC: a reserved delivery mode is logged the same way, without a #GP', () => {
    const { apics } = makeBus([0, 1]);
    for (const a of apics) a.msrWrite(MSR_IA32_APIC_BASE, 0xfee00c00n);
    apics[0].msrWrite(MSR_X2APIC_ICR, (1n << 32n) | BigInt(icr(DM_RESERVED, SH_NONE, false)));
    expect(apics[1].pendingVector()).toBe(-1);
    apics[0].msrWrite(0x828, 0n);
    expect(apics[0].msrRead(0x828)).toBe(BigInt(ESR_SEND_ACCEPT));
  });

  it('a Fixed IPI with vector 0-15 is sent: Send Illegal Vector at the sender, refused by the target', () => {
    const { apics } = makeBus([0, 1]);
    sendXapic(apics[0], 0x4000 | 0x0f, 1);
    apics[0].mmioWrite(APIC_ESR, 4, 0);
    expect(apics[0].mmioRead(APIC_ESR, 4)).toBe(ESR_SEND_ILLEGAL_VECTOR);
    apics[1].mmioWrite(APIC_ESR, 4, 0);
    expect(apics[1].mmioRead(APIC_ESR, 4)).toBe(0x40); // Receive Illegal Vector
    expect(apics[1].pendingVector()).toBe(-1);
  });
});
