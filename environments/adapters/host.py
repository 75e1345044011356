"""Helpers shared by host (non-JAX) adapters: stacking per-environment records."""
from __future__ import annotations

import numpy as np

from offline_rl import types


def stack(trees):
  """A list of equally keyed nested dicts of arrays -> one dict of stacked arrays."""
  first = trees[0]
  if isinstance(first, dict):
    return {k: stack([t[k] for t in trees]) for k in first}
  return np.stack([np.asarray(t) for t in trees])


def zeros_like_spec(tree):
  if isinstance(tree, dict):
    return {k: zeros_like_spec(v) for k, v in tree.items()}
  return tree.zeros()


def episode_seed(seed: int, env_index: int, episode: int) -> int:
  """A distinct, reproducible seed for each (environment, episode)."""
  return int(np.random.SeedSequence([seed, env_index, episode]).generate_state(1)[0] >> 1)


class Record:
  """One environment's time step before batching (fields without the [N] axis)."""
  __slots__ = ('observation', 'legal_action_mask', 'reward', 'is_first', 'is_last',
               'is_terminal')

  def __init__(self, observation, legal_action_mask, reward, is_first, is_last,
               is_terminal):
    self.observation, self.legal_action_mask = observation, legal_action_mask
    self.reward, self.is_first = reward, is_first
    self.is_last, self.is_terminal = is_last, is_terminal


def batch(records: list[Record]) -> types.TimeStep:
  """Stacks per-environment records into a TimeStep with a leading [N] axis."""
  masks = [r.legal_action_mask for r in records]
  terminal = np.array([r.is_terminal for r in records], bool)
  return types.TimeStep(
      observation=stack([r.observation for r in records]),
      legal_action_mask=None if masks[0] is None else stack(masks),
      reward=np.stack([np.asarray(r.reward, np.float32) for r in records]),
      discount=np.where(terminal, 0.0, 1.0).astype(np.float32),
      is_first=np.array([r.is_first for r in records], bool),
      is_last=np.array([r.is_last for r in records], bool),
      is_terminal=terminal)
