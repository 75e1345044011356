"""Datasets: record, load, validate, import and convert RLDS datasets (TFDS layout).

Public API (see docs/data.md):
  record(env, matchups, path, *, num_episodes, ...) -> info dict
  load(path) -> Dataset
  validate(dataset_spec, env_spec)          raises SpecMismatchError naming each field
  verify(path) -> (dataset, problems)       reads every record; one problem per bad file
  convert(source, destination, *, file_format)
  import_minari(dataset_id_or_path, destination, ...)
  import_d4rl(hdf5_path, destination, ...)
"""
from offline_rl.datasets.converters import convert
from offline_rl.datasets.converters import import_d4rl
from offline_rl.datasets.converters import import_minari
from offline_rl.datasets.reader import Dataset
from offline_rl.datasets.reader import DatasetError
from offline_rl.datasets.reader import load
from offline_rl.datasets.reader import SpecMismatchError
from offline_rl.datasets.reader import validate
from offline_rl.datasets.recorder import record
from offline_rl.datasets.verify import verify

__all__ = [
    'Dataset',
    'DatasetError',
    'SpecMismatchError',
    'convert',
    'import_d4rl',
    'import_minari',
    'load',
    'record',
    'validate',
    'verify',
]
