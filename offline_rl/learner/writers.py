"""Scalar logs: CSV files and TensorBoard event files (written without TensorFlow).

`MetricsWriter(logdir)` writes `<logdir>/<group>.csv` (one file per group: 'train',
'eval') and TensorBoard events under `<logdir>/tb`. Tags are '<group>/<name>'.
A run that resumes appends to the same files, after dropping the CSV rows logged past
the step it resumes from (a crash after them lost those updates; they are redone).
"""
from __future__ import annotations

import csv
import os
import time
from typing import Mapping

import numpy as np


class CSVWriter:
  """Appends rows of scalars to one CSV file; new columns extend the header.

  With `resume_step`, rows whose 'step' is past it are dropped from an existing file.
  """

  def __init__(self, path: str, resume_step: int | None = None):
    self.path = path
    self._fields: list[str] = []
    if os.path.exists(path):
      with open(path, newline='') as f:
        header = next(csv.reader(f), None)
      self._fields = list(header or [])
      if resume_step is not None:
        self._drop_rows_after(resume_step)

  def _drop_rows_after(self, step: int) -> None:
    with open(self.path, newline='') as f:
      rows = list(csv.DictReader(f))
    kept = [row for row in rows if _step(row) <= step]
    if len(kept) == len(rows):
      return
    tmp = f'{self.path}.tmp'
    with open(tmp, 'w', newline='') as f:
      writer = csv.DictWriter(f, self._fields, restval='')
      writer.writeheader()
      writer.writerows(kept)
    os.replace(tmp, self.path)  # Atomic: a crash here keeps the old file whole.

  def write(self, row: Mapping[str, float]) -> None:
    new = [k for k in row if k not in self._fields]
    if new or not os.path.exists(self.path):
      rows = []
      if os.path.exists(self.path):
        with open(self.path, newline='') as f:
          rows = list(csv.DictReader(f))
      self._fields += new
      with open(self.path, 'w', newline='') as f:
        writer = csv.DictWriter(f, self._fields, restval='')
        writer.writeheader()
        writer.writerows(rows)
    with open(self.path, 'a', newline='') as f:
      csv.DictWriter(f, self._fields, restval='').writerow(dict(row))


def _step(row: Mapping[str, str]) -> float:
  """A CSV row's step; a torn row (no step) counts as past every step."""
  try:
    return float(row.get('step') or 'inf')
  except ValueError:
    return float('inf')


class TensorBoardWriter:
  """Scalar summaries in TensorBoard's event-file format.

  Uses the `tensorboard` package's protos and record writer directly: its
  `EventFileWriter` would import TensorFlow (3.5 s) for file access.
  """

  def __init__(self, logdir: str):
    # pylint: disable=g-import-not-at-top
    import socket
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.summary.writer import record_writer
    self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
    os.makedirs(logdir, exist_ok=True)
    name = f'events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.{os.getpid()}'
    self._file = open(os.path.join(logdir, name), 'ab')
    self._writer = record_writer.RecordWriter(self._file)
    self._add(event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2'))

  def _add(self, event) -> None:
    self._writer.write(event.SerializeToString())
    self._file.flush()

  def write(self, step: int, scalars: Mapping[str, float]) -> None:
    values = [self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
              for tag, value in scalars.items()]
    self._add(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                    summary=self._summary_pb2.Summary(value=values)))

  def close(self) -> None:
    self._file.close()


class MetricsWriter:
  """CSV + TensorBoard scalars for one run (see the module docstring)."""

  def __init__(self, logdir: str, tensorboard: bool = True,
               resume_step: int | None = None):
    """`resume_step`: the step training resumes from (see the module docstring)."""
    os.makedirs(logdir, exist_ok=True)
    self.logdir = logdir
    self._csv: dict[str, CSVWriter] = {}
    if resume_step is not None:  # Every group's file now, not at its next row.
      for name in sorted(os.listdir(logdir)):
        if name.endswith('.csv'):
          self._csv[name[:-4]] = CSVWriter(os.path.join(logdir, name), resume_step)
    self._tb = TensorBoardWriter(os.path.join(logdir, 'tb')) if tensorboard else None

  def write(self, group: str, step: int, scalars: Mapping[str, float]) -> None:
    scalars = {k: float(np.asarray(v)) for k, v in scalars.items()}
    if group not in self._csv:
      self._csv[group] = CSVWriter(os.path.join(self.logdir, f'{group}.csv'))
    self._csv[group].write({'step': step, 'time': round(time.time(), 3), **scalars})
    if self._tb is not None:
      self._tb.write(step, {f'{group}/{k}': v for k, v in scalars.items()})

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
