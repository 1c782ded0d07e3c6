import { describe, expect, test } from 'vitest';
import { dogear } from './vitest.ts';

type Hook = (code: string, id: string) => Promise<{ code: string; map: string } | null>;
const transform = dogear().transform as unknown as Hook;

const decorated = `import { consumer, onRecord } from 'dogear';
/** Counts. @default nothing */
@consumer({ topic: 'orders' })
export class Orders {
  @onRecord()
  handle(): void {}
}
`;

describe('dogear() from dogear/vitest', () => {
  test('lowers the decorators of a TypeScript file, with a source map of it', async () => {
    const out = await transform(decorated, '/p/src/orders.ts');
    expect(out?.code).not.toMatch(/^\s*@/m);
    expect(out?.code).toContain('__decorateElement');
    expect(JSON.parse(out!.map).sources).toEqual(['/p/src/orders.ts']);
  });

  test.each([
    ['/p/src/orders.mts?v=1', decorated],
    ['/p/src/view.tsx', 'export @consumer({ topic: "t" }) class A { @onRecord() m() {} }'],
    ['/p/src/plain.js', 'class A {\n  @logged\n  m() {}\n}\n'],
  ])('%s', async (id, code) => {
    expect((await transform(code, id))?.code).not.toMatch(/(^|[{};]|export)\s*@[A-Za-z]/m);
  });

  test.each([
    ['no decorator, only a JSDoc tag', '/** @default 1 */\nexport const a = 1;\n', '/p/a.ts'],
    ['not a script', decorated, '/p/a.css'],
    ['a virtual module', decorated, '\0virtual:orders.ts'],
  ])('leaves alone %s', async (_, code, id) => {
    expect(await transform(code, id)).toBeNull();
  });
});
