"""The training input pipeline: windows [B, T+1, ...] of logged episodes as `Batch`es.

    it = offline_rl.data.make_iterator('/data/corridor', batch_size=256,
                                       unroll_length=32, filters='rating>=1200')
    batch = next(it)                 # offline_rl.batch.Batch, arrays [B, T+1, ...]
    batches = it.next_many(100)      # the next 100 batches, stacked [100, B, T+1, ...]
    state = it.get_state()           # small dict; a checkpoint holds it
    it.set_state(state)              # continues the identical sequence

In a run of several processes (`jax.process_count()`), `batch_size` is the global
batch and each process's iterator yields its own B / processes rows of it: the memory
backend draws the same global batch in every process and keeps its rows (so the batches
do not depend on the number of processes); the stream backend, for data larger than
memory, reads only this process's episodes.

See docs/data.md and `source` for the window convention.
"""
from __future__ import annotations

import os
from typing import Any

from absl import logging

from offline_rl import errors
from offline_rl import specs
from offline_rl.data import filters
from offline_rl.data import source as source_lib
from offline_rl.data.filters import FilterError

BACKENDS = ('auto', 'memory', 'stream')
# 'auto' picks the in-memory backend when the selected steps fit in this many bytes.
DEFAULT_MEMORY_BUDGET = 4 << 30


class Iterator:
  """Yields `Batch`es; `get_state`/`set_state` make it resumable (see the module doc).

  Attributes:
    spec: the dataset's EnvSpec.
    backend: 'memory' or 'stream'.
    dataset: the loaded `offline_rl.datasets.Dataset`.
    num_episodes / num_steps / num_windows: what this iterator samples from.
    dropped_episodes: episodes skipped for NaN/inf (drop_nonfinite=True); the stream
      backend learns of them as it reads.
    skipped_short: selected episodes shorter than the unroll length.
    skipped_no_choice: windows left out by `skip_no_choice` (0 without it).
  """

  def __init__(self, dataset, selection, backend, impl, *, seed, process=(0, 1),
               rows=slice(None)):
    self.dataset, self.backend, self._impl = dataset, backend, impl
    self.process_index, self.process_count = process
    self._rows = rows  # This process's rows of the memory backend's global batches.
    self.spec: specs.EnvSpec = source_lib.observation_spec(dataset,
                                                           selection.observation_keys)
    self.seed = seed
    self.skipped_short = selection.skipped_short
    self.num_episodes = len(impl.episodes)
    self.num_steps = impl.num_steps
    self.num_windows = impl.num_windows
    self.skipped_no_choice = impl.skipped_no_choice if backend == 'memory' else 0
    self._batch_index = 0
    self._stream_state = (0, 0)
    self._started = False

  @property
  def dropped_episodes(self) -> list[int]:
    return sorted(self._impl.dropped_episodes)

  def __iter__(self):
    return self

  def __next__(self):
    if self.backend == 'memory':
      batch = _take_rows(self._impl.sample(self._batch_index), self._rows, axis=0)
    else:
      if not self._started:
        self._impl.start(self._stream_state)
        self._started = True
      (columns, mask, meta), self._stream_state = self._impl.next()
      batch = source_lib.to_batch(self.dataset, columns, mask, meta)
    self._batch_index += 1
    return batch

  next = __next__

  def next_many(self, count: int):
    """The next `count` batches stacked [count, B, T+1, ...]: the same values as
    `count` calls of `next()`, and the same position afterwards.

    The memory backend draws them in one compiled call (jax arrays); the stream
    backend stacks `count` of its batches (NumPy arrays).
    """
    count = int(count)
    if count < 1:
      raise ValueError(f'next_many needs count >= 1, got {count}.')
    if self.backend == 'memory':
      batch = _take_rows(self._impl.sample_many(self._batch_index, count), self._rows,
                         axis=1)
      self._batch_index += count
      return batch
    import jax  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    batches = [self.__next__() for _ in range(count)]
    return jax.tree.map(lambda *leaves: np.stack(leaves), *batches)

  def get_state(self) -> dict[str, Any]:
    """A small dict of ints a checkpoint can hold."""
    return {'backend': self.backend, 'seed': int(self.seed),
            'batch_index': int(self._batch_index),
            'epoch': int(self._stream_state[0]), 'offset': int(self._stream_state[1])}

  def set_state(self, state: dict[str, Any]) -> None:
    """Continues from `state` (from `get_state` of an iterator built the same way)."""
    if state.get('backend') != self.backend or int(state.get('seed', -1)) != self.seed:
      raise ValueError(f'iterator state {state} was saved by a {state.get("backend")} '
                       f'iterator with seed {state.get("seed")}; this one is '
                       f'{self.backend} with seed {self.seed}. Build the iterator with '
                       'the same arguments before restoring its state.')
    self._batch_index = int(state['batch_index'])
    self._stream_state = (int(state['epoch']), int(state['offset']))
    if self.backend == 'stream':
      self._impl.stop()
      self._started = False

  def set_states(self, states: list[dict[str, Any]]) -> None:
    """Continues a run whose processes saved `states` (`get_state` of each, in process
    order), on this run's processes, which may be more or fewer.

    The memory backend's position is the same in every process, so it continues
    exactly. The stream backend continues exactly on as many processes; on another
    number, episodes are split anew and every process starts the latest saved epoch
    from its beginning, so windows already drawn in that epoch may be drawn again.
    """
    if len(states) == self.process_count:
      self.set_state(states[self.process_index])
    elif self.backend == 'memory':
      self.set_state(states[0])
    else:
      latest = max(int(s['epoch']) for s in states)
      self.set_state(dict(states[0], epoch=latest, offset=0))

  def close(self):
    if self.backend == 'stream':
      self._impl.stop()


def make_iterator(path_or_dataset, *, batch_size: int, unroll_length: int,
                  seed: int = 0, filters=None, split: str = 'train',
                  validation_fraction: float = 0.1, backend: str = 'auto',
                  drop_nonfinite: bool = False, skip_no_choice: bool = False,
                  observation_keys=(),
                  env_spec: specs.EnvSpec | None = None,
                  memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
                  pool_episodes: int = 256, prefetch: int = 4,
                  process_index: int | None = None,
                  process_count: int | None = None) -> Iterator:
  """An iterator of `Batch`es of windows [B, T+1, ...] (T = unroll_length).

  Args:
    path_or_dataset: a dataset directory or an `offline_rl.datasets.Dataset`.
    batch_size: B windows per batch.
    unroll_length: T trained steps per window (a window holds T+1 steps).
    seed: the sampling seed; the same arguments give the same batches.
    filters: metadata filter string (see `offline_rl.data.filters`), a list of
      condition strings, or a callable metadata -> [E] bool.
    split: 'train', 'validation' or 'all' (episode-level; see `source.split_mask`).
    validation_fraction: share of episodes in 'validation'.
    backend: 'memory' (windows gathered in jit from device arrays; jax arrays),
      'stream' (random access over the shards with prefetch; NumPy arrays), or 'auto'
      (memory when the selected steps fit in `memory_budget_bytes`).
    drop_nonfinite: skip episodes with NaN/inf step values instead of raising.
    skip_no_choice: sample only windows with a trained step that carries a choice
      (`source.choice_steps`: some action head has two or more legal values), uniformly
      among them (memory backend; 'auto' streams every window, with a warning, when
      the data does not fit). The windows left out have `used` False for every
      head on every trained step, so they add nothing to the numerator or the
      denominator of the policy losses' per-head means (`offline_rl.losses`): both
      scale by the same factor and the expected loss is the full data's. For losses
      that train on every step (value terms), leave it off.
    observation_keys: the observation leaves to read, by flat name ('planes',
      'units', 'a/b'); empty: every numeric one. `it.spec` lists only these.
    env_spec: when given, the dataset's spec must match it (else SpecMismatchError).
    pool_episodes, prefetch: stream backend: episodes decoded together; batches ahead.
    process_index, process_count: this process's share of each batch (default:
      jax's); see the module docstring.

  Raises:
    DatasetError, SpecMismatchError, FilterError: with what is wrong and the fix.
  """
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  if backend not in BACKENDS:
    raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}.')
  if batch_size < 1:
    raise errors.ConfigError(f'batch_size must be >= 1, got {batch_size}.')
  if isinstance(path_or_dataset, (str, os.PathLike)):
    dataset = datasets.load(path_or_dataset)
  else:
    dataset = path_or_dataset
  if env_spec is not None:
    datasets.validate(dataset.spec, env_spec)
  selection = source_lib.select(dataset, unroll_length=unroll_length, filters=filters,
                                split=split, validation_fraction=validation_fraction,
                                observation_keys=observation_keys)
  if skip_no_choice and backend == 'stream':
    raise errors.ConfigError('skip_no_choice needs the memory backend (the stream '
                             "backend samples windows before decoding them): use "
                             "backend='memory' or 'auto', or skip_no_choice=False.")
  if backend == 'auto':
    per_step = sum(
        int(max(1, abs(int(_prod(c.shape))))) * _itemsize(c.dtype)
        for c in source_lib.step_columns(dataset, selection.observation_keys))
    fits = int(selection.lengths.sum()) * per_step <= memory_budget_bytes
    if skip_no_choice and not fits:
      # Skipping saves compute only (the expected loss is the same): stream without it.
      logging.warning('The selected steps exceed memory_budget_bytes=%d: streaming them, '
                      'and every window is sampled (skip_no_choice needs the memory '
                      'backend).', memory_budget_bytes)
      skip_no_choice = False
    backend = 'memory' if fits else 'stream'
  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_index, process_count = jax.process_index(), jax.process_count()
  if batch_size % process_count:
    raise errors.ConfigError(f'batch_size={batch_size} does not divide over '
                             f'{process_count} processes; give a multiple of '
                             f'{process_count}.')
  local = batch_size // process_count
  kwargs = dict(unroll_length=unroll_length, seed=seed, drop_nonfinite=drop_nonfinite)
  if backend == 'memory':
    from offline_rl.data import memory  # pylint: disable=g-import-not-at-top
    impl = memory.MemoryBackend(dataset, selection, batch_size=batch_size,
                                skip_no_choice=skip_no_choice, **kwargs)
    rows = (slice(None) if process_count == 1 else
            slice(process_index * local, (process_index + 1) * local))
    return Iterator(dataset, selection, backend, impl, seed=seed, rows=rows,
                    process=(process_index, process_count))
  from offline_rl.data import stream  # pylint: disable=g-import-not-at-top
  impl = stream.StreamBackend(dataset, selection, batch_size=local,
                              pool_episodes=pool_episodes, prefetch=prefetch,
                              process_index=process_index, process_count=process_count,
                              **kwargs)
  return Iterator(dataset, selection, backend, impl, seed=seed,
                  process=(process_index, process_count))


def _take_rows(batch, rows: slice, axis: int):
  """`batch` with only `rows` of its batch axis (all of them in one process)."""
  if rows == slice(None):
    return batch
  import jax  # pylint: disable=g-import-not-at-top
  return jax.tree.map(lambda x: x[(slice(None),) * axis + (rows,)], batch)


def _prod(shape):
  out = 1
  for d in shape:
    out *= d
  return out


def _itemsize(dtype: str) -> int:
  import numpy as np  # pylint: disable=g-import-not-at-top
  return 8 if dtype == 'str' else np.dtype(dtype).itemsize


__all__ = ['FilterError', 'Iterator', 'filters', 'make_iterator']
