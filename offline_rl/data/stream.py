"""Streaming backend: random access over the shards for data larger than memory.

Each epoch visits this process's episodes in a shuffled order, `pool_episodes` at a
time. An epoch draws W = (steps in the epoch) / (T+1) windows i.i.d. uniformly over
all valid window starts, as a multinomial split over pools followed by uniform draws
within each pool; a pool's windows come back in a shuffled order. So every valid start
is equally likely (as in the in-memory backend) while each episode is read and decoded
once per epoch. Pools are read, decoded and gathered by a background thread, `prefetch`
batches ahead.

State: (epoch, windows of the epoch already delivered); a resumed iterator recomputes
the epoch's plan from the seed and skips the pools before its position without reading
them. Processes (`jax.process_index()` of `jax.process_count()`) read disjoint
episodes: every `count`-th selected episode.
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from offline_rl.data import source as source_lib
from offline_rl.datasets import reader as reader_lib


class _Stop(Exception):
  pass


class StreamBackend:
  """See the module docstring. Batches are NumPy arrays."""

  def __init__(self, dataset, selection: source_lib.Selection, *, batch_size: int,
               unroll_length: int, seed: int, drop_nonfinite: bool,
               pool_episodes: int = 256, prefetch: int = 4, process_index: int = 0,
               process_count: int = 1):
    self.dataset = dataset
    self.batch_size, self.unroll_length, self.seed = batch_size, unroll_length, seed
    self.window = unroll_length + 1
    self.drop_nonfinite = drop_nonfinite
    self.warned_huge = False
    self.pool_episodes, self.prefetch = max(1, pool_episodes), max(1, prefetch)
    self.process_index = process_index
    mine = slice(process_index, None, process_count)
    self.episodes = selection.episodes[mine]
    self.lengths = selection.lengths[mine]
    self.num_windows_per_episode = selection.num_windows[mine]
    if self.episodes.size == 0:
      raise reader_lib.DatasetError(
          f'process {process_index} of {process_count} has no episodes: only '
          f'{selection.episodes.size} are selected. Use fewer processes or more data.')
    self.columns = source_lib.step_columns(dataset, selection.observation_keys)
    self.keys = {c.key for c in self.columns} | {dataset.layout.length_column.key}
    self._metadata = source_lib.episode_metadata(dataset, self.episodes)
    self.num_windows = int(self.num_windows_per_episode.sum())
    self.num_steps = int(self.lengths.sum())
    self.windows_per_epoch = max(batch_size, self.num_steps // self.window)
    self.dropped_episodes: set[int] = set()
    self._thread = None
    self._queue = None
    self._stop = threading.Event()
    self._position = (0, 0)

  # ------------------------------------------------------------------ plan

  def _epoch_plan(self, epoch: int):
    """(pools [list of position arrays], windows per pool) of one epoch."""
    rng = np.random.default_rng([self.seed, epoch, self.process_index, 0])
    order = rng.permutation(self.episodes.size)
    pools = [order[i:i + self.pool_episodes]
             for i in range(0, order.size, self.pool_episodes)]
    weights = np.asarray([self.num_windows_per_episode[p].sum() for p in pools],
                         np.float64)
    counts = rng.multinomial(self.windows_per_epoch, weights / weights.sum())
    return pools, counts

  def _pool_windows(self, epoch: int, pool_number: int, pool: np.ndarray, count: int):
    """Decodes a pool's episodes and gathers `count` windows: (columns, mask, meta)."""
    raws = self.dataset.read_raw(self.episodes[pool])
    decoded, good = [], []
    for position, raw in zip(pool, raws):
      e = int(self.episodes[position])
      flat = self.dataset.episode_flat(e, raw, keys=self.keys)
      bad = source_lib.nonfinite_fields(flat, self.columns)
      if bad:
        if not self.drop_nonfinite:
          raise reader_lib.DatasetError(
              f'episode {e} of {self.dataset.path} holds NaN or inf in '
              f'{", ".join(bad)}. Clean the dataset, or pass drop_nonfinite=True '
              '(--drop_nonfinite) to skip such episodes.')
        self.dropped_episodes.add(e)
        continue
      huge = source_lib.huge_fields(flat, self.columns)
      if huge and not self.warned_huge:
        source_lib.warn_huge(self.dataset, e, huge)
        self.warned_huge = True
      decoded.append(flat)
      good.append(position)
    rng = np.random.default_rng([self.seed, epoch, self.process_index, 1 + pool_number])
    if not good:
      return None
    good = np.asarray(good)
    lengths = self.lengths[good]
    windows = self.num_windows_per_episode[good]
    begins = 1 + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pick = rng.integers(0, windows.sum(), size=count)
    first_window = np.concatenate([[0], np.cumsum(windows)[:-1]])
    which = np.searchsorted(first_window, pick, side='right') - 1
    start_rows = begins[which] - 1 + (pick - first_window[which])
    rows = start_rows[:, None] + np.arange(self.window)[None]  # [count, T+1]
    mask = rows >= begins[which][:, None]
    columns = {}
    for c in self.columns:
      parts = [flat[c.key] for flat in decoded]
      zero = np.zeros((1,) + parts[0].shape[1:], parts[0].dtype)
      flat_column = np.concatenate([zero] + parts)
      gathered = flat_column[rows]
      gathered[~mask] = 0
      columns[c.key] = gathered
    meta = {k: v[good[which]] for k, v in self._metadata.items()}
    return columns, mask, meta

  # ------------------------------------------------------------------ producer

  def _produce(self, epoch: int, offset: int, out: queue.Queue):
    """Fills `out` with (columns, mask, meta, (epoch, offset_after)) batches."""
    pending = []  # list of (columns, mask, meta) slices
    pending_size = 0
    try:
      while True:
        pools, counts = self._epoch_plan(epoch)
        ends = np.cumsum(counts)
        for k, (pool, count) in enumerate(zip(pools, counts)):
          if self._stop.is_set():
            raise _Stop()
          begin = int(ends[k] - count)
          if ends[k] <= offset or count == 0:
            continue
          windows = self._pool_windows(epoch, k, pool, int(count))
          skip = max(offset - begin, 0)
          if windows is None:  # Every episode of the pool was dropped.
            offset = int(ends[k])
            continue
          columns, mask, meta = windows
          available = int(count) - skip
          taken = skip
          while available > 0:
            need = self.batch_size - pending_size
            n = min(need, available)
            pending.append(({k2: v[taken:taken + n] for k2, v in columns.items()},
                            mask[taken:taken + n],
                            {k2: v[taken:taken + n] for k2, v in meta.items()}))
            pending_size += n
            taken += n
            available -= n
            if pending_size == self.batch_size:
              state = (epoch, begin + taken)
              if taken == int(count) and k == len(pools) - 1:
                state = (epoch + 1, 0)
              out_batch = _concat(pending)
              while True:
                if self._stop.is_set():
                  raise _Stop()
                try:
                  out.put((out_batch, state), timeout=0.1)
                  break
                except queue.Full:
                  continue
              pending, pending_size = [], 0
          offset = int(ends[k])
        epoch, offset = epoch + 1, 0
    except _Stop:
      return
    except BaseException as e:  # pylint: disable=broad-except
      out.put((e, None))

  def start(self, state: tuple[int, int]):
    self.stop()
    self._stop = threading.Event()
    self._queue = queue.Queue(maxsize=self.prefetch)
    self._thread = threading.Thread(target=self._produce, args=(*state, self._queue),
                                    daemon=True)
    self._thread.start()

  def stop(self):
    if self._thread is not None:
      self._stop.set()
      while self._thread.is_alive():
        try:
          self._queue.get(timeout=0.05)
        except queue.Empty:
          pass
      self._thread = None

  def next(self):
    """((columns, mask, meta), state after this batch)."""
    item, state = self._queue.get()
    if isinstance(item, BaseException):
      self._thread = None
      raise item
    return item, state


def _concat(parts):
  if len(parts) == 1:
    return parts[0]
  columns = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
  mask = np.concatenate([p[1] for p in parts])
  meta = {k: np.concatenate([p[2][k] for p in parts]) for k in parts[0][2]}
  return columns, mask, meta
