// diff and the PR comment name config-driven changes per bot and field, and summarise a change
// that touches many bots in one line before the details. Real renders on disk, compared by diffRender.
import { validateConfig } from '../src/config/load';
import { diffRender, formatDiff } from '../src/gitops/diff';
import { DEFAULT_SETTINGS, settingsFromValues } from '../src/settings';
import { synthesize } from '../src/synth/synth';
import { generateFleet } from '../src/testing/fleet-gen';
import { tmpDir } from './support/tmp';

const docs = generateFleet(300, 11);
const before = settingsFromValues({}, {}, validateConfig('c.yaml', { pod: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'bots', effect: 'NoSchedule' }] } })).render;
const after = settingsFromValues(
  {},
  {},
  validateConfig('c.yaml', {
    pod: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'trading', effect: 'NoSchedule' }], labels: { team: 'quant' } },
    rules: [{ match: { kind: 'scheduled' }, pod: { priorityClassName: 'batch' } }],
  }),
).render;

test('per bot and field, and one line per field across the fleet before the details', async () => {
  const base = tmpDir();
  const first = await synthesize(docs, { outDir: base, settings: before });
  expect(first.errors).toEqual([]);
  const { diff } = await diffRender({ docs, settings: after, base: { dir: base } });
  const bots = diff.entries.filter((e) => e.kind !== 'platform');
  const total = first.fleet.specs.length;
  const schedules = first.fleet.specs.filter((s) => s.kind === 'scheduled').length;
  expect(bots).toHaveLength(total);
  for (const e of bots) {
    const labels = e.changes.map((c) => `${c.field} ${c.key}`);
    expect(labels).toEqual(expect.arrayContaining(['pod tolerations', 'pod labels.team']));
    expect(labels.includes('pod priorityClassName')).toBe(e.kind === 'schedule');
    // Nothing of it is left to the generic "other" list.
    expect(e.changes.filter((c) => c.field === 'other')).toEqual([]);
    const tol = e.changes.find((c) => c.key === 'tolerations')!;
    expect(tol.from).toContain('"bots"');
    expect(tol.to).toContain('"trading"');
  }
  const text = formatDiff(diff, 'text').split('\n');
  const fmt = (n: number) => n.toLocaleString('en-US');
  expect(text.slice(1, 4)).toEqual([`  pod labels.team changed on ${fmt(total)} bots`, `  pod tolerations changed on ${fmt(total)} bots`, `  pod priorityClassName changed on ${fmt(schedules)} bots`]);
  const md = formatDiff(diff, 'markdown');
  expect(md).toContain(`Across the fleet:\n\n- pod labels.team changed on ${fmt(total)} bots\n- pod tolerations changed on ${fmt(total)} bots`);
  expect(md.indexOf('Across the fleet:')).toBeLessThan(md.indexOf('<details>'));
});

test('no config change: no summary lines', async () => {
  const base = tmpDir();
  await synthesize(docs, { outDir: base, settings: DEFAULT_SETTINGS });
  const { diff } = await diffRender({ docs, settings: DEFAULT_SETTINGS, base: { dir: base } });
  expect(diff.entries).toEqual([]);
  expect(formatDiff(diff, 'text').split('\n')[1]).toBe('');
});
