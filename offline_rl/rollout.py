"""Batched rollouts of any environment with one policy per seat.

JAX environments run as `jit(scan(vmap(step)))`; host environments run the same loop in
Python around their batched `step_batch`, with the policies jitted and vmapped. Both
return the same `Steps` records, so the recorder and the evaluator do not care which
kind of environment they drive.

Letters: N parallel environments, P seats, T steps per call.

Episodes reset automatically: the scan step after an `is_last` time step resets that
environment (and the seats' policy states), so an `is_first` step follows.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import types

PyTree = types.PyTree


class Steps(NamedTuple):
  """Records of a rollout: each time step, as the environment returned it (dm_env
  alignment: its reward is the previous action's), with the action chosen at it. The
  recorder shifts rewards and discounts into the RLDS alignment of datasets.

  Attributes:
    timestep: `TimeStep` [T, N, ...] (per-seat fields [T, N, P, ...]).
    action: pytree [T, N, P, ...]: the action each seat chose at that time step
      (meaningless where `timestep.is_last`).
  """
  timestep: types.TimeStep
  action: PyTree


class RolloutState(NamedTuple):
  """Carry between calls: resumable, and small.

  Attributes:
    env_state: environment state [N, ...] (None for host environments, which hold it).
    timestep: the current `TimeStep` [N, ...].
    policy_state: tuple over seats of policy states [N, ...].
    key: PRNG key for the policies and resets.
  """
  env_state: PyTree
  timestep: types.TimeStep
  policy_state: tuple
  key: jax.Array


def _stack_seats(actions: Sequence[PyTree]) -> PyTree:
  return jax.tree.map(lambda *a: jnp.stack(a, axis=1), *actions)


def _act(policies, params, timestep, policy_state, keys, params_axis=None):
  """Each seat's policy on its view. timestep [N, ...]; keys [P, N]. -> ([N, P, ...], states)."""
  actions, states = [], []
  for p, policy in enumerate(policies):
    view = jax.vmap(lambda ts: types.seat(ts, p))(timestep)  # pylint: disable=cell-var-from-loop
    action, state = jax.vmap(policy.apply, in_axes=(params_axis, 0, 0, 0))(
        params[p], view, policy_state[p], keys[p])
    actions.append(action)
    states.append(state)
  return _stack_seats(actions), tuple(states)


def _reset_where(done, fresh, old):
  """Per environment, takes `fresh` where done [N] else `old`."""
  def pick(f, o):
    return jnp.where(done.reshape(done.shape + (1,) * (f.ndim - 1)), f, o)
  return jax.tree.map(pick, fresh, old)


def step_autoreset(env, state, action, key, reset):
  """One JAX environment's autoreset step: what `env.reset(key)` returns where
  `reset` (bool []), else `env.step(state, action)`.

  An environment's own `step_or_reset` (the same, bit for bit; Skirmish has it: one
  time-step computation instead of two and a select) is used when it has one.
  """
  step_or_reset = getattr(env, 'step_or_reset', None)
  if step_or_reset is not None:
    return step_or_reset(state, action, key, reset)
  stepped, fresh = env.step(state, action), env.reset(key)
  return jax.tree.map(lambda f, o: jnp.where(reset, f, o), fresh, stepped)


_BATCHED_RESETS: dict = {}


def _batched_reset(env):
  """`jit(vmap(env.reset))`, built once per environment object (no recompiles)."""
  entry = _BATCHED_RESETS.get(id(env))
  if entry is None or entry[0] is not env:
    entry = (env, jax.jit(jax.vmap(env.reset)))
    _BATCHED_RESETS[id(env)] = entry
  return entry[1]


def init(env, policies: Sequence[types.Policy], key: jax.Array,
         num_envs: int) -> RolloutState:
  """Resets `num_envs` environments and each seat's policy state."""
  if len(policies) != env.spec.num_players:
    raise ValueError(f'{env.spec.env_id} has {env.spec.num_players} seat(s) but '
                     f'{len(policies)} policies were given; pass one per seat.')
  key, env_key, *policy_keys = jax.random.split(key, 2 + len(policies))
  if env.jittable:
    env_state, timestep = _batched_reset(env)(jax.random.split(env_key, num_envs))
  else:
    seed = int(jax.random.randint(env_key, (), 0, 2**31 - 1))
    env_state, timestep = None, env.reset_batch(seed, num_envs)
  policy_state = tuple(
      jax.vmap(p.init_state)(jax.random.split(k, num_envs))
      for p, k in zip(policies, policy_keys))
  return RolloutState(env_state, timestep, policy_state, key)


def _envs_sharding(spec: jax.sharding.PartitionSpec) -> jax.sharding.NamedSharding:
  mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ('envs',))
  return jax.sharding.NamedSharding(mesh, spec)


def shard_envs(tree: PyTree) -> PyTree:
  """Places every leaf of `tree` split along its leading [N] axis over the local
  devices (unchanged on one device).

  `make_run`'s jitted scan then steps each device's environments on that device, with
  no communication: with one CPU device per core (`offline_rl.cores.
  one_device_per_core`) each core runs its share of the games. The records are those
  of the unsplit run (tests/test_rollout.py).
  """
  num_devices = len(jax.local_devices())
  if num_devices == 1:
    return tree
  sizes = sorted({x.shape[0] for x in jax.tree.leaves(tree)})
  if len(sizes) != 1 or sizes[0] % num_devices:
    raise ValueError(f'Cannot split environments over {num_devices} devices: the '
                     f'leading axes are {sizes}; use a number of environments '
                     f'divisible by {num_devices}.')
  return jax.device_put(tree, _envs_sharding(jax.sharding.PartitionSpec('envs')))


def shard(state: RolloutState) -> RolloutState:
  """`shard_envs` of a rollout state: the environments and policy states split, the
  rollout's key on every device."""
  if len(jax.local_devices()) == 1:
    return state
  env_state, timestep, policy_state = shard_envs(
      (state.env_state, state.timestep, state.policy_state))
  key = jax.device_put(state.key, _envs_sharding(jax.sharding.PartitionSpec()))
  return RolloutState(env_state, timestep, policy_state, key)


def make_run(env, policies: Sequence[types.Policy], num_steps: int, *,
             params_per_env: bool = False):
  """Builds `run(params, state) -> (state, Steps [T=num_steps, N, ...])`.

  `params` is the tuple of each seat's policy parameters, passed at call time so that
  new weights do not trigger a recompilation. For JAX environments the whole call is one
  compiled `scan`; for host environments it is a Python loop over `step_batch`.

  With `params_per_env=True` every leaf of each seat's params carries a leading [N]
  axis: environment n plays with params[p][n], so one policy function with different
  knobs (e.g. bots of several skill levels) fills different environments of one
  vmapped rollout.
  """
  params_axis = 0 if params_per_env else None
  policies = tuple(policies)
  num_players = len(policies)

  def policy_step(params, state: RolloutState):
    key, act_key = jax.random.split(state.key)
    num_envs = state.timestep.is_first.shape[0]
    keys = jax.random.split(act_key, (num_players, num_envs))
    # A new episode starts with fresh policy states.
    policy_state = tuple(
        _reset_where(state.timestep.is_first, jax.vmap(p.init_state)(k), s)
        for p, k, s in zip(policies, keys, state.policy_state))
    action, policy_state = _act(policies, params, state.timestep, policy_state, keys,
                                params_axis)
    return key, action, policy_state

  if env.jittable:
    def scan_step(params, state: RolloutState):
      key, action, policy_state = policy_step(params, state)
      key, reset_key = jax.random.split(key)
      num_envs = state.timestep.is_first.shape[0]
      env_state, timestep = jax.vmap(functools.partial(step_autoreset, env))(
          state.env_state, action, jax.random.split(reset_key, num_envs),
          state.timestep.is_last)
      record = Steps(state.timestep, action)
      return RolloutState(env_state, timestep, policy_state, key), record

    @jax.jit
    def run(params, state):
      return jax.lax.scan(lambda s, _: scan_step(params, s), state, None,
                          length=num_steps)
    return run

  jitted_policy_step = jax.jit(policy_step)

  def run_host(params, state):
    records = []
    for _ in range(num_steps):
      key, action, policy_state = jitted_policy_step(params, state)
      action = jax.device_get(action)
      records.append(Steps(state.timestep, action))
      timestep = env.step_batch(action)
      state = RolloutState(None, timestep, policy_state, key)
    stacked = jax.tree.map(lambda *x: np.stack(x), *records)
    return state, stacked
  return run_host
