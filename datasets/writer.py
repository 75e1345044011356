"""Streaming, atomic writing of RLDS datasets in the TFDS layout.

A dataset is written into a hidden temporary directory next to its destination
(`.NAME.incomplete`), one shard at a time; each finished shard is renamed into place and
recorded in the progress file of the process that wrote it (`progress-i.json`; a
resumed recording gathers them into `progress.json` first), so an interrupted run can
resume from its finished shards.
Only `finalize` writes `dataset_info.json` / `features.json` and renames the directory
to its destination: until then nothing loads as a dataset. `finalize` may be run again
after an interruption: shards it already renamed stay where they are.

Final layout (what `tfds.builder_from_directory` reads):
  dataset_info.json, features.json          TFDS metadata (split 'train', shard lengths)
  NAME-train.FORMAT-0000i-of-0000n          the shards (tfrecord or array_record)
  offline_rl.json                            EnvSpec + recording settings
  episodes.npz                               per-episode index: shard, record, length,
                                             metadata columns (loads without a scan)
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import zlib
from typing import Any

import numpy as np

from offline_rl import errors
from offline_rl import specs
from offline_rl.datasets import _lazy
from offline_rl.datasets import features as features_lib

FORMATS = ('tfrecord', 'array_record')
SIDE_CAR = 'offline_rl.json'
INDEX = 'episodes.npz'
PROGRESS = 'progress.json'
FORMAT_VERSION = 1


def incomplete_dir(path: pathlib.Path) -> pathlib.Path:
  """Where a recording of `path` is assembled until it is complete."""
  return path.parent / f'.{path.name}.incomplete'


def make_incomplete_dir(path: pathlib.Path) -> pathlib.Path:
  """Creates `incomplete_dir(path)`; a UserError naming `path` when it cannot."""
  tmp = incomplete_dir(path)
  try:
    tmp.mkdir(parents=True)
  except OSError as e:
    raise errors.UserError(f'cannot write the dataset {path}: {e.strerror} '
                           f'({e.filename}). Choose a directory you can write to.') from e
  return tmp


def dataset_name(spec: specs.EnvSpec) -> str:
  """A TFDS-valid dataset name from an env id: 'toy/corridor-v0' -> 'toy_corridor_v0'."""
  name = ''.join(c if c.isalnum() else '_' for c in spec.env_id.lower()).strip('_')
  if not name or not name[0].isalpha():
    name = f'rlds_{name}'
  return name


@dataclasses.dataclass
class ShardInfo:
  """What one finished shard holds (kept in progress.json and episodes.npz)."""
  file: str
  num_episodes: int
  num_bytes: int
  file_bytes: int
  offsets: list[int]  # tfrecord byte offsets of each record (empty for array_record)
  metadata: dict[str, list]  # per-episode metadata columns, incl. 'length'
  checksums: list[int] = dataclasses.field(default_factory=list)  # crc32 per record


class _RecordFile:
  """Appends serialised records to a tfrecord or array_record file."""

  def __init__(self, path: pathlib.Path, file_format: str):
    self.file_format = file_format
    self.offsets, self.checksums = [], []
    self._offset = 0
    if file_format == 'tfrecord':
      self._writer = _lazy.tf().io.TFRecordWriter(os.fspath(path))
    elif file_format == 'array_record':
      self._writer = _lazy.array_record().ArrayRecordWriter(os.fspath(path),
                                                            'group_size:1')
    else:
      raise ValueError(f'Unknown file format {file_format!r}; use one of {FORMATS}.')

  def write(self, record: bytes):
    self.checksums.append(zlib.crc32(record))
    self.offsets.append(self._offset)
    self._offset += len(record) + 16  # length, its CRC, data, data CRC.
    self._writer.write(record)

  def close(self):
    if hasattr(self._writer, 'flush'):
      self._writer.flush()
    self._writer.close()


def shard_file(index: int, file_format: str) -> str:
  """The name of shard `index` in the temporary directory (until `finalize`)."""
  return f'shard-{index:05d}.{file_format}'


class ShardWriter:
  """Writes one shard of episodes; `close()` renames it into place atomically."""

  def __init__(self, directory: pathlib.Path, index: int, layout: features_lib.Layout,
               file_format: str):
    self.directory, self.index, self.layout = directory, index, layout
    self.file_format = file_format
    self.file = shard_file(index, file_format)
    self._partial = directory / (self.file + '.partial')
    self._records = _RecordFile(self._partial, file_format)
    self.num_bytes = 0
    self.metadata: dict[str, list] = {}

  def add(self, steps_flat: dict[str, np.ndarray], metadata: dict[str, Any]):
    """Adds one episode: step columns {'steps/...': [L, ...]} and its metadata."""
    flat = dict(steps_flat)
    for key, value in metadata.items():
      flat[f'episode_metadata/{key}'] = value
    record = self.layout.encode(flat)
    self._records.write(record)
    self.num_bytes += len(record)
    for key, value in metadata.items():
      self.metadata.setdefault(key, []).append(
          value.item() if isinstance(value, np.generic) else value)

  def close(self) -> ShardInfo:
    self._records.close()
    final = self.directory / self.file
    os.replace(self._partial, final)
    return ShardInfo(self.file, len(self._records.offsets), self.num_bytes,
                     final.stat().st_size,
                     self._records.offsets if self.file_format == 'tfrecord' else [],
                     self.metadata, self._records.checksums)


def _progress_path(directory: pathlib.Path, process: int | None) -> pathlib.Path:
  return directory / (PROGRESS if process is None else f'progress-{process}.json')


def write_progress(directory: pathlib.Path, progress: dict, process: int | None = None):
  """Writes `progress` ({'config', 'shards'}) atomically: to `progress.json`, or to
  process `process`'s own file."""
  path = _progress_path(directory, process)
  tmp = path.with_name(path.name + '.tmp')
  tmp.write_text(json.dumps(progress))
  os.replace(tmp, path)


def read_progress(directory: pathlib.Path) -> dict | None:
  """`progress.json` (None: no such file, or unreadable)."""
  return _read_json(directory / PROGRESS)


def _read_json(path: pathlib.Path) -> dict | None:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return None


def process_progress_files(directory: pathlib.Path) -> list[pathlib.Path]:
  """The progress files of single processes (`progress-i.json`) in `directory`."""
  return sorted(directory.glob('progress-*.json'))


def read_all_progress(directory: pathlib.Path) -> dict | None:
  """`progress.json` and every process's file merged: {'config', 'shards'}, each shard
  once. None when a file is unreadable or the files disagree on 'config'."""
  merged = read_progress(directory)
  for path in process_progress_files(directory):
    part = _read_json(path)
    if part is None or (merged is not None and part.get('config') != merged['config']):
      return None
    merged = merged or {'config': part['config'], 'shards': []}
    merged['shards'] += part['shards']
  if merged is not None:
    merged['shards'] = list({s['file']: s for s in merged['shards']}.values())
  return merged


def finalize(directory: pathlib.Path, destination: pathlib.Path,
             spec: specs.EnvSpec, features, shards: list[ShardInfo], file_format: str,
             extra: dict, *, description: str = '') -> pathlib.Path:
  """Writes the TFDS metadata and the index, then renames `directory` to `destination`."""
  tfds = _lazy.tfds()
  name = dataset_name(spec)
  num_shards = len(shards)
  template = tfds.core.ShardedFileTemplate(
      data_dir=directory, dataset_name=name, split='train',
      filetype_suffix=file_format)
  files = []
  for i, shard in enumerate(shards):
    final = template.sharded_filepath(shard_index=i, num_shards=num_shards)
    if not os.path.exists(final):  # Else an interrupted finalize has moved it.
      os.replace(directory / shard.file, final)
    files.append(pathlib.Path(os.fspath(final)).name)
  identity = tfds.core.DatasetIdentity(
      name=name, version=tfds.core.Version('1.0.0'), data_dir=os.fspath(directory),
      module_name='')
  info = tfds.core.DatasetInfo(
      builder=identity, features=features,
      description=description or f'RLDS episodes of {spec.env_id} recorded by offline_rl.',
      metadata=tfds.core.MetadataDict(env_spec=spec.to_json()))
  info.set_file_format(file_format)
  info.set_splits(tfds.core.SplitDict([tfds.core.SplitInfo(
      name='train', shard_lengths=[s.num_episodes for s in shards],
      num_bytes=sum(s.num_bytes for s in shards), filename_template=template)]))
  info.write_to_directory(os.fspath(directory))
  # The per-episode index: lets `load` skip a full scan of the shards.
  columns: dict[str, list] = {}
  for shard in shards:
    for key, values in shard.metadata.items():
      columns.setdefault(key, []).extend(values)
  index = {
      'shard': np.concatenate([np.full(s.num_episodes, i, np.int32)
                               for i, s in enumerate(shards)] or [np.zeros(0, np.int32)]),
      'record': np.concatenate([np.arange(s.num_episodes, dtype=np.int64)
                                for s in shards] or [np.zeros(0, np.int64)]),
      'offset': np.concatenate([np.asarray(s.offsets or [-1] * s.num_episodes, np.int64)
                                for s in shards] or [np.zeros(0, np.int64)]),
      'file_bytes': np.asarray([s.file_bytes for s in shards], np.int64),
      'crc32': np.concatenate([np.asarray(s.checksums, np.uint32) for s in shards]
                              or [np.zeros(0, np.uint32)]),
  }
  for key, values in columns.items():
    array = np.asarray(values)
    if array.dtype.kind in 'OU':
      array = array.astype(str)
    index[f'metadata/{key}'] = array
  np.savez(directory / INDEX, **index)
  sidecar = {'format_version': FORMAT_VERSION, 'env_spec': json.loads(spec.to_json()),
             'files': files, **extra}
  (directory / SIDE_CAR).write_text(json.dumps(sidecar, indent=1))  # Keeps head order.
  for path in [directory / PROGRESS, *process_progress_files(directory)]:
    path.unlink(missing_ok=True)
  if destination.exists():
    shutil.rmtree(destination)
  os.replace(directory, destination)
  return destination
