"""Lazy imports of the data-boundary libraries, with the stack's warts fixed.

TensorFlow, TFDS and rlds are imported only when a function needs them (TF alone costs
seconds and hundreds of MB). `rlds` imports dm-reverb at module level without declaring
it, and dm-reverb does not load beside TF 2.21: a placeholder module stands in for it
(everything but `rlds.transformations.pattern_map*` then works).
"""
from __future__ import annotations

import contextlib
import os
import sys
import types

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


class _ReverbPlaceholder(types.ModuleType):
  """Stands in for dm-reverb, which rlds imports but never needs for reading/writing."""

  def __getattr__(self, name):
    if name.startswith('__'):
      raise AttributeError(name)
    return _ReverbPlaceholder(f'reverb.{name}')


@contextlib.contextmanager
def _native_stderr_silenced():
  """Sends file descriptor 2 to /dev/null for the duration (Python errors still raise).

  TensorFlow's native libraries log at load time (oneDNN, "Could not find cuda
  drivers", CPU features: twice, once per library) before absl logging is initialised,
  so TF_CPP_MIN_LOG_LEVEL cannot silence them; every command would print them.
  """
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, 'w') as devnull:
      os.dup2(devnull.fileno(), 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def tf():
  """tensorflow, imported on first use (keep it out of hot paths), without the noise
  its native libraries print while loading."""
  if 'tensorflow' not in sys.modules:
    with _native_stderr_silenced():
      import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  return sys.modules['tensorflow']


def tfds():
  """tensorflow_datasets, imported on first use."""
  tf()
  import tensorflow_datasets  # pylint: disable=g-import-not-at-top
  return tensorflow_datasets


def tf_record():
  """TensorFlow's TFRecord reader module (random access by byte offset)."""
  tf()
  from tensorflow.python.lib.io import tf_record as module  # pylint: disable=g-import-not-at-top
  return module


def rlds():
  """rlds with the dm-reverb placeholder registered (see the module docstring)."""
  if 'reverb' not in sys.modules:
    sys.modules['reverb'] = _ReverbPlaceholder('reverb')
  tf()
  import rlds as rlds_module  # pylint: disable=g-import-not-at-top
  return rlds_module


def array_record():
  """array_record's reader/writer module (no TensorFlow)."""
  from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
  return array_record_module
