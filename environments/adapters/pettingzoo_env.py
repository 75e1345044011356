"""PettingZoo -> the platform's protocol: AEC (turn-based) and Parallel environments.

    env = PettingZooEnv('classic/connect_four_v3')              # AEC, turn-based
    env = PettingZooEnv('classic/rps_v2', api='parallel')       # simultaneous moves
    env = PettingZooEnv(my_factory, env_id='mine/v0', api='aec')

Seats are the environment's `possible_agents`, in order; every seat must share one
observation space and one action space. A Dict observation with an 'action_mask' entry
(PettingZoo's classic games) gives the legal-action mask, as does
`infos[agent]['action_mask']`; the mask entry is removed from the observation.

AEC environments follow the turn-based convention of `turns.py`: the observation gains
a 'to_play' flag per seat, only the selected agent's action is applied, a waiting
seat's mask allows only action 0 (ignored). Agents that are done while others play on
are stepped with `None` automatically. Parallel environments apply every live agent's
action; an agent that has left gets a zero observation, zero reward and an all-True
mask. An episode ends when every agent is terminated or truncated (`is_terminal` when
none was truncated).

N copies run side by side in one process; the `step_batch` after an `is_last` step
resets that copy (NEXT_STEP autoreset). Copy i's k-th episode is seeded from
(seed, i, k).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

from offline_rl import specs
from offline_rl import types
from offline_rl.environments.adapters import _deps
from offline_rl.environments.adapters import host
from offline_rl.environments.adapters import spaces
from offline_rl.environments.adapters import turns
from offline_rl.environments.adapters.gymnasium_env import SpaceViolation

_MASK = 'action_mask'


def _load(module_path: str, api: str) -> Callable[..., Any]:
  _deps.require('pettingzoo', f'The PettingZoo environment {module_path!r}')
  try:
    module = importlib.import_module(f'pettingzoo.{module_path.replace("/", ".")}')
  except ModuleNotFoundError as error:
    raise KeyError(
        f'PettingZoo has no environment module {module_path!r} ({error}). Ids look like '
        "'classic/connect_four_v3' (the module pettingzoo.classic.connect_four_v3).") from error
  name = 'env' if api == 'aec' else 'parallel_env'
  if not hasattr(module, name):
    raise ValueError(f'pettingzoo.{module_path} has no {name}(); use '
                     f"api={'parallel' if api == 'aec' else 'aec'!r}.")
  return getattr(module, name)


class PettingZooEnv:
  """A PettingZoo AEC or Parallel environment behind `types.HostEnvironment`.

  Args:
    env: a PettingZoo module path ('classic/connect_four_v3'), or a callable returning
      an AECEnv (api='aec') or a ParallelEnv (api='parallel').
    env_id: the platform id; defaults to 'pettingzoo/<path>'.
    api: 'aec' or 'parallel'.
    max_episode_steps: protocol steps after which an episode is truncated (is_last
      without is_terminal); default: the environment's `max_cycles` where it has one
      (times the number of agents for AEC), else no limit (0 in the spec).
    debug: check every raw observation against the agent's observation space.
    **env_kwargs: passed to the module's env() / parallel_env() or the callable.
  """
  jittable = False

  def __init__(self, env: str | Callable[..., Any], env_id: str | None = None, *,
               api: str = 'aec', max_episode_steps: int | None = None,
               debug: bool = False, **env_kwargs):
    if api not in ('aec', 'parallel'):
      raise ValueError(f"api must be 'aec' or 'parallel', got {api!r}.")
    if isinstance(env, str):
      factory, name = _load(env, api), env
    elif callable(env):
      factory, name = env, getattr(env, '__name__', type(env).__name__)
    else:
      raise TypeError(f'env must be a PettingZoo module path or a factory, got '
                      f'{type(env).__name__}.')
    self._factory = lambda: factory(**env_kwargs)
    self.api, self.debug = api, debug
    probe = self._factory()
    self.agents = list(probe.possible_agents)
    obs_spaces = [probe.observation_space(a) for a in self.agents]
    act_spaces = [probe.action_space(a) for a in self.agents]
    for agent, o, a in zip(self.agents[1:], obs_spaces[1:], act_spaces[1:]):
      if o != obs_spaces[0] or a != act_spaces[0]:
        raise ValueError(
            f'{name}: agent {agent!r} has spaces ({o}, {a}) but {self.agents[0]!r} has '
            f'({obs_spaces[0]}, {act_spaces[0]}); the protocol needs one observation '
            'and one action space shared by all seats (pad them with a wrapper).')
    gym_spaces = _deps.require('gymnasium', 'The PettingZoo adapter').spaces
    self.raw_observation_space = obs_spaces[0]
    self._mask_in_observation = (isinstance(obs_spaces[0], gym_spaces.Dict)
                                 and _MASK in obs_spaces[0].spaces)
    if self._mask_in_observation:
      rest = {k: v for k, v in obs_spaces[0].spaces.items() if k != _MASK}
      self.observation_space = gym_spaces.Dict(rest)
    else:
      self.observation_space = obs_spaces[0]
    self.action_space = act_spaces[0]
    self._codec = spaces.ActionCodec(self.action_space)
    observation = spaces.observation_spec(self.observation_space)
    observation = observation if isinstance(observation, dict) else {'observation': observation}
    if api == 'aec':
      if 'to_play' in observation:
        raise ValueError(f"{name}: the observation already has a 'to_play' entry.")
      if self._codec.mask_spec is None or len(self._codec.spec) != 1:
        raise spaces.UnsupportedSpaceError(
            f'{name}: turn-based (AEC) environments need a single Discrete action for '
            f'the waiting-seat convention, got {self.action_space}.')
      observation = dict(observation)
      observation['to_play'] = specs.ArraySpec((), 'float32', minimum=0.0, maximum=1.0)
    if max_episode_steps is None:
      cycles = getattr(probe.unwrapped, 'max_cycles', None) or 0
      max_episode_steps = cycles * (len(self.agents) if api == 'aec' else 1)
    self._limit = int(max_episode_steps)
    probe.close()
    self.spec = specs.EnvSpec(
        env_id=env_id or f'pettingzoo/{name}', version='1',
        num_players=len(self.agents), observation=observation,
        action=self._codec.spec, legal_action_mask=self._codec.mask_spec,
        max_episode_steps=self._limit,
        params={'api': api, **({} if max_episode_steps is None or not self._limit
                               else {'max_episode_steps': self._limit}),
                **{k: v for k, v in env_kwargs.items()
                   if v is None or isinstance(v, (int, float, str, bool))}})
    self._zero_observation = host.zeros_like_spec(
        {k: v for k, v in observation.items() if k != 'to_play'})
    self._envs, self._seed, self._episodes, self._last, self._steps = [], 0, [], [], []

  # Raw values -> one environment's per-seat record.

  def _split(self, agent, raw, info):
    """(observation dict without the mask, raw mask or None) of one agent."""
    if self.debug:
      lines = spaces.violations(self.raw_observation_space, raw, f'observation[{agent}]')
      if lines:
        raise SpaceViolation(f'{self.spec.env_id} returned an observation outside its '
                             'own observation_space:\n  ' + '\n  '.join(lines))
    mask = None
    if self._mask_in_observation:
      mask = raw[_MASK]
      raw = {k: v for k, v in raw.items() if k != _MASK}
    elif info and _MASK in info:
      mask = info[_MASK]
    observation = spaces.convert_observation(self.observation_space, raw)
    observation = observation if isinstance(observation, dict) else {'observation': observation}
    return observation, mask

  def _record(self, observations, masks, to_play, reward, first, last, terminal):
    legal = None
    if self._codec.mask_spec is not None:
      rows = [self._codec.masks_from(m, ()) for m in masks]
      legal = {k: np.stack([r[k] for r in rows]) for k in self._codec.mask_spec}
      if to_play is not None:
        legal = {k: turns.seat_masks(v, to_play, last) for k, v in legal.items()}
      elif last:
        legal = {k: np.ones_like(v) for k, v in legal.items()}
    observation = host.stack(observations)
    if to_play is not None:
      observation['to_play'] = to_play.astype(np.float32)
    return host.Record(observation, legal, reward, first, last, terminal)

  # AEC.

  def _aec_done(self, e):
    return not e.agents or all(e.terminations[a] or e.truncations[a] for a in e.agents)

  def _aec_skip_dead(self, e, reward):
    while not self._aec_done(e):
      agent = e.agent_selection
      if not (e.terminations[agent] or e.truncations[agent]):
        break
      e.step(None)
      reward += [e.rewards.get(a, 0.0) for a in self.agents]

  def _aec_record(self, e, reward, first):
    last = self._aec_done(e)
    observations, masks = [], []
    for agent in self.agents:
      try:
        raw = e.observe(agent)
      except (KeyError, AttributeError):
        raw = None
      if raw is None:
        observations.append(self._zero_observation)
        masks.append(None)
      else:
        observation, mask = self._split(agent, raw, e.infos.get(agent))
        observations.append(observation)
        masks.append(mask)
    to_play = np.array([not last and a == e.agent_selection for a in self.agents])
    truncated = any(e.truncations.get(a, False) for a in self.agents)
    return self._record(observations, masks, to_play, reward, first, last,
                        last and not truncated)

  def _aec_reset(self, e, seed):
    e.reset(seed=seed)
    reward = np.zeros(len(self.agents), np.float32)
    self._aec_skip_dead(e, reward)
    return self._aec_record(e, np.zeros(len(self.agents), np.float32), True)

  def _aec_step(self, e, action):
    agent = e.agent_selection
    seat = self.agents.index(agent)
    e.step(self._codec.to_env({k: v[seat] for k, v in action.items()}))
    reward = np.array([e.rewards.get(a, 0.0) for a in self.agents], np.float32)
    self._aec_skip_dead(e, reward)
    return self._aec_record(e, reward, False)

  # Parallel.

  def _parallel_record(self, e, raw_obs, infos, reward, first, done, truncated):
    observations, masks = [], []
    for agent in self.agents:
      if agent in raw_obs and not done:
        observation, mask = self._split(agent, raw_obs[agent], infos.get(agent))
      elif agent in raw_obs:
        observation, mask = self._split(agent, raw_obs[agent], None)
        mask = None
      else:
        observation, mask = self._zero_observation, None
      observations.append(observation)
      masks.append(mask)
    return self._record(observations, masks, None, reward, first, done, done and not truncated)

  def _parallel_reset(self, e, seed):
    raw_obs, infos = e.reset(seed=seed)
    return self._parallel_record(e, raw_obs, infos, np.zeros(len(self.agents), np.float32),
                                 True, False, False)

  def _parallel_step(self, e, action):
    live = list(e.agents)
    actions = {a: self._codec.to_env({k: v[self.agents.index(a)] for k, v in action.items()})
               for a in live}
    raw_obs, rewards, terms, truncs, infos = e.step(actions)
    reward = np.array([rewards.get(a, 0.0) for a in self.agents], np.float32)
    done = not e.agents or all(terms.get(a, False) or truncs.get(a, False) for a in e.agents)
    truncated = any(truncs.get(a, False) for a in live)
    return self._parallel_record(e, raw_obs, infos, reward, False, done, truncated)

  # The protocol.

  def _truncate(self, record):
    """Ends an episode at the step limit: is_last, not terminal, all masks True."""
    masks = record.legal_action_mask
    if masks is not None:
      masks = {k: np.ones_like(v) for k, v in masks.items()}
    observation = dict(record.observation)
    if 'to_play' in observation:
      observation['to_play'] = np.zeros_like(observation['to_play'])
    return host.Record(observation, masks, record.reward, record.is_first, True, False)

  def _reset_one(self, i):
    self._steps[i] = 0
    seed = host.episode_seed(self._seed, i, self._episodes[i])
    self._episodes[i] += 1
    e = self._envs[i]
    return self._aec_reset(e, seed) if self.api == 'aec' else self._parallel_reset(e, seed)

  def reset_batch(self, seed: int, num_envs: int) -> types.TimeStep:
    """Resets `num_envs` copies; fields [N, P, ...]."""
    if len(self._envs) != num_envs:
      self.close()
      self._envs = [self._factory() for _ in range(num_envs)]
    self._seed, self._episodes = int(seed), [0] * num_envs
    self._steps = [0] * num_envs
    records = [self._reset_one(i) for i in range(num_envs)]
    self._last = [r.is_last for r in records]
    return host.batch(records)

  def step_batch(self, action) -> types.TimeStep:
    """Steps every copy with `action` (leaves [N, P, ...]); resets finished ones."""
    if not self._envs:
      raise RuntimeError('Call reset_batch(seed, num_envs) before step_batch.')
    action = {k: np.asarray(action[k]) for k in self.spec.action}
    records = []
    for i, e in enumerate(self._envs):
      if self._last[i]:
        records.append(self._reset_one(i))
        continue
      one = {k: v[i] for k, v in action.items()}
      record = self._aec_step(e, one) if self.api == 'aec' else self._parallel_step(e, one)
      self._steps[i] += 1
      if self._limit and self._steps[i] >= self._limit and not record.is_last:
        record = self._truncate(record)
      records.append(record)
    self._last = [r.is_last for r in records]
    return host.batch(records)

  def close(self):
    for e in self._envs:
      e.close()
    self._envs = []
