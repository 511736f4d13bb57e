/**
 * Preloaded into the memory benchmark's worker process (`node -r`); Node runs it in every thread,
 * so it also runs in the SDK's workflow thread(s). On a "sample" broadcast each workflow thread
 * collects its garbage and answers with its V8 heap and the number of runs cached in its sandbox;
 * the main thread answers the benchmark (over IPC) with the process RSS, its own heap and theirs.
 */
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';
import v8 from 'node:v8';

const CHANNEL = 'dbops-bench-memory';
const MiB = 2 ** 20;
const mib = (n: number) => Math.round((n / MiB) * 100) / 100;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) for (let i = 0; i < 3; i++) g();
}

export interface ThreadSample {
  threadId: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** Runs in this thread's reusable sandbox (0 when the worker does not reuse the V8 context; null: SDK internals moved). */
  cachedRuns: number | null;
}

function cachedRuns(): number | null {
  try {
    // The SDK copy the measured build's worker loaded (BENCH_DIST: another checkout has its own;
    // loading a second copy here would add its size to every sample and see no runs).
    const paths = process.env.BENCH_DIST ? [process.env.BENCH_DIST] : undefined;
    const vm = require(require.resolve('@temporalio/worker/lib/workflow/reusable-vm', { paths })) as {
      ReusableVMWorkflowCreator: { workflowByRunId: Map<string, unknown> };
    };
    return vm.ReusableVMWorkflowCreator.workflowByRunId.size;
  } catch {
    return null;
  }
}

if (!isMainThread) {
  const ch = new BroadcastChannel(CHANNEL);
  ch.unref();
  ch.onmessage = (e) => {
    if ((e as MessageEvent).data !== 'sample') return;
    gc();
    const h = v8.getHeapStatistics();
    const s: ThreadSample = {
      threadId,
      heapUsedMiB: mib(h.used_heap_size),
      heapTotalMiB: mib(h.total_heap_size),
      cachedRuns: cachedRuns(),
    };
    ch.postMessage(s);
  };
} else if (process.send) {
  const ch = new BroadcastChannel(CHANNEL);
  ch.unref();
  let replies: ThreadSample[] = [];
  ch.onmessage = (e) => {
    const d = (e as MessageEvent).data as ThreadSample | string;
    if (typeof d === 'object') replies.push(d);
  };
  /** Workflow threads that ever answered: a sample waits for all of them (up to 60 s; busy ones answer late). */
  const threads = new Set<number>();
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'sample') return;
    replies = [];
    ch.postMessage('sample');
    gc();
    const t0 = Date.now();
    const answer = () => {
      if ((replies.length < Math.max(1, threads.size) && Date.now() - t0 < 60_000) || Date.now() - t0 < 1000) {
        setTimeout(answer, 200).unref();
        return;
      }
      for (const r of replies) threads.add(r.threadId);
      const mem = process.memoryUsage();
      process.send?.({
        type: 'sample',
        rssMiB: mib(mem.rss),
        mainHeapUsedMiB: mib(mem.heapUsed),
        workflowThreads: replies.sort((a, b) => a.threadId - b.threadId),
        answeredInMs: Date.now() - t0,
      });
    };
    answer();
  });
}
