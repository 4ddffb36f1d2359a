// The CDK app entry (bin/app.ts) as `cdk synth` runs it: a refused value is one line, not a stack trace.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stderr: string;
}

/** Runs bin/app.ts the way the CDK CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR. */
const synthApp = (context: Record<string, unknown>, env: Record<string, string> = {}): Promise<Run> => {
  const outdir = mkdtempSync(join(tmpdir(), 'app-synth-'));
  return new Promise<Run>((resolve) => {
    execFile(
      join(repoRoot, 'node_modules', '.bin', 'tsx'),
      ['bin/app.ts'],
      {
        cwd: repoRoot,
        timeout: 60_000,
        env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir, ...env },
      },
      (error, _stdout, stderr) => {
        rmSync(outdir, { recursive: true, force: true });
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stderr });
      },
    );
  });
};

describe('bin/app.ts', () => {
  it('prints a refused construct value as one line and exits 1', async () => {
    // Act
    const { code, stderr } = await synthApp({ stage: 'Prod' });

    // Assess
    expect(code).toBe(1);
    expect(stderr).toBe(
      'Synth failed: `stage` must be lowercase letters, digits and "-", starting with a letter, got: "Prod"\n',
    );
  }, 60_000);

  it('keeps the stack trace under `cdk --debug` (CDK_DEBUG=true)', async () => {
    // Act
    const { code, stderr } = await synthApp({ stage: 'Prod' }, { CDK_DEBUG: 'true' });

    // Assess
    expect(code).toBe(1);
    expect(stderr).toContain('`stage` must be lowercase letters');
    expect(stderr).toMatch(/\n\s+at .*gateway-stack\.ts/);
  }, 60_000);
});
