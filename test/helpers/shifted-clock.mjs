/**
 * Test-only preload that moves this process's clock, so a test can see keys
 * expire without waiting: `node --import <this file> server/bin/… ` with
 * TEST_CLOCK_OFFSET_MS=<ms> (negative: the past). Date.now() and `new Date()`
 * are shifted; dates built from a value are not. The shipped server has no
 * such hook: this file lives only in the repository's tests.
 */
const offset = Number(process.env.TEST_CLOCK_OFFSET_MS ?? 0);
if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  const now = () => RealDate.now() + offset;
  globalThis.Date = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length === 0 ? [now()] : args, newTarget);
    },
    apply() {
      return new RealDate(now()).toString();
    },
    get(target, property, receiver) {
      return property === 'now' ? now : Reflect.get(target, property, receiver);
    },
  });
}
