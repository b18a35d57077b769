import { describe, expect, it } from 'vitest';
import { GHCB_PAGE_SIZE, ghcbView, setBitValid, setField, setProtocolVersion } from './layout.js';
import {
  encodeApResetHoldResponse,
  encodeCpuidRequest,
  encodeSevInfo,
  encodeTermRequest,
} from './msr-protocol.js';
import { formatGhcbMsr, formatGhcbPage, validFieldNames } from './trace.js';

describe('--trace ghcb lines', () => {
  it('names GHCB MSR values as the GHCB specification does, with GHCBData decoded', () => {
    // GHCB spec 56421, MSR protocol: GHCBInfo 0x004 CPUID Request, GHCBData[31:30] register, [63:32] function.
    expect(formatGhcbMsr(0x0000_0001_4000_0004n)).toBe(
      '0x140000004 CPUID Request: function 0x1, register EBX',
    );
    expect(formatGhcbMsr(encodeSevInfo({ maxVersion: 2, minVersion: 1, cbitPos: 47 }))).toBe(
      '0x200012f000001 SEV Information: protocol versions 1 to 2, C-bit position 47',
    );
    expect(formatGhcbMsr(0x006n)).toBe('0x6 AP Reset Hold Request');
    expect(formatGhcbMsr(encodeApResetHoldResponse(1n))).toMatch(
      /AP Reset Hold Response: result 1 \(released/,
    );
    expect(formatGhcbMsr(encodeTermRequest(1, 3))).toBe(
      '0x31100 Termination Request: reason set 1, reason code 3',
    );
    expect(formatGhcbMsr(0x080n)).toBe('0x80 Hypervisor Feature Support Request');
    expect(formatGhcbMsr(encodeCpuidRequest(0, 0))).toContain('function 0x0, register EAX');
  });

  it('decodes the valid bitmap by quadword: RAX is bit 63, sw_exit_code..sw_exit_info_2 bits 114-116', () => {
    // Offsets from the GHCB layout table: RAX 0x1F8, SW_EXITCODE 0x390, SW_EXITINFO1 0x398, SW_EXITINFO2 0x3A0.
    const bitmap = (1n << 63n) | (1n << 114n) | (1n << 115n) | (1n << 116n);
    expect(validFieldNames(bitmap)).toEqual(['rax', 'sw_exit_code', 'sw_exit_info_1', 'sw_exit_info_2']);
    expect(validFieldNames(1n << 2n)).toEqual(['qword 2 (offset 0x10)']);
  });

  it('shows only the fields the guest marked valid, and explains IOIO and the answer codes', () => {
    const page = new Uint8Array(GHCB_PAGE_SIZE);
    const view = ghcbView(page);
    setProtocolVersion(view, 2);
    view.setBigUint64(0x318, 0x5ec2e7n, true); // RBX, not marked valid: must not appear
    for (const [name, v] of [
      ['rax', 0x41n],
      ['sw_exit_code', 0x7bn],
      ['sw_exit_info_1', 0xe90210n], // port 0xE9, OUT, SZ8 (APM vol 2 15.10.2)
      ['sw_exit_info_2', 0n],
    ] as const) {
      setField(view, name, v);
      setBitValid(
        view,
        (name === 'rax'
          ? 0x1f8
          : name === 'sw_exit_code'
            ? 0x390
            : name === 'sw_exit_info_1'
              ? 0x398
              : 0x3a0) / 8,
      );
    }
    const line = formatGhcbPage(page, 0x200000, 'request');
    expect(line).toBe(
      'GHCB request at 0x200000 (protocol version 2, usage 0): rax=0x41 sw_exit_code=0x7b (SVM_EXIT_IOIO) sw_exit_info_1=0xe90210 (port 0xe9 out 8-bit) sw_exit_info_2=0x0; valid bitmap 0x1c0000000000008000000000000000 = {rax, sw_exit_code, sw_exit_info_1, sw_exit_info_2}',
    );
    expect(line).not.toContain('5ec2e7');
    setField(view, 'sw_exit_info_1', 2n); // GHCB spec: 2 = malformed input, sw_exit_info_2 the reason
    setField(view, 'sw_exit_info_2', 4n);
    expect(formatGhcbPage(page, 0x200000, 'answer')).toContain('malformed input (GHCB_ERR_MISSING_INPUT)');
  });
});
