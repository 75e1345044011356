"""What every agent shares: its network built from the config, that network as a
policy applied to one seat's time step at a time, and the Agent of a value agent."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from offline_rl import agent as agent_lib
from offline_rl import errors
from offline_rl import networks
from offline_rl import specs
from offline_rl import types


def make_network(spec: specs.EnvSpec, config, **overrides) -> networks.Network:
  """The Flax network for `spec` from `config.network`, with `overrides` of its fields
  (an agent that needs a value or Q heads sets them here, not its user)."""
  values = dict(config.network.to_dict() if hasattr(config.network, 'to_dict') else
                config.network)
  values.update(overrides)
  return networks.make_network(spec, networks.NetworkConfig.from_mapping(values))


def check_head_weights(spec: specs.EnvSpec, head_weights) -> dict:
  """{head: weight} after checking every named head exists."""
  head_weights = dict(head_weights)
  unknown = set(head_weights) - set(spec.action)
  if unknown:
    raise errors.ConfigError(f'head_weights names heads {sorted(unknown)} that the '
                             f'action spec lacks; its heads are {list(spec.action)}.')
  return head_weights


def section(cfg, name: str, spec: specs.EnvSpec) -> dict:
  """The config's agent section (`cfg.oac`, ...) as a plain dict, head_weights checked:
  the losses read it as static settings."""
  values = cfg[name].to_dict()
  values['head_weights'] = check_head_weights(spec, values.get('head_weights', {}))
  return values


def init_fn(network: networks.Network, spec: specs.EnvSpec):
  """key -> the network's params."""
  return lambda key: network.init(key, networks.dummy_inputs(spec))


def step_inputs(timestep: types.TimeStep, prev_action, rating) -> networks.NetworkInputs:
  """The network inputs [1, 1] of one seat's unbatched time step."""
  add = lambda x: jnp.asarray(x)[None, None]
  return networks.NetworkInputs(
      observation=jax.tree.map(add, timestep.observation),
      legal_action_mask=(None if timestep.legal_action_mask is None else
                         jax.tree.map(add, timestep.legal_action_mask)),
      prev_action=jax.tree.map(add, prev_action),
      is_first=add(timestep.is_first),
      rating=jnp.broadcast_to(rating, (1, 1)).astype(jnp.float32))


def network_policy(network: networks.Network, spec: specs.EnvSpec, params, *,
                   greedy: bool = False, rating: float = 0.0,
                   policy_id: str = 'agent') -> types.Policy:
  """A `types.Policy` that runs the network one step at a time.

  Its params are {'network': params, 'rating': [] float32}: the rating input (read
  only by rating-conditioned networks) is data, so evaluating another rating does not
  recompile. Its state is (core state, previous action); `apply(params, timestep,
  state, key)` takes one seat's unbatched time step (callers vmap).
  """

  def init_state(key):
    del key
    core = jax.tree.map(lambda s: s[0], network.initial_state(1))
    prev = {name: jnp.zeros(leaf.shape, leaf.dtype) for name, leaf in spec.action.items()}
    return (core, prev)

  def apply(policy_params, timestep: types.TimeStep, state, key):
    params, rating = policy_params['network'], policy_params['rating']
    core, prev = state
    inputs = step_inputs(timestep, prev, rating)
    core = jax.tree.map(lambda s: s[None], core)
    outputs, core = network.apply(params, inputs, core, key, None, greedy)
    action = {name: outputs.action[name][0, 0].astype(leaf.dtype)
              for name, leaf in spec.action.items()}
    return action, (jax.tree.map(lambda s: s[0], core), action)

  policy_params = {'network': params, 'rating': jnp.float32(rating)}
  return types.Policy(policy_id, apply, policy_params, init_state)


def policy_maker(network: networks.Network, spec: specs.EnvSpec, config):
  """The Agent's `make_policy(params, *, greedy=None, rating=None)`.

  The rating defaults to the network's rating offset; greedy to the config's
  `eval_greedy`.
  """
  def make_policy(params, *, greedy=None, rating=None):
    if greedy is None:
      greedy = bool(config.eval_greedy)
    if rating is None:
      rating = float(config.network.rating_offset)
    return network_policy(network, spec, params, greedy=greedy,
                          rating=float(rating), policy_id=str(config.agent))
  return make_policy


def value_agent(spec: specs.EnvSpec, cfg, name: str, loss_fn, network_fields: dict,
                *, target: bool, teacher: bool) -> agent_lib.Agent:
  """The Agent of a value agent (OAC, IQL, CQL).

  Its network is `cfg.network` with `network_fields` (value head, Q heads, ...); its
  loss is `loss_fn(network, teacher_network, action_spec, section, params, context,
  batch, key)` with `section` the config's `cfg[name]` as a dict; with `target`, the
  learner keeps a target network by `section`'s target_tau / target_period; with
  `teacher`, a frozen BC teacher: the same network without value or Q heads.
  """
  network = make_network(spec, cfg, **network_fields)
  teacher_network = make_network(spec, cfg, value_head=False, q_heads=False,
                                 policy_from_q=False)
  action_spec = networks.heads.ordered_action_spec(spec.action, spec.legal_action_mask)
  values = section(cfg, name, spec)
  return agent_lib.Agent(
      name=str(cfg.agent), spec=spec, config=cfg, network=network,
      init=init_fn(network, spec),
      loss=functools.partial(loss_fn, network, teacher_network, action_spec, values),
      make_policy=policy_maker(network, spec, cfg),
      target=(agent_lib.TargetRule(float(values['target_tau']),
                                   int(values['target_period'])) if target else None),
      teacher=init_fn(teacher_network, spec) if teacher else None)
