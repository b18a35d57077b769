// The deterministic scheduler's wake rule (docs/scheduling.md, src/vmm/wake-list.ts): the exit that
// makes a waiting vCPU runnable ends the sender's turn there, the woken vCPU runs next, and the
// sender goes on afterwards, on every run the same way. The guest (a real-mode boot sector, source
// below) sends INIT-SIPI to AP 1 through the x2APIC ICR and counts in memory while it waits; the AP
// stores the count it finds and raises a flag. With the rule the AP runs before the BSP's first
// count, and the BSP sees the flag on its first check; waiting out the BSP's quantum, the AP would
// find thousands of counts.
import { describe, expect, it } from 'vitest';
import { runBootSectorVm } from '../../src/vm-boot.js';

// nasm -f bin of:
//   cli / xor ax,ax / mov ds,ax / mov ecx,0x1b / rdmsr / or eax,0xc00 / wrmsr   ; x2APIC on
//   mov ecx,0x830 / mov edx,1 / mov eax,0x4500 / wrmsr                          ; INIT to APIC 1
//   mov eax,0x4608 / wrmsr                                                      ; SIPI, vector 8
//   xor ebx,ebx / spin: inc ebx / mov [0x500],ebx / cmp byte [0x50c],0 / je spin
//   mov eax,[0x508] / call out_eax / mov eax,ebx / call out_eax / xor al,al / out 0xf4,al
//   out_eax: mov cx,4 / .l: out 0xe9,al / shr eax,8 / loop .l / ret
//   times 0x400-($-$$) db 0
//   ap (0x8000): xor ax,ax / mov ds,ax / mov eax,[0x500] / mov [0x508],eax / mov byte [0x50c],1 / cli / hlt
const BSP =
  'fa31c08ed866b91b0000000f32660d000c00000f3066b93008000066ba0100000066b8004500000f3066b8084600000f30' +
  '6631db664366891e0005803e0c050074f266a10805e80a006689d8e8040030c0e6f4b90400e6e966c1e808e2f8c3';
const AP = '31c08ed866a1000566a30805c6060c0501faf4';
function image(): Uint8Array {
  const out = new Uint8Array(0x400 + AP.length / 2);
  out.set(Buffer.from(BSP, 'hex'));
  out.set(Buffer.from(AP, 'hex'), 0x400);
  return out;
}

const words = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32LE(4 * i));
};

describe('the wake rule of the deterministic scheduler', () => {
  for (const arch of ['svm', 'vmx'] as const) {
    it(`under ${arch}: the AP a SIPI wakes runs before the BSP's next instruction`, () => {
      const r = runBootSectorVm(image(), { arch, cpus: 2, maxInstructions: 10_000_000 });
      expect(r.stop).toBe('exit');
      const [apSaw, bspSpins] = words(r.output);
      expect(apSaw).toBe(0); // the BSP had not counted once: the AP ran at the SIPI's exit
      expect(bspSpins).toBe(1); // and the BSP went on after the AP's piece: the flag was up already
    });
  }

  it('gives the same run twice (same output, same instruction count)', () => {
    const a = runBootSectorVm(image(), { arch: 'svm', cpus: 4 });
    const b = runBootSectorVm(image(), { arch: 'svm', cpus: 4 });
    expect(a.stop).toBe('exit');
    expect(b).toEqual(a);
  });
});
