import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Where a folder's stamp is kept: what was installed into it, a version or a hash. */
const STAMP = '.dogear-stamp';

/** What a folder was last filled with, or undefined when it never was or the fill did not finish. */
export function stampOf(dir: string): Promise<string | undefined> {
  return readFile(join(dir, STAMP), 'utf8').catch(() => undefined);
}

/**
 * Fills `dir` with what `stamp` names, unless it already holds it. The fill runs in a private
 * staging folder that is renamed into place whole, so an interrupted run or a parallel test run
 * never sees a half-made folder; a failed fill leaves `dir` as it was. Returns whether it filled.
 */
export async function fillOnce(
  dir: string,
  stamp: string,
  fill: (staging: string) => Promise<void>,
): Promise<boolean> {
  if ((await stampOf(dir)) === stamp) return false;
  const staging = `${dir}.${process.pid}.tmp`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await fill(staging);
    await writeFile(join(staging, STAMP), stamp);
    if ((await stampOf(dir)) === stamp) return false; // another process won the race
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    return true;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
