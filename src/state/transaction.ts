import type { StateCache } from './cache.ts';
import {
  addDecimal,
  type Decimal,
  decimalIn,
  decimalProblem,
  decimalText,
  numberFields,
  numberOf,
} from './decimal.ts';
import {
  StateConflictError,
  StateLimitError,
  StateProtocolError,
  StateTypeError,
  StateValueError,
  type WriteCoordinates,
} from './errors.ts';
import type {
  Change,
  Checkpoint,
  ItemRef,
  ItemWrite,
  OutboxMessage,
  PartitionRef,
  RecordAttempt,
  StateStore,
  StoredItem,
  UpstreamMark,
} from './types.ts';
import { identityOf, itemId, progressOf } from './types.ts';
import { checkValue, isRefusal, keyProblem } from './write-rules.ts';

/** One item as this transaction sees it: what it read, and what is buffered for it. */
interface Entry {
  readonly table: string;
  readonly key: string;
  /** The key in the cache, built once per transaction rather than once per operation. */
  readonly cacheId: string;
  /** Names and keys, estimated once; the value's size comes on top. */
  readonly fixedBytes: number;
  /** The version the item was read at, while a record's writes depend on it. */
  readVersion: number | undefined;
  /**
   * Whose condition `readVersion` is: a finished record's (it commits with the slice) or the
   * running record's (it joins the slice when the record ends, and is dropped if it aborts).
   */
  readBy: 'slice' | 'record' | undefined;
  /** The change of the records that finished. */
  slice: Change | undefined;
  /** The change of the record running now; dropped if it aborts. */
  record: Change | undefined;
  /**
   * `slice` with `record` folded in, as `measure` found it when the record ended: what `join`
   * moves into `slice`, so the two are combined once per record rather than twice.
   */
  ended: Change | undefined;
  /** Size of the value `record` and `slice` put, from the write check. */
  recordValueBytes: number;
  sliceValueBytes: number;
  /** Whether the running record wrote or read this entry (it is in `recordEntries`). */
  inRecord: boolean;
  /** Whether the running record read it (through the buffer or from the store). */
  recordRead: boolean;
}

/**
 * Where a slice is in its record lifecycle:
 *   idle     no record running: `beginRecord` or `commit` may come next
 *   running  a record's handler runs: reads and writes, then `endRecord` or `abortRecord`
 *   held     a record ended but does not fit beside the finished records: `commit` them first,
 *            and it joins the slice after
 */
export type Phase = 'idle' | 'running' | 'held';

/** A record's fingerprint, or how to compute it when a commit needs it. */
export type Fingerprint = string | (() => string);

/** What `endRecord` did with the record's writes. */
export type RecordEnd = 'joined' | 'commit-first';

/** One table's entries, and what every entry of it shares, worked out once. */
interface TableEntries {
  readonly name: string;
  readonly byKey: Map<string, Entry>;
  /** The cache id of the table's items, but for the key. */
  readonly cachePrefix: string;
  /** The table name's UTF-8 bytes, part of each item's size. */
  readonly nameBytes: number;
}

/** A version no item ever has: a condition on it always fails. */
const UNKNOWN_VERSION = -1;

/** Counts of writes in a would-be commit. */
interface Tally {
  writes: number;
  conditioned: number;
  bytes: number;
  blindBytes: number;
  /** The outbox's JSON, which rides in the checkpoint item beside an intent. */
  outboxBytes: number;
}

const EMPTY_TALLY: Tally = { writes: 0, conditioned: 0, bytes: 0, blindBytes: 0, outboxBytes: 0 };

/** An output or dead letter as a record makes it: the transaction gives it its origin. */
export type OutboxDraft = Omit<OutboxMessage, 'origin'>;

/**
 * A transactional view of one consumer group's state for one partition slice. Its steps, in
 * order, for each record: `beginRecord(offset)`, the handler's reads and writes, then
 * `endRecord()` (the writes are checked, conditions attached, the fit measured) or
 * `abortRecord()` (the record threw: its writes are dropped). `commit()` lands the finished
 * records with the checkpoint, all or nothing. A wrong order throws `StateProtocolError`.
 *
 * This is the hot path of every consumer, so each key gets one `Entry` per transaction and the
 * per-operation work is a map lookup and, for `add`, one addition.
 */
export class StateTransaction {
  private readonly tables = new Map<string, TableEntries>();
  /**
   * The table of the last operation: a handler works one table at a time, so most operations
   * skip the lookup by name (a tenth of `add`'s time in the word-count benchmark's profile).
   */
  private lastTable: TableEntries | undefined;
  private phase_: Phase = 'idle';
  /** Entries with a `slice` change, in the order they were first written. */
  private dirty: Entry[] = [];
  /** Of the dirty entries, what a commit of them would hold. */
  private sliceTally: Tally = { ...EMPTY_TALLY };
  /** The finished records' outputs and dead letters, and the running record's. */
  private sliceOutbox: OutboxMessage[] = [];
  private recordOutbox: OutboxMessage[] = [];
  private recordOutboxBytes = 0;
  /** Upstream marks of the finished records (over the checkpoint's), and the running record's. */
  private sliceUpstream: Record<string, UpstreamMark> | undefined;
  private recordUpstream: Map<string, UpstreamMark> | undefined;
  /** The failed deliveries of the record after the last finished one, for the next commit. */
  private nextAttempt: RecordAttempt | undefined;
  /** About what the upstream marks take in the checkpoint item: they ride beside the outbox. */
  private upstreamBytes: number;
  /** Entries the running record wrote or read. */
  private recordEntries: Entry[] = [];
  /** The running (or held) record's offset, and the last finished record's. */
  private recordOffset = -1;
  private finishedOffset: number;
  /** Their fingerprints, which the checkpoint keeps with the offset it moves to. */
  private recordFingerprint: Fingerprint | undefined;
  private finishedFingerprint: Fingerprint | undefined;
  private finishedRecords = 0;
  private checkpointNow: Checkpoint;
  /**
   * Items read ahead for this slice (`prefetch`), by cache id, with when they were read: kept
   * here whatever the cache's budget, and served while `maxReadAgeMs` allows, as cached reads are.
   */
  private readonly fetched = new Map<
    string,
    { readonly item: StoredItem; readonly at: number; readonly ref: ItemRef }
  >();

  private constructor(
    private readonly store: StateStore,
    private readonly cache: StateCache,
    readonly partition: PartitionRef,
    checkpoint: Checkpoint,
    /** The topic id commits record: the one known now, or else the checkpoint's. */
    private readonly topicId: string | undefined,
  ) {
    this.checkpointNow = checkpoint;
    this.finishedOffset = checkpoint.offset;
    this.finishedFingerprint = checkpoint.fingerprint;
    this.upstreamBytes = Object.keys(checkpoint.upstream ?? {}).reduce(
      (n, source) => n + markBytes(source),
      0,
    );
  }

  /**
   * Opens a transaction at the partition's checkpoint (from the cache when warm). `topicId`,
   * when the caller knows the topic's Kafka id, is what its commits record in the checkpoint.
   */
  static async open(
    store: StateStore,
    cache: StateCache,
    partition: PartitionRef,
    options: { topicId?: string } = {},
  ) {
    const id = checkpointId(partition);
    let checkpoint = cache.checkpoint(id);
    if (!checkpoint) {
      checkpoint = await store.readCheckpoint(partition);
      // Not known here: another invocation may have committed records of this partition, and
      // changed items this process read before, for this partition or another. A read of one
      // of them would not be fenced (the commit's condition is this fresh checkpoint).
      cache.dropGroupItems(partition.group);
      cache.setCheckpoint(id, checkpoint);
    }
    return new StateTransaction(
      store,
      cache,
      partition,
      checkpoint,
      options.topicId ?? checkpoint.topicId,
    );
  }

  /** The last offset whose effects are committed. */
  get checkpoint(): Checkpoint {
    return this.checkpointNow;
  }

  /** Where the record lifecycle is. */
  get phase(): Phase {
    return this.phase_;
  }

  /**
   * Starts a record: the reads and writes that follow are its own until it ends or aborts.
   * `fingerprint` is the record's (`recordFingerprint`): a commit ending at it keeps it in the
   * checkpoint, so a new log under the same offsets can be told from this one. A function is
   * called only if a commit ends at the record, so records in the middle of a slice cost nothing.
   */
  beginRecord(offset: number, fingerprint?: Fingerprint): void {
    this.expect('idle', 'beginRecord');
    if (offset <= this.finishedOffset) {
      throw new StateProtocolError(
        `beginRecord(${offset}) after offset ${this.finishedOffset}: records run in offset order`,
      );
    }
    this.phase_ = 'running';
    this.recordOffset = offset;
    this.recordFingerprint = fingerprint;
  }

  private expect(phase: Phase, step: string): void {
    if (this.phase_ !== phase) {
      throw new StateProtocolError(
        `${step}() while the transaction is ${this.phase_}; expected ${phase} (beginRecord, reads and writes, endRecord or abortRecord, commit)`,
      );
    }
  }

  private at(table: string, key: string): WriteCoordinates {
    const { topic, partition } = this.partition;
    return { topic, partition, offset: this.recordOffset, table, key };
  }

  private tableEntries(table: string): TableEntries {
    let entries = this.lastTable?.name === table ? this.lastTable : this.tables.get(table);
    if (!entries) {
      entries = {
        name: table,
        byKey: new Map(),
        cachePrefix: `${this.partition.group}\u0000${itemId(table, '')}`,
        nameBytes: Buffer.byteLength(table),
      };
      this.tables.set(table, entries);
    }
    this.lastTable = entries;
    return entries;
  }

  private entry(table: string, key: string): Entry {
    const entries = this.tableEntries(table);
    let entry = entries.byKey.get(key);
    if (!entry) {
      const refusal = keyProblem(this.partition.group, table, key);
      if (refusal) {
        throw new StateValueError(
          `Cannot use ${table}/${String(key).slice(0, 64)}: ${refusal.problem}; ${refusal.fix}`,
          this.at(table, String(key)),
        );
      }
      entry = {
        table,
        key,
        cacheId: entries.cachePrefix + key,
        fixedBytes: entries.nameBytes + Buffer.byteLength(key) + 64,
        readVersion: undefined,
        readBy: undefined,
        slice: undefined,
        record: undefined,
        ended: undefined,
        recordValueBytes: 0,
        sliceValueBytes: 0,
        inRecord: false,
        recordRead: false,
      };
      entries.byKey.set(key, entry);
    }
    return entry;
  }

  private joinRecord(entry: Entry): void {
    if (!entry.inRecord) {
      entry.inRecord = true;
      this.recordEntries.push(entry);
    }
  }

  /**
   * Reads ahead, in one batch, the items of `refs` that neither the cache nor this transaction
   * holds, so that the records which read them later find them here. Reading ahead is not a
   * read: an item becomes a commit condition only when a record reads it (`get`), so it changes
   * neither what a commit is conditioned on nor how many conditioned writes it holds. A stale
   * item read ahead is fenced like any stale read: the commit's condition on its version fails
   * and the slice reruns. Keys that are not valid are left for the read that names them to
   * refuse. Returns how many items it read.
   */
  async prefetch(refs: Iterable<ItemRef>): Promise<number> {
    const wanted: ItemRef[] = [];
    const ids: string[] = [];
    const seen = new Set<string>();
    for (const ref of refs) {
      const id = this.tableEntries(ref.table).cachePrefix + ref.key;
      if (seen.has(id)) continue;
      seen.add(id);
      if (this.known(id) || keyProblem(this.partition.group, ref.table, ref.key)) continue;
      wanted.push(ref);
      ids.push(id);
    }
    if (wanted.length === 0) return 0;
    const at = this.cache.clock();
    const items = await this.store.readItems(this.partition.group, wanted);
    // Only here, not in the cache, until a record reads them: what a record reads joins the
    // transaction, so a failed commit forgets it; what no record read must not outlive the
    // attempt, or a rerun after a conflict would take it for fresh.
    for (const [i, item] of items.entries())
      this.fetched.set(ids[i]!, { item, at, ref: wanted[i]! });
    return wanted.length;
  }

  /** Whether a read of the item would be served without the store. */
  private known(cacheId: string): boolean {
    return this.cache.item(cacheId) !== undefined || this.fetchedItem(cacheId) !== undefined;
  }

  private fetchedItem(cacheId: string): StoredItem | undefined {
    const fetched = this.fetched.get(cacheId);
    return fetched && this.cache.isFresh(fetched.at) ? fetched.item : undefined;
  }

  /**
   * Reads again, in one batch, every item read ahead that is now older than `maxReadAgeMs`
   * and no record has read yet: a slice whose commits are slow outlives its read-ahead, and its
   * later records would otherwise read those items one `GetItem` each.
   */
  private async refetchExpired(): Promise<void> {
    const ids: string[] = [];
    const refs: ItemRef[] = [];
    for (const [id, { at, ref }] of this.fetched) {
      if (this.cache.isFresh(at)) continue;
      ids.push(id);
      refs.push(ref);
    }
    if (refs.length === 0) return;
    const at = this.cache.clock();
    const items = await this.store.readItems(this.partition.group, refs);
    for (const [i, item] of items.entries()) this.fetched.set(ids[i]!, { item, at, ref: refs[i]! });
  }

  /** A read-ahead item a record reads now: it moves to the cache, aged from when it was read. */
  private takeFetched(cacheId: string): StoredItem | undefined {
    const item = this.fetchedItem(cacheId);
    if (item === undefined) return undefined;
    this.cache.setRead(cacheId, item, this.fetched.get(cacheId)!.at);
    this.fetched.delete(cacheId);
    return item;
  }

  /**
   * Reads several keys of one table, as `get` reads each, with the ones not held read in one
   * batch first.
   */
  async getMany(table: string, keys: readonly string[]): Promise<unknown[]> {
    this.expect('running', 'getMany');
    for (const key of keys) this.entry(table, key);
    await this.prefetch(keys.map((key) => ({ table, key })));
    const values: unknown[] = [];
    for (const key of keys) values.push(await this.get(table, key));
    return values;
  }

  async get(table: string, key: string): Promise<unknown> {
    this.expect('running', 'get');
    const entry = this.entry(table, key);
    entry.recordRead = true;
    this.joinRecord(entry);
    const change = this.pendingOf(entry);
    if (change?.op === 'put') return copyOf(change.value);
    if (change?.op === 'delete') return undefined;
    const base = await this.readCommitted(entry);
    if (change?.op === 'add') {
      return numberOf(addDecimal(decimalIn(base, this.at(table, key)), change.delta));
    }
    return base.exists ? copyOf(base.value) : undefined;
  }

  /** Reads the committed item, and makes the running record depend on the version it saw. */
  private async readCommitted(entry: Entry): Promise<StoredItem> {
    let item = this.cache.item(entry.cacheId) ?? this.takeFetched(entry.cacheId);
    if (!item && this.fetched.has(entry.cacheId)) {
      await this.refetchExpired();
      item = this.takeFetched(entry.cacheId);
    }
    if (!item) {
      item = await this.store.readItem(this.partition.group, entry.table, entry.key);
      this.cache.setRead(entry.cacheId, item);
    }
    // A later read of an item this slice read already keeps the first version as its
    // condition: if the item moved since, the commit conflicts and the slice reruns.
    if (entry.readBy === undefined) {
      entry.readVersion = item.version;
      entry.readBy = 'record';
    }
    this.joinRecord(entry);
    return item;
  }

  put(table: string, key: string, value: unknown): void {
    this.expect('running', 'set');
    if (value === undefined) {
      throw new StateTypeError(
        `Cannot set ${table}/${key} to undefined; use delete`,
        this.at(table, key),
      );
    }
    const checked = checkValue(value);
    if (isRefusal(checked)) {
      throw new StateValueError(
        `Cannot store ${table}/${key}: DynamoDB refuses ${checked.problem}; ${checked.fix}`,
        this.at(table, key),
      );
    }
    const entry = this.entry(table, key);
    entry.recordValueBytes = checked.bytes;
    this.write(entry, { op: 'put', value: checked.value });
  }

  delete(table: string, key: string): void {
    this.expect('running', 'delete');
    this.write(this.entry(table, key), { op: 'delete' });
  }

  add(table: string, key: string, delta: number): void {
    this.expect('running', 'add');
    if (typeof delta !== 'number' || !Number.isFinite(delta)) {
      throw new StateTypeError(
        `Cannot add ${String(delta)} to ${table}/${key}; add takes a finite number`,
        this.at(table, key),
      );
    }
    const entry = this.entry(table, key);
    const mine = entry.record;
    // The common case, a counter bumped again by the same record: no new object.
    if (mine?.op === 'add') {
      const sum = addDecimal(mine.delta, delta);
      if (typeof sum !== 'number' || !Number.isSafeInteger(sum)) this.checkDecimal(table, key, sum);
      (mine as { delta: Decimal }).delta = sum;
    } else {
      if (!Number.isSafeInteger(delta)) this.checkDecimal(table, key, delta);
      this.write(entry, { op: 'add', delta });
    }
  }

  /** A number that adds made of earlier writes must be one DynamoDB holds too. */
  private checkCombined(entry: Entry, change: Change): void {
    if (change.op === 'add' && !Number.isSafeInteger(change.delta)) {
      this.checkDecimal(entry.table, entry.key, change.delta);
    } else if (change.op === 'put' && typeof change.value === 'number') {
      this.checkDecimal(entry.table, entry.key, change.exact ?? change.value);
    }
  }

  /** Safe integers always fit; anything else is checked against what DynamoDB holds. */
  private checkDecimal(table: string, key: string, decimal: Decimal): void {
    const problem = decimalProblem(decimal);
    if (problem) {
      throw new StateValueError(
        `Cannot add to ${table}/${key}: DynamoDB refuses ${problem}; store it as a string, or scale it into range`,
        this.at(table, key),
      );
    }
  }

  /** The record's changes stay apart from the slice's, so the slice can commit without them. */
  private write(entry: Entry, change: Change): void {
    const mine = this.combine(entry, entry.record, change);
    if (mine !== change) this.checkCombined(entry, mine);
    // Fails now, in the record that does it, if `add` meets a value that is not a number (only
    // a put can hold one; an add over an add or a delete always folds).
    if (entry.slice?.op === 'put' && mine.op === 'add') this.combine(entry, entry.slice, mine);
    this.joinRecord(entry);
    entry.record = mine;
  }

  /**
   * Folds a new change into an earlier one for the same key, so a commit writes each key once.
   * Where the write is (`at`) is worked out only for the error, since this runs for every key
   * a record writes.
   */
  private combine(entry: Entry, before: Change | undefined, next: Change): Change {
    if (next.op !== 'add' || before === undefined) return next;
    if (before.op === 'add') return { op: 'add', delta: addDecimal(before.delta, next.delta) };
    if (before.op === 'delete') return numericPut(next.delta);
    const base = decimalIn({ ...before, exists: true }, this.at(entry.table, entry.key));
    return numericPut(addDecimal(base, next.delta));
  }

  /** Forgets the running record's reads and writes: it threw, so none of its effects may land. */
  abortRecord(): void {
    this.expect('running', 'abortRecord');
    for (const entry of this.recordEntries) {
      entry.record = undefined;
      entry.ended = undefined;
      entry.inRecord = false;
      entry.recordRead = false;
      if (entry.readBy === 'record') {
        entry.readBy = undefined;
        entry.readVersion = undefined;
      }
    }
    this.recordEntries = [];
    this.recordOutbox = [];
    this.recordOutboxBytes = 0;
    this.recordUpstream = undefined;
    this.phase_ = 'idle';
  }

  /**
   * Adds an output (or a dead letter) of the running record to the outbox: it commits with the
   * record's effects, or is dropped with them if the record aborts. Its origin is the record's
   * offset and its place among the record's messages.
   */
  output(draft: OutboxDraft): void {
    this.expect('running', 'emit');
    const { group, topic, partition } = this.partition;
    const origin = `${group}|${topic}|${partition}|${this.recordOffset}|${this.recordOutbox.length}`;
    const message: OutboxMessage = { ...draft, origin };
    this.recordOutbox.push(message);
    this.recordOutboxBytes += Buffer.byteLength(JSON.stringify(message)) + 1;
  }

  /** The last output of `source` this partition applied: the running record's, or committed. */
  upstreamMark(source: string): UpstreamMark | undefined {
    return (
      this.recordUpstream?.get(source) ??
      this.sliceUpstream?.[source] ??
      this.checkpointNow.upstream?.[source]
    );
  }

  /** The running record applies `source`'s output at `mark`; it commits with the record. */
  markUpstream(source: string, mark: UpstreamMark): void {
    this.expect('running', 'markUpstream');
    if (this.upstreamMark(source) === undefined) this.upstreamBytes += markBytes(source);
    this.recordUpstream ??= new Map();
    this.recordUpstream.set(source, mark);
  }

  /**
   * Records, for the next commit, how many deliveries of the record after the finished ones
   * failed: the slice stops at it, and its next delivery counts on from there.
   */
  attemptFailed(attempt: RecordAttempt): void {
    this.expect('idle', 'attemptFailed');
    this.nextAttempt = attempt;
  }

  /**
   * Marks, before a delivery of the record after the checkpoint runs, that it began, so that a
   * delivery that dies or times out is counted too. Throws `StateConflictError` when the
   * checkpoint moved on (the slice reruns from the new one).
   */
  async markAttempt(attempt: RecordAttempt): Promise<void> {
    const { version } = this.checkpointNow;
    const previous = this.checkpointNow.attempt;
    if (!(await this.store.markAttempt(this.partition, version, attempt, previous))) {
      this.cache.dropCheckpoint(checkpointId(this.partition));
      throw new StateConflictError(
        `Checkpoint of ${this.partition.topic}-${this.partition.partition} moved (expected version ${version})`,
        [],
        true,
      );
    }
    this.setCheckpoint({ ...this.checkpointNow, attempt });
  }

  /** The relay delivered the checkpoint's outbox: it is forgotten, here and in the store. */
  async outboxDelivered(): Promise<void> {
    if (!this.checkpointNow.outbox) return;
    await this.store.clearOutbox(this.partition, this.checkpointNow.version);
    const { outbox: _, ...rest } = this.checkpointNow;
    this.setCheckpoint(rest);
  }

  private setCheckpoint(checkpoint: Checkpoint): void {
    this.checkpointNow = checkpoint;
    this.cache.setCheckpoint(checkpointId(this.partition), checkpoint);
  }

  /**
   * Ends the running record: measures its writes, with the conditions of what it read, beside
   * the finished records'. If they fit one commit, the record joins the slice; if not, it is
   * held, and `commit()` must land the finished records first. Throws `StateLimitError` (the
   * record stays running, to be aborted) when the record cannot fit a commit even alone, since a
   * record's effects are never split across commits.
   */
  endRecord(): RecordEnd {
    this.expect('running', 'endRecord');
    const { total, alone } = this.measure(this.sliceTally);
    if (this.overflows(alone)) {
      const { maxWrites, maxBytes, maxIntentBytes } = this.store.limits;
      throw new StateLimitError(
        alone.outboxBytes > maxIntentBytes
          ? `One record (or one @onBatch slice) emits about ${alone.outboxBytes} bytes of outputs (as the outbox stores them, base64), more than one commit's outbox holds (${maxIntentBytes} bytes, in the checkpoint item); emit less per record, or put large payloads elsewhere (S3) and emit a reference`
          : `One record (or one @onBatch slice) writes ${alone.writes} items (${alone.conditioned} after reading them, about ${alone.bytes} bytes), more than one commit holds (${maxWrites} read-then-written items, ${maxBytes} bytes, ${maxIntentBytes} bytes of blind writes); write fewer keys per record, or aggregate into one item`,
        {
          topic: this.partition.topic,
          partition: this.partition.partition,
          offset: this.recordOffset,
        },
      );
    }
    if ((this.sliceTally.writes > 0 || this.sliceOutbox.length > 0) && this.overflows(total)) {
      this.phase_ = 'held';
      return 'commit-first';
    }
    this.join(total);
    return 'joined';
  }

  /**
   * The one place a record's fit is computed: what a commit would hold with the running
   * record's writes beside `slice`, and with them alone.
   */
  private measure(slice: Tally): { total: Tally; alone: Tally } {
    const { maxItemBytes } = this.store.limits;
    const total = { ...slice };
    const alone: Tally = { ...EMPTY_TALLY };
    total.outboxBytes += this.recordOutboxBytes;
    total.bytes += this.recordOutboxBytes;
    alone.outboxBytes = alone.bytes = this.recordOutboxBytes;
    for (const entry of this.recordEntries) {
      const conditioned = entry.readBy !== undefined;
      // A read through a blind write of the slice: that write now carries the record's condition.
      const turnsConditioned = entry.slice !== undefined && entry.readBy === 'record';
      if (turnsConditioned) {
        total.conditioned += 1;
        total.blindBytes -= sliceSize(entry);
      }
      if (entry.record === undefined) continue;
      const merged = this.pendingOf(entry)!;
      if (merged !== entry.record) this.checkCombined(entry, merged);
      entry.ended = merged;
      const size = this.sizeOf(entry, merged);
      if (size > maxItemBytes) {
        throw new StateLimitError(
          `${entry.table}/${entry.key} would be about ${size} bytes, over the ${maxItemBytes}-byte item limit; split the value over several keys`,
          this.at(entry.table, entry.key),
        );
      }
      alone.writes += 1;
      alone.bytes += size;
      if (conditioned) alone.conditioned += 1;
      else alone.blindBytes += size;
      if (entry.slice === undefined) {
        total.writes += 1;
        if (conditioned) total.conditioned += 1;
      }
      total.bytes += size - sliceSize(entry);
      if (!conditioned) total.blindBytes += size - sliceSize(entry);
    }
    return { total, alone };
  }

  /**
   * Moves the ended record's writes and conditions into the slice. It follows `measure` (whose
   * `tally` it takes) with nothing in between, so each `entry.ended` is current.
   */
  private join(tally: Tally): void {
    for (const entry of this.recordEntries) {
      entry.inRecord = false;
      entry.recordRead = false;
      if (entry.readBy === 'record') {
        // A read that no write of the slice depends on keeps no condition.
        if (entry.slice !== undefined || entry.record !== undefined) entry.readBy = 'slice';
        else {
          entry.readBy = undefined;
          entry.readVersion = undefined;
        }
      }
      if (entry.record === undefined) continue;
      const merged = entry.ended!;
      if (entry.slice === undefined) this.dirty.push(entry);
      entry.sliceValueBytes = this.valueBytes(entry, merged);
      entry.slice = merged;
      entry.record = undefined;
      entry.ended = undefined;
    }
    this.sliceTally = tally;
    this.recordEntries = [];
    if (this.recordOutbox.length > 0) {
      for (const message of this.recordOutbox) this.sliceOutbox.push(message);
      this.recordOutbox = [];
      this.recordOutboxBytes = 0;
    }
    if (this.recordUpstream) {
      this.sliceUpstream ??= { ...this.checkpointNow.upstream };
      for (const [source, mark] of this.recordUpstream) this.sliceUpstream[source] = mark;
      this.recordUpstream = undefined;
    }
    this.nextAttempt = undefined;
    this.finishedOffset = this.recordOffset;
    this.finishedFingerprint = this.recordFingerprint;
    this.finishedRecords += 1;
    this.phase_ = 'idle';
  }

  /**
   * Conditioned writes share the checkpoint's transaction, so at most `maxWrites` of them; past
   * `maxWrites` writes in all, the blind ones ride in the checkpoint item as an intent.
   */
  private overflows(t: Tally): boolean {
    const { maxWrites, maxBytes, maxIntentBytes } = this.store.limits;
    // The intent, the outbox and the upstream marks share the checkpoint item.
    const intentBytes = t.writes > maxWrites ? t.blindBytes : 0;
    return (
      t.conditioned > maxWrites ||
      t.bytes > maxBytes ||
      intentBytes + t.outboxBytes + this.upstreamBytes > maxIntentBytes
    );
  }

  /** Roughly what DynamoDB will count: names and keys, the value, the version. */
  private sizeOf(entry: Entry, change: Change): number {
    return entry.fixedBytes + this.valueBytes(entry, change);
  }

  private valueBytes(entry: Entry, change: Change): number {
    if (change.op !== 'put') return 8;
    if (change === entry.record) return entry.recordValueBytes;
    if (change === entry.slice) return entry.sliceValueBytes;
    // A number an add made of an earlier put.
    return 8 + Math.ceil(decimalText(change.exact ?? (change.value as number)).length / 2);
  }

  /** The slice's change to an item followed by the running record's. */
  private pendingOf(entry: Entry): Change | undefined {
    if (!entry.record) return entry.slice;
    if (!entry.slice) return entry.record;
    return this.combine(entry, entry.slice, entry.record);
  }

  /**
   * Commits the finished records' writes and moves the checkpoint to the last finished offset;
   * a held record joins the slice after. On any failure the cache forgets what the commit
   * touched, since a timed-out commit may still have landed. Returns how many records it
   * committed.
   */
  async commit(): Promise<number> {
    if (this.phase_ === 'running') this.expect('idle', 'commit');
    const records = this.finishedRecords;
    if (records === 0 && this.phase_ === 'idle') {
      // Nothing finished since the checkpoint: a failed delivery is counted in place.
      if (this.nextAttempt) await this.markAttempt(this.nextAttempt);
      this.nextAttempt = undefined;
      return 0;
    }
    const dirty = this.dirty;
    const writes: ItemWrite[] = dirty.map((entry) => {
      const { table, key, slice, readVersion, readBy } = entry;
      const bytes = sliceSize(entry);
      return readBy === 'slice'
        ? { table, key, change: slice!, expectedVersion: readVersion!, bytes }
        : { table, key, change: slice!, bytes };
    });
    if (typeof this.finishedFingerprint === 'function') {
      this.finishedFingerprint = this.finishedFingerprint();
    }
    const outbox = this.sliceOutbox;
    const checkpoint = {
      expectedVersion: this.checkpointNow.version,
      offset: this.finishedOffset,
      ...identityOf({ fingerprint: this.finishedFingerprint, topicId: this.topicId }),
      ...progressOf({
        outbox,
        upstream: this.sliceUpstream ?? this.checkpointNow.upstream,
        ...(this.nextAttempt ? { attempt: this.nextAttempt } : {}),
      }),
    };
    try {
      await this.store.commit({ partition: this.partition, checkpoint, writes });
    } catch (error) {
      this.forget(error);
      throw error;
    }
    this.setCheckpoint({
      offset: checkpoint.offset,
      version: checkpoint.expectedVersion + 1,
      ...identityOf(checkpoint),
      ...progressOf(checkpoint),
    });
    this.sliceOutbox = [];
    this.sliceUpstream = undefined;
    this.nextAttempt = undefined;
    for (const entry of dirty) {
      // What was read ahead of this commit is not the item any more.
      this.fetched.delete(entry.cacheId);
      this.remember(entry);
      entry.slice = undefined;
      entry.sliceValueBytes = 0;
    }
    this.dirty = [];
    this.sliceTally = { ...EMPTY_TALLY };
    this.finishedRecords = 0;
    if (this.phase_ === 'held') this.joinHeld();
    return records;
  }

  /** The held record joins the slice the commit emptied, its conditions as the commit left them. */
  private joinHeld(): void {
    this.join(this.measure(this.sliceTally).total);
  }

  /**
   * After a commit: what the cache and the entry still know of the item. Its new version is
   * known when the write was conditioned (it went from the version read to the next), or when
   * the held record read it through a blind `add`: if the item was at that version, the add
   * made the next one; if not, the held record's own commit fails its condition.
   */
  private remember(entry: Entry): void {
    const expected = entry.readVersion;
    const change = entry.slice!;
    let item: StoredItem | undefined;
    if (expected !== undefined && entry.readBy !== undefined) {
      const version = expected + 1;
      if (change.op === 'add') {
        const cached = this.cache.item(entry.cacheId);
        if (cached?.version === expected) {
          const base = decimalIn(cached, this.at(entry.table, entry.key));
          item = { ...numberFields(addDecimal(base, change.delta)), version, exists: true };
        }
      } else if (entry.readBy === 'slice') {
        item =
          change.op === 'put'
            ? { value: change.value, exact: change.exact, version, exists: true }
            : { value: undefined, version, exists: false };
      }
    }
    // What a conditioned write made is known; what a blind add made is a guess that holds only
    // if nobody wrote between the read and the commit, so it ages like a read.
    if (!item) this.cache.dropItem(entry.cacheId);
    else if (entry.readBy === 'slice') this.cache.setWritten(entry.cacheId, item);
    else this.cache.setRead(entry.cacheId, item);
    if (entry.inRecord && (entry.readBy === 'record' || entry.recordRead)) {
      // The held record read this item: its write depends on the version the commit left. If
      // that is unknown, a version no item has makes its commit conflict and the slice rerun,
      // rather than write blind over a change made in between.
      entry.readVersion = item ? item.version : UNKNOWN_VERSION;
      entry.readBy = 'record';
    } else {
      entry.readVersion = undefined;
      entry.readBy = undefined;
    }
  }

  private forget(error: unknown): void {
    const conflict = error instanceof StateConflictError ? error : undefined;
    if (!conflict || conflict.checkpoint) this.cache.dropCheckpoint(checkpointId(this.partition));
    // Whatever this transaction read or wrote may be stale now.
    for (const entries of this.tables.values()) {
      for (const entry of entries.byKey.values()) this.cache.dropItem(entry.cacheId);
    }
  }
}

function checkpointId(p: PartitionRef): string {
  return `${p.group}\u0000${p.topic}\u0000${p.partition}`;
}

/** About what one upstream mark takes in the checkpoint item's JSON: `"<source>":[o,i],`. */
function markBytes(source: string): number {
  return Buffer.byteLength(source) + 40;
}

/** Estimated size of the item once the slice's change is written; 0 while it has none. */
function sliceSize(entry: Entry): number {
  return entry.slice === undefined ? 0 : entry.fixedBytes + entry.sliceValueBytes;
}

/** A put of a decimal, with its exact text when no JS number prints as it. */
function numericPut(decimal: Decimal): Change {
  return { op: 'put', ...numberFields(decimal) };
}

/** A copy for the handler, so a change it makes to its object cannot reach state unwritten. */
function copyOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? structuredClone(value) : value;
}
