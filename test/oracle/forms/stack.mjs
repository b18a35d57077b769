// PUSH/POP (register, RSP itself, immediate, memory incl. RSP-based addressing), ENTER, LEAVE.
// RSP points into a window filled with a fixed pattern plus random values where the instruction
// reads. No flags change.
// ENTER's frame size keeps the new RSP inside the window: on this host (Zen 3) ENTER touches the
// final stack top, so a size reaching unmapped memory faults (#PF) after the RBP push was written.
import { enc, encR, le } from '../encode.mjs';
import { form } from './common.mjs';

const F = 'stack';
const WIN_LEN = 128;

/** Pattern-filled window, random bytes at the top of stack; RSP 8-aligned, sometimes not. */
function stackWindow(c, len = WIN_LEN, top = 64) {
  const base = c.window(len);
  for (let i = 0; i < len; i++) c.mem.bytes[i] = (i * 7 + 0x11) & 0xff;
  const rsp = base + top + (c.bool(0.8) ? 0 : c.int(8)) - 8 * c.int(2);
  c.memRandom(rsp, 16);
  c.put(4, BigInt(rsp));
  return { base, rsp };
}

const out = [];
const add = (name, build) => out.push(form(F, name, build));

for (const [name, o16, op] of [
  ['push r64 (50+r)', false, 0x50],
  ['push r16 (66 50+r)', true, 0x50],
  ['pop r64 (58+r)', false, 0x58],
  ['pop r16 (66 58+r)', true, 0x58],
]) {
  add(`${name}, r != rsp`, (c) => {
    stackWindow(c);
    const r = c.pick([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    c.put(r, c.val(64));
    return encR({ o16, op: [op], r });
  });
}
add('push rsp (54) pushes the old value', (c) => {
  stackWindow(c);
  return [0x54];
});
add('pop rsp (5C) loads the popped value', (c) => {
  stackWindow(c);
  return [0x5c];
});
add('push imm8 sign-extended (6A ib)', (c) => {
  stackWindow(c);
  return [0x6a, ...le(c.val(8), 1)];
});
add('push imm32 sign-extended (68 id)', (c) => {
  stackWindow(c);
  return [0x68, ...le(c.val(32), 4)];
});
add('push imm16 (66 68 iw)', (c) => {
  stackWindow(c);
  return [0x66, 0x68, ...le(c.val(16), 2)];
});
for (const [name, o16, op, digit] of [
  ['push m64 (FF /6)', false, 0xff, 6],
  ['push m16 (66 FF /6)', true, 0xff, 6],
  ['pop m64 (8F /0)', false, 0x8f, 0],
]) {
  add(`${name} mem`, (c) => {
    const { base } = stackWindow(c);
    // The memory operand sits above the stack slot the instruction pushes or pops.
    const at = base + 96 + c.int(16);
    c.memRandom(at, 8);
    const mem = c.memAt(at, [4]);
    return enc({ o16, op: [op], reg: digit, mem });
  });
}
// With RSP as base, POP computes the address after incrementing RSP, PUSH before decrementing.
add('pop m64 [rsp+disp8] (8F /0) mem, address uses the incremented RSP', (c) => {
  stackWindow(c);
  return enc({ op: [0x8f], reg: 0, mem: { base: 4, disp: 8 * c.int(5) - 16 } });
});
add('push m64 [rsp+disp8] (FF /6) mem, address uses the old RSP', (c) => {
  stackWindow(c);
  return enc({ op: [0xff], reg: 6, mem: { base: 4, disp: 8 * c.int(5) - 16 } });
});

/**
 * ENTER imm16, level: a 1 KiB window, RSP near its top; RBP also points into it (levels above 1
 * copy frame pointers from [RBP-8], [RBP-16] ...). Size <= 0x380 keeps the new RSP in the window.
 */
function enter(name, level) {
  add(name, (c) => {
    const { base } = stackWindow(c, 1024, 0x3c0);
    const rbp = base + 0x3e0 + 8 * c.int(4);
    c.memRandom(rbp - 32, 32);
    c.put(5, BigInt(rbp));
    const l = level ?? c.pick([0, 1, 2, 3, 4, 32, 33]);
    const size = c.edge ? c.pick([0, 1, 7, 8, 0x100, 0x37f, 0x380]) : c.int(0x381);
    return [0xc8, ...le(size, 2), l];
  });
}
enter('enter imm16, 0 (C8 iw 00)', 0);
enter('enter imm16, 1 (C8 iw 01)', 1);
enter('enter imm16, level (C8 iw ib) levels 0-4 and 32-33 (masked mod 32)');
for (const [name, code] of [
  ['leave (C9)', [0xc9]],
  ['leave with 16-bit pop (66 C9)', [0x66, 0xc9]],
]) {
  add(name, (c) => {
    const { base } = stackWindow(c);
    const rbp = base + 40 + c.int(40);
    c.memRandom(rbp, 8);
    c.put(5, BigInt(rbp));
    c.put(4, BigInt(base + 64));
    return code;
  });
}

export default out;
