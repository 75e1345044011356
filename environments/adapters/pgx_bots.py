"""mctx search bots for pgx games, graded by simulation count.

    bot = search_bot(PgxEnv('connect_four'), num_simulations=64)   # a types.Policy

The bot is a pure `types.Policy`: it sees only its seat's observation, so it keeps
its own copy of the game in its policy state and follows the game from observations.
At `is_first` it starts from pgx's initial position with itself as player 0 if it
moves first, else player 1 (pgx games are symmetric in player ids); at every later
step it finds the one legal action whose successor's observation, from its point of
view, equals the observation it is given. `state.tracking_ok` turns False if no action
explains the observation (a game where observations do not determine moves).

On its turn it runs MuZero-style search (`mctx.muzero_policy`) with the game itself
as the model. A leaf's value is 0 (`value='zero'`) or the mean outcome of
`num_rollouts` uniformly random playouts to the end (`value='rollout'`). With a zero
value, plain search at 4, 16 and 64 simulations plays at nearly the same strength on
connect_four (coin-flip matches); random-rollout values give a graded ladder, measured
in benchmarks/bench_adapters.py and docs/adapters.md.

Params (`SearchParams`) are the search knobs; `num_simulations`, `value` and
`num_rollouts` set array shapes and loop lengths, so they are static pytree fields:
changing them recompiles, changing `temperature` or `dirichlet_fraction` does not.
The search is `offline_rl.mcts.search`, the one call into mctx that MZS-MCTS makes too
(it forms mctx's `invalid_actions`, True = illegal, from the legal mask).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from offline_rl import mcts
from offline_rl import types
from offline_rl.environments.adapters import _deps
from offline_rl.environments.adapters import turns
from offline_rl.environments.adapters.pgx_env import PgxEnv

_NEG = -1e9


@struct.dataclass
class SearchParams:
  """Search knobs. Static fields recompile when changed; the others are traced."""
  num_simulations: int = struct.field(pytree_node=False, default=16)
  value: str = struct.field(pytree_node=False, default='rollout')
  num_rollouts: int = struct.field(pytree_node=False, default=1)
  temperature: Any = 0.0  # 0 plays the most visited action; 1 samples by visits.
  dirichlet_fraction: Any = 0.0  # Root exploration noise.


class SearchState(NamedTuple):
  """The bot's policy state: its copy of the game, its player id, a health flag."""
  game: Any
  me: jax.Array  # [] int32
  tracking_ok: jax.Array  # [] bool


class _Search:
  """The pure functions of one game's search bot (no parameters captured)."""

  def __init__(self, env: PgxEnv):
    if env.num_players != 2 or env._stochastic:  # pylint: disable=protected-access
      raise ValueError(f'search bots need a deterministic two-player pgx game; '
                       f'{env.game!r} has {env.num_players} player(s)'
                       + (' and chance' if env._stochastic else '') + '.')  # pylint: disable=protected-access
    self.env = env
    self.pgx_env = env.pgx_env
    self.num_actions = env.num_actions
    self.max_steps = env.spec.max_episode_steps or 1000
    self.first_state = self._first_mover_zero_start()

  def _first_mover_zero_start(self):
    """pgx's initial state with player 0 to move; checks init has no other randomness."""
    states = jax.jit(jax.vmap(self.pgx_env.init))(jax.random.split(jax.random.key(0), 16))
    zero = np.flatnonzero(np.asarray(states.current_player) == 0)
    if not zero.size:
      raise ValueError(f'{self.env.game}: no initial state with player 0 to move.')
    for leaf in jax.tree.leaves(states):
      leaf = np.asarray(leaf)[zero]
      if not (leaf == leaf[:1]).all():
        raise ValueError(f'{self.env.game}: pgx init is random beyond the first mover; '
                         'a search bot cannot follow it from observations.')
    return jax.tree.map(lambda x: x[zero[0]], states)

  def step(self, game, action):
    return self.pgx_env.step(game, action)

  def rollout_value(self, game, key):
    """Outcome of one uniformly random playout, for the player to move in `game`."""
    player = game.current_player

    def cond(carry):
      g, _, _, n = carry
      return ~(g.terminated | g.truncated) & (n < self.max_steps)

    def body(carry):
      g, total, k, n = carry
      k, pick = jax.random.split(k)
      a = jax.random.categorical(pick, jnp.where(g.legal_action_mask, 0.0, -jnp.inf))
      g = self.step(g, a)
      return g, total + g.rewards[player], k, n + 1

    _, total, _, _ = jax.lax.while_loop(cond, body, (game, jnp.float32(0), key, 0))
    return total

  def value(self, params: SearchParams, game, key):
    if params.value == 'zero':
      return jnp.float32(0)
    if params.value != 'rollout':
      raise ValueError(f"SearchParams.value must be 'zero' or 'rollout', got {params.value!r}.")
    keys = jax.random.split(key, params.num_rollouts)
    return jnp.mean(jax.vmap(self.rollout_value, in_axes=(None, 0))(game, keys))

  def recurrent_fn(self, params: SearchParams, key, action, embedding):
    """mctx model: the game itself. embedding: pgx states [B]; action [B]."""
    mctx = _deps.require('mctx', 'pgx search bots')
    child = jax.vmap(self.step)(embedding, action)
    batch = action.shape[0]
    reward = child.rewards[jnp.arange(batch), embedding.current_player]
    done = child.terminated | child.truncated
    same_mover = child.current_player == embedding.current_player
    discount = jnp.where(done, 0.0, jnp.where(same_mover, 1.0, -1.0))
    value = jax.vmap(self.value, in_axes=(None, 0, 0))(
        params, child, jax.random.split(key, batch))
    return mctx.RecurrentFnOutput(
        reward=reward.astype(jnp.float32), discount=discount.astype(jnp.float32),
        prior_logits=jnp.where(child.legal_action_mask, 0.0, _NEG),
        value=jnp.where(done, 0.0, value).astype(jnp.float32)), child

  def search(self, params: SearchParams, game, key):
    """The searched action for the player to move in `game` (unbatched)."""
    mctx = _deps.require('mctx', 'pgx search bots')
    value_key, search_key = jax.random.split(key)
    root_game = jax.tree.map(lambda x: x[None], game)
    legal = game.legal_action_mask[None]
    root = mctx.RootFnOutput(
        prior_logits=jnp.where(legal, 0.0, _NEG),
        value=self.value(params, game, value_key)[None],
        embedding=root_game)
    output = mcts.search(params, search_key, root, self.recurrent_fn, legal,
                         kind='muzero', num_simulations=params.num_simulations,
                         temperature=params.temperature,
                         dirichlet_fraction=params.dirichlet_fraction)
    return output.action[0]

  def follow(self, state: SearchState, timestep: types.TimeStep) -> SearchState:
    """Advances the bot's copy of the game to the observed time step."""
    observation = timestep.observation['observation']
    to_play = timestep.observation['to_play'] > 0
    me = jnp.where(to_play, 0, 1).astype(jnp.int32)
    fresh = SearchState(self.first_state, me, jnp.bool_(True))
    candidates = jax.vmap(self.step, in_axes=(None, 0))(state.game, jnp.arange(self.num_actions))
    seen = jax.vmap(self.env.observe, in_axes=(0, None))(candidates, state.me)
    matches = jnp.all((seen == observation[None]).reshape(self.num_actions, -1), axis=-1)
    matches &= state.game.legal_action_mask
    successor = jax.tree.map(lambda x: x[jnp.argmax(matches)], candidates)
    followed = SearchState(successor, state.me, state.tracking_ok & jnp.any(matches))
    return jax.tree.map(lambda f, o: jnp.where(timestep.is_first, f, o), fresh, followed)

  def apply(self, params: SearchParams, timestep: types.TimeStep, state: SearchState, key):
    state = self.follow(state, timestep)
    to_play = timestep.observation['to_play'] > 0
    action = self.search(params, state.game, key)
    action = jnp.where(to_play, action, turns.WAITING_ACTION).astype(jnp.int32)
    return {'action': action}, state

  def init_state(self, key):
    del key
    return SearchState(self.first_state, jnp.int32(0), jnp.bool_(True))


def search_bot(env: PgxEnv, num_simulations: int = 16, value: str = 'rollout',
               num_rollouts: int = 1, temperature: float = 0.0,
               dirichlet_fraction: float = 0.0, rating: float = float('nan')) -> types.Policy:
  """An mctx search bot for a deterministic two-player pgx game (`types.Policy`).

  Args:
    env: the PgxEnv it plays in.
    num_simulations: search budget per move; the strength grade.
    value: leaf value, 'rollout' (random playouts) or 'zero'.
    num_rollouts: playouts averaged per leaf when value='rollout'.
    temperature: 0 plays the most visited action, 1 samples by visit counts.
    dirichlet_fraction: weight of Dirichlet noise on the root prior.
    rating: calibrated rating, when known.
  """
  _deps.require('mctx', 'pgx search bots')
  if value not in ('zero', 'rollout'):
    raise ValueError(f"value must be 'zero' or 'rollout', got {value!r}.")
  if num_simulations < 1 or num_rollouts < 1:
    raise ValueError(f'num_simulations and num_rollouts must be >= 1, got '
                     f'{num_simulations} and {num_rollouts}.')
  search = _Search(env)
  params = SearchParams(num_simulations=num_simulations, value=value,
                        num_rollouts=num_rollouts, temperature=jnp.float32(temperature),
                        dirichlet_fraction=jnp.float32(dirichlet_fraction))
  return types.Policy(f'{env.spec.env_id}/mcts-{num_simulations}-{value}',
                      search.apply, params, search.init_state, rating)
