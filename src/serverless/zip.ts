import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';

/** One file in a zip: its path inside the archive (`/`-separated) and its bytes. */
export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

/** 1980-01-01 00:00 in MS-DOS format: fixed, so the same files give the same zip, byte for byte. */
const DOS_TIME = 0;
const DOS_DATE = (1 << 5) | 1;
/** A regular file, rw-r--r--: Lambda runs as another user than the one who zipped. */
const UNIX_FILE_MODE = 0o100644;
/** "Made by" Unix (3), zip spec 2.0: tells unzip to read the mode above. */
const MADE_BY = (3 << 8) | 20;
const UTF8_NAMES = 0x0800;

/**
 * A deflated zip of `entries`, in the order given. Deterministic (fixed timestamps, no extra
 * fields), so an unchanged bundle gives an unchanged artifact and the framework skips its upload.
 */
export function zip(entries: readonly ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const deflated = deflateRawSync(entry.data, { level: 9 });
    const stored = deflated.length >= entry.data.length;
    const body = stored ? Buffer.from(entry.data) : deflated;
    const method = stored ? 0 : 8;
    const crc = crc32(entry.data);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(MADE_BY, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(DOS_TIME, 12);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra length, comment length, disk number, internal attributes: all 0
    central.writeUInt32LE((UNIX_FILE_MODE << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * Zips every file under `dir` into `file`, each named by its path from `root` (so a bundle in
 * `.dogear/build/word-count/` keeps that path, and the handler `.dogear/build/word-count/index.handler`
 * finds it). Returns the entry names.
 */
export async function zipDirectory(dir: string, root: string, file: string): Promise<string[]> {
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  const entries = await Promise.all(
    files.map(async (path) => ({
      name: relative(root, path).split(sep).join(posix.sep),
      data: await readFile(path),
    })),
  );
  await writeFile(file, zip(entries));
  return entries.map((e) => e.name);
}
