// The GDB stub against a scripted client (packets as gdb sends them; the GDB manual's "Remote
// Protocol" gives their form): framing and checksums, Ctrl-C while the guest runs, registers in
// gdb's amd64 order, the target description, breakpoints, single step, kill. test/cli/cli-gdb.test.ts
// drives the same stub with Debian's gdb; this covers what a batch gdb cannot do (Ctrl-C).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runImageVm } from '../../src/vm-boot.js';
import { GdbStub, type GdbTransport } from '../../src/vmm/gdb/gdb-stub.js';
import { framePacket, RspDecoder, type RspInput } from '../../src/vmm/gdb/rsp-packets.js';
import type { VmDebugHook } from '../../src/vmm/vm-debug-hook.js';

const LEGACY = new Uint8Array(
  readFileSync(join(import.meta.dirname, '..', '..', 'guests', 'smp-legacy', 'smp-legacy.img')),
);

/** A client step: bytes to send, sent only after the stub has looked `afterLooks` times while running. */
type Step = string | { bytes: string; afterLooks: number };

class ScriptedClient implements GdbTransport {
  private looks = 0;
  private connected = false;
  /** Every reply packet the stub sent, in order (acks dropped). */
  readonly replies: string[] = [];
  private readonly decoder = new RspDecoder();

  constructor(
    private readonly steps: Step[],
    /** The client connects once the stub has looked this many times (0: at once). */
    private readonly connectAfter = 0,
  ) {}

  pending(): boolean {
    this.looks++;
    if (this.looks < this.connectAfter) return false;
    const s = this.steps[0];
    return !this.connected || (s !== undefined && (typeof s === 'string' || this.looks >= s.afterLooks));
  }

  take(wait: boolean): { bytes: Uint8Array[]; connected: boolean } {
    if (!this.connected && this.looks < this.connectAfter) return { bytes: [], connected: false };
    if (!this.connected) {
      this.connected = true;
      return { bytes: [], connected: true };
    }
    const s = this.steps[0];
    if (s === undefined) {
      // The script is done: the client goes away.
      this.connected = false;
      return { bytes: [], connected: false };
    }
    if (typeof s !== 'string' && !wait && this.looks < s.afterLooks) return { bytes: [], connected: true };
    this.steps.shift();
    return { bytes: [Buffer.from(typeof s === 'string' ? s : s.bytes, 'latin1')], connected: true };
  }

  send(text: string): void {
    const got: RspInput[] = [];
    this.decoder.feed(Buffer.from(text, 'latin1'), got);
    for (const g of got) if (g.kind === 'packet') this.replies.push(g.data);
  }

  ready(): void {}
}

describe('RSP framing', () => {
  it('checks checksums, unescapes, and sees a lone 0x03 as an interrupt', () => {
    const d = new RspDecoder();
    const out: RspInput[] = [];
    d.feed(Buffer.from(`+${framePacket('m100,4')}\x03$g#00${framePacket('X0,1:}')}`, 'latin1'), out);
    expect(out).toEqual([
      { kind: 'packet', data: 'm100,4' },
      { kind: 'interrupt' },
      { kind: 'bad-checksum' },
      { kind: 'packet', data: 'X0,1:}' },
    ]);
    // '}' escapes as '}' ']' (0x7D ^ 0x20), with the checksum over the escaped bytes.
    expect(framePacket('a}')).toBe(`$a}]#${((0x61 + 0x7d + 0x5d) & 0xff).toString(16)}`);
  });
});

describe('GdbStub on a running VM', () => {
  it('stops at attach, answers registers and the description, stops on Ctrl-C, breaks, steps and kills', () => {
    const client = new ScriptedClient([
      framePacket('qSupported:multiprocess+;swbreak+;hwbreak+'),
      framePacket('?'),
      framePacket('qXfer:features:read:target.xml:0,ffff'),
      framePacket('g'),
      framePacket('c'),
      { bytes: '\x03', afterLooks: 5 },
      framePacket('qfThreadInfo'),
      framePacket('Z1,100020,1'),
      framePacket('Z0,100027,1'),
      framePacket('k'),
    ]);
    let killed = false;
    const stub = new GdbStub(client, {
      waitForAttach: true,
      kill: () => {
        killed = true;
      },
      stopping: () => false,
    });
    const r = runImageVm(LEGACY, { arch: 'svm', cpus: 2, debug: stub, checkpoint: () => killed });
    expect(r.stop).toBe('interrupted');
    const [supported, stop, xml, regs, ctrlC, threads, z1, z0] = client.replies;
    expect(supported).toContain('qXfer:features:read+');
    expect(stop).toBe('T05thread:1;');
    // Held before the first instruction, in real mode: the i386 description.
    expect(xml).toMatch(/^l<\?xml/);
    expect(xml).toContain('<architecture>i386</architecture>');
    expect(xml).toContain('<feature name="org.gnu.gdb.i386.core">');
    // i386 'g': EAX..EDI, EIP, EFLAGS (4 bytes each), six selectors, then x87 unavailable.
    expect(regs.slice(2 * 8, 3 * 8)).toBe('00060000'); // EDX = 0x600 after RESET (the signature), little-endian
    expect(regs.slice(8 * 8, 9 * 8)).toBe('00f00f00'); // the PC, linear: CS base 0xFF000 + IP 0
    expect(regs.slice(10 * 8, 11 * 8)).toBe('00ff0000'); // CS = 0xFF00
    expect(regs).toContain('x'.repeat(20)); // st0
    expect(ctrlC).toMatch(/^T02thread:[12];$/); // SIGINT: Ctrl-C stopped the running guest
    expect(threads).toBe('m1,2');
    expect(z1).toBe('OK');
    expect(z0).toBe('OK');
  });

  it('a software breakpoint stops the vCPU before the instruction; a step runs exactly one; P, m, M', () => {
    const client = new ScriptedClient([
      framePacket('Z0,100027,1'),
      framePacket('c'),
      framePacket('p8'), // EIP at the stop
      framePacket('s'),
      framePacket('p8'),
      framePacket('P3=44332211'), // EBX (i386 register 3)
      framePacket('p3'),
      framePacket('m100000,4'), // the Multiboot header's magic
      framePacket('M200000,3:abcdef'),
      framePacket('m1fffff,5'),
      framePacket('z0,100027,1'),
      framePacket('c'),
    ]);
    const stub = new GdbStub(client, { waitForAttach: true, kill: () => {}, stopping: () => false });
    const r = runImageVm(LEGACY, { arch: 'svm', cpus: 2, debug: stub });
    expect(r.stop).toBe('exit');
    expect(client.replies).toEqual([
      'OK',
      'T05thread:1;swbreak:;',
      '27001000', // 0x100027: mov [mb_info], ebx
      'T05thread:1;',
      '2d001000', // 0x10002D: 6 bytes later
      'OK',
      '44332211',
      '02b0ad1b', // 0x1BADB002
      'OK',
      '00abcdef00',
      'OK',
      'W01', // the guest's exit status
    ]);
  });

  it('a client that attaches to a guest in long mode gets the amd64 layout', () => {
    const client = new ScriptedClient([
      framePacket('qXfer:features:read:target.xml:0,ffff'),
      framePacket('Hg2'),
      framePacket('p12'), // register 18, CS: thread 2 is the AP, still in its reset state (CS = F000h)
      framePacket('Hg1'),
      framePacket('g'),
      framePacket('D'),
    ]);
    const stub = new GdbStub(client, { waitForAttach: false, kill: () => {}, stopping: () => false });
    // The stub first looks (and the client attaches) once the BSP runs in long mode (EFER.LMA).
    let looking = false;
    const hook: VmDebugHook = {
      beforeTurn: (vm, v, runnable) => {
        looking ||= (vm.vcpus[0].getSregs().efer & (1n << 10n)) !== 0n;
        return looking && stub.beforeTurn(vm, v, runnable);
      },
      afterTurn: (vm, v) => looking && stub.afterTurn(vm, v),
      ended: (vm, result) => stub.ended(vm, result),
    };
    const r = runImageVm(LEGACY, { arch: 'svm', cpus: 2, debug: hook });
    expect(r.stop).toBe('exit');
    const [xml, hg2, apCs, hg1, regs, detach] = client.replies;
    expect(xml).toContain('<architecture>i386:x86-64</architecture>');
    expect([hg2, apCs, hg1]).toEqual(['OK', '00f00000', 'OK']);
    // RAX..R15 (8 bytes), RIP (8), EFLAGS (4), six selectors (4), st0-st7 (10), eight x87 words (4).
    expect(regs.length).toBe(2 * (16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4));
    const cs = regs.slice(2 * (16 * 8 + 12), 2 * (16 * 8 + 16));
    expect(cs).toBe('18000000'); // SEL_CODE64 in guests/smp-legacy
    expect(detach).toBe('OK');
  });
});
