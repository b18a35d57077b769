// docs/tour.md stays true to the code: every trace excerpt in it is regenerated here from a real
// run of the guest it names, and must equal what the code prints now; every file it names must
// exist, and every function or method on its "Where:" lines must be defined in the file named
// before it. The other docs' paths are checked too. HVEMU_UPDATE_TOUR=1 rewrites the excerpts
// from the runs (then read the diff: the prose around them may need to change as well).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSevEsVm } from '../../src/sev-boot.js';
import { runImageVm } from '../../src/vm-boot.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TOUR = join(ROOT, 'docs', 'tour.md');

/**
 * `<!-- trace GUEST ARCH cpus=N grep="RE" from="RE" lines=N -->` then a ```text block: the run's
 * trace lines (categories exits, apic, mp), those matching grep, from the first matching from (and
 * `before=N` lines before it), N of them.
 */
const MARKER =
  /<!-- trace (\S+) (svm|vmx|sev-es) cpus=(\d+)((?: \w+="[^"]*"| \w+=\d+)*) -->\n```text\n([\s\S]*?)```/g;

interface Excerpt {
  guest: string;
  arch: 'svm' | 'vmx' | 'sev-es';
  cpus: number;
  grep?: RegExp;
  from?: RegExp;
  /** Lines kept before the `from` line. */
  before: number;
  lines: number;
  text: string;
}

function parse(doc: string): { excerpts: Excerpt[]; at: { start: number; end: number; head: string }[] } {
  const excerpts: Excerpt[] = [];
  const at: { start: number; end: number; head: string }[] = [];
  for (const m of doc.matchAll(MARKER)) {
    const attrs = Object.fromEntries(
      [...m[4].matchAll(/ (\w+)=(?:"([^"]*)"|(\d+))/g)].map((a) => [a[1], a[2] ?? a[3]]),
    );
    excerpts.push({
      guest: m[1],
      arch: m[2] as Excerpt['arch'],
      cpus: Number(m[3]),
      grep: attrs.grep ? new RegExp(attrs.grep) : undefined,
      from: attrs.from ? new RegExp(attrs.from) : undefined,
      before: Number(attrs.before ?? 0),
      lines: Number(attrs.lines ?? 10),
      text: m[5],
    });
    const head = m[0].slice(0, m[0].indexOf('```text\n') + '```text\n'.length);
    at.push({ start: m.index, end: m.index + m[0].length, head });
  }
  return { excerpts, at };
}

const traces = new Map<string, string[]>();
function trace(guest: string, arch: Excerpt['arch'], cpus: number): string[] {
  const key = `${guest} ${arch} ${cpus}`;
  const seen = traces.get(key);
  if (seen) return seen;
  const lines: string[] = [];
  const image = new Uint8Array(readFileSync(join(ROOT, 'guests', guest, `${guest}.img`)));
  const opts = {
    cpus,
    trace: (_cat: string, line: string) => void lines.push(line),
    traceTopics: new Set(['exits', 'apic', 'mp'] as const),
  };
  const r = arch === 'sev-es' ? runSevEsVm(image, opts) : runImageVm(image, { ...opts, arch });
  expect(r.stop, `${key}: ${r.message}`).toBe('exit');
  traces.set(key, lines);
  return lines;
}

function render(e: Excerpt): string {
  let lines = trace(e.guest, e.arch, e.cpus);
  if (e.grep) lines = lines.filter((l) => e.grep?.test(l));
  const from = e.from ? lines.findIndex((l) => e.from?.test(l)) : 0;
  expect(from, `no line matches from=${e.from}`).toBeGreaterThanOrEqual(0);
  const start = Math.max(0, from - e.before);
  return `${lines.slice(start, start + e.lines).join('\n')}\n`;
}

/** Is `name` defined in `text` (a class, function, method, field, getter or constant)? */
function defines(text: string, name: string): boolean {
  const n = name.replace(/\$/g, '\\$');
  return new RegExp(
    `(?:class|function|interface|const|let|type|enum)\\s+${n}\\b|^\\s*(?:(?:private|protected|public|readonly|static|override|async|get|abstract)\\s+)*${n}\\s*[(<=:?!]|\\[?\\b${n}\\]?\\s*[:=]\\s*\\(`,
    'm',
  ).test(text);
}

describe('docs/tour.md', () => {
  const doc = readFileSync(TOUR, 'utf8');
  const { excerpts, at } = parse(doc);

  it('has trace excerpts from both flows', () => {
    expect(excerpts.some((e) => e.guest === 'smp-legacy')).toBe(true);
    expect(excerpts.some((e) => e.arch === 'sev-es')).toBe(true);
  });

  it('every trace excerpt is what the code prints now', () => {
    if (process.env.HVEMU_UPDATE_TOUR === '1') {
      let out = '';
      let last = 0;
      excerpts.forEach((e, i) => {
        out += `${doc.slice(last, at[i].start)}${at[i].head}${render(e)}\`\`\``;
        last = at[i].end;
      });
      writeFileSync(TOUR, out + doc.slice(last));
      return;
    }
    for (const e of excerpts) expect(e.text, `${e.guest} ${e.arch} cpus=${e.cpus}`).toBe(render(e));
  }, 60_000);

  it('every file and function on a "Where:" line (here and in docs/gdb.md) exists', () => {
    const missing: string[] = [];
    const where = `${doc}\n${readFileSync(join(ROOT, 'docs', 'gdb.md'), 'utf8')}`;
    for (const line of where.split('\n').filter((l) => l.includes('**Where:**'))) {
      let file: string | null = null;
      for (const [, token] of line.matchAll(/`([^`]+)`/g)) {
        if (/^(src|guests|test|docs)\//.test(token)) {
          file = token;
          if (!existsSync(join(ROOT, token))) missing.push(token);
          continue;
        }
        if (file === null) {
          missing.push(`${token} (no file named before it)`);
          continue;
        }
        const text = existsSync(join(ROOT, file)) ? readFileSync(join(ROOT, file), 'utf8') : '';
        for (const part of token.replace(/\(\)$/, '').split('.'))
          if (!defines(text, part)) missing.push(`${file}: ${token}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('docs/*.md', () => {
  it('every path under src/, guests/, test/ or docs/ that a doc names exists', () => {
    const missing: string[] = [];
    for (const f of readdirSync(join(ROOT, 'docs')).filter((x) => x.endsWith('.md'))) {
      const text = readFileSync(join(ROOT, 'docs', f), 'utf8');
      for (const m of text.matchAll(/`((?:src|guests|test|docs)\/[\w./-]+)`/g)) {
        if (text.slice(Math.max(0, m.index - 7), m.index) === "QEMU's ") continue; // QEMU's tree, not ours
        if (!existsSync(join(ROOT, m[1].replace(/\/$/, '')))) missing.push(`${f}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
