// Types for run-oracle.mjs (only what the tests use).
export const ORACLE_BIN: string;
export function haveGcc(): boolean;
export function buildOracle(): string;
