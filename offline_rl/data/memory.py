"""In-memory backend: episodes laid end to end on the device, windows gathered in jit.

All selected episodes are decoded once into flat columns [S+1, ...] (row 0 is a zero
row), with a table of every valid window start. One compiled call draws B starts
uniformly from that table with `fold_in(key(seed), batch_index)` and gathers each window
as one contiguous `dynamic_slice`, so the iterator's whole state is the batch index.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl.data import source as source_lib
from offline_rl.datasets import reader as reader_lib


class MemoryBackend:
  """See the module docstring. `sample(batch_index) -> Batch` of jax arrays."""

  def __init__(self, dataset, selection: source_lib.Selection, *, batch_size: int,
               unroll_length: int, seed: int, drop_nonfinite: bool,
               read_batch: int = 256):
    self.dataset = dataset
    columns = source_lib.step_columns(dataset)
    keys = {c.key for c in columns} | {dataset.layout.length_column.key}
    pieces: dict[str, list[np.ndarray]] = {c.key: [] for c in columns}
    kept, dropped = [], []
    episodes = selection.episodes
    for begin in range(0, len(episodes), read_batch):
      chunk = episodes[begin:begin + read_batch]
      for e, raw in zip(chunk, dataset.read_raw(chunk)):
        flat = dataset.episode_flat(int(e), raw)
        bad = source_lib.nonfinite_fields(flat, columns)
        if bad:
          if not drop_nonfinite:
            raise reader_lib.DatasetError(
                f'episode {int(e)} of {dataset.path} holds NaN or inf in '
                f'{", ".join(bad)}. Clean the dataset, or pass drop_nonfinite=True '
                '(--drop_nonfinite) to skip such episodes.')
          dropped.append(int(e))
          continue
        kept.append(int(e))
        for c in columns:
          pieces[c.key].append(flat[c.key])
    if not kept:
      raise reader_lib.DatasetError(
          f'all {len(episodes)} selected episodes of {dataset.path} hold NaN or inf; '
          'nothing is left to train on.')
    del keys
    self.dropped_episodes = dropped
    self.episodes = np.asarray(kept, np.int64)
    lengths = dataset.lengths[self.episodes]
    num_windows = lengths - unroll_length + 1
    begins = 1 + np.concatenate([[0], np.cumsum(lengths)[:-1]])  # row 0 is padding
    # Every valid start s = -1..L-1-T of every episode, as a row of the flat arrays.
    episode_of_start = np.repeat(np.arange(len(kept)), num_windows)
    first_window = np.concatenate([[0], np.cumsum(num_windows)[:-1]])
    offset_in_episode = np.arange(num_windows.sum()) - first_window[episode_of_start]
    start_rows = begins[episode_of_start] - 1 + offset_in_episode
    self.num_windows = int(num_windows.sum())
    self.num_steps = int(lengths.sum())
    self.nbytes = 0
    data = {}
    for c in columns:
      stacked = np.concatenate(pieces[c.key])
      padded = np.concatenate([np.zeros((1,) + stacked.shape[1:], stacked.dtype),
                               stacked])
      self.nbytes += padded.nbytes
      data[c.key] = jnp.asarray(padded)
    self._data = data
    self._start_rows = jnp.asarray(start_rows, jnp.int32)
    self._episode_of_start = jnp.asarray(episode_of_start, jnp.int32)
    self._begins = jnp.asarray(begins, jnp.int32)
    self._metadata = {k: jnp.asarray(v) for k, v in
                      source_lib.episode_metadata(dataset, self.episodes).items()}
    self.batch_size, self.unroll_length, self.seed = batch_size, unroll_length, seed
    self._sample = jax.jit(functools.partial(
        _gather, batch_size=batch_size, window=unroll_length + 1))

  def sample(self, batch_index: int):
    key = jax.random.fold_in(jax.random.key(self.seed), batch_index)
    columns, mask, metadata = self._sample(
        key, self._data, self._start_rows, self._episode_of_start, self._begins,
        self._metadata)
    return source_lib.to_batch(self.dataset, columns, mask, metadata, xp=jnp)


def _gather(key, data, start_rows, episode_of_start, begins, metadata, *, batch_size,
            window):
  """B uniform windows: columns {key: [B, window, ...]}, mask [B, window], metadata."""
  pick = jax.random.randint(key, (batch_size,), 0, start_rows.shape[0])
  rows = start_rows[pick]  # [B]
  episode = episode_of_start[pick]  # [B]
  mask = (rows[:, None] + jnp.arange(window)[None]) >= begins[episode][:, None]

  def cut(x):
    def one(row):
      return jax.lax.dynamic_slice_in_dim(x, row, window, axis=0)
    windows = jax.vmap(one)(rows)  # [B, window, ...]
    m = mask.reshape(mask.shape + (1,) * (windows.ndim - 2))
    return jnp.where(m, windows, jnp.zeros((), windows.dtype))

  columns = {k: cut(v) for k, v in data.items()}
  return columns, mask, {k: v[episode] for k, v in metadata.items()}
