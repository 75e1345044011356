"""Reference policies every environment has: uniformly random over legal actions."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import specs
from offline_rl import types


def random_policy(spec: specs.EnvSpec, policy_id: str = 'random') -> types.Policy:
  """A policy that picks every action head uniformly among its legal values."""
  action_spec = dict(spec.action)
  for name, leaf in action_spec.items():
    if leaf.num_values is None:
      raise ValueError(f'random_policy needs discrete action heads; {spec.env_id} head '
                       f'{name!r} is {leaf.describe()}.')
  head_names = list(action_spec)

  def apply(params, timestep, state, key):
    del params
    masks = timestep.legal_action_mask or {}
    action = {}
    keys = jax.random.split(key, len(head_names))
    for k, name in zip(keys, head_names):
      leaf = action_spec[name]
      logits = jnp.zeros(leaf.shape + (leaf.num_values,))
      mask = masks.get(name)
      if mask is not None:
        if mask.ndim == len(leaf.shape) + 2:  # Conditioned on the first head's value.
          mask = mask[action[head_names[0]]]
        logits = jnp.where(mask, 0.0, -jnp.inf)
      action[name] = jax.random.categorical(k, logits).astype(leaf.dtype)
    return action, state

  return types.Policy(policy_id, apply, ())
