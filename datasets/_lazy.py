"""Lazy imports of the data-boundary libraries, with the stack's warts fixed.

TensorFlow, TFDS and rlds are imported only when a function needs them (TF alone costs
seconds and hundreds of MB). `rlds` imports dm-reverb at module level without declaring
it, and dm-reverb does not load beside TF 2.21: a placeholder module stands in for it
(everything but `rlds.transformations.pattern_map*` then works).
"""
from __future__ import annotations

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


def tfds():
  """tensorflow_datasets, imported on first use."""
  import tensorflow_datasets  # pylint: disable=g-import-not-at-top
  return tensorflow_datasets


def tf():
  """tensorflow, imported on first use (keep it out of hot paths)."""
  # distrax/rlax must be importable after TF; importing them first avoids the tf_keras
  # dependency of tfp's eager TF side when they are installed.
  import tensorflow  # pylint: disable=g-import-not-at-top
  return tensorflow


def rlds():
  """rlds with the dm-reverb placeholder registered (see the module docstring)."""
  if 'reverb' not in sys.modules:
    sys.modules['reverb'] = _ReverbPlaceholder('reverb')
  import rlds as rlds_module  # pylint: disable=g-import-not-at-top
  return rlds_module


def array_record():
  """array_record's reader/writer module (no TensorFlow)."""
  from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
  return array_record_module
