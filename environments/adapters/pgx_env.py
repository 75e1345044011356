"""pgx -> the platform's protocol: JAX-native, jittable and vmappable, any pgx game.

    env = PgxEnv('connect_four')
    state, ts = jax.vmap(env.reset)(keys)              # ts fields [N, P, ...]
    state, ts = jax.vmap(env.step)(state, action)      # action {'action': [N, P]}

Seat p is pgx player id p (pgx draws which player moves first at `init`). Turn-based
convention of `turns.py`: the observation is {'observation': pgx's observation of the
game from that seat's point of view, 'to_play': 1.0 for the seat to move}; only the
seat to move's action is applied; a waiting seat's mask allows only action 0. Rewards
are pgx's `rewards` per player. Stepping a finished state returns it unchanged with
zero rewards (pgx's own rule). Stochastic games (backgammon, 2048) draw their chance
outcomes from a key carried in the state, split from the reset key.
"""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from offline_rl import specs
from offline_rl import types
from offline_rl.environments.adapters import _deps
from offline_rl.environments.adapters import turns

# Longest possible games, so that specs carry a limit; 0 = not known.
MAX_EPISODE_STEPS = {'tic_tac_toe': 9, 'connect_four': 42, 'othello': 128,
                     'go_9x9': 162, 'go_19x19': 722, 'hex': 122}
_STOCHASTIC = ('backgammon', '2048')


class PgxState(NamedTuple):
  """The adapter's state: pgx's own state plus a key for chance (stochastic games).

  `game.observation` is emptied (shape [0]): the TimeStep carries each seat's
  observation, so the state does not carry a second copy. Everything else is pgx's.
  """
  game: Any
  key: jax.Array


def _pgx(game: str):
  return _deps.require('pgx', f"The environment 'pgx/{game}'")


class PgxEnv:
  """A pgx game behind `types.Environment` (see the module docstring).

  Args:
    game: a pgx id, e.g. 'connect_four', 'othello', 'go_9x9' (pgx.available_envs()).
    env_id: the platform id; defaults to 'pgx/<game>'.
    max_episode_steps: recorded in the spec; defaults to the game's longest game
      where known (MAX_EPISODE_STEPS), else 0 (no limit known).
  """
  jittable = True

  def __init__(self, game: str, env_id: str | None = None,
               max_episode_steps: int | None = None):
    pgx = _pgx(game)
    if game not in pgx.available_envs():
      raise KeyError(f'pgx has no game {game!r}; pgx games: {list(pgx.available_envs())}.')
    self.game = game
    self.pgx_env = pgx.make(game)
    self.num_players = int(self.pgx_env.num_players)
    self.num_actions = int(self.pgx_env.num_actions)
    self._stochastic = game in _STOCHASTIC
    sample = jax.eval_shape(self.pgx_env.init, jax.random.key(0))
    self.spec = specs.EnvSpec(
        env_id=env_id or f'pgx/{game}', version=str(self.pgx_env.version),
        num_players=self.num_players,
        observation={
            'observation': specs.ArraySpec(sample.observation.shape,
                                           sample.observation.dtype.name),
            'to_play': specs.ArraySpec((), 'float32', minimum=0.0, maximum=1.0)},
        action={'action': specs.ArraySpec((), 'int32', num_values=self.num_actions)},
        legal_action_mask={'action': specs.ArraySpec((self.num_actions,), 'bool')},
        max_episode_steps=int(MAX_EPISODE_STEPS.get(game, 0)
                              if max_episode_steps is None else max_episode_steps),
        # The keyword arguments that rebuild it: make(env_id, **params).
        params={} if max_episode_steps is None else {'max_episode_steps': max_episode_steps})

  def observe(self, game_state, player) -> jax.Array:
    """pgx's observation of `game_state` from `player`'s point of view."""
    with warnings.catch_warnings():  # pgx deprecates the player_id argument.
      warnings.simplefilter('ignore', DeprecationWarning)
      return self.pgx_env.observe(game_state, player)

  def _observations(self, game_state, seats) -> jax.Array:
    """[P, ...] each seat's observation. (pgx's own observation of the mover inside
    `step` is then unused and compiled away, as the carried state drops it.)"""
    return jax.vmap(lambda p: self.observe(game_state, p))(seats)

  def timestep(self, game_state, is_first) -> types.TimeStep:
    """The protocol's TimeStep ([P, ...] per-seat fields) of a pgx state."""
    seats = jnp.arange(self.num_players)
    is_last = game_state.terminated | game_state.truncated
    to_play = (seats == game_state.current_player) & ~is_last
    observation = self._observations(game_state, seats)
    legal = jnp.broadcast_to(game_state.legal_action_mask,
                             (self.num_players, self.num_actions))
    return types.TimeStep(
        observation={'observation': observation, 'to_play': to_play.astype(jnp.float32)},
        legal_action_mask={'action': turns.seat_masks(legal, to_play, is_last)},
        reward=game_state.rewards.astype(jnp.float32),
        discount=jnp.where(game_state.terminated, 0.0, 1.0).astype(jnp.float32),
        is_first=jnp.asarray(is_first, bool),
        is_last=is_last,
        is_terminal=game_state.terminated)

  def reset(self, key: jax.Array) -> tuple[PgxState, types.TimeStep]:
    init_key, chance_key = jax.random.split(key)
    game_state = self.pgx_env.init(init_key)
    return PgxState(_strip(game_state), chance_key), self.timestep(game_state, True)

  def step(self, state: PgxState, action) -> tuple[PgxState, types.TimeStep]:
    """Applies the seat to move's action; action {'action': [P] int}."""
    game_state, key = state
    move = jnp.asarray(action['action'])[game_state.current_player].astype(jnp.int32)
    if self._stochastic:
      key, step_key = jax.random.split(key)
      game_state = self.pgx_env.step(game_state, move, step_key)
    else:
      game_state = self.pgx_env.step(game_state, move)
    return PgxState(_strip(game_state), key), self.timestep(game_state, False)


def _strip(game_state):
  """Empties the carried state's `observation`: the TimeStep holds every seat's copy,
  and pgx's step never reads it, so carrying it again would only cost memory traffic."""
  return game_state.replace(observation=jnp.zeros((0,), game_state.observation.dtype))
