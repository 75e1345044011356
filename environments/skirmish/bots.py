"""Scripted Skirmish bots: one JAX family, archetypes and skill knobs in the params.

Every bot is the same pure function `apply(params, timestep, state, key)` reading one
seat's observation and legal-action mask; what differs is `BotParams`, so any set of
bots can be stacked and vmapped together (the calibration does exactly that).

Archetypes (strategy knobs):
  * rush: few workers, an early barracks, melee, attacks with a small army.
  * economic: many workers, two barracks later, a mixed army, attacks late and big.
  * defensive: heavies and ranged held near the base, strikes only with a large army.
  * harass: ranged units sent at the enemy's workers early.

Skill knobs:
  * interval: mean ticks between decisions, i.e. 1 / APM; a fractional interval is
    met on average by drawing the `delay` head (the gap - 1) from its two neighbours;
  * noise: probability of a uniformly random legal action instead of the plan;
  * control: unit-control quality, the probability that an army command goes to an
    idle unit toward the right place (else to a random army unit, possibly pulling it
    out of a fight), and that workers are pulled to defend the base.

Names are '<archetype>-<level>' with level 0 (weakest) .. 7 (strongest), plus 'random'.
Strength depends on the map (a rush that wins on 8x8 can lose on 16x16), so each map
has its own calibration: `ladder(env)` returns the rated ladder of env's map, shipped
in `ladder-<H>x<H>.json`, and `bot(name, env)` carries that map's rating.

A bot reads its observation by the names of `rules.UNIT`, `rules.PLANE` and
`rules.SCALAR`, the layout the game builds it with. Letters: U unit slots, C cells.
"""
from __future__ import annotations

import functools
import json
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import errors
from offline_rl import types
from offline_rl.environments.skirmish import rules as R
from offline_rl.environments.skirmish.game import argmin_first



class BotParams(NamedTuple):
  """Knobs of one bot; every field is a scalar (or [3]) array so bots stack and vmap."""
  interval: jax.Array  # float32, mean ticks between decisions (1..8)
  noise: jax.Array  # float32, probability of a random legal action
  control: jax.Array  # float32 in [0, 1], unit-control quality
  worker_target: jax.Array  # int32, workers to keep
  barracks_target: jax.Array  # int32
  barracks_after: jax.Array  # int32, workers before the first barracks
  mix: jax.Array  # float32 [3], army composition (melee, ranged, heavy)
  attack_at: jax.Array  # int32, army size that launches an attack
  harass: jax.Array  # float32, 1 = send the army at the enemy's workers
  defend_radius: jax.Array  # int32, enemies this close to the base are engaged
  eco_first: jax.Array  # float32, 1 = workers before army in priority


ARCHETYPES = {
    'rush': dict(worker_target=4, barracks_target=1, barracks_after=3,
                 mix=(0.8, 0.1, 0.1), attack_at=2, harass=0.0, defend_radius=3,
                 eco_first=0.0),
    'economic': dict(worker_target=7, barracks_target=2, barracks_after=6,
                     mix=(0.35, 0.35, 0.3), attack_at=5, harass=0.0, defend_radius=5,
                     eco_first=1.0),
    'defensive': dict(worker_target=5, barracks_target=1, barracks_after=4,
                      mix=(0.2, 0.35, 0.45), attack_at=7, harass=0.0, defend_radius=6,
                      eco_first=1.0),
    'harass': dict(worker_target=5, barracks_target=1, barracks_after=4,
                   mix=(0.15, 0.75, 0.1), attack_at=3, harass=1.0, defend_radius=4,
                   eco_first=0.0),
}
# Skill levels: (interval, noise, control), weakest first. A continuous skill
# s = level / 8 sets interval = 8^(1 - s) ticks, noise = 0.45 (1 - s), control = s.
# Both choices grade the top of the ladder (docs/skirmish.md): the interval falls
# geometrically (x1.30 actions per minute a level) because a fight is decided by the
# ratio of the two sides' APM, and s stops short of 1 because the perfect bot (no
# noise, perfect control, every tick) makes no mistakes at all and beat the level
# below it 89-95% of games on 8x8.
NUM_LEVELS = 8
LEVELS = tuple((round(8 ** (1 - l / NUM_LEVELS), 4), round(0.45 * (1 - l / NUM_LEVELS), 4),
                round(l / NUM_LEVELS, 4)) for l in range(NUM_LEVELS))


def make_params(archetype: str, level: int) -> BotParams:
  if archetype == 'random':
    knobs = dict(ARCHETYPES['rush'])
    interval, noise, control = 1, 1.0, 0.0
  else:
    knobs = dict(ARCHETYPES[archetype])
    interval, noise, control = LEVELS[level]
  return BotParams(
      interval=jnp.float32(interval), noise=jnp.float32(noise),
      control=jnp.float32(control), worker_target=jnp.int32(knobs['worker_target']),
      barracks_target=jnp.int32(knobs['barracks_target']),
      barracks_after=jnp.int32(knobs['barracks_after']),
      mix=jnp.asarray(knobs['mix'], jnp.float32), attack_at=jnp.int32(knobs['attack_at']),
      harass=jnp.float32(knobs['harass']), defend_radius=jnp.int32(knobs['defend_radius']),
      eco_first=jnp.float32(knobs['eco_first']))


def names() -> list[str]:
  """Every bot name: '<archetype>-<level>' (level 0 weakest .. 7 strongest) and 'random'."""
  return ['random'] + [f'{a}-{lvl}' for a in ARCHETYPES for lvl in range(len(LEVELS))]


def _parse(name: str) -> tuple[str, int]:
  if name == 'random':
    return 'random', 0
  archetype, _, level = name.rpartition('-')
  if archetype in ARCHETYPES and level.isdigit() and int(level) < len(LEVELS):
    return archetype, int(level)
  raise KeyError(f'Unknown Skirmish bot {name!r}. Known bots: {", ".join(names())}.')


def _sample(u, mask, with_any=False):
  """A random True index of a bool vector, from one uniform u in [0, 1).

  Starts at a uniformly drawn position and takes the first True entry from there on
  (wrapping around): one random number and one pass, no cumulative sum, so the bots
  stay cheap. Close to uniform when True entries are spread out; 0 when none is True.
  """
  n = mask.shape[0]
  start = jnp.floor(u * n).astype(jnp.int32)
  offset = (jnp.arange(n, dtype=jnp.int32) - start) % n
  # The smallest offset of a True entry identifies it (offsets are distinct): one
  # plain min instead of an argmin; index 0 when none is True (as argmin would give).
  least = jnp.min(jnp.where(mask, offset, n))
  index = jnp.where(least < n, (least + start) % n, 0).astype(jnp.int32)
  # `mask.any()` from the same reduction when asked (with_any=True).
  return (index, least < n) if with_any else index


def _weighted(u, weights):
  """Index drawn with probability proportional to `weights` (>= 0), from one uniform."""
  cdf = jnp.cumsum(weights)
  return jnp.argmax(cdf > u * cdf[-1]).astype(jnp.int32)


# Scores of `_first` stay below this (it is also its fill value).
_NO_SCORE = 1 << 20


def _first(mask, score=None):
  """Index of the True entry with the lowest score (first on ties); 0 when none."""
  if score is None:
    score = jnp.arange(mask.shape[0])
  # Scores are small integers (|score| < 2**20), so the fill value 2**20 ranks
  # exactly like the former 2**30 and the packed argmin stays within int32.
  return argmin_first(jnp.where(mask, score, _NO_SCORE)).astype(jnp.int32)


# The bot's uniform draws, one per random choice, by index.
(_U_CONTROL, _U_PICK, _U_KIND, _U_NOISE_FUNCTION, _U_NOISE_UNIT, _U_NOISE_TARGET,
 _U_NOISY, _U_SEARCH, _U_DELAY) = range(9)
_NUM_UNIFORMS = 9


class _Units(NamedTuple):
  """One side's unit rows of an observation, decoded: [U] each."""
  alive: jax.Array  # bool
  kind: jax.Array  # int32 (0 for an empty slot)
  x: jax.Array  # int32 cell column
  y: jax.Array  # int32 cell row


class _Board(NamedTuple):
  """The places a bot plans around: int32 cell coordinates."""
  size: int  # map side (static)
  cx: jax.Array  # [C] every cell's column
  cy: jax.Array  # [C] every cell's row
  home_x: jax.Array  # own base (else first own building)
  home_y: jax.Array
  rally_x: jax.Array  # three cells from home toward the enemy
  rally_y: jax.Array
  enemy_x: jax.Array  # the enemy's home: the mirror of ours
  enemy_y: jax.Array


class _Threat(NamedTuple):
  """The nearest visible enemy within a bot's defend_radius of home."""
  under_attack: jax.Array  # bool, there is one
  cell: jax.Array  # int32, its cell


class _Command(NamedTuple):
  """One candidate command: whether it applies (and is legal) and its heads."""
  ok: jax.Array
  function: jax.Array | int
  unit: jax.Array | int
  target: jax.Array | int


def _cheb(ax, ay, bx, by):
  """Chebyshev distance between cells (ax, ay) and (bx, by)."""
  return jnp.maximum(jnp.abs(ax - bx), jnp.abs(ay - by))


def _one_hot_index(rows, group: str):
  """int32 [U]: the index within a one-hot group of `rules.UNIT` (0 for an all-zero row).

  Exact, since the one-hot features are exactly 0.0 or 1.0. Written as element-wise
  adds of the columns (exactly the weighted sum: one term at most is non-zero), which
  XLA fuses, rather than a reduction over a short minor axis, which it runs as a
  separate, slow kernel.
  """
  columns = rows[:, R.UNIT[group]]
  return sum(columns[:, k] * np.float32(k) for k in range(1, columns.shape[1])).astype(
      jnp.int32)


def _read_units(rows, size: int) -> _Units:
  """Decodes unit rows [U, F] laid out as `rules.UNIT`."""
  cell = lambda name: jnp.round(rows[:, R.UNIT[name]] * size).astype(jnp.int32)
  return _Units(alive=rows[:, R.UNIT['alive']] > 0, kind=_one_hot_index(rows, 'kind'),
                x=cell('x'), y=cell('y'))


def _board(own: _Units, size: int) -> _Board:
  """Home, rally point and the enemy's home, from the own units."""
  # Cell coordinates as constants of the compiled bot (not recomputed per cell).
  cy, cx = (jnp.asarray(a, jnp.int32) for a in np.divmod(np.arange(size * size), size))
  # Home is the own base; without one, the first own building cell (0 when none).
  # Buildings come from the unit list ([U] work) rather than the 'own_buildings'
  # plane, which marks exactly their cells.
  num_cells = size * size
  has_base = own.alive[0] & (own.kind[0] == R.BASE)
  first_building = jnp.min(jnp.where(own.alive & (own.kind <= R.BARRACKS),
                                     own.y * size + own.x, num_cells))
  first_building = jnp.where(first_building < num_cells, first_building, 0)
  home = jnp.where(has_base, own.y[0] * size + own.x[0], first_building)
  home_x, home_y = home % size, home // size
  enemy_x, enemy_y = size - 1 - home_x, size - 1 - home_y
  toward = lambda a, b: jnp.sign(b - a)
  return _Board(size=size, cx=cx, cy=cy, home_x=home_x, home_y=home_y,
                rally_x=jnp.clip(home_x + 3 * toward(home_x, enemy_x), 0, size - 1),
                rally_y=jnp.clip(home_y + 3 * toward(home_y, enemy_y), 0, size - 1),
                enemy_x=enemy_x, enemy_y=enemy_y)


def _from_cells(board: _Board, x, y):
  """Chebyshev distance [C] from every cell to (x, y)."""
  return _cheb(board.cx, board.cy, x, y)


def _harvest(own: _Units, order, mask, board: _Board) -> _Command:
  """An idle worker goes harvesting the field nearest to it (and to home)."""
  idle_worker = own.alive & (own.kind == R.WORKER) & (order == R.IDLE)
  w = _first(idle_worker)
  # The harvest target row of the mask is exactly 'resources > 0'.
  resources_left = mask['target'][R.F_HARVEST]
  target = _first(resources_left, _from_cells(board, board.home_x, board.home_y) * 2
                  + _from_cells(board, own.x[w], own.y[w]))
  ok = (idle_worker.any() & mask['function'][R.F_HARVEST] & resources_left.any()
        & mask['unit'][R.F_HARVEST, w])
  return _Command(ok, R.F_HARVEST, w, target)


def _threat(params: BotParams, enemy: _Units, board: _Board) -> _Threat:
  distance = _cheb(enemy.x, enemy.y, board.home_x, board.home_y)
  near = enemy.alive & (distance <= params.defend_radius)
  nearest = _first(near, distance)
  return _Threat(near.any(), enemy.y[nearest] * board.size + enemy.x[nearest])


def _strike_cell(params: BotParams, enemy: _Units, visible, mask, board: _Board,
                 chosen_x, chosen_y, u_search):
  """Where an attacking army goes when no enemy is engaged (cell index).

  The nearest visible enemy building to the chosen unit; else the strike point (the
  enemy's home field when harassing, its home otherwise); when that is in sight and
  holds no building, a random walkable cell out of sight (a search).
  """
  size = board.size
  num_cells = size * size
  # Harass: the enemy's home field, the mirror of the field nearest our home.
  home_field = _first(mask['target'][R.F_HARVEST],
                      _from_cells(board, board.home_x, board.home_y))
  field_x, field_y = size - 1 - home_field % size, size - 1 - home_field // size
  strike_x = jnp.where(params.harass > 0, field_x, board.enemy_x)
  strike_y = jnp.where(params.harass > 0, field_y, board.enemy_y)
  enemy_building = enemy.alive & (enemy.kind <= R.BARRACKS)  # visible ones
  any_enemy_building = enemy_building.any()
  strike = strike_y * size + strike_x
  cleared = visible[strike] & ~any_enemy_building
  hidden = mask['target'][R.F_ATTACK] & ~visible
  search, any_hidden = _sample(u_search, hidden, with_any=True)
  strike = jnp.where(cleared & any_hidden, search, strike)
  # The visible enemy building nearest to the chosen unit, lowest cell on ties.
  enemy_cell = enemy.y * size + enemy.x
  known_building = jnp.remainder(jnp.min(jnp.where(
      enemy_building, _cheb(enemy.x, enemy.y, chosen_x, chosen_y) * num_cells
      + enemy_cell, _NO_SCORE * num_cells)), num_cells)
  return jnp.where(any_enemy_building, known_building, strike), cleared


def _army(params: BotParams, own: _Units, order, enemy: _Units, visible, mask,
          board: _Board, threat: _Threat, u):
  """The army command: defend the base, attack, or gather at the rally point.

  Good control (probability params.control) picks an army unit not already attacking
  and engages a visible enemy where it stands; poor control picks any army unit.
  Returns (the command, whether control was good this decision).
  """
  army = own.alive & (own.kind >= R.MELEE)
  good = u[_U_CONTROL] < params.control
  not_attacking = army & (order != R.ATTACK)
  chosen = jnp.where(good & not_attacking.any(), _first(not_attacking),
                     _sample(u[_U_PICK], army))
  chosen_x, chosen_y = own.x[chosen], own.y[chosen]
  focus = _first(enemy.alive, _cheb(enemy.x, enemy.y, chosen_x, chosen_y))
  focus_cell = enemy.y[focus] * board.size + enemy.x[focus]
  strike, cleared = _strike_cell(params, enemy, visible, mask, board, chosen_x,
                                 chosen_y, u[_U_SEARCH])
  strike_cell = jnp.where(enemy.alive.any() & (good | cleared), focus_cell, strike)
  # Once the army is big enough everyone attacks.
  attacking = army.sum() >= params.attack_at
  target = jnp.where(threat.under_attack, threat.cell,
                     jnp.where(attacking, strike_cell,
                               board.rally_y * board.size + board.rally_x))
  ok = (army.any() & mask['function'][R.F_ATTACK] & mask['unit'][R.F_ATTACK, chosen]
        & mask['target'][R.F_ATTACK, target])
  # Skip pointless re-orders: a unit already attack-moving while nothing changed.
  useful = ok & (threat.under_attack | (order[chosen] != R.ATTACK) | ~good)
  return _Command(useful, R.F_ATTACK, chosen, target), good


def _worker_defence(own: _Units, order, mask, threat: _Threat, good) -> _Command:
  """With no army and good control, a worker is pulled to the threat."""
  n_army = (own.alive & (own.kind >= R.MELEE)).sum()
  free = own.alive & (own.kind == R.WORKER) & (order != R.ATTACK)
  defender = _first(free)
  ok = (threat.under_attack & (n_army == 0) & good & mask['function'][R.F_ATTACK]
        & mask['unit'][R.F_ATTACK, defender] & free.any())
  return _Command(ok, R.F_ATTACK, defender, threat.cell)


def _production(params: BotParams, own: _Units, order, mask, board: _Board, u_kind):
  """(train a worker, build a barracks, train an army unit) commands."""
  legal_f = mask['function']
  num_units = own.alive.shape[0]
  worker = own.alive & (own.kind == R.WORKER)
  n_workers = worker.sum()
  n_barracks = ((own.alive & (own.kind == R.BARRACKS)).sum()
                + (worker & (order == R.BUILD)).sum())
  train_worker = _Command(legal_f[R.F_TRAIN_WORKER] & (n_workers < params.worker_target),
                          R.F_TRAIN_WORKER, _first(mask['unit'][R.F_TRAIN_WORKER]), 0)
  build_ok = (legal_f[R.F_BUILD] & (n_barracks < params.barracks_target)
              & (n_workers >= params.barracks_after))
  builder = _first(mask['unit'][R.F_BUILD] & (order != R.BUILD),
                   -jnp.arange(num_units))  # the newest worker
  from_home = _from_cells(board, board.home_x, board.home_y)
  site_score = (_from_cells(board, board.rally_x, board.rally_y) * 4 + from_home
                + 100 * (from_home < 2))
  build = _Command(build_ok, R.F_BUILD, builder,
                   _first(mask['target'][R.F_BUILD], site_score))
  legal_army = legal_f[R.F_TRAIN_MELEE:R.F_TRAIN_HEAVY + 1]
  train_f = R.F_TRAIN_MELEE + _weighted(u_kind, jnp.where(legal_army, params.mix + 1e-6,
                                                           0.0))
  train_army = _Command(legal_army.any(), train_f, _first(mask['unit'][train_f]), 0)
  return train_worker, build, train_army


def _highest_priority(commands) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(function, unit, target) of the first command that applies; no-op when none."""
  ok = jnp.stack([c.ok for c in commands])
  pick, any_ok = _first(ok), ok.any()

  def head(field, default):
    values = jnp.stack([getattr(c, field) for c in commands])
    return jnp.where(any_ok, values[pick], default).astype(jnp.int32)

  return head('function', R.F_NOOP), head('unit', 0), head('target', 0)


def _random_legal(mask, u):
  """A uniformly random legal (function, unit, target)."""
  function = _sample(u[_U_NOISE_FUNCTION], mask['function'])
  return (function, _sample(u[_U_NOISE_UNIT], mask['unit'][function]),
          _sample(u[_U_NOISE_TARGET], mask['target'][function]))


def bot_apply(params: BotParams, timestep: types.TimeStep, state, key):
  """One decision of a bot for one seat (unbatched; vmap at the call site).

  Args:
    params: `BotParams`.
    timestep: one seat's `TimeStep` (see `offline_rl.types.seat`).
    state: unused policy state (an empty tuple).
    key: PRNG key.
  Returns:
    (action dict of int32 scalars, state).
  """
  obs, mask = timestep.observation, timestep.legal_action_mask
  size = obs['planes'].shape[0]
  u = jax.random.uniform(key, (_NUM_UNIFORMS,))
  own = _read_units(obs['units'], size)
  order = jnp.where(own.alive, _one_hot_index(obs['units'], 'order'), -1)
  enemy = _read_units(obs['enemies'], size)
  visible = obs['planes'][..., R.PLANE['visible']].reshape(-1) > 0
  board = _board(own, size)

  threat = _threat(params, enemy, board)
  army, good = _army(params, own, order, enemy, visible, mask, board, threat, u)
  train_worker, build, train_army = _production(params, own, order, mask, board,
                                                u[_U_KIND])
  # Priorities: eco-first bots train workers before the army; rushers the reverse.
  eco_first = train_worker._replace(ok=train_worker.ok & (params.eco_first > 0))
  function, unit, target = _highest_priority([
      _worker_defence(own, order, mask, threat, good),
      army._replace(ok=army.ok & threat.under_attack),
      _harvest(own, order, mask, board),
      eco_first, build, train_army, train_worker, army])

  # Noise: a uniformly random legal action.
  noisy = u[_U_NOISY] < params.noise
  function, unit, target = (jnp.where(noisy, r, p) for r, p in
                            zip(_random_legal(mask, u), (function, unit, target)))

  # Act only when this seat's decision is due; otherwise the one legal action (no_op,
  # every other head 0), which the game ignores.
  due = obs['scalars'][R.SCALAR['due']] > 0
  whole = jnp.floor(params.interval)
  gap = whole + (u[_U_DELAY] < params.interval - whole)  # E[gap] = interval
  action = {
      'function': jnp.where(due, function, R.F_NOOP).astype(jnp.int32),
      'unit': jnp.where(due, unit, 0).astype(jnp.int32),
      'target': jnp.where(due, target, 0).astype(jnp.int32),
      'delay': jnp.where(due, jnp.clip(gap - 1, 0, R.NUM_DELAYS - 1),
                         0).astype(jnp.int32),
  }
  return action, state


def bot(name: str, env=None, rating: float | None = None) -> types.Policy:
  """The bot called `name` (see `names()`) as a `Policy`.

  Args:
    name: e.g. 'rush-3'; unknown names raise a KeyError listing the known ones.
    env: the Skirmish environment it plays in, whose map's calibration gives its
      rating (bots themselves read the map size from the observation).
    rating: its rating; by default the calibrated one of env's map, else NaN (no
      env, or a map without a shipped calibration).
  """
  archetype, level = _parse(name)
  if rating is None:
    entry = calibration_record(env).get('ratings', {}).get(name) if env is not None else None
    rating = entry['rating'] if entry else float('nan')
  return types.Policy(policy_id=f'bot/{name}', apply=bot_apply,
                      params=make_params(archetype, level), rating=float(rating))


def ladder_file(env) -> str:
  """Where the calibration of env's map is shipped: `ladder-<H>x<H>.json` here."""
  map_name = env.spec.env_id.rpartition('/')[2]
  return os.path.join(os.path.dirname(__file__), f'ladder-{map_name}.json')


def calibration_record(env) -> dict:
  """The calibration record of env's map (`calibration.calibrate`'s), {} if none."""
  return _load_record(ladder_file(env))


@functools.lru_cache(maxsize=None)
def _load_record(path: str) -> dict:
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def ladder(env) -> list[types.Policy]:
  """The graded ladder of env's map, weakest first, with its calibrated ratings.

  `offline-rl skirmish calibrate` chose it on that map so that neighbouring levels win
  about 60-80% of their games against each other.
  """
  record = calibration_record(env)
  if not record.get('ladder'):
    path = ladder_file(env)
    raise errors.UserError(
        f'No calibrated ladder for {env.spec.env_id} ({path}); run `offline-rl skirmish '
        f'calibrate --size={env.size} --output={path}`.')
  return [bot(name, rating=record['ratings'][name]['rating']) for name in record['ladder']]


def stack_params(policies) -> BotParams:
  """Stacks the params of several bots along a new leading axis (for vmap)."""
  return jax.tree.map(lambda *x: jnp.stack(x), *[p.params for p in policies])


