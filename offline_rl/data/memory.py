"""In-memory backend: episodes laid end to end on the device, windows gathered in jit.

All selected episodes are decoded once into one packed matrix (each episode preceded by
a zero row), with a table of every valid window start. One compiled call draws B starts
uniformly from that table with `fold_in(key(seed), batch_index)` and gathers each window
as one contiguous `dynamic_slice`, so the iterator's whole state is the batch index.
`sample_many(first, count)` draws batches first..first+count-1 in one compiled call
(the per-batch sampler vmapped over the batch indices): the same values as `count`
calls of `sample`, stacked [count, B, T+1, ...].

With `skip_no_choice`, the table keeps only the windows with at least one trained step
that carries a choice (`source.choice_steps`); see `make_iterator` for why that leaves
the policy losses unchanged.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl.data import source as source_lib
from offline_rl.datasets import reader as reader_lib

WIDE = 8  # words a step from which a column gets its own matrix


class MemoryBackend:
  """See the module docstring. `sample(batch_index) -> Batch` of jax arrays;
  `sample_many(first, count) -> Batch` [count, B, T+1, ...]."""

  def __init__(self, dataset, selection: source_lib.Selection, *, batch_size: int,
               unroll_length: int, seed: int, drop_nonfinite: bool,
               skip_no_choice: bool = False, read_batch: int = 256):
    self.dataset = dataset
    columns = source_lib.step_columns(dataset, selection.observation_keys)
    keys = {c.key for c in columns} | {dataset.layout.length_column.key}
    pieces: dict[str, list[np.ndarray]] = {c.key: [] for c in columns}
    kept, dropped, choices = [], [], []
    warned = False
    episodes = selection.episodes
    for begin in range(0, len(episodes), read_batch):
      chunk = episodes[begin:begin + read_batch]
      for e, raw in zip(chunk, dataset.read_raw(chunk)):
        flat = dataset.episode_flat(int(e), raw, keys=keys)
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
        huge = source_lib.huge_fields(flat, columns)
        if huge and not warned:
          source_lib.warn_huge(dataset, int(e), huge)
          warned = True
        if skip_no_choice:
          choices.append(source_lib.choice_steps(dataset, flat))
        for c in columns:
          pieces[c.key].append(flat[c.key])
    if not kept:
      raise reader_lib.DatasetError(
          f'all {len(episodes)} selected episodes of {dataset.path} hold NaN or inf; '
          'nothing is left to train on.')
    self.dropped_episodes = dropped
    self.episodes = np.asarray(kept, np.int64)
    lengths = dataset.lengths[self.episodes]
    num_windows = lengths - unroll_length + 1
    # Each episode is preceded by one zero row, which the windows starting before
    # the episode (s = -1) read: a window is then one contiguous block of rows.
    begins = 1 + np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    episode_of_start = np.repeat(np.arange(len(kept)), num_windows)
    first_window = np.concatenate([[0], np.cumsum(num_windows)[:-1]])
    offset_in_episode = np.arange(num_windows.sum()) - first_window[episode_of_start]
    start_rows = begins[episode_of_start] - 1 + offset_in_episode
    self.skipped_no_choice = 0
    if skip_no_choice:
      # Window j of an episode trains its steps j..j+T-1.
      counts = [np.concatenate([[0], np.cumsum(c)]) for c in choices]
      has_choice = np.concatenate([n[unroll_length:] > n[:-unroll_length]
                                   for n in counts])
      if not has_choice.any():
        raise reader_lib.DatasetError(
            f'no step of the {len(kept)} selected episodes of {dataset.path} carries a '
            'choice (every action head has at most one legal value): nothing trains a '
            'policy. Check the legal-action masks, or set skip_no_choice=False.')
      self.skipped_no_choice = int((~has_choice).sum())
      start_rows, episode_of_start = start_rows[has_choice], episode_of_start[has_choice]
    self.num_windows = len(start_rows)
    self.num_steps = int(lengths.sum())
    # A wide column (>= WIDE values a step, e.g. an observation) gets its own [R, F]
    # matrix, gathered straight into its output; the narrow ones (reward, flags,
    # actions, ...) share one matrix of uint32 words (4-byte values bit-cast, narrower
    # ones widened). XLA's row gather costs per row, so a batch
    # is a few row gathers, each one pass over its bytes.
    rows_of_steps = np.concatenate([b + np.arange(n) for b, n in zip(begins, lengths)])
    total_rows = int(lengths.sum() + len(lengths))
    widths = [int(np.prod(pieces[c.key][0].shape[1:], dtype=np.int64)) for c in columns]
    narrow_width = sum(w for w in widths if w < WIDE)
    matrices = {}
    if narrow_width:
      matrices['narrow'] = np.zeros((total_rows, narrow_width), np.uint32)
    layout, narrow_offset = [], 0
    for c, width in zip(columns, widths):
      stacked = np.concatenate(pieces[c.key])
      pieces[c.key] = None
      dtype = stacked.dtype
      if dtype.itemsize == 8:  # JAX runs 32-bit: store int64/float64 as 32-bit.
        dtype = np.dtype(np.float32 if dtype.kind == 'f' else np.int32)
        stacked = stacked.astype(dtype)
      rows = stacked.reshape(len(stacked), width)
      if width >= WIDE:  # Its own matrix, in its own dtype: gathered straight out.
        name, offset, words = c.key, 0, rows
        matrices[name] = np.zeros((total_rows, width), dtype)
      else:
        name, offset = 'narrow', narrow_offset
        narrow_offset += width
        words = rows.view(np.uint32) if dtype.itemsize == 4 else rows.astype(
            np.int64).astype(np.uint32)
      matrices[name][rows_of_steps, offset:offset + width] = words
      layout.append((c.key, dtype.name, name, offset, width, stacked.shape[1:]))
    self.nbytes = sum(m.nbytes for m in matrices.values())
    self._layout = tuple(layout)
    self._data = {k: jnp.asarray(v) for k, v in matrices.items()}
    del matrices
    self._start_rows = jnp.asarray(start_rows, jnp.int32)
    self._episode_of_start = jnp.asarray(episode_of_start, jnp.int32)
    self._begins = jnp.asarray(begins, jnp.int32)
    metadata = source_lib.episode_metadata(dataset, self.episodes)
    # Numeric metadata as one [E, k] uint32 matrix: one gather a batch.
    self._metadata_names = tuple((k, v.dtype.name) for k, v in metadata.items())
    self._metadata = jnp.asarray(np.stack(
        [v.astype(v.dtype.name).view(np.uint32) for v in metadata.values()], axis=1))
    self.batch_size, self.unroll_length, self.seed = batch_size, unroll_length, seed
    self._sample = jax.jit(functools.partial(
        _gather, batch_size=batch_size, window=unroll_length + 1, layout=self._layout,
        metadata_names=self._metadata_names))
    self._sample_many = jax.jit(functools.partial(
        _gather_many, batch_size=batch_size, window=unroll_length + 1,
        layout=self._layout, metadata_names=self._metadata_names),
                                static_argnames='count')

  def _tables(self):
    return (self._data, self._start_rows, self._episode_of_start, self._begins,
            self._metadata)

  def sample(self, batch_index: int):
    columns, mask, metadata = self._sample(
        np.uint32(self.seed), np.uint32(batch_index), *self._tables())
    return source_lib.to_batch(self.dataset, columns, mask, metadata, xp=jnp)

  def sample_many(self, first: int, count: int):
    """Batches first..first+count-1, stacked [count, B, T+1, ...], in one call."""
    if count < 1:
      raise ValueError(f'count must be >= 1, got {count}.')
    columns, mask, metadata = self._sample_many(
        np.uint32(self.seed), np.uint32(first), *self._tables(), count=int(count))
    return source_lib.to_batch(self.dataset, columns, mask, metadata, xp=jnp)


def _gather_many(seed, first, data, start_rows, episode_of_start, begins, metadata, *,
                 count, **kwargs):
  """`_gather` of batch indices first..first+count-1: outputs with a [count] axis."""
  indices = first + jnp.arange(count, dtype=jnp.uint32)
  return jax.vmap(lambda b: _gather(seed, b, data, start_rows, episode_of_start,
                                    begins, metadata, **kwargs))(indices)


def _gather(seed, batch_index, data, start_rows, episode_of_start, begins, metadata, *,
            batch_size, window, layout, metadata_names):
  """B uniform windows: columns {key: [B, window, ...]}, mask [B, window], metadata.

  The key is `fold_in(key(seed), batch_index)`. A step before the episode reads the
  zero row that precedes every episode, so a window is one contiguous block.
  """
  key = jax.random.fold_in(jax.random.key(seed), batch_index)
  pick = jax.random.randint(key, (batch_size,), 0, start_rows.shape[0])
  rows = start_rows[pick]  # [B]
  episode = episode_of_start[pick]  # [B]
  positions = rows[:, None] + jnp.arange(window)[None]  # [B, window]
  mask = positions >= begins[episode][:, None]
  flat_positions = positions.reshape(-1)
  gathered = {name: jnp.take(matrix, flat_positions, axis=0, mode='clip').reshape(
      batch_size, window, -1) for name, matrix in data.items()}  # [B, window, F]
  columns = {}
  for key_name, dtype, name, offset, width, shape in layout:
    part = gathered[name]
    dtype = jnp.dtype(dtype)
    if name != 'narrow':
      columns[key_name] = part.reshape((batch_size, window) + tuple(shape))
      continue
    part = part[..., offset:offset + width]
    if dtype.itemsize == 4:
      part = jax.lax.bitcast_convert_type(part, dtype)
    elif dtype == jnp.bool_:
      part = part != 0
    else:
      part = part.astype(jnp.int32).astype(dtype)
    columns[key_name] = part.reshape((batch_size, window) + tuple(shape))
  meta_words = metadata[episode]  # [B, k]
  meta = {name: jax.lax.bitcast_convert_type(meta_words[:, i], jnp.dtype(dtype))
          for i, (name, dtype) in enumerate(metadata_names)}
  return columns, mask, meta
