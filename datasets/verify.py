"""Reading every record of a dataset, to name every bad file before training meets it.

`load` reads only the index (fast); a shard whose bytes were damaged after writing
then loads and fails when training reaches the damaged record. `verify(path)` reads
each shard whole: it counts its records against dataset_info.json's shard-length table
(a TFRecord shard through TensorFlow's reader, which checks every record's CRC),
decodes every episode and checks the crc32 that `record` stored for it. It reports
one problem per bad file and goes on to the next file.
"""
from __future__ import annotations

import numpy as np

from offline_rl.datasets import reader as reader_lib


def verify(path) -> tuple[reader_lib.Dataset | None, list[str]]:
  """(the dataset or None, one message per bad file); no messages: all records read.

  The dataset is None when it cannot even be opened (the one message says why).
  """
  try:
    dataset = reader_lib.load(path)
  except reader_lib.DatasetError as e:
    return None, [str(e)]
  problems = []
  for shard, shard_path in enumerate(dataset.shard_paths):
    problem = _verify_shard(dataset, shard)
    if problem:
      problems.append(problem)
  return dataset, problems


def _verify_shard(dataset: reader_lib.Dataset, shard: int) -> str | None:
  """The first problem found in one shard, or None."""
  # pylint: disable=protected-access
  expected = dataset._shard_lengths[shard]
  fresh = reader_lib._ShardReader(dataset.shard_paths[shard], dataset.file_format,
                                  expected, None)
  try:
    if dataset.file_format == 'tfrecord':
      fresh.scan_offsets()  # Counts the records and checks each one's CRC.
    else:
      fresh._open()  # Opening an ArrayRecord shard checks its record count.
    episodes = np.flatnonzero(dataset._shard == shard)
    if len(episodes) != expected:
      return (f'shard {dataset.shard_paths[shard]}: the dataset index lists '
              f'{len(episodes)} episodes in it but dataset_info.json says {expected}.')
    for index in episodes:
      dataset.episode_flat(int(index), raw=fresh.read(int(dataset._record[index])))
    fresh.close()  # Raises for damage the reads skipped over (ArrayRecord).
  except reader_lib.DatasetError as e:
    return str(e)
  finally:
    try:
      fresh.close()
    except reader_lib.DatasetError:
      pass  # Already reported.
  return None

