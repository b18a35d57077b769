// Local APIC register map and bit fields, named as in Intel SDM vol 3 ch. 11 ("Advanced Programmable
// Interrupt Controller", table 11-1 for xAPIC offsets, table 11-6 for x2APIC MSRs) and AMD APM vol 2
// ch. 16. Section numbers below are the SDM's current chapter-11 numbering (older editions: ch. 10,
// same section numbers after the chapter).

// xAPIC MMIO offsets in the 4 KiB page at APIC_BASE (SDM 11.4.1, table 11-1).
export const APIC_ID = 0x20;
export const APIC_VERSION = 0x30;
export const APIC_TPR = 0x80;
export const APIC_APR = 0x90;
export const APIC_PPR = 0xa0;
export const APIC_EOI = 0xb0;
export const APIC_RRD = 0xc0;
export const APIC_LDR = 0xd0;
export const APIC_DFR = 0xe0;
export const APIC_SVR = 0xf0;
export const APIC_ISR = 0x100; // 0x100-0x170, eight 32-bit words
export const APIC_TMR = 0x180; // 0x180-0x1F0
export const APIC_IRR = 0x200; // 0x200-0x270
export const APIC_ESR = 0x280;
export const APIC_LVT_CMCI = 0x2f0;
export const APIC_ICR_LOW = 0x300;
export const APIC_ICR_HIGH = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PMC = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_ICR = 0x380; // initial count
export const APIC_TIMER_CCR = 0x390; // current count
export const APIC_TIMER_DCR = 0x3e0; // divide configuration
/** SELF IPI exists only as an x2APIC MSR (SDM 11.12.11); this is its would-be offset. */
export const APIC_SELF_IPI = 0x3f0;

// x2APIC MSRs: 0x800 + offset / 16 (SDM 11.12.1.2).
export const X2APIC_MSR_BASE = 0x800;
export const X2APIC_MSR_LAST = 0x8ff;
export const x2apicMsr = (offset: number): number => X2APIC_MSR_BASE + (offset >>> 4);
export const MSR_X2APIC_ICR = 0x830;
export const MSR_X2APIC_SELF_IPI = 0x83f;

// Other MSRs the local APIC owns.
export const MSR_IA32_APIC_BASE = 0x1b;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;

// IA32_APIC_BASE (SDM 11.4.4, 11.12.1).
export const APIC_BASE_BSP = 1 << 8;
export const APIC_BASE_EXTD = 1 << 10; // x2APIC enable
export const APIC_BASE_EN = 1 << 11; // APIC global enable
export const APIC_BASE_DEFAULT = 0xfee00000;

// Delivery modes (ICR, LVT and I/O APIC redirection entries; SDM 11.6.1 figure 11-12).
export const DM_FIXED = 0;
export const DM_LOWEST = 1;
export const DM_SMI = 2;
export const DM_RESERVED = 3;
export const DM_NMI = 4;
export const DM_INIT = 5;
export const DM_STARTUP = 6;
export const DM_EXTINT = 7;

// ICR fields (SDM 11.6.1); the low dword is shared by xAPIC and x2APIC.
export const ICR_VECTOR = 0xff;
export const ICR_DM_SHIFT = 8;
export const ICR_DEST_LOGICAL = 1 << 11;
export const ICR_DELIVERY_STATUS = 1 << 12; // xAPIC only; x2APIC WRMSR ignores bit 12
export const ICR_LEVEL_ASSERT = 1 << 14;
export const ICR_TRIGGER_LEVEL = 1 << 15;
export const ICR_SHORTHAND_SHIFT = 18;
export const SH_NONE = 0;
export const SH_SELF = 1;
export const SH_ALL_INCLUDING_SELF = 2;
export const SH_ALL_EXCLUDING_SELF = 3;
/** Writable ICR low bits (vector, mode, dest mode, level, trigger, shorthand). */
export const ICR_LOW_MASK =
  0xff | (7 << 8) | ICR_DEST_LOGICAL | ICR_LEVEL_ASSERT | ICR_TRIGGER_LEVEL | (3 << 18);
/** xAPIC destination: ICR bits 63:56, i.e. ICR_HIGH bits 31:24. */
export const ICR_HIGH_DEST_SHIFT = 24;

/** Broadcast destination IDs (SDM 11.6.2.1, 11.12.9). */
export const XAPIC_BROADCAST = 0xff;
export const X2APIC_BROADCAST = 0xffffffff;

// LVT entries (SDM 11.5.1 figure 11-8).
export const LVT_VECTOR = 0xff;
export const LVT_DM_SHIFT = 8;
export const LVT_DELIVERY_STATUS = 1 << 12;
export const LVT_POLARITY_LOW = 1 << 13;
export const LVT_REMOTE_IRR = 1 << 14;
export const LVT_TRIGGER_LEVEL = 1 << 15;
export const LVT_MASKED = 1 << 16;
export const LVT_TIMER_MODE_SHIFT = 17;
export const TIMER_ONE_SHOT = 0;
export const TIMER_PERIODIC = 1;
export const TIMER_TSC_DEADLINE = 2;

// Spurious-interrupt vector register (SDM 11.9).
export const SVR_APIC_ENABLE = 1 << 8;
export const SVR_FOCUS_CHECK_DISABLE = 1 << 9;
export const SVR_EOI_BROADCAST_SUPPRESS = 1 << 12;

// Error status register bits (SDM 11.5.3, table 11-2 / figure 11-9).
export const ESR_SEND_CHECKSUM = 1 << 0;
export const ESR_RECEIVE_CHECKSUM = 1 << 1;
export const ESR_SEND_ACCEPT = 1 << 2;
export const ESR_RECEIVE_ACCEPT = 1 << 3;
export const ESR_REDIRECTABLE_IPI = 1 << 4;
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
export const ESR_ILLEGAL_REGISTER_ADDRESS = 1 << 7;

// DFR models (SDM 11.6.2.2): bits 31:28 = 1111b flat, 0000b cluster; bits 27:0 read as ones.
export const DFR_FLAT = 0xffffffff;
export const DFR_CLUSTER = 0x0fffffff;

/**
 * Version register: version 14h (an integrated xAPIC), Max LVT Entry = 6 (timer, thermal, PMC,
 * LINT0, LINT1, error, CMCI; SDM 11.4.8), bit 24 (EOI-broadcast suppression) clear.
 */
export const APIC_VERSION_VALUE = 0x14 | (6 << 16);
