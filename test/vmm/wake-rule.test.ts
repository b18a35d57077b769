// The deterministic scheduler's wake rule (docs/scheduling.md, src/vmm/wake-list.ts): the exit that
// makes a waiting vCPU runnable ends the sender's turn there, the woken vCPU runs next, and the
// sender goes on afterwards, on every run the same way. The guest (a real-mode boot sector, source
// below) sends INIT-SIPI to AP 1 through the x2APIC ICR and counts in memory while it waits; the AP
// stores the count it finds, raises a flag and halts; then the same with a fixed IPI to the halted
// AP, whose interrupt handler stores the count. With the rule the AP runs before the BSP's first
// count, and the BSP sees the flag on its first check; waiting out the BSP's quantum, the AP would
// find thousands of counts.
import { describe, expect, it } from 'vitest';
import { runBootSectorVm } from '../../src/vm-boot.js';

// nasm -f bin of (16-bit, org 7C00h; the AP's code at 8000h, run as 0800:0000):
//   cli / xor ax,ax / mov ds,ax / mov ecx,0x1b / rdmsr / or eax,0xc00 / wrmsr   ; x2APIC on
//   mov ecx,0x830 / mov edx,1 / mov eax,0x4500 / wrmsr                          ; INIT to APIC 1
//   mov eax,0x4608 / wrmsr                                                      ; SIPI, vector 8
//   xor ebx,ebx / spin: inc ebx / mov [0x500],ebx / cmp byte [0x50c],0 / je spin
//   mov eax,[0x508] / call out_eax / mov eax,ebx / call out_eax
//   mov ecx,0x830 / mov edx,1 / mov eax,0x40 / wrmsr                            ; fixed IPI 40h
//   xor ebx,ebx / spin2: inc ebx / mov [0x518],ebx / cmp byte [0x514],0 / je spin2
//   mov eax,[0x510] / call out_eax / mov eax,ebx / call out_eax / xor al,al / out 0xf4,al
//   out_eax: mov cx,4 / .l: out 0xe9,al / shr eax,8 / loop .l / ret
//   times 0x400-($-$$) db 0
//   ap: xor ax,ax / mov ds,ax / mov eax,[0x500] / mov [0x508],eax
//       mov ecx,0x1b / rdmsr / or eax,0xc00 / wrmsr                             ; x2APIC on
//       mov ecx,0x80f / mov eax,0x1ff / xor edx,edx / wrmsr                     ; SVR: enabled
//       mov word [0x100],handler-ap / mov word [0x102],0x0800                   ; IVT 40h
//       mov byte [0x50c],1 / sti / .h: hlt / jmp .h
//   handler: mov eax,[0x518] / mov [0x510],eax / mov byte [0x514],1
//       mov ecx,0x80b / xor eax,eax / xor edx,edx / wrmsr / iret                ; EOI
const BSP =
  'fa31c08ed866b91b0000000f32660d000c00000f3066b93008000066ba0100000066b8004500000f3066b8084600000f30' +
  '6631db664366891e0005803e0c050074f266a10805e83c006689d8e8360066b93008000066ba0100000066b840000000' +
  '0f306631db664366891e1805803e14050074f266a11005e80a006689d8e8040030c0e6f4b90400e6e966c1e808e2f8c3';
const AP =
  '31c08ed866a1000566a3080566b91b0000000f32660d000c00000f3066b90f08000066b8ff0100006631d20f30c706000142' +
  '00c70602010008c6060c0501fbf4ebfd66a1180566a31005c60614050166b90b0800006631c06631d20f30cf';
// nasm -f bin of: the BSP starts APs 1 and 2 (x2APIC INIT-SIPI each), counts to 60,000 and prints
// the dword at 600h; each AP turns on x2APIC and its APIC (SVR 1FFh), points IVT 40h at a handler
// that only EOIs, then for ever: fixed IPI 40h to the other AP (3 - its x2APIC ID) / sti / hlt /
// cli / lock inc dword [0x600].
const PINGPONG_BSP =
  'fa31c08ed866b91b0000000f32660d000c00000f3066b93008000066ba0100000066b8004500000f3066b8084600000f30' +
  '66ba0200000066b8004500000f3066b8084600000f306631db66436681fb60ea000072f566a10006e8040030c0e6f4b904' +
  '00e6e966c1e808e2f8c3';
const PINGPONG_AP =
  '31c08ed88ed066b902080000665166b91b0000000f32660d000c00000f3066590f3266be030000006629c666c1e00889c4' +
  '81c4006066b90f08000066b8ff0100006631d20f30c70600016e00c7060201000866b9300800006689f266b8400000000f' +
  '30fbf4faf066ff060006ebe466506651665266b90b0800006631c06631d20f30665a66596658cf';

function image(bsp = BSP, ap = AP): Uint8Array {
  const out = new Uint8Array(0x400 + ap.length / 2);
  out.set(Buffer.from(bsp, 'hex'));
  out.set(Buffer.from(ap, 'hex'), 0x400);
  return out;
}

const words = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32LE(4 * i));
};

describe('the wake rule of the deterministic scheduler', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    it(`under ${arch}: the AP a SIPI or a fixed IPI wakes runs before the BSP's next instruction`, () => {
      const r = runBootSectorVm(image(), { arch, cpus: 2, maxInstructions: 10_000_000 });
      expect(r.stop).toBe('exit');
      const [apSaw, bspSpins, handlerSaw, bspSpins2] = words(r.output);
      expect(apSaw).toBe(0); // the BSP had not counted once: the AP ran at the SIPI's exit
      expect(bspSpins).toBe(1); // and the BSP went on after the AP's piece: the flag was up already
      // The AP then halted; the fixed IPI woke it at the exit of the ICR write in the same way.
      expect(handlerSaw).toBe(0);
      expect(bspSpins2).toBe(1);
    });
  }

  it('two vCPUs waking each other for ever cannot keep the round from ending: the BSP finishes', () => {
    const r = runBootSectorVm(image(PINGPONG_BSP, PINGPONG_AP), {
      arch: 'svm',
      cpus: 3,
      maxInstructions: 20_000_000,
    });
    expect(r.stop, r.message).toBe('exit');
    const [wakes] = words(r.output);
    expect(wakes).toBeGreaterThan(100); // the APs did wake each other, many times
  });

  it('gives the same run twice (same output, same instruction count)', () => {
    const a = runBootSectorVm(image(), { arch: 'svm', cpus: 4 });
    const b = runBootSectorVm(image(), { arch: 'svm', cpus: 4 });
    expect(a.stop).toBe('exit');
    expect(b).toEqual(a);
  });
});
