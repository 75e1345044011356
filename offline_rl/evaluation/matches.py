"""Batched matches: every game of a batch runs to its end inside one compiled loop.

Letters: G games in a batch, P seats (1 or 2), K policies in a match (= P).

A match is `K` policies playing `G` games. In a two-player match the seats alternate:
game `g` seats the policies swapped when `g` is odd, and games `2m` and `2m + 1` share
the map (the environment's reset key), so each map is played from both sides. Every
game draws its map and its policies' randomness from its own key, derived from
`(seed, match name, g)`, so a game's outcome does not depend on which batch or which
process played it: splitting the work into shards changes nothing in the results.

JAX environments run as `jit(while_loop(vmap(step)))` that stops as soon as every game
of the batch has ended (or after `max_episode_steps` steps); host environments (those
with `jittable = False`) run through `offline_rl.rollout` and keep each environment's
first episode.
"""
from __future__ import annotations

import collections
import functools
import zlib
from typing import Hashable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import rollout
from offline_rl import types

PyTree = types.PyTree


class GameResults(NamedTuple):
  """Raw outcomes of G games, in *policy* order (not seat order).

  Attributes:
    returns: [G, K] float32, each policy's undiscounted return.
    length: [G] int32, agent steps until the game ended.
    terminal: [G] bool, True when the game ended by the rules, False when truncated.
    swapped: [G] bool, True when the policies sat in reversed seats.
    game: [G] int64, each game's index within its match.
  """
  returns: np.ndarray
  length: np.ndarray
  terminal: np.ndarray
  swapped: np.ndarray
  game: np.ndarray


def match_key(seed: int, match_name: str) -> jax.Array:
  """The base key of a match: a stable function of the seed and the match's name."""
  return jax.random.fold_in(jax.random.key(seed), zlib.crc32(match_name.encode()))


def game_keys(seed: int, match_name: str, games: np.ndarray) -> jax.Array:
  """[G] keys, one per game index; games 2m and 2m+1 get the same map key later."""
  base = match_key(seed, match_name)
  return jax.vmap(lambda g: jax.random.fold_in(base, g))(jnp.asarray(games, jnp.uint32))


def _seat_view(timestep: types.TimeStep, seat_index) -> types.TimeStep:
  """One seat's view where `seat_index` may be traced (unbatched)."""
  return types.seat(timestep, seat_index)


def _play_batch(env, policies: Sequence[types.Policy], params: tuple, keys: jax.Array,
                swapped: jax.Array):
  """Plays G games to their end. keys [G] (map key + policy keys), swapped [G] bool.

  Returns (returns [G, K], length [G], terminal [G]); see `GameResults`.
  """
  num_policies = len(policies)
  num_games = keys.shape[0]
  max_steps = env.spec.max_episode_steps
  shared = _can_share(policies, params)

  map_keys = keys[:, 0]
  policy_keys = keys[:, 1]
  env_state, timestep = jax.vmap(env.reset)(map_keys)
  fold = jax.vmap(jax.random.fold_in, in_axes=(0, None))  # keys [G], data [] -> [G]
  policy_state = tuple(jax.vmap(p.init_state)(fold(policy_keys, i))
                       for i, p in enumerate(policies))

  def seat_of(k):
    """[G] the seat policy k sits in."""
    if num_policies == 1:
      return jnp.zeros((num_games,), jnp.int32)
    return jnp.where(swapped, 1 - k, k).astype(jnp.int32)

  seats = [seat_of(k) for k in range(num_policies)]

  def to_policy_order(x):
    """[G, P] in seat order -> [G, K] in policy order."""
    if num_policies == 1:
      return x
    return jnp.where(swapped[:, None], x[:, ::-1], x)

  def body(carry):
    env_state, timestep, policy_state, returns, length, terminal, done, t = carry
    step_keys = fold(policy_keys, t)
    keys = [fold(step_keys, 1000 + k) for k in range(num_policies)]
    views = [jax.vmap(_seat_view)(timestep, seats[k]) for k in range(num_policies)]
    if shared:
      actions, new_policy_state = _act_shared(policies[0].apply, params, views,
                                              policy_state, keys)
    else:
      actions, new_policy_state = [], []
      for k, policy in enumerate(policies):
        action, state = jax.vmap(policy.apply, in_axes=(None, 0, 0, 0))(
            params[k], views[k], policy_state[k], keys[k])
        actions.append(action)
        new_policy_state.append(state)
    if num_policies == 1:
      seat_actions = jax.tree.map(lambda a: a[:, None], actions[0])
    else:
      def place(a0, a1):
        w = swapped.reshape((-1,) + (1,) * (a0.ndim - 1))
        return jnp.stack([jnp.where(w, a1, a0), jnp.where(w, a0, a1)], axis=1)
      seat_actions = jax.tree.map(place, actions[0], actions[1])
    env_state, new_timestep = jax.vmap(env.step)(env_state, seat_actions)
    live = ~done
    reward = to_policy_order(new_timestep.reward.reshape(num_games, -1))
    returns = returns + jnp.where(live[:, None], reward, 0.0)
    length = length + live.astype(jnp.int32)
    ended = live & new_timestep.is_last
    terminal = jnp.where(ended, new_timestep.is_terminal, terminal)
    done = done | new_timestep.is_last
    return (env_state, new_timestep, tuple(new_policy_state), returns, length, terminal,
            done, t + 1)

  def cond(carry):
    done, t = carry[-2], carry[-1]
    return (t <= max_steps) & ~jnp.all(done)

  carry = (env_state, timestep, policy_state,
           jnp.zeros((num_games, num_policies), jnp.float32),
           jnp.zeros((num_games,), jnp.int32), jnp.zeros((num_games,), bool),
           timestep.is_last, jnp.int32(0))
  carry = jax.lax.while_loop(cond, body, carry)
  _, _, _, returns, length, terminal, done, _ = carry
  return returns, length, terminal, done


# Policies of one function whose params are this small run as one vmap over both seats
# (one copy of their code in the compiled program: bots of one family compile once).
SHARED_PARAMS_LIMIT = 1 << 16


def _can_share(policies, params) -> bool:
  if len(policies) < 2:
    return False
  first = policies[0]
  if any(p.apply is not first.apply or p.init_state is not first.init_state
         for p in policies[1:]):
    return False
  structures = {jax.tree.structure(p) for p in params}
  shapes = {tuple(jnp.shape(x) for x in jax.tree.leaves(p)) for p in params}
  size = sum(int(np.prod(jnp.shape(x))) for x in jax.tree.leaves(params[0]))
  return len(structures) == 1 and len(shapes) == 1 and size <= SHARED_PARAMS_LIMIT


class _PerSeat:
  """A tree leaf holding one array per seat (an unregistered class stays a leaf)."""

  def __init__(self, values):
    self.values = values


def _act_shared(apply, params, views, policy_state, keys):
  """All seats through one vmap over [G * K] slots; params gathered per slot."""
  num_policies = len(views)
  num_games = keys[0].shape[0]

  def merge(*xs):  # K arrays [G, ...] -> [G * K, ...], game-major.
    x = jnp.stack(xs, axis=1)
    return x.reshape((num_games * num_policies,) + x.shape[2:])

  def split(x):  # [G * K, ...] -> K arrays [G, ...].
    x = x.reshape((num_games, num_policies) + x.shape[1:])
    return [x[:, k] for k in range(num_policies)]

  slot = jnp.tile(jnp.arange(num_policies), num_games)
  slot_params = jax.tree.map(lambda *p: jnp.stack(p)[slot], *params)
  action, state = jax.vmap(apply)(
      slot_params, jax.tree.map(merge, *views), jax.tree.map(merge, *policy_state),
      merge(*keys))
  actions = jax.tree.map(lambda x: _PerSeat(split(x)), action)
  states = jax.tree.map(lambda x: _PerSeat(split(x)), state)
  pick = lambda tree, k: jax.tree.map(lambda per_seat: per_seat.values[k], tree)
  return ([pick(actions, k) for k in range(num_policies)],
          [pick(states, k) for k in range(num_policies)])


# Compiled match loops, least recently used last. Bounded: a long tournament or a
# training run that evaluates many checkpoints does not keep every program alive.
PROGRAM_CACHE_SIZE = 16
_programs: collections.OrderedDict = collections.OrderedDict()


def _program(env, policies: Sequence[types.Policy], program_key):
  """The compiled loop for `program_key`, or for the identity of env and functions.

  Params are arguments of the program, so policies that are the same functions with
  other params (bots of one family, checkpoints of one architecture) can share it. A
  caller that knows two sets of functions are equivalent (two loaded checkpoints of
  one network are different closures of the same code) states it with an equal
  `program_key`, a promise that the functions in each seat behave alike; nothing is
  inferred by inspecting functions.
  """
  key = (env, len(policies), program_key if program_key is not None
         else tuple((p.apply, p.init_state) for p in policies))
  if key in _programs:
    _programs.move_to_end(key)
  else:
    _programs[key] = jax.jit(functools.partial(_play_batch, env, tuple(policies)))
    while len(_programs) > PROGRAM_CACHE_SIZE:
      _programs.popitem(last=False)
  return _programs[key]


def match_name(env_id: str, policy_ids: Sequence[str]) -> str:
  return '|'.join([env_id, *policy_ids])


def play(env, policies: Sequence[types.Policy], *, seed: int, num_games: int,
         first_game: int = 0, swap_seats: bool = True,
         batch_size: int | None = None, program_key: Hashable | None = None
         ) -> GameResults:
  """Plays games `first_game .. first_game + num_games - 1` of a match.

  Args:
    env: an environment of the functional protocol (or a host environment).
    policies: one `Policy` per seat, in policy order; for a two-player game the seats
      alternate between games when `swap_seats`.
    seed: the evaluation seed; with the policies' ids and the environment id it fixes
      every game's map and randomness.
    num_games: how many games to play.
    first_game: the index of the first game (shards of one match use disjoint ranges).
    swap_seats: alternate seats between games (two-player games only).
    batch_size: games per compiled call (default: all at once).
    program_key: names the compiled program to reuse across calls with policies that
      are equivalent functions (default: the functions' identity); see `_program`.

  Returns:
    `GameResults` in policy order.
  """
  num_players = env.spec.num_players
  if len(policies) != num_players:
    raise ValueError(f'{env.spec.env_id} has {num_players} seat(s) but {len(policies)} '
                     'policies were given; pass one policy per seat.')
  if num_games < 1:
    raise ValueError(f'num_games must be >= 1, got {num_games}.')
  games = np.arange(first_game, first_game + num_games, dtype=np.int64)
  swapped = (games % 2 == 1) & swap_seats & (num_players == 2)
  name = match_name(env.spec.env_id, [p.policy_id for p in policies])
  params = tuple(p.params for p in policies)
  if not getattr(env, 'jittable', True):
    return _play_host(env, policies, params, seed, name, games, swapped)
  # Games 2m and 2m+1 share the map key; policy keys are per game.
  pair = games // 2 if (swap_seats and num_players == 2) else games
  map_keys = game_keys(seed, name + '#map', pair)
  policy_keys = game_keys(seed, name + '#policy', games)
  keys = jnp.stack([map_keys, policy_keys], axis=1)
  run = _program(env, policies, program_key)
  batch_size = batch_size or num_games
  out = []
  for start in range(0, num_games, batch_size):
    sl = slice(start, start + batch_size)
    out.append(jax.device_get(run(params, keys[sl], jnp.asarray(swapped[sl]))))
  returns, length, terminal, done = (np.concatenate(x) for x in zip(*out))
  if not done.all():
    raise RuntimeError(
        f'{int((~done).sum())} game(s) of {name} did not end within max_episode_steps='
        f'{env.spec.max_episode_steps}; the environment must set is_last by then.')
  return GameResults(returns.astype(np.float32), length.astype(np.int32),
                     terminal.astype(bool), swapped, games)


def _play_host(env, policies, params, seed, name, games, swapped) -> GameResults:
  """Host environments: one rollout per seat arrangement, first episode of each env."""
  num_games = len(games)
  returns = np.zeros((num_games, len(policies)), np.float32)
  length = np.zeros(num_games, np.int32)
  terminal = np.zeros(num_games, bool)
  for flip in (False, True):
    idx = np.nonzero(swapped == flip)[0]
    if not len(idx):
      continue
    order = list(policies[::-1] if flip else policies)
    seat_params = tuple(params[::-1] if flip else params)
    key = jax.random.fold_in(match_key(seed, name + '#host'), int(games[0]) * 2 + flip)
    state = rollout.init(env, order, key, num_envs=len(idx))
    run = rollout.make_run(env, order, num_steps=env.spec.max_episode_steps + 1)
    _, steps = run(seat_params, state)
    ts = jax.device_get(steps.timestep)
    is_last = np.asarray(ts.is_last)  # [T, N]
    if not is_last.any(axis=0).all():
      raise RuntimeError(f'A game of {name} did not end within max_episode_steps.')
    last = is_last.argmax(axis=0)  # [N]
    reward = np.asarray(ts.reward).reshape(is_last.shape + (-1,))  # [T, N, P]
    t = np.arange(is_last.shape[0])[:, None]
    seat_returns = np.where((t <= last)[..., None], reward, 0.0).sum(0)  # [N, P]
    returns[idx] = seat_returns[:, ::-1] if flip else seat_returns
    length[idx] = last
    terminal[idx] = np.asarray(ts.is_terminal)[last, np.arange(len(idx))]
  return GameResults(returns, length, terminal, swapped, games)


def outcome(results: GameResults) -> np.ndarray:
  """[G] score of the first policy: 1 win, 0.5 draw, 0 loss (two-player games)."""
  diff = results.returns[:, 0] - results.returns[:, 1]
  return np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
