"""The BC policy: the network applied to one seat's time step, one step at a time."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import networks
from offline_rl import specs
from offline_rl import types


def make_policy(network: networks.Network, spec: specs.EnvSpec, params, *,
                greedy: bool = False, rating: float = 0.0,
                policy_id: str = 'bc') -> types.Policy:
  """A `types.Policy` for the network.

  Its params are {'network': params, 'rating': [] float32}: the rating input (read
  only by rating-conditioned networks) is data, so evaluating another rating does not
  recompile. Its state is (core state, previous action); `apply(params, timestep,
  state, key)` takes one seat's unbatched time step (callers vmap).
  """

  def init_state(key):
    del key
    core = jax.tree.map(lambda s: s[0], network.initial_state(1))
    prev = {name: jnp.zeros((), leaf.dtype) for name, leaf in spec.action.items()}
    return (core, prev)

  def apply(policy_params, timestep: types.TimeStep, state, key):
    params, rating = policy_params['network'], policy_params['rating']
    core, prev = state
    add = lambda x: jnp.asarray(x)[None, None]
    inputs = networks.NetworkInputs(
        observation=jax.tree.map(add, timestep.observation),
        legal_action_mask=(None if timestep.legal_action_mask is None else
                           jax.tree.map(add, timestep.legal_action_mask)),
        prev_action=jax.tree.map(add, prev),
        is_first=add(timestep.is_first),
        rating=jnp.broadcast_to(rating, (1, 1)).astype(jnp.float32))
    core = jax.tree.map(lambda s: s[None], core)
    outputs, core = network.apply(params, inputs, core, key, None, greedy)
    action = {name: outputs.action[name][0, 0].astype(leaf.dtype)
              for name, leaf in spec.action.items()}
    return action, (jax.tree.map(lambda s: s[0], core), action)

  policy_params = {'network': params, 'rating': jnp.float32(rating)}
  return types.Policy(policy_id, apply, policy_params, init_state)
