"""Ecosystem views of Skirmish: gymnasium Env / VectorEnv and PettingZoo ParallelEnv.

  * `SkirmishGymEnv`: single-agent gymnasium `Env`; the agent plays `seat`, a bot plays
    the other seat inside. Registered as 'offline_rl/Skirmish-{8x8,16x16,32x32}-v0'.
  * `SkirmishVectorEnv`: native gymnasium `VectorEnv` of N games stepped in one jitted
    call, autoreset mode NEXT_STEP (the step after a finished episode resets it).
  * `SkirmishParallelEnv`: PettingZoo `ParallelEnv` with agents 'player_0' and
    'player_1'; `aec_env()` gives the AEC version through `parallel_to_aec`.

Observations are the game's per-seat dict (planes, units, enemies, scalars) as NumPy;
actions are dicts of the four heads (function, unit, target, delay). The legal-action
mask and the illegal-action count are in `info`.
"""
from __future__ import annotations

import functools

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces

from offline_rl import types
from offline_rl.environments.skirmish import bots
from offline_rl.environments.skirmish import game
from offline_rl.environments.skirmish import render as render_lib
from offline_rl.environments.skirmish import rules as R


def observation_space(env: game.Skirmish) -> spaces.Dict:
  U, H = env.num_units, env.size
  f = len(R.UNIT_FEATURES)
  return spaces.Dict({
      'planes': spaces.Box(0.0, float(U), (H, H, len(R.PLANE_NAMES)), np.float32),
      'units': spaces.Box(0.0, 1.0, (U, f), np.float32),
      'enemies': spaces.Box(0.0, 1.0, (U, f), np.float32),
      'scalars': spaces.Box(0.0, np.inf, (len(R.SCALAR_NAMES),), np.float32),
  })


def action_space(env: game.Skirmish) -> spaces.Dict:
  return spaces.Dict({
      'function': spaces.Discrete(R.NUM_FUNCTIONS),
      'unit': spaces.Discrete(env.num_units),
      'target': spaces.Discrete(env.num_cells),
      'delay': spaces.Discrete(R.NUM_DELAYS),
  })


def _opponent(env, opponent: str, level: int | None) -> types.Policy:
  if opponent == 'ladder':
    ladder = bots.ladder(env)
    level = 0 if level is None else level
    if not 0 <= level < len(ladder):
      raise ValueError(f'level must be in [0, {len(ladder)}) for the ladder '
                       f'({[p.policy_id for p in ladder]}); got {level}.')
    return ladder[level]
  return bots.bot(opponent, env)


def _to_numpy(tree):
  return jax.tree.map(np.asarray, jax.device_get(tree))


def _heads(action) -> dict:
  """A gymnasium/PettingZoo action (dict of ints) as int32 scalars, checked."""
  if not isinstance(action, dict) or set(action) != set(game.ACTION_HEADS):
    raise ValueError(f'A Skirmish action must be a dict with keys '
                     f'{list(game.ACTION_HEADS)}; got {action!r}.')
  return {k: np.int32(action[k]) for k in game.ACTION_HEADS}


class SkirmishGymEnv(gymnasium.Env):
  """Single-agent Skirmish with a bot opponent inside (see the module docstring).

  Args:
    size: map size (8, 16, 32).
    opponent: a bot name (`bots.names()`), or 'ladder' to use ladder level `level`.
    level: ladder level (0 = weakest) when opponent == 'ladder'.
    seat: which seat the agent plays (0 or 1).
    render_mode: None or 'rgb_array'.
    **env_kwargs: passed to `Skirmish` (map_seed, num_maps, max_ticks).
  """
  metadata = {'render_modes': ['rgb_array'], 'render_fps': 10}

  def __init__(self, size: int = 16, opponent: str = 'ladder', level: int | None = 0,
               seat: int = 0, render_mode: str | None = None, **env_kwargs):
    if seat not in (0, 1):
      raise ValueError(f'seat must be 0 or 1; got {seat!r}.')
    if render_mode not in (None, 'rgb_array'):
      raise ValueError(f"render_mode must be None or 'rgb_array'; got {render_mode!r}.")
    self.game = game.Skirmish(size, **env_kwargs)
    self.seat, self.render_mode = seat, render_mode
    self.opponent = _opponent(self.game, opponent, level)
    self.observation_space = observation_space(self.game)
    self.action_space = action_space(self.game)
    self._reset_fn, self._step_fn = _single_agent_fns(self.game, self.opponent, seat)
    self._state = self._timestep = self._key = None

  def _out(self):
    ts = self._timestep
    obs = _to_numpy(jax.tree.map(lambda x: x[self.seat], ts.observation))
    info = {'legal_action_mask': _to_numpy(
                jax.tree.map(lambda x: x[self.seat], ts.legal_action_mask)),
            'illegal_actions': int(self._state.illegal_actions[self.seat]),
            'tick': int(self._state.tick)}
    return obs, info

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    key = jax.random.key(int(self.np_random.integers(0, 2**31 - 1)))
    self._key, reset_key = jax.random.split(key)
    self._state, self._timestep = self._reset_fn(reset_key)
    return self._out()

  def step(self, action):
    if self._state is None:
      raise RuntimeError('Call reset() before step().')
    heads = _heads(action)
    self._key, key = jax.random.split(self._key)
    self._state, self._timestep = self._step_fn(self._state, self._timestep, heads,
                                                self.opponent.params, key)
    obs, info = self._out()
    ts = self._timestep
    terminated = bool(ts.is_terminal)
    truncated = bool(ts.is_last) and not terminated
    return obs, float(ts.reward[self.seat]), terminated, truncated, info

  def render(self):
    if self.render_mode != 'rgb_array' or self._state is None:
      return None
    return render_lib.frame(self.game, self._state, seat=self.seat)


_FNS_CACHE: dict = {}


def _single_agent_fns(env, opponent: types.Policy, seat: int):
  """(jit(reset), jit(step with the opponent acting)), cached per configuration."""
  cache_key = (env.config, opponent.apply, seat)
  if cache_key not in _FNS_CACHE:
    _FNS_CACHE[cache_key] = _make_single_agent_fns(env, opponent, seat)
  return _FNS_CACHE[cache_key]


def _make_single_agent_fns(env, opponent: types.Policy, seat: int):
  other = 1 - seat

  def step(state, timestep, heads, opp_params, key):
    opp_action, _ = opponent.apply(opp_params, types.seat(timestep, other), (), key)
    pair = [None, None]
    pair[seat] = {k: jnp.asarray(v, jnp.int32) for k, v in heads.items()}
    pair[other] = opp_action
    action = jax.tree.map(lambda a, b: jnp.stack([a, b]).astype(jnp.int32), *pair)
    return env.step(state, action)

  return env.jitted()[0], jax.jit(step)


class SkirmishVectorEnv(gymnasium.vector.VectorEnv):
  """N single-agent Skirmish games in one jitted step, autoreset NEXT_STEP.

  Observations, rewards, terminations and truncations are batched NumPy arrays;
  `infos['legal_action_mask']` holds the batched mask. After an episode ends, the next
  `step` ignores its action for that game and returns the first observation of a new
  one (reward 0, not terminated), as gymnasium's NEXT_STEP mode specifies.
  """
  metadata = {'render_modes': [], 'autoreset_mode': gymnasium.vector.AutoresetMode.NEXT_STEP}

  def __init__(self, num_envs: int = 8, size: int = 16, opponent: str = 'ladder',
               level: int | None = 0, seat: int = 0, **env_kwargs):
    if num_envs < 1:
      raise ValueError(f'num_envs must be >= 1; got {num_envs}.')
    self.game = game.Skirmish(size, **env_kwargs)
    self.num_envs, self.seat = num_envs, seat
    self.opponent = _opponent(self.game, opponent, level)
    self.single_observation_space = observation_space(self.game)
    self.single_action_space = action_space(self.game)
    self.observation_space = gymnasium.vector.utils.batch_space(
        self.single_observation_space, num_envs)
    self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space,
                                                           num_envs)
    _, one_step = _single_agent_fns(self.game, self.opponent, seat)
    env = self.game

    def step(state, timestep, heads, opp_params, keys, reset_keys):
      stepped = jax.vmap(one_step.__wrapped__, (0, 0, 0, None, 0))(
          state, timestep, heads, opp_params, keys)
      fresh = jax.vmap(env.reset)(reset_keys)
      done = timestep.is_last
      pick = lambda f, o: jnp.where(done.reshape(done.shape + (1,) * (f.ndim - 1)), f, o)
      return jax.tree.map(pick, fresh, stepped)

    self._step = jax.jit(step)
    self._reset = jax.jit(jax.vmap(env.reset))
    self._state = self._timestep = None

  def _out(self):
    seat = self.seat
    ts = self._timestep
    obs = _to_numpy(jax.tree.map(lambda x: x[:, seat], ts.observation))
    info = {'legal_action_mask': _to_numpy(
        jax.tree.map(lambda x: x[:, seat], ts.legal_action_mask)),
            'illegal_actions': np.asarray(self._state.illegal_actions[:, seat])}
    return obs, info

  def reset(self, *, seed=None, options=None):
    super().reset(seed=seed)
    if seed is not None or self._state is None:
      self._key = jax.random.key(0 if seed is None else int(seed))
    self._key, key = jax.random.split(self._key)
    self._state, self._timestep = self._reset(jax.random.split(key, self.num_envs))
    return self._out()

  def step(self, actions):
    if self._state is None:
      raise RuntimeError('Call reset() before step().')
    if not isinstance(actions, dict) or set(actions) != set(game.ACTION_HEADS):
      raise ValueError(f'Actions must be a dict of [num_envs] arrays with keys '
                       f'{list(game.ACTION_HEADS)}; got {actions!r}.')
    heads = {k: jnp.asarray(np.asarray(actions[k]).reshape(self.num_envs), jnp.int32)
             for k in game.ACTION_HEADS}
    self._key, k1, k2 = jax.random.split(self._key, 3)
    self._state, self._timestep = self._step(
        self._state, self._timestep, heads, self.opponent.params,
        jax.random.split(k1, self.num_envs), jax.random.split(k2, self.num_envs))
    obs, info = self._out()
    ts = self._timestep
    terminated = np.asarray(ts.is_terminal)
    truncated = np.asarray(ts.is_last) & ~terminated
    return obs, np.asarray(ts.reward[:, self.seat]), terminated, truncated, info


try:  # PettingZoo is part of the stack; keep the gymnasium views usable without it.
  from pettingzoo import ParallelEnv as _ParallelEnv
except ImportError:  # pragma: no cover
  _ParallelEnv = object


class SkirmishParallelEnv(_ParallelEnv):
  """PettingZoo ParallelEnv of Skirmish: both seats act every step.

  Agents 'player_0' and 'player_1'. `infos[agent]['legal_action_mask']` holds each
  agent's mask. After the game ends `agents` is empty.
  """
  metadata = {'render_modes': ['rgb_array'], 'name': 'skirmish_v0',
              'is_parallelizable': True, 'render_fps': 10}

  def __init__(self, size: int = 16, render_mode: str | None = None, **env_kwargs):
    if render_mode not in (None, 'rgb_array'):
      raise ValueError(f"render_mode must be None or 'rgb_array'; got {render_mode!r}.")
    self.game = game.Skirmish(size, **env_kwargs)
    self.render_mode = render_mode
    self.possible_agents = ['player_0', 'player_1']
    self.agents = []
    self._obs_space = observation_space(self.game)
    self._act_space = action_space(self.game)
    self._reset_fn, self._step_fn = self.game.jitted()
    self._state = self._timestep = None

  @functools.lru_cache(maxsize=None)
  def observation_space(self, agent):
    return self._obs_space

  @functools.lru_cache(maxsize=None)
  def action_space(self, agent):
    return self._act_space

  def _per_agent(self):
    ts = self._timestep
    obs = {a: _to_numpy(jax.tree.map(lambda x, p=p: x[p], ts.observation))
           for p, a in enumerate(self.possible_agents)}
    infos = {a: {'legal_action_mask': _to_numpy(
        jax.tree.map(lambda x, p=p: x[p], ts.legal_action_mask)),
                 'illegal_actions': int(self._state.illegal_actions[p])}
             for p, a in enumerate(self.possible_agents)}
    return obs, infos

  def reset(self, seed=None, options=None):
    if seed is not None or not hasattr(self, '_rng'):
      self._rng = np.random.default_rng(seed)
    key = jax.random.key(int(self._rng.integers(0, 2**31 - 1)))
    self._state, self._timestep = self._reset_fn(key)
    self.agents = list(self.possible_agents)
    return self._per_agent()

  def step(self, actions):
    if self._state is None:
      raise RuntimeError('Call reset() before step().')
    pair = []
    for agent in self.possible_agents:
      if agent in actions and actions[agent] is not None:
        pair.append(_heads(actions[agent]))
      else:  # a missing agent does nothing
        pair.append({k: np.int32(0) for k in game.ACTION_HEADS})
    action = {k: np.stack([pair[0][k], pair[1][k]]).astype(np.int32)
              for k in game.ACTION_HEADS}
    self._state, self._timestep = self._step_fn(self._state, action)
    obs, infos = self._per_agent()
    ts = self._timestep
    terminated = bool(ts.is_terminal)
    truncated = bool(ts.is_last) and not terminated
    rewards = {a: float(ts.reward[p]) for p, a in enumerate(self.possible_agents)}
    terms = {a: terminated for a in self.possible_agents}
    truncs = {a: truncated for a in self.possible_agents}
    if terminated or truncated:
      self.agents = []
    return obs, rewards, terms, truncs, infos

  def render(self):
    if self.render_mode != 'rgb_array' or self._state is None:
      return None
    return render_lib.frame(self.game, self._state)

  def close(self):
    pass

  def state(self):
    """The full-map RGB frame as the global state."""
    return render_lib.frame(self.game, self._state)


def aec_env(**kwargs):
  """The AEC version of `SkirmishParallelEnv` through PettingZoo's parallel_to_aec."""
  from pettingzoo.utils import conversions  # pylint: disable=g-import-not-at-top
  return conversions.parallel_to_aec(SkirmishParallelEnv(**kwargs))
