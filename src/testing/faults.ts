import { formatCoordinates } from '../errors.ts';
import type { KafkaRecord, PartitionSlice } from '../event/index.ts';
import type { BatchHandler, ConsumerDefinition, Context, RecordHandler } from '../runtime/index.ts';
import { type Commit, StateConflictError, type StateStore } from '../state/index.ts';
import { InjectedFaultError, TestingOptionError } from './errors.ts';
import type { CommitFault, Fault, RecordFault } from './types.ts';

const KINDS = ['record-fails', 'commit-fails', 'commit-lost', 'commit-conflicts'] as const;
const FIELDS: Record<Fault['fault'], readonly string[]> = {
  'record-fails': ['fault', 'offset', 'partition', 'times'],
  'commit-fails': ['fault', 'at'],
  'commit-lost': ['fault', 'at'],
  'commit-conflicts': ['fault', 'at'],
};

/** Checks `faults` as a test wrote it, so a typo fails the test instead of injecting nothing. */
export function checkFaults(faults: unknown): readonly Fault[] {
  if (faults === undefined) return [];
  if (!Array.isArray(faults)) {
    throw new TestingOptionError('invoke(): faults must be an array of faults');
  }
  faults.forEach((fault: unknown, i) => {
    const where = `invoke(): faults[${i}]`;
    const kind = (fault as { fault?: unknown } | null)?.fault;
    if (!KINDS.includes(kind as Fault['fault'])) {
      throw new TestingOptionError(
        `${where}.fault is ${JSON.stringify(kind)}; use one of ${KINDS.map((k) => `'${k}'`).join(', ')}`,
      );
    }
    const fields = FIELDS[kind as Fault['fault']];
    for (const key of Object.keys(fault as object)) {
      if (!fields.includes(key)) {
        throw new TestingOptionError(
          `Unknown option '${key}' in ${where} (a '${kind}' fault takes ${fields.join(', ')})`,
        );
      }
    }
    const f = fault as Record<string, unknown>;
    const whole = (key: string, min: number, required: boolean) => {
      const value = f[key];
      if (value === undefined && !required) return;
      const ok = key === 'times' && value === Number.POSITIVE_INFINITY;
      if (!ok && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)) {
        throw new TestingOptionError(
          `${where}.${key} is ${JSON.stringify(value)}; it must be an integer of at least ${min}`,
        );
      }
    };
    if (kind === 'record-fails') {
      whole('offset', 0, true);
      whole('partition', 0, false);
      whole('times', 1, false);
    } else {
      whole('at', 1, false);
    }
  });
  return faults as readonly Fault[];
}

/**
 * The faults of one run and what they did so far: which commit is the next, how often each
 * record fault has fired. It outlives one delivery, so a redelivery meets the faults left.
 */
export class FaultPlan {
  private commits = 0;
  private readonly fires = new Map<Fault, number>();
  private fired: InjectedFaultError[] = [];

  constructor(private readonly faults: readonly Fault[]) {}

  /** The faults that fired since the last call. */
  takeFired(): InjectedFaultError[] {
    const fired = this.fired;
    this.fired = [];
    return fired;
  }

  /** The store with the commit faults in front of its `commit`. */
  store(inner: StateStore): StateStore {
    const faults = this.faults.filter((f): f is CommitFault => f.fault !== 'record-fails');
    if (faults.length === 0) return inner;
    const commit = async (change: Commit): Promise<void> => {
      const n = ++this.commits;
      const fault = faults.find((f) => (f.at ?? 1) === n);
      if (!fault) return inner.commit(change);
      if (fault.fault === 'commit-lost') await inner.commit(change);
      const { topic, partition } = change.partition;
      const error = this.fire(
        fault,
        `injected fault '${fault.fault}' on commit ${n}, ${topic}-${partition} up to offset ${change.checkpoint.offset}`,
      );
      if (fault.fault === 'commit-conflicts') {
        throw new StateConflictError(error.message, [], true, { cause: error });
      }
      throw error;
    };
    return new Proxy(inner, {
      get(target, property) {
        if (property === 'commit') return commit;
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** The consumer with its handler followed by the record faults. */
  consumer(definition: ConsumerDefinition): ConsumerDefinition {
    const faults = this.faults.filter((f): f is RecordFault => f.fault === 'record-fails');
    if (faults.length === 0) return definition;
    const after = (records: readonly KafkaRecord<unknown, unknown>[]) => {
      for (const fault of faults) {
        const record = records.find(
          (r) =>
            r.offset === fault.offset &&
            (fault.partition === undefined || r.partition === fault.partition),
        );
        if (!record || (this.fires.get(fault) ?? 0) >= (fault.times ?? 1)) continue;
        const at = { topic: record.topic, partition: record.partition, offset: record.offset };
        throw this.fire(
          fault,
          `injected fault 'record-fails' at ${formatCoordinates(at)}, after its handler ran`,
          at,
        );
      }
    };
    const create = () => {
      const handler = definition.create();
      if (definition.mode === 'record') {
        const onRecord = handler as RecordHandler<unknown, unknown>;
        return async (record: KafkaRecord<unknown, unknown>, ctx: Context) => {
          await onRecord(record, ctx);
          after([record]);
        };
      }
      const onBatch = handler as BatchHandler<unknown, unknown>;
      return async (slice: PartitionSlice<KafkaRecord<unknown, unknown>>, ctx: Context) => {
        await onBatch(slice, ctx);
        after(slice.records);
      };
    };
    return { ...definition, create } as ConsumerDefinition;
  }

  private fire(
    fault: Fault,
    message: string,
    at?: { topic: string; partition: number; offset: number },
  ): InjectedFaultError {
    this.fires.set(fault, (this.fires.get(fault) ?? 0) + 1);
    const error = new InjectedFaultError(fault, message, at);
    this.fired.push(error);
    return error;
  }
}
