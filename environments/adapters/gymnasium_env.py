"""gymnasium -> the platform's protocol: a batched host environment (one seat).

    env = GymnasiumEnv('CartPole-v1')                 # any registered gymnasium id
    env = GymnasiumEnv(MyEnv, env_id='mine/v0')       # or your own class / factory
    env = GymnasiumEnv('my_package.envs:MyEnv')       # or its import path
    ts = env.reset_batch(seed=0, num_envs=8)          # TimeStep, fields [N, P=1, ...]
    ts = env.step_batch({'action': actions[:, None]}) # actions [N, P=1]

N environments run in one gymnasium `SyncVectorEnv` (or `AsyncVectorEnv`) with
NEXT_STEP autoreset: the `step_batch` after an `is_last` time step resets that
environment (its action is ignored) and returns an `is_first` step with zero reward.

Spaces translate as `spaces.py` describes. Legal-action masks: a discrete head gets a
bool mask; the environment's own mask is read from `info[mask_key]` ('action_mask' by
default: gymnasium's Taxi and many user environments put it there); without one the
mask is all-True. At `is_last` steps masks are all-True (no action follows).

`debug=True` checks every raw observation against the environment's own
observation space (shape, dtype, per-element Box bounds) and raises SpaceViolation
naming the field, the environment index and the offending value.

MinAtar ids ('MinAtar/Breakout-v1') are registered with gymnasium on first use.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

from offline_rl import specs
from offline_rl import types
from offline_rl.environments.adapters import _deps
from offline_rl.environments.adapters import spaces


class SpaceViolation(ValueError):
  """An environment returned a value outside its own declared space."""


def _gymnasium():
  return _deps.require('gymnasium', 'The gymnasium adapter')


def _import_attribute(path: str):
  """'package.module:Attribute' -> the attribute (a gymnasium.Env class or factory)."""
  module_name, _, attribute = path.partition(':')
  try:
    module = importlib.import_module(module_name)
  except ImportError as error:
    raise KeyError(f'Cannot import {module_name!r} for the environment {path!r} ({error}). '
                   'Is its folder on PYTHONPATH (e.g. PYTHONPATH=. before the command)?') from error
  if not hasattr(module, attribute):
    raise KeyError(f'Module {module_name!r} has no attribute {attribute!r} (from {path!r}).')
  return getattr(module, attribute)


def _ensure_registered(gym_id: str) -> None:
  """Registers MinAtar's gymnasium ids when one is asked for."""
  if gym_id.startswith('MinAtar/'):
    minatar_gym = _deps.require('minatar.gym', f'The environment {gym_id!r}')
    if gym_id not in _gymnasium().registry:
      minatar_gym.register_envs()


class GymnasiumEnv:
  """A single-agent gymnasium environment behind `types.HostEnvironment`.

  Args:
    env: a gymnasium id ('CartPole-v1'); an import path 'package.module:Attribute'
      of a gymnasium.Env subclass or factory (any process can rebuild it, so
      `make('gym/package.module:Attribute')` works from the command line); or the
      callable itself (an Env subclass works: it is called with `env_kwargs`).
    env_id: the platform id recorded in specs and datasets; defaults to 'gym/<id>'
      or 'gym/<ClassName>'.
    max_episode_steps: truncation limit; wraps the environment in gymnasium's
      TimeLimit when given, else the gymnasium registration's limit is used.
    mask_key: the `info` key holding the legal-action mask, if the environment has one.
    vectorization: 'sync' (one process) or 'async' (one subprocess per environment).
    debug: check every observation against the environment's own space.
    **env_kwargs: passed to `gymnasium.make(id, ...)` or to the callable.
  """
  jittable = False

  def __init__(self, env: str | Callable[..., Any], env_id: str | None = None, *,
               max_episode_steps: int | None = None, mask_key: str = 'action_mask',
               vectorization: str = 'sync', debug: bool = False, **env_kwargs):
    gym = _gymnasium()
    name_from_path = env if isinstance(env, str) else None
    if vectorization not in ('sync', 'async'):
      raise ValueError(f"vectorization must be 'sync' or 'async', got {vectorization!r}.")
    if isinstance(env, str) and ':' in env:
      env = _import_attribute(env)  # 'my_package.my_module:MyEnv' -> the class.
    if isinstance(env, str):
      _ensure_registered(env)
      if env not in gym.registry:
        close = [k for k in gym.registry if env.split('-')[0].lower() in k.lower()][:8]
        raise KeyError(f'gymnasium has no environment {env!r}'
                       + (f'; close ids: {close}' if close else '') +
                       '. gymnasium.pprint_registry() lists them all.')
      name, limit = env, max_episode_steps

      def make_one():
        return gym.make(env, max_episode_steps=limit, **env_kwargs)
    elif callable(env):
      name = name_from_path or getattr(env, '__name__', type(env).__name__)

      def make_one():
        made = env(**env_kwargs)
        if not isinstance(made, gym.Env):
          raise TypeError(f'{name}(...) returned {type(made).__name__}, not a '
                          'gymnasium.Env; pass a gymnasium.Env subclass or factory.')
        if max_episode_steps is not None:
          made = gym.wrappers.TimeLimit(made, max_episode_steps)
        return made
    else:
      raise TypeError(f'env must be a gymnasium id or a callable returning a '
                      f'gymnasium.Env, got {type(env).__name__}.')
    self.mask_key, self.debug = mask_key, debug
    self._vectorization = vectorization
    platform_id = env_id or f'gym/{name}'
    if debug:  # Check each copy's raw output, before vectorization casts it.
      self._make_one = lambda: _checked(make_one(), platform_id)
    else:
      self._make_one = make_one
    try:
      probe = make_one()
    except (ImportError, gym.error.DependencyNotInstalled) as error:
      raise _deps.MissingDependencyError(
          f'{platform_id} needs a package that is not installed: {error}') from error
    self.observation_space, self.action_space = probe.observation_space, probe.action_space
    limit = max_episode_steps
    if limit is None and probe.spec is not None:
      limit = probe.spec.max_episode_steps
    probe.close()
    self._codec = spaces.ActionCodec(self.action_space)
    self._observation_converter = spaces.observation_converter(self.observation_space)
    self.spec = specs.EnvSpec(
        env_id=platform_id, version='1', num_players=1,
        observation=self._observation_spec(),
        action=self._codec.spec,
        legal_action_mask=self._codec.mask_spec,
        # 0 means the environment sets no limit of its own.
        max_episode_steps=int(limit or 0),
        # The keyword arguments that rebuild it: make(env_id, **params).
        params=_json_kwargs(dict(
            env_kwargs, **({} if max_episode_steps is None
                           else {'max_episode_steps': max_episode_steps}),
            **({} if mask_key == 'action_mask' else {'mask_key': mask_key}))))
    self._vector = None
    self._num_envs = 0
    self._was_last = None

  def _observation_spec(self):
    spec = spaces.observation_spec(self.observation_space)
    return spec if isinstance(spec, dict) else {'observation': spec}

  def _convert_observation(self, raw):
    obs = self._observation_converter(raw)
    obs = obs if isinstance(obs, dict) else {'observation': obs}
    return _add_seat_axis(obs)

  def _masks(self, info, num_envs, is_last):
    if self.mask_key not in info:  # The common case: no masks of the environment's own.
      masks = self._codec.all_legal_shared((num_envs, 1))
      return masks and dict(masks)
    raw = None
    if self.mask_key in info:
      present = np.asarray(info.get('_' + self.mask_key, np.ones(num_envs, bool)))
      raw = info[self.mask_key]
      if not present.all():  # Environments that did not report one: all legal.
        raw = np.where(present.reshape((-1,) + (1,) * (np.ndim(raw) - 1)), raw, 1)
    masks = self._codec.masks_from(raw, (num_envs,))
    if masks is None:
      return None
    return {k: _add_seat_axis(np.where(is_last[:, None], True, m)) for k, m in masks.items()}

  def reset_batch(self, seed: int, num_envs: int) -> types.TimeStep:
    """Resets `num_envs` environments, seeded seed, seed + 1, ...; fields [N, P=1, ...]."""
    gym = _gymnasium()
    if self._vector is None or self._num_envs != num_envs:
      self.close()
      cls = (gym.vector.SyncVectorEnv if self._vectorization == 'sync'
             else gym.vector.AsyncVectorEnv)
      self._vector = cls([self._make_one] * num_envs,
                         autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
      self._num_envs = num_envs
    raw, info = self._vector.reset(seed=int(seed))
    false = np.zeros(num_envs, bool)
    self._was_last = false
    return types.TimeStep(
        observation=self._convert_observation(raw),
        legal_action_mask=self._masks(info, num_envs, false),
        reward=np.zeros((num_envs, 1), np.float32),
        discount=np.ones(num_envs, np.float32),
        is_first=np.ones(num_envs, bool), is_last=false, is_terminal=false)

  def step_batch(self, action) -> types.TimeStep:
    """Steps every environment; `action` is keyed like the spec, leaves [N, P=1, ...]."""
    if self._vector is None:
      raise RuntimeError('Call reset_batch(seed, num_envs) before step_batch.')
    missing = set(self.spec.action) - set(action)
    if missing:
      raise KeyError(f'{self.spec.env_id}: the action lacks head(s) {sorted(missing)}; '
                     f'its heads are {list(self.spec.action)}.')
    heads = {k: np.asarray(action[k])[:, 0] for k in self.spec.action}
    raw, reward, terminated, truncated, info = self._vector.step(self._codec.to_env(heads))
    n = self._num_envs
    is_first = self._was_last
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    is_last = (terminated | truncated) & ~is_first
    self._was_last = is_last
    return types.TimeStep(
        observation=self._convert_observation(raw),
        legal_action_mask=self._masks(info, n, is_last),
        reward=np.where(is_first, 0.0, np.asarray(reward, np.float32))[:, None].astype(np.float32),
        discount=np.where(terminated & ~is_first, 0.0, 1.0).astype(np.float32),
        is_first=is_first.copy(), is_last=is_last,
        is_terminal=terminated & ~is_first)

  def close(self):
    if self._vector is not None:
      self._vector.close()
      self._vector = None


def _json_kwargs(kwargs: dict) -> dict:
  """The JSON-friendly keyword arguments (what a spec can record)."""
  return {k: v for k, v in kwargs.items()
          if v is None or isinstance(v, (int, float, str, bool))}


def _checked(env, platform_id: str):
  """Wraps one gymnasium env so that every observation is checked against its space."""
  gym = _gymnasium()

  class SpaceCheck(gym.Wrapper):
    """Raises SpaceViolation when the environment leaves its observation_space."""

    def _check(self, observation, where):
      lines = spaces.violations(self.env.observation_space, observation)
      if lines:
        raise SpaceViolation(
            f'{platform_id} returned an observation outside its own observation_space '
            f'at {where}:\n  ' + '\n  '.join(lines))
      return observation

    def reset(self, **kwargs):
      observation, info = self.env.reset(**kwargs)
      return self._check(observation, 'reset'), info

    def step(self, action):
      observation, *rest = self.env.step(action)
      return (self._check(observation, 'step'), *rest)

  return SpaceCheck(env)


def _add_seat_axis(tree):
  if isinstance(tree, dict):
    return {k: _add_seat_axis(v) for k, v in tree.items()}
  return np.asarray(tree)[:, None]

