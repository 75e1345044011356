"""Loading RLDS datasets in the TFDS layout, whoever wrote them.

`load(path)` opens a directory holding `dataset_info.json` + `features.json` + shards,
written by `offline_rl.datasets.record`, by a TFDS `GeneratorBasedBuilder` using
`tfds.rlds.rlds_base`, by `rlds`'s `EpisodeWriter` or any other TFDS writer. Episodes
are read by random access (ArrayRecord natively, TFRecord through byte offsets) and
decoded column-wise with NumPy; TensorFlow is imported only to read TFRecord files.

Letters: E episodes, L steps of one episode.
"""
from __future__ import annotations

import json
import os
import pathlib
import threading
import zlib
from typing import Any, Iterator, Sequence

from absl import logging
import numpy as np

from offline_rl import errors
from offline_rl import specs
from offline_rl.datasets import _lazy
from offline_rl.datasets import actions as actions_lib
from offline_rl.datasets import features as features_lib
from offline_rl.datasets import wire
from offline_rl.datasets import writer as writer_lib


class DatasetError(errors.UserError, ValueError):
  """A dataset cannot be read, or does not match what it is used for."""


class SpecMismatchError(DatasetError):
  """A dataset's spec differs from an environment's."""


def _find_info_dir(path: pathlib.Path) -> pathlib.Path:
  """The directory holding dataset_info.json: `path` or the only one below it (a
  dataset's version folder, a builder's CONFIG/VERSION, a TFDS data_dir root)."""
  if (path / 'dataset_info.json').exists():
    return path
  candidates = sorted(p.parent for p in path.glob('*/dataset_info.json'))
  candidates += sorted(p.parent for p in path.glob('*/*/dataset_info.json'))
  # A TFDS data_dir root: NAME/CONFIG/VERSION/.
  candidates += sorted(p.parent for p in path.glob('*/*/*/dataset_info.json'))
  if len(candidates) == 1:
    return candidates[0]
  if len(candidates) > 1:
    listing = '\n  '.join(str(c) for c in candidates)
    raise DatasetError(f'{path} holds several datasets; pass one of:\n  {listing}')
  incomplete = writer_lib.incomplete_dir(path)
  hint = ''
  if incomplete.exists():
    hint = (f' An unfinished recording exists at {incomplete}: re-run the same '
            '`record` command to resume it.')
  raise DatasetError(
      f'{path} is not an RLDS dataset: no dataset_info.json in it (or in a version '
      'subdirectory). Point at the directory that `offline-rl data record` or '
      f'`tfds` wrote (holding dataset_info.json, features.json and the shards).{hint}')


def _read_json(path: pathlib.Path) -> dict:
  """A dataset's JSON file; a DatasetError naming it when it is not valid JSON."""
  try:
    value = json.loads(path.read_text())
  except (ValueError, UnicodeDecodeError) as e:
    raise DatasetError(f'{path} is not valid JSON ({e}): the file is corrupt. '
                       'Re-record or re-download the dataset.') from e
  if not isinstance(value, dict):
    raise DatasetError(f'{path} holds a JSON {type(value).__name__}, not an object: '
                       'the file is corrupt. Re-record or re-download the dataset.')
  return value


def _read_index(path: pathlib.Path) -> dict[str, np.ndarray]:
  """The episode index `record` wrote; a DatasetError naming it when corrupt."""
  try:
    with np.load(path, allow_pickle=False) as npz:
      return {k: npz[k] for k in npz.files}
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetError(f'{path} is corrupt ({e}). Re-record the dataset.') from e


class _ShardReader:
  """Random access to the records of one shard file."""

  def __init__(self, path: pathlib.Path, file_format: str, expected_records: int,
               offsets: np.ndarray | None):
    self.path, self.file_format = path, file_format
    self.offsets = offsets
    self._reader = None
    self._expected = expected_records
    # Readers are not thread-safe; the streaming backend reads from its own thread.
    self._lock = threading.RLock()
    self._fd = None

  def _open(self):
    if self._reader is not None:
      return
    if not self.path.exists():
      raise DatasetError(f'shard {self.path} is missing. The dataset is incomplete; '
                         're-record or re-download it.')
    try:
      if self.file_format == 'array_record':
        self._reader = _lazy.array_record().ArrayRecordReader(os.fspath(self.path))
        found = self._reader.num_records()
        if found != self._expected:
          raise DatasetError(
              f'shard {self.path} holds {found} records but dataset_info.json says '
              f'{self._expected}: the file is truncated or corrupt. Re-record or '
              're-download it.')
      else:
        self._reader = _lazy.tf_record().tf_record_random_reader(os.fspath(self.path))
    except DatasetError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise DatasetError(f'cannot open shard {self.path}: {e}. The file is truncated '
                         'or corrupt; re-record or re-download it.') from e

  def scan_offsets(self) -> np.ndarray:
    """Byte offsets of every record of a TFRecord shard (one pass over the file)."""
    with self._lock:
      return self._scan_offsets()

  def _scan_offsets(self) -> np.ndarray:
    self._open()
    offsets, offset = [], 0
    while True:
      try:
        _, next_offset = self._reader.read(offset)
      except IndexError:
        break
      except Exception as e:  # pylint: disable=broad-except
        raise DatasetError(f'shard {self.path} is corrupt or truncated at byte '
                           f'{offset} (record {len(offsets)}): {e}. Re-record or '
                           're-download it.') from e
      offsets.append(offset)
      offset = next_offset
    if len(offsets) != self._expected:
      raise DatasetError(f'shard {self.path} holds {len(offsets)} records but '
                         f'dataset_info.json says {self._expected}: the file is '
                         'truncated or corrupt. Re-record or re-download it.')
    self.offsets = np.asarray(offsets, np.int64)
    return self.offsets

  def read(self, record: int) -> bytes:
    with self._lock:
      return self._read(record)

  def _read(self, record: int) -> bytes:
    self._open()
    try:
      if self.file_format == 'array_record':
        return self._reader.read([int(r) for r in (record,)])[0]
      if self.offsets is None:
        self._scan_offsets()
      return self._pread(int(self.offsets[record]))
    except DatasetError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise DatasetError(f'cannot read record {record} of shard {self.path}: {e}. '
                         'The file is corrupt; re-record or re-download it.') from e

  def _pread(self, offset: int) -> bytes:
    """One TFRecord record at a byte offset: length (8), its CRC (4), data, CRC (4).

    Checksums are not recomputed here: the offset scan of a foreign file goes through
    TensorFlow's reader (which checks them), and our own datasets carry a crc32 of
    every record in their index.
    """
    if self._fd is None:
      self._fd = os.open(self.path, os.O_RDONLY)
    header = os.pread(self._fd, 12, offset)
    if len(header) < 12:
      raise DatasetError(f'shard {self.path} is truncated at byte {offset}. '
                         'Re-record or re-download it.')
    length = int.from_bytes(header[:8], 'little')
    data = os.pread(self._fd, length, offset + 12)
    if len(data) != length:
      raise DatasetError(f'shard {self.path} is truncated at byte {offset}. '
                         'Re-record or re-download it.')
    return data

  def read_many(self, records: Sequence[int]) -> list[bytes]:
    if self.file_format == 'array_record':
      with self._lock:
        self._open()
        try:
          return list(self._reader.read([int(r) for r in records]))
        except DatasetError:
          raise
        except Exception as e:  # pylint: disable=broad-except
          raise DatasetError(f'cannot read shard {self.path}: {e}. The file is '
                             'corrupt; re-record or re-download it.') from e
    return [self.read(r) for r in records]

  def close(self):
    with self._lock:
      reader, self._reader = self._reader, None
      if self._fd is not None:
        os.close(self._fd)
        self._fd = None
      if reader is not None and hasattr(reader, 'close'):
        try:
          reader.close()  # ArrayRecord checks the chunk hashes it skipped here.
        except Exception as e:  # pylint: disable=broad-except
          raise DatasetError(f'shard {self.path} is corrupt: {e}. Re-record or '
                             're-download it.') from e


class Dataset:
  """An RLDS dataset on disk: spec, per-episode metadata and episode reading.

  Attributes:
    path: the directory holding dataset_info.json.
    name: the TFDS dataset name.
    spec: the `EnvSpec` stored by `record`, or inferred from the features.
    spec_inferred: True when `spec` was inferred (the dataset was written elsewhere).
    skipped_fields: text observation columns left out of an inferred spec.
    action_ranges: {head: ValueRange} of the integer action heads whose spec lacked
      num_values (read from the data; num_values = max + 1 where the values are >= 0).
    file_format: 'tfrecord' or 'array_record'.
    features: the TFDS `FeaturesDict`.
    layout: its flat columns (`features.Layout`).
    lengths: [E] int64 steps per episode.
    metadata: dict of [E] arrays: every scalar episode_metadata field, plus always
      'length', 'episode_return', 'rating', 'outcome', 'policy_id', 'seat'.
    shard_paths: the shard files.
    recording: the settings `record` stored (empty for foreign datasets).
  """

  def __init__(self, path: pathlib.Path):
    tfds = _lazy.tfds()
    self.path = path
    info_json = _read_json(path / 'dataset_info.json')
    try:
      self.features = tfds.features.FeatureConnector.from_config(os.fspath(path))
    except Exception as e:  # pylint: disable=broad-except
      raise DatasetError(f'cannot read the features of {path} ({e}); features.json is '
                         'missing or corrupt.') from e
    try:
      self.layout = features_lib.Layout(self.features)
    except ValueError as e:
      raise DatasetError(f'{path}: {e}') from e
    self.name = info_json.get('name', path.name)
    self.version = info_json.get('version', '')
    self.file_format = info_json.get('fileFormat', 'tfrecord') or 'tfrecord'
    if self.file_format not in writer_lib.FORMATS:
      raise DatasetError(f'{path}: file format {self.file_format!r} is not supported '
                         f'(supported: {writer_lib.FORMATS}).')
    splits = {s['name']: s for s in info_json.get('splits', [])}
    if not splits:
      raise DatasetError(f'{path}/dataset_info.json lists no splits; the dataset was '
                         'never finished.')
    # All splits together form the episode pool; the training split is made by
    # offline_rl.data at the episode level.
    self.split_names = list(splits)
    self.shard_paths: list[pathlib.Path] = []
    shard_lengths: list[int] = []
    for split_name, split in splits.items():
      lengths = [int(n) for n in split.get('shardLengths', [])]
      template = tfds.core.ShardedFileTemplate(
          data_dir=path, dataset_name=self.name, split=split_name,
          filetype_suffix=self.file_format,
          template=split.get('filepathTemplate') or None)
      for i, n in enumerate(lengths):
        self.shard_paths.append(pathlib.Path(os.fspath(
            template.sharded_filepath(shard_index=i, num_shards=len(lengths)))))
        shard_lengths.append(n)
    for shard in self.shard_paths:
      if not shard.exists():
        raise DatasetError(f'shard {shard} is missing: the dataset is incomplete. '
                           'Re-record or re-download it.')
    self._shard_lengths = shard_lengths
    sidecar_path = path / writer_lib.SIDE_CAR
    self.recording: dict[str, Any] = {}
    index = None
    if sidecar_path.exists():
      self.recording = _read_json(sidecar_path)
      if (path / writer_lib.INDEX).exists():
        index = _read_index(path / writer_lib.INDEX)
    self._build_index(index)
    self.spec_inferred = True
    self.skipped_fields: list[str] = []
    stored = self.recording.get('env_spec')
    if stored is None:
      stored_text = (info_json.get('metadata') or {}).get('env_spec')
      if stored_text is None and (path / 'metadata.json').exists():
        stored_text = _read_json(path / 'metadata.json').get('env_spec')
      stored = json.loads(stored_text) if stored_text else None
    if stored is not None:
      self.spec = specs.EnvSpec.from_json(json.dumps(stored))
      self.spec_inferred = False
    else:
      self.skipped_fields = features_lib.text_observation_keys(self.layout)
      if self.skipped_fields:
        logging.warning('%s: skipping text observation field(s) %s: only numeric '
                        'fields are trained on.', path, ', '.join(self.skipped_fields))
      try:
        self.spec = features_lib.infer_spec(
            self.layout, env_id=f'rlds/{self.name}', version=self.version,
            max_episode_steps=int(self.lengths.max()) if self.lengths.size else 0)
      except ValueError as e:
        raise DatasetError(f'{path}: {e}') from e
    # The value range of integer action heads whose spec lacks num_values; where the
    # values are indices (>= 0), num_values = max + 1 (see datasets/actions.py).
    self.spec, self.action_ranges = actions_lib.infer_num_values(self)

  def override_num_values(self, num_values: int) -> None:
    """Sets the number of values of the dataset's one discrete action head.

    Raises:
      DatasetError: the action has several heads, or the data exceeds the number.
    """
    try:
      self.spec = actions_lib.override_num_values(self.spec, int(num_values),
                                                  self.action_ranges)
    except ValueError as e:
      raise DatasetError(f'{self.path}: {e}') from e

  # ------------------------------------------------------------ index

  def _build_index(self, index: dict | None):
    expected_bytes = None
    self._crc32 = None
    if index is not None:
      if 'crc32' in index and len(index['crc32']) == len(index['shard']):
        self._crc32 = index['crc32'].astype(np.uint32)
      self._shard = index['shard'].astype(np.int64)
      self._record = index['record'].astype(np.int64)
      offsets = index['offset']
      expected_bytes = index['file_bytes']
      columns = {k[len('metadata/'):]: v for k, v in index.items()
                 if k.startswith('metadata/')}
      self._readers = []
      for i, (shard, n) in enumerate(zip(self.shard_paths, self._shard_lengths)):
        size = shard.stat().st_size
        if size != int(expected_bytes[i]):
          raise DatasetError(f'shard {shard} has {size} bytes but {int(expected_bytes[i])} '
                             'were written: the file is truncated or corrupt. '
                             'Re-record it.')
        shard_offsets = offsets[self._shard == i] if self.file_format == 'tfrecord' else None
        self._readers.append(_ShardReader(shard, self.file_format, n, shard_offsets))
      self.lengths = columns['length'].astype(np.int64)
      self._check_shard_table()
    else:
      self._readers = [_ShardReader(s, self.file_format, n, None)
                       for s, n in zip(self.shard_paths, self._shard_lengths)]
      columns, shard_ids, records, lengths = {}, [], [], []
      returns = []
      reward_key = 'steps/reward'
      has_reward = reward_key in self.layout.by_key
      for i, reader in enumerate(self._readers):
        for r in range(self._shard_lengths[i]):
          raw = self._read_raw(i, r)
          keys = {c.key for c in self.layout.episode_columns}
          keys.add(self.layout.length_column.key)
          if has_reward:
            keys.add(reward_key)
          try:
            flat = self.layout.decode(raw, keys=keys)
          except (wire.WireError, ValueError) as e:
            raise DatasetError(f'record {r} of shard {reader.path} is corrupt: {e}. '
                               'Re-record or re-download it.') from e
          for c in self.layout.episode_columns:
            if c.shape == ():
              path = c.path[1:] if c.path[0] == 'episode_metadata' else c.path
              columns.setdefault('/'.join(path), []).append(flat[c.key])
          lengths.append(flat['__length__'])
          returns.append(float(np.sum(flat[reward_key])) if has_reward else np.nan)
          shard_ids.append(i)
          records.append(r)
      self._shard = np.asarray(shard_ids, np.int64)
      self._record = np.asarray(records, np.int64)
      self.lengths = np.asarray(lengths, np.int64)
      columns = {k: np.asarray(v) for k, v in columns.items()}
      columns.setdefault('episode_return', np.asarray(returns, np.float32))
    num = len(self.lengths)
    columns['length'] = self.lengths.astype(np.int32)
    for key, default in features_lib.METADATA_DEFAULTS.items():
      if key not in columns:
        columns[key] = np.full(num, default)
    if np.all(np.isnan(columns['outcome'].astype(np.float64))) and (
        'outcome' not in (index or {}) and self.spec_num_players_hint() == 1):
      columns['outcome'] = columns['episode_return'].astype(np.float32)
    for key, dtype in features_lib._METADATA_DTYPES.items():  # pylint: disable=protected-access
      if dtype != 'str' and columns[key].dtype.kind in 'biuf':
        columns[key] = columns[key].astype(dtype)
    for key, value in columns.items():
      if value.dtype.kind in 'US':
        columns[key] = value.astype(object)
    self.metadata = columns

  def _check_shard_table(self):
    """dataset_info.json's shard lengths must count the index's episodes per shard."""
    counts = np.bincount(self._shard, minlength=len(self.shard_paths))
    for shard, (found, said) in enumerate(zip(counts, self._shard_lengths)):
      if found != said:
        raise DatasetError(
            f'shard {self.shard_paths[shard]}: dataset_info.json says it holds {said} '
            f'episodes but the index ({writer_lib.INDEX}) lists {found}: one of the two '
            'files was edited or damaged. Re-record or re-download the dataset.')

  def spec_num_players_hint(self) -> int:
    return int((self.recording.get('env_spec') or {}).get('num_players', 1))

  def _read_raw(self, shard: int, record: int) -> bytes:
    return self._readers[shard].read(record)

  def _verify(self, index: int, raw: bytes):
    """Checks a record against the crc32 `record` stored (ArrayRecord has none)."""
    if self._crc32 is not None and zlib.crc32(raw) != int(self._crc32[index]):
      shard, record = int(self._shard[index]), int(self._record[index])
      raise DatasetError(f'record {record} of shard {self._readers[shard].path} is '
                         'corrupt (checksum mismatch). Re-record or re-download it.')

  # ------------------------------------------------------------ public

  @property
  def num_episodes(self) -> int:
    return int(self.lengths.size)

  @property
  def num_steps(self) -> int:
    return int(self.lengths.sum())

  @property
  def disk_bytes(self) -> int:
    return sum(p.stat().st_size for p in self.path.rglob('*') if p.is_file())

  def episode_flat(self, index: int, raw: bytes | None = None, keys=None) -> dict:
    """Episode `index` as flat columns {'steps/...': [L, ...], 'episode_metadata/...'}.

    Args:
      index: the episode.
      raw: its serialised record, when already read.
      keys: optional flat keys to decode (the others are skipped).
    """
    shard, record = int(self._shard[index]), int(self._record[index])
    if raw is None:
      raw = self._read_raw(shard, record)
    try:
      self._verify(index, raw)
      flat = self.layout.decode(raw, keys=keys)
    except DatasetError:
      raise
    except (wire.WireError, ValueError) as e:
      raise DatasetError(f'episode {index} (record {record} of shard '
                         f'{self._readers[shard].path}) is corrupt: {e}. Re-record or '
                         're-download it.') from e
    return flat

  def read_raw(self, indices: Sequence[int]) -> list[bytes]:
    """Serialised episodes, read shard by shard (in the order asked)."""
    indices = np.asarray(indices, np.int64)
    out: list[bytes | None] = [None] * len(indices)
    shards = self._shard[indices]
    for shard in np.unique(shards):
      where = np.flatnonzero(shards == shard)
      records = self._record[indices[where]]
      for w, raw in zip(where, self._readers[shard].read_many(records)):
        out[w] = raw
    return out  # type: ignore[return-value]

  def episode(self, index: int) -> dict:
    """Episode `index`: {'steps': nested dict of [L, ...] arrays, 'metadata': dict}.

    Step fields are nested as in the features (observation, action, reward, discount,
    is_first, is_last, is_terminal, legal_action_mask when present). A single-array
    observation/action of a foreign dataset is wrapped as in `spec`.
    """
    if not 0 <= index < self.num_episodes:
      raise IndexError(f'episode {index} out of range: the dataset has '
                       f'{self.num_episodes} episodes.')
    flat = self.episode_flat(index)
    return {'steps': self.nest_steps(flat),
            'metadata': {k: v[index] for k, v in self.metadata.items()}}

  def nest_steps(self, flat: dict) -> dict:
    steps = features_lib.nest(flat, 'steps')
    for name in ('observation', 'action', 'legal_action_mask'):
      if name in steps and not isinstance(steps[name], dict):
        steps[name] = {name: steps[name]}
    return steps

  def iter_episodes(self, indices: Sequence[int] | None = None) -> Iterator[dict]:
    for i in range(self.num_episodes) if indices is None else indices:
      yield self.episode(int(i))

  def close(self):
    for reader in self._readers:
      reader.close()

  def __repr__(self):
    return (f'Dataset({self.path}, {self.spec.env_id}, {self.num_episodes} episodes, '
            f'{self.num_steps} steps, {self.file_format})')


def load(path) -> Dataset:
  """Opens the RLDS dataset at `path` (see the module docstring).

  Raises:
    DatasetError: the path is missing, is not a dataset, or a shard is missing,
      truncated or corrupt (the file is named).
  """
  path = pathlib.Path(os.fspath(path)).expanduser()
  if not path.exists():
    hint = ''
    incomplete = writer_lib.incomplete_dir(path)
    if incomplete.exists():
      hint = (f' An unfinished recording exists at {incomplete}: re-run the same '
              '`record` command to resume it.')
    raise DatasetError(f'{path} does not exist. Check the path, or record a dataset '
                       f'with `offline-rl data record`.{hint}')
  if not path.is_dir():
    raise DatasetError(f'{path} is a file, not a dataset directory. Pass the directory '
                       'holding dataset_info.json.')
  return Dataset(_find_info_dir(path))


def validate(dataset_spec: specs.EnvSpec, env_spec: specs.EnvSpec) -> None:
  """Raises `SpecMismatchError` naming every field where the two specs differ."""
  lines = specs.spec_mismatches(env_spec, dataset_spec)
  if lines:
    listing = '\n  '.join(lines)
    raise SpecMismatchError(
        f'the dataset ({dataset_spec.env_id} v{dataset_spec.version}) does not match '
        f'the environment ({env_spec.env_id} v{env_spec.version}); expected = '
        f'environment, got = dataset:\n  {listing}\nRecord the dataset with this '
        'environment, or build the environment with the parameters the dataset was '
        f'recorded with: {json.dumps(dict(dataset_spec.params))}.')
