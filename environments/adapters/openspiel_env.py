"""OpenSpiel -> the platform's protocol (a host environment), and OpenSpiel's MCTS bots.

    env = OpenSpielEnv('connect_four')          # any game string pyspiel.load_game takes
    env = OpenSpielEnv('phantom_ttt')           # imperfect information: each seat sees
                                                # only its own observation tensor
    bot = mcts_bot(env, num_simulations=64)     # a types.Policy, graded by simulations

Seat p is OpenSpiel player p. The observation is {'observation': the game's
observation tensor for that player (its information-state tensor when the game has no
observation tensor), shaped like the game says, 'to_play': ...} under the turn-based
convention of `turns.py`; at simultaneous-move nodes every seat with legal actions is
to play and all their actions are applied together. Chance nodes are resolved inside
the adapter by sampling OpenSpiel's chance outcomes with a generator seeded from
(seed, copy, episode). Rewards are the change of `state.returns()` per step.
N copies run side by side in one process with NEXT_STEP autoreset.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import specs
from offline_rl import types
from offline_rl.environments.adapters import _deps
from offline_rl.environments.adapters import host
from offline_rl.environments.adapters import turns


def _pyspiel(game: str):
  return _deps.require('pyspiel', f"The environment 'openspiel/{game}'")


class OpenSpielEnv:
  """An OpenSpiel game behind `types.HostEnvironment` (see the module docstring).

  Args:
    game: a game name or game string ('connect_four', 'breakthrough(rows=6,columns=6)').
    env_id: the platform id; defaults to 'openspiel/<game>'.
    **game_params: OpenSpiel game parameters, e.g. rows=6.
  """
  jittable = False

  def __init__(self, game: str, env_id: str | None = None, **game_params):
    pyspiel = _pyspiel(game)
    try:
      self.game = (pyspiel.load_game(game, game_params) if game_params
                   else pyspiel.load_game(game))
    except pyspiel.SpielError as error:
      names = sorted(pyspiel.registered_names())
      close = [n for n in names if game.split('(')[0][:4] in n][:10]
      raise KeyError(f'OpenSpiel cannot load game {game!r} ({error}). Close names: '
                     f'{close}; pyspiel.registered_names() lists all {len(names)}.') from error
    info = self.game.get_type()
    self.name = game
    self.perfect_information = info.information == pyspiel.GameType.Information.PERFECT_INFORMATION
    self.deterministic = info.chance_mode == pyspiel.GameType.ChanceMode.DETERMINISTIC
    self.sequential = info.dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL
    if info.provides_observation_tensor:
      self._tensor, shape = 'observation', self.game.observation_tensor_shape()
    elif info.provides_information_state_tensor:
      self._tensor, shape = 'information_state', self.game.information_state_tensor_shape()
    else:
      raise ValueError(f'OpenSpiel game {game!r} provides neither an observation tensor '
                       'nor an information-state tensor; the protocol needs arrays.')
    self.observation_shape = tuple(shape)
    observation_lib = _deps.require('open_spiel.python.observation', 'OpenSpiel adapters')
    self._observer = observation_lib.make_observation(
        self.game, None if self._tensor == 'observation' else
        pyspiel.IIGObservationType(perfect_recall=True))
    if self._observer.tensor.size != int(np.prod(self.observation_shape)):
      raise ValueError(f'{game}: OpenSpiel observer gives {self._observer.tensor.size} '
                       f'values, the game declares {self.observation_shape}.')
    self.num_players = self.game.num_players()
    self.num_actions = self.game.num_distinct_actions()
    self.spec = specs.EnvSpec(
        env_id=env_id or f'openspiel/{game}', version='1', num_players=self.num_players,
        observation={
            'observation': specs.ArraySpec(self.observation_shape, 'float32'),
            'to_play': specs.ArraySpec((), 'float32', minimum=0.0, maximum=1.0)},
        action={'action': specs.ArraySpec((), 'int32', num_values=self.num_actions)},
        legal_action_mask={'action': specs.ArraySpec((self.num_actions,), 'bool')},
        max_episode_steps=int(self.game.max_game_length()),
        # The keyword arguments that rebuild it: make(env_id, **params).
        params={k: v for k, v in game_params.items()
                if isinstance(v, (int, float, str, bool))})
    self.states, self._rngs, self._episodes, self._seed = [], [], [], 0
    self._buffers = {}

  def observe(self, state, player: int) -> np.ndarray:
    """`player`'s observation of `state`, shaped like the spec (a fresh array)."""
    self._observer.set_from(state, player)
    return self._observer.tensor.reshape(self.observation_shape).copy()

  def _resolve_chance(self, state, rng):
    while state.is_chance_node():
      outcomes, probs = zip(*state.chance_outcomes())
      state.apply_action(int(rng.choice(outcomes, p=np.asarray(probs) / np.sum(probs))))

  def _allocate(self, num_envs):
    shape = (num_envs, self.num_players)
    self._buffers = {
        'observation': np.zeros(shape + (int(np.prod(self.observation_shape)),), np.float32),
        'to_play': np.zeros(shape, bool), 'legal': np.zeros(shape + (self.num_actions,), bool),
        'reward': np.zeros(shape, np.float32), 'is_first': np.zeros(num_envs, bool),
        'is_last': np.zeros(num_envs, bool)}

  def _write(self, i, state, reward, first):
    """Writes game i's time step into the batch buffers."""
    b = self._buffers
    last = state.is_terminal()
    b['is_first'][i], b['is_last'][i], b['reward'][i] = first, last, reward
    b['to_play'][i] = False
    b['legal'][i] = False
    if not last:
      if state.is_simultaneous_node():
        for p in range(self.num_players):
          legal = state.legal_actions(p)
          b['to_play'][i, p] = bool(legal)
          b['legal'][i, p, legal] = True
      else:
        player = state.current_player()
        b['to_play'][i, player] = True
        b['legal'][i, player, state.legal_actions(player)] = True
    for p in range(self.num_players):
      self._observer.set_from(state, p)
      b['observation'][i, p] = self._observer.tensor

  def _timestep(self) -> types.TimeStep:
    b = self._buffers
    num_envs = b['is_first'].shape[0]
    last = b['is_last'].copy()
    return types.TimeStep(
        observation={
            'observation': b['observation'].reshape(
                (num_envs, self.num_players) + self.observation_shape).copy(),
            'to_play': b['to_play'].astype(np.float32)},
        legal_action_mask={'action': turns.seat_masks(b['legal'], b['to_play'], last)},
        reward=b['reward'].copy(),
        discount=np.where(last, 0.0, 1.0).astype(np.float32),
        is_first=b['is_first'].copy(), is_last=last, is_terminal=last.copy())

  def _reset_one(self, i):
    self._rngs[i] = np.random.default_rng(host.episode_seed(self._seed, i, self._episodes[i]))
    self._episodes[i] += 1
    state = self.game.new_initial_state()
    self._resolve_chance(state, self._rngs[i])
    self.states[i] = state
    self._write(i, state, 0.0, True)

  def reset_batch(self, seed: int, num_envs: int) -> types.TimeStep:
    """Starts `num_envs` games; fields [N, P, ...]."""
    self._seed, self._episodes = int(seed), [0] * num_envs
    self.states, self._rngs = [None] * num_envs, [None] * num_envs
    self._allocate(num_envs)
    for i in range(num_envs):
      self._reset_one(i)
    return self._timestep()

  def step_batch(self, action) -> types.TimeStep:
    """Applies the acting seats' actions (leaves [N, P]); restarts finished games."""
    if not self.states:
      raise RuntimeError('Call reset_batch(seed, num_envs) before step_batch.')
    moves = np.asarray(action['action'])
    for i, state in enumerate(self.states):
      if state.is_terminal():
        self._reset_one(i)
        continue
      before = state.returns()
      if state.is_simultaneous_node():
        state.apply_actions([int(moves[i, p]) if state.legal_actions(p) else 0
                             for p in range(self.num_players)])
      else:
        player = state.current_player()
        move = int(moves[i, player])
        legal = 0 <= move < self.num_actions and self._buffers['legal'][i, player, move]
        if not legal:
          raise ValueError(f'{self.spec.env_id}: seat {player} of game {i} played the '
                           f'illegal action {move}; legal: {state.legal_actions(player)}.')
        state.apply_action(move)
      self._resolve_chance(state, self._rngs[i])
      reward = np.subtract(state.returns(), before)
      self._write(i, state, reward, False)
    return self._timestep()


# OpenSpiel's own MCTS as graded opponents.

def _search_host(env: OpenSpielEnv, num_simulations, uct_c, num_rollouts, observation,
                 to_play, is_first, history, me, seed):
  """Host side of `mcts_bot`: follow the game from the observation, search if to play."""
  mcts = _deps.require('open_spiel.python.algorithms.mcts', 'OpenSpiel MCTS bots')
  history = np.asarray(history)
  if bool(is_first):
    me = 0 if bool(to_play) else 1
    moves = []
  else:
    moves = [int(a) for a in history if a >= 0]
  state = env.game.new_initial_state()
  for move in moves:
    state.apply_action(move)
  if not bool(is_first):
    observation = np.asarray(observation, np.float32)
    for move in state.legal_actions():
      if np.array_equal(env.observe(state.child(move), int(me)), observation):
        state.apply_action(move)
        moves.append(move)
        break
    else:
      raise RuntimeError(f'OpenSpiel MCTS bot lost track of {env.name}: no legal move '
                         'explains the observation (was it fed another game?).')
  action = turns.WAITING_ACTION
  if bool(to_play) and not state.is_terminal():
    rng = np.random.RandomState(int(seed))
    bot = mcts.MCTSBot(env.game, float(uct_c), int(num_simulations),
                       mcts.RandomRolloutEvaluator(int(num_rollouts), rng),
                       solve=True, random_state=rng)
    action = bot.step(state)
  padded = np.full(history.shape, -1, np.int32)
  padded[:len(moves)] = moves
  return np.int32(action), padded, np.int32(me)


def _mcts_apply(env, params, timestep: types.TimeStep, state, key):
  history, me = state
  seed = jax.random.randint(key, (), 0, 2**31 - 1)
  shapes = (jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct(history.shape, jnp.int32),
            jax.ShapeDtypeStruct((), jnp.int32))
  action, history, me = jax.pure_callback(
      functools.partial(_search_host, env), shapes, params['num_simulations'],
      params['uct_c'], params['num_rollouts'], timestep.observation['observation'],
      timestep.observation['to_play'] > 0, timestep.is_first, history, me, seed,
      vmap_method='sequential')
  return {'action': action}, (history, me)


def mcts_bot(env: OpenSpielEnv, num_simulations: int = 64, uct_c: float = 2.0,
             num_rollouts: int = 1, rating: float = float('nan')) -> types.Policy:
  """OpenSpiel's MCTSBot (random-rollout evaluator) as a `types.Policy`.

  The policy state holds the moves so far ([max_game_length] int32, -1 padded) and the
  bot's player id; each call replays them on the host, finds the move that explains
  the new observation, and searches when the bot is to play (through
  `jax.pure_callback`, so it runs under the rollout's jit and vmap). It needs a
  deterministic, sequential, perfect-information game: in other games observations do
  not tell it the opponent's moves.

  Args:
    env: the OpenSpielEnv it plays in.
    num_simulations: MCTS simulations per move; the strength grade.
    uct_c: UCT exploration constant.
    num_rollouts: random rollouts per leaf evaluation.
    rating: calibrated rating, when known.
  """
  if not (env.perfect_information and env.deterministic and env.sequential):
    raise ValueError(
        f'OpenSpiel MCTS bots follow the game from their own observations, which needs '
        f'a deterministic, sequential, perfect-information game; {env.name!r} is not '
        f'(perfect information: {env.perfect_information}, deterministic: '
        f'{env.deterministic}, sequential: {env.sequential}).')
  if num_simulations < 1 or num_rollouts < 1:
    raise ValueError('num_simulations and num_rollouts must be >= 1.')
  _deps.require('open_spiel.python.algorithms.mcts', 'OpenSpiel MCTS bots')
  length = env.spec.max_episode_steps
  params = {'num_simulations': jnp.int32(num_simulations), 'uct_c': jnp.float32(uct_c),
            'num_rollouts': jnp.int32(num_rollouts)}
  init = lambda key: (jnp.full((length,), -1, jnp.int32), jnp.int32(0))
  return types.Policy(f'{env.spec.env_id}/mcts-{num_simulations}',
                      functools.partial(_mcts_apply, env), params, init, rating)
