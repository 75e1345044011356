"""A uniformly random policy for any spec: the conformance check's driver and a baseline."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import specs
from offline_rl import types


def _sample_head(head: specs.ArraySpec, mask, key):
  if head.num_values is not None:
    logits = jnp.zeros(head.shape + (head.num_values,))
    if mask is not None:
      if mask.ndim == len(head.shape) + 2:  # Conditioned mask [n_first, num_values].
        mask = jnp.any(mask, axis=-2)
      logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(head.dtype)
  dtype = jnp.dtype(head.dtype)
  if jnp.issubdtype(dtype, jnp.bool_):
    return jax.random.bernoulli(key, 0.5, head.shape)
  low = -1.0 if head.minimum is None else head.minimum
  high = 1.0 if head.maximum is None else head.maximum
  if jnp.issubdtype(dtype, jnp.integer):
    return jax.random.randint(key, head.shape, int(low), int(high) + 1).astype(dtype)
  return jax.random.uniform(key, head.shape, jnp.float32, low, high).astype(dtype)


def random_apply(spec: specs.EnvSpec, params, timestep: types.TimeStep, state, key):
  """Each head uniformly at random: discrete heads among legal values, continuous
  heads within their bounds ([-1, 1] where unbounded)."""
  del params
  keys = jax.random.split(key, len(spec.action))
  masks = timestep.legal_action_mask or {}
  action = {name: _sample_head(head, masks.get(name), k)
            for (name, head), k in zip(spec.action.items(), keys)}
  return action, state


def random_policy(spec: specs.EnvSpec) -> types.Policy:
  """`types.Policy` acting uniformly at random for any environment spec."""
  import functools  # pylint: disable=g-import-not-at-top
  return types.Policy(f'random/{spec.env_id}', functools.partial(random_apply, spec), ())
