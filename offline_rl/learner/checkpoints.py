"""Orbax checkpoints of a run, and reading them back (params only, or everything).

A run directory holds `config.json` and `spec.json` (written by the learner) and
`checkpoints/<step>/` with three items: `params`, `train` (optimiser state, step, RNG
key) and `meta` (JSON: the data iterator's position and run facts such as the highest
rating seen in training). A path to a run directory means its latest checkpoint; a
path to `checkpoints/<step>` means that step.
"""
from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

PyTree = Any


def _jsonable(tree):
  """Converts NumPy scalars and arrays inside a JSON-like tree to plain Python."""
  return json.loads(json.dumps(tree, default=lambda x: np.asarray(x).tolist()))


class Checkpointer:
  """Saves and restores checkpoints of one run (see the module docstring)."""

  def __init__(self, directory: str, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, params: PyTree, train: PyTree, meta: dict) -> None:
    self._manager.save(step, args=ocp.args.Composite(
        params=ocp.args.StandardSave(params),
        train=ocp.args.StandardSave(train),
        meta=ocp.args.JsonSave(_jsonable(meta))))

  def restore(self, step: int, params_target: PyTree, train_target: PyTree):
    """(params, train, meta) at `step`, shaped and sharded like the targets."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(_abstract(params_target)),
        train=ocp.args.StandardRestore(_abstract(train_target)),
        meta=ocp.args.JsonRestore()))
    return restored['params'], restored['train'], restored['meta']

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def _abstract(tree):
  """What Orbax restores into: jax arrays laid out like `tree`'s (on this run's mesh,
  whatever mesh wrote them), NumPy arrays where `tree` holds NumPy arrays."""
  def leaf(x):
    if not isinstance(x, jax.Array):
      return x
    return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=x.sharding)
  return jax.tree.map(leaf, tree)


def resolve(path: str) -> tuple[str, str, int]:
  """(run directory, checkpoints directory, step) for a run or checkpoint path."""
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.exists(path):
    raise FileNotFoundError(f'No run or checkpoint at {path}.')
  if os.path.isdir(os.path.join(path, 'checkpoints')):
    run_dir, ckpt_dir, step = path, os.path.join(path, 'checkpoints'), None
  elif os.path.basename(path) == 'checkpoints':
    run_dir, ckpt_dir, step = os.path.dirname(path), path, None
  elif os.path.basename(path).isdigit():
    ckpt_dir = os.path.dirname(path)
    run_dir, step = os.path.dirname(ckpt_dir), int(os.path.basename(path))
  else:
    raise FileNotFoundError(
        f'{path} is neither a run directory (with checkpoints/ inside), a checkpoints '
        'directory, nor a checkpoints/<step> directory.')
  if step is None:
    steps = [int(d) for d in os.listdir(ckpt_dir) if d.isdigit()]
    if not steps:
      raise FileNotFoundError(f'{ckpt_dir} holds no checkpoint yet.')
    step = max(steps)
  return run_dir, ckpt_dir, step


def load_params(path: str, target: PyTree | None = None) -> tuple[PyTree, dict, int]:
  """Reads (params, meta, step) from a run directory or a checkpoint directory.

  Args:
    path: see the module docstring.
    target: parameters of the expected structure (e.g. a fresh init); the restored
      ones must match it, else a ValueError names the difference.
  """
  _, ckpt_dir, step = resolve(path)
  # Every item's handler, 'train' included: item_metadata warns of an item without one.
  manager = ocp.CheckpointManager(ckpt_dir, item_handlers={
      'params': ocp.StandardCheckpointHandler(), 'train': ocp.StandardCheckpointHandler(),
      'meta': ocp.JsonCheckpointHandler()})
  try:
    if target is None:
      # NumPy arrays: the devices that wrote the checkpoint need not exist here.
      target = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype),
                            manager.item_metadata(step)['params'])
    restored = manager.restore(step, args=ocp.args.Composite(
        params=ocp.args.StandardRestore(_abstract(target)),
        meta=ocp.args.JsonRestore()))
  except (ValueError, KeyError, TypeError) as error:
    raise ValueError(
        f'The checkpoint {ckpt_dir}/{step} does not fit this network: {error}. Was it '
        'trained with the same network config and environment spec?') from error
  finally:
    manager.close()
  return restored['params'], dict(restored['meta'] or {}), step


def load_matching_params(path: str, target: PyTree) -> tuple[PyTree, dict, int, list]:
  """A warm start: `target` with every leaf the checkpoint has at the same path and
  shape replaced by the checkpoint's value.

  Returns:
    (params, meta, step, fresh): `fresh` lists the paths that kept `target`'s value
    (e.g. a value head the checkpoint's network did not have).

  Raises:
    ValueError: a parameter both have differs in shape, or none matched (a different
      network or environment).
  """
  saved, meta, step = load_params(path)
  saved_leaves = {jax.tree_util.keystr(p): leaf for p, leaf in
                  jax.tree_util.tree_flatten_with_path(saved)[0]}
  fresh, matched = [], 0

  def pick(key_path, leaf):
    nonlocal matched
    name = jax.tree_util.keystr(key_path)
    old = saved_leaves.get(name)
    if old is None:
      fresh.append(name)
      return leaf
    if np.shape(old) != np.shape(leaf):
      raise ValueError(
          f'The checkpoint {path} does not fit this network: {name} has shape '
          f'{np.shape(old)} there and {np.shape(leaf)} here. Warm-start from a run of '
          'the same network config and environment spec.')
    matched += 1
    return np.asarray(old, np.asarray(leaf).dtype)
  params = jax.tree_util.tree_map_with_path(pick, target)
  if not matched:
    raise ValueError(f'Nothing in {path} fits this network: no parameter has the same '
                     'path and shape. Warm-start from a run of the same network config '
                     'and environment spec.')
  return params, meta, step, fresh


def read_run_files(run_dir: str) -> tuple[str, str]:
  """(config JSON, spec JSON) written by the learner into a run directory."""
  texts = []
  for name in ('config.json', 'spec.json'):
    file = os.path.join(run_dir, name)
    if not os.path.exists(file):
      raise FileNotFoundError(f'{file} is missing: {run_dir} was not written by '
                              'offline_rl.learner.Learner.')
    with open(file) as f:
      texts.append(f.read())
  return texts[0], texts[1]
