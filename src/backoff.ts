/**
 * One backoff for every retry in dogear (commits, reruns, locks): full jitter, so processes that
 * failed together do not retry together. Attempt 0 waits up to `base` ms, each next one twice as
 * long, up to `cap`.
 */
export function backoff(attempt: number, { base = 25, cap = 2000 } = {}): Promise<void> {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}
