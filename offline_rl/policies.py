"""The reference policy every environment has: uniformly random over legal actions."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from offline_rl import specs
from offline_rl import types


def _sample_head(head: specs.ArraySpec, mask, key):
  """One head's value: discrete among legal values, continuous within its bounds."""
  if head.num_values is not None:
    logits = jnp.zeros(head.shape + (head.num_values,))
    if mask is not None:
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
  """Each head uniformly at random, in autoregressive order.

  Discrete heads sample among legal values; a mask conditioned on the first head
  ([n_first, num_values]) is indexed by the value already chosen for it. Continuous
  heads sample within their bounds ([-1, 1] where unbounded).
  """
  del params
  masks = timestep.legal_action_mask or {}
  names = list(spec.action)
  action = {}
  for name, k in zip(names, jax.random.split(key, len(names))):
    head, mask = spec.action[name], masks.get(name)
    if mask is not None and mask.ndim == len(head.shape) + 2:
      mask = mask[action[names[0]]]
    action[name] = _sample_head(head, mask, k)
  return action, state


def random_policy(spec: specs.EnvSpec, policy_id: str = 'random') -> types.Policy:
  """`types.Policy` acting uniformly at random for any environment spec."""
  return types.Policy(policy_id, functools.partial(random_apply, spec), ())
