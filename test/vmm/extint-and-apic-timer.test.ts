// Two interrupt paths of the PC platform that firmware and older kernels rely on: the 8259 pair
// delivering through the BSP's LINT0 in ExtINT mode (virtual wire: the vector comes from the INTA
// cycle), and the local APIC timer running on the VM clock and waking a halted vCPU.
import { describe, expect, it } from 'vitest';
import { APIC_LVT_LINT0, APIC_LVT_TIMER, APIC_TIMER_DCR, APIC_TIMER_ICR } from '../../src/apic/registers.js';
import { createPcVm } from '../../src/vm-boot.js';
import { KVM_MP_STATE_HALTED, KVM_MP_STATE_RUNNABLE } from '../../src/vmm/kvm-abi.js';

const DM_EXTINT = 7 << 8;
const SVR = 0xf0;

function pcWithPic() {
  const pc = createPcVm({ cpus: 1 });
  const ports = pc.vm.ports;
  // ICW1-4 on both 8259s: vectors 20h and 28h, cascade on IR2, 8086 mode; then unmask IRQ 1 and 2.
  for (const [base, vec, icw3] of [
    [0x20, 0x20, 4],
    [0xa0, 0x28, 2],
  ]) {
    ports.portWrite(base, 1, 0x11);
    ports.portWrite(base + 1, 1, vec);
    ports.portWrite(base + 1, 1, icw3);
    ports.portWrite(base + 1, 1, 0x01);
  }
  ports.portWrite(0x21, 1, 0xf9);
  ports.portWrite(0xa1, 1, 0xff);
  const apic = pc.vm.vcpus[0].apic;
  apic.mmioWrite(SVR, 4, 0x1ff); // software enable
  return { pc, apic, ports };
}

describe('the 8259 pair through LINT0 in ExtINT mode', () => {
  it('gives the 8259 vector, bypassing the IRR, and takes the INTA on acknowledge', () => {
    const { pc, apic, ports } = pcWithPic();
    apic.mmioWrite(APIC_LVT_LINT0, 4, DM_EXTINT);
    expect(apic.pendingVector()).toBe(-1);
    pc.platform.setIsaIrq(1, true);
    expect(apic.pendingVector()).toBe(0x21);
    apic.acknowledge(0x21);
    ports.portWrite(0x20, 1, 0x0b); // OCW3: read ISR
    expect(ports.portRead(0x20, 1)).toBe(0x02); // IR1 in service
    expect(apic.pendingVector()).toBe(-1);
  });

  it('delivers nothing while LINT0 is masked', () => {
    const { pc, apic } = pcWithPic();
    apic.mmioWrite(APIC_LVT_LINT0, 4, DM_EXTINT | (1 << 16));
    pc.platform.setIsaIrq(1, true);
    expect(apic.pendingVector()).toBe(-1);
  });
});

describe('the local APIC timer on the VM clock', () => {
  it('fires at its deadline and wakes a halted vCPU; the idle scheduler can skip to it', () => {
    const { pc, apic } = pcWithPic();
    const v = pc.vm.vcpus[0];
    apic.mmioWrite(APIC_TIMER_DCR, 4, 0xb); // divide by 1
    apic.mmioWrite(APIC_LVT_TIMER, 4, 0x40); // one-shot, vector 40h
    apic.mmioWrite(APIC_TIMER_ICR, 4, 5000);
    v.kvmSetMpState(KVM_MP_STATE_HALTED);
    const deadline = pc.platform.nextDeadline();
    expect(deadline).toBe(5000);
    pc.platform.poll();
    expect(apic.pendingVector()).toBe(-1); // not yet
    pc.platform.clock.skipTo(deadline as number);
    pc.platform.poll();
    expect(apic.pendingVector()).toBe(0x40);
    // Interrupts enabled in the guest (RFLAGS.IF): the pending vector wakes it.
    const regs = v.getRegs();
    v.setRegs({ ...regs, rflags: regs.rflags | 0x200n });
    expect(v.runnable()).toBe(true);
    expect(v.mpState).toBe(KVM_MP_STATE_RUNNABLE);
  });
});
