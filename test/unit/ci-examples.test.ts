import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createProgram } from '../../cli/program.js';
import { projectRoot } from '../../lib/project-root.js';

/** The pipelines in examples/ci run `codex32 deploy`: every option they pass is one the CLI has. */
describe('examples/ci', () => {
  const deploy = createProgram('0.0.0', async () => undefined).commands.find((c) => c.name() === 'deploy')!;
  const known = new Set(deploy.options.flatMap((o) => [o.long, o.short].filter(Boolean)));

  const commands = (doc: unknown): string[] => {
    const found: string[] = [];
    const walk = (v: unknown) => {
      if (typeof v === 'string' && /\bcodex32 deploy\b/.test(v)) found.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(doc);
    return found;
  };

  for (const file of ['github-actions.yml', 'gitlab-ci.yml']) {
    it(`${file} deploys on a push to main, waits, and passes only options codex32 deploy knows`, () => {
      const text = readFileSync(path.join(projectRoot(), 'examples', 'ci', file), 'utf8');
      const doc = parse(text) as Record<string, unknown>;
      const [command] = commands(doc);
      expect(command).toBeDefined();
      const flags = command!.match(/(?<=\s)--?[a-z][a-z-]*/g) ?? [];
      for (const flag of flags) expect(known, `${file}: ${flag}`).toContain(flag);
      expect(flags).toContain('--wait');
      expect(text).toMatch(/main/);
      expect(text).toMatch(/CODEX32_API_KEY/);
    });
  }
});
