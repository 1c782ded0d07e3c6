import { COMMANDS, type FlagSpec } from './options.ts';

/** docs/cli.md, generated from the options table so the reference cannot drift from `--help`. */
export function cliReference(): string {
  const lines = [
    '# dogear CLI reference',
    '',
    '<!-- Generated from src/cli/options.ts by `npm run docs:cli`; a test fails when it is stale. -->',
    '',
    'Results go to stdout, progress to stderr (one line per step, with its duration). A failure',
    'prints `dogear: error when <verb>ing <thing>: <message>` with its causes and exits 1.',
    '',
  ];
  for (const [name, spec] of Object.entries(COMMANDS)) {
    lines.push(
      `## dogear ${name} ${spec.args}`,
      '',
      `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`,
      '',
    );
    lines.push('| flag | default | description |', '| --- | --- | --- |');
    for (const flag of spec.flags as readonly FlagSpec[]) {
      const fallback = flag.required
        ? 'required'
        : flag.default === undefined || flag.default === false
          ? ''
          : `\`${flag.default}\``;
      const env = flag.env ? ` (env \`${flag.env}\`)` : '';
      lines.push(`| \`${flag.flags}\` | ${fallback} | ${flag.description}${env} |`);
    }
    lines.push('', '```sh', ...spec.example.split('\n\n')[0]!.split('\n'), '```', '');
    const notes = spec.example.split('\n\n').slice(1).join('\n\n');
    if (notes) lines.push(notes.replace(/\n/g, ' '), '');
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(cliReference());
