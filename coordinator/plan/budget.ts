/**
 * The memory budget (`target_memory_gb`): choose each quantized tensor's width among 2, 4, 8 bits
 * and keeping it in its source dtype so that the stored bytes of the whole model (payload of the
 * quantized tensors + bytes of the kept ones) fit the budget while losing the least quality.
 *
 * Loss of an option = its measured relative squared error × the tensor's elements (so a tensor
 * counts by its size; keeping costs no loss). Start from the smallest option of every tensor;
 * if that does not fit, no plan does. Then, while something fits, take the upgrade (to any larger
 * option of one tensor) with the most loss removed per byte added: a greedy walk on the
 * lower convex hull of each tensor's (bytes, loss) options, the standard approach to this
 * multiple-choice knapsack; the walk is repeated from every uniform plan that fits and the best
 * kept (see `allocate`).
 */
export interface BudgetOption {
  /** 2, 4, 8, or 'keep'. */
  width: number | 'keep';
  bytes: number;
  loss: number;
}

export interface BudgetItem {
  index: number;
  /** Options in increasing bytes; the first is the smallest. */
  options: BudgetOption[];
}

export interface Allocation {
  /** Chosen option per item index. */
  chosen: Map<number, BudgetOption>;
  bytes: number;
  minimumBytes: number;
  loss: number;
}

export class BudgetTooSmall extends Error {
  constructor(
    readonly budgetBytes: number,
    readonly minimumBytes: number,
  ) {
    super(`needs at least ${minimumBytes} bytes, the budget is ${budgetBytes}`);
  }
}

/** Greedy upgrades from the starting options `start` (item index → option position). */
function climb(items: BudgetItem[], start: Map<number, number>, fixedBytes: number, budgetBytes: number): { at: Map<number, number>; bytes: number; loss: number } {
  const at = new Map(start);
  let bytes = fixedBytes + items.reduce((s, it) => s + it.options[at.get(it.index)!]!.bytes, 0);
  for (;;) {
    let best: { item: BudgetItem; to: number; ratio: number } | undefined;
    for (const it of items) {
      const cur = it.options[at.get(it.index)!]!;
      for (let k = at.get(it.index)! + 1; k < it.options.length; k++) {
        const o = it.options[k]!;
        const extra = o.bytes - cur.bytes;
        const gain = cur.loss - o.loss;
        if (bytes + extra > budgetBytes || gain <= 0) continue;
        const ratio = extra <= 0 ? Infinity : gain / extra;
        if (!best || ratio > best.ratio || (ratio === best.ratio && it.index < best.item.index)) best = { item: it, to: k, ratio };
      }
    }
    if (!best) break;
    bytes += best.item.options[best.to]!.bytes - best.item.options[at.get(best.item.index)!]!.bytes;
    at.set(best.item.index, best.to);
  }
  const loss = items.reduce((s, it) => s + it.options[at.get(it.index)!]!.loss, 0);
  return { at, bytes, loss };
}

export function allocate(items: BudgetItem[], fixedBytes: number, budgetBytes: number): Allocation {
  const minimumBytes = fixedBytes + items.reduce((s, it) => s + it.options[0]!.bytes, 0);
  if (minimumBytes > budgetBytes) throw new BudgetTooSmall(budgetBytes, minimumBytes);
  // Greedy by loss removed per byte can strand budget at the boundary (a big upgrade no longer
  // fits after small ones took the room), so it also climbs from every uniform plan that fits
  // (all tensors at their k-th option) and the best result is kept: never worse than a uniform
  // choice of width.
  const widths = Math.max(...items.map((it) => it.options.length), 1);
  let best: ReturnType<typeof climb> | undefined;
  for (let k = 0; k < widths; k++) {
    const start = new Map(items.map((it) => [it.index, Math.min(k, it.options.length - 1)]));
    const bytes = fixedBytes + items.reduce((s, it) => s + it.options[start.get(it.index)!]!.bytes, 0);
    if (bytes > budgetBytes) continue;
    const r = climb(items, start, fixedBytes, budgetBytes);
    if (!best || r.loss < best.loss) best = r;
  }
  const chosen = new Map(items.map((it) => [it.index, it.options[best!.at.get(it.index)!]!]));
  return { chosen, bytes: best!.bytes, minimumBytes, loss: best!.loss };
}
