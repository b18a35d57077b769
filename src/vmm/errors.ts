// Typed errors of the VMM's public API: each says which rule the caller broke.

/** The vCPU's register state is protected (SEV-ES): the hypervisor may neither read nor write it. */
export class GuestStateProtectedError extends Error {
  readonly code = 'GUEST_STATE_PROTECTED';
  constructor(what: string) {
    super(
      `${what}: the vCPU's register state is encrypted (SEV-ES) and belongs to the guest; the hypervisor cannot read or write it`,
    );
  }
}

/** An argument KVM would answer with -EINVAL. */
export class InvalidArgumentError extends Error {
  readonly code = 'EINVAL';
}
