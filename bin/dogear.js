#!/usr/bin/env node
// Checked before anything loads: the Kafka client and middy need Node 22, and on older Node
// they fail later with errors that do not say so.
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(
    `dogear needs Node 22 or later (Lambda runs Node 22 and 24); this is Node ${process.versions.node} at ${process.execPath}.\n` +
      'Install a newer Node, or add the `node` package to your devDependencies (npm i -D node@24) so npm scripts and npx run it.\n',
  );
  process.exit(1);
}
const { main } = await import('../dist/cli/main.js');
await main();
