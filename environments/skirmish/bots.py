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
  * interval: ticks between decisions (the `delay` head is interval - 1), i.e. APM;
  * noise: probability of a uniformly random legal action instead of the plan;
  * control: unit-control quality, the probability that an army command goes to an
    idle unit toward the right place (else to a random army unit, possibly pulling it
    out of a fight), and that workers are pulled to defend the base.

Names are '<archetype>-<level>' with level 0 (weakest) .. 7 (strongest), plus 'random'.
`ladder(env)` returns the calibrated, rated ladder shipped in `ladder.json`.
"""
from __future__ import annotations

import functools
import json
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import types
from offline_rl.environments.skirmish import rules as R
from offline_rl.environments.skirmish.game import argmin_first

LADDER_FILE = os.path.join(os.path.dirname(__file__), 'ladder.json')


class BotParams(NamedTuple):
  """Knobs of one bot; every field is a scalar (or [3]) array so bots stack and vmap."""
  interval: jax.Array  # int32, ticks between decisions (1..8)
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
# Skill levels: (interval, noise, control), weakest first; a continuous skill
# s = level / 7 sets interval = round(8 - 7 s) ticks, noise = 0.45 (1 - s), control = s.
NUM_LEVELS = 8
LEVELS = tuple((int(round(8 - 7 * (l / (NUM_LEVELS - 1)))),
                round(0.45 * (1 - l / (NUM_LEVELS - 1)), 4),
                round(l / (NUM_LEVELS - 1), 4)) for l in range(NUM_LEVELS))


def make_params(archetype: str, level: int) -> BotParams:
  if archetype == 'random':
    knobs = dict(ARCHETYPES['rush'])
    interval, noise, control = 1, 1.0, 0.0
  else:
    knobs = dict(ARCHETYPES[archetype])
    interval, noise, control = LEVELS[level]
  return BotParams(
      interval=jnp.int32(interval), noise=jnp.float32(noise),
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


def _first(mask, score=None):
  """Index of the True entry with the lowest score (first on ties); 0 when none."""
  if score is None:
    score = jnp.arange(mask.shape[0])
  # Scores are small integers (|score| < 2**20), so the fill value 2**20 ranks
  # exactly like the former 2**30 and the packed argmin stays within int32.
  return argmin_first(jnp.where(mask, score, 1 << 20)).astype(jnp.int32)


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
  units, enemies, scalars = obs['units'], obs['enemies'], obs['scalars']
  size = obs['planes'].shape[0]
  num_units = units.shape[0]
  # Cell coordinates as constants of the compiled bot (not recomputed per cell).
  cy, cx = (jnp.asarray(a, jnp.int32) for a in np.divmod(np.arange(size * size), size))
  keys = jax.random.uniform(key, (9,))  # one uniform per random choice

  alive = units[:, 0] > 0
  # Index of the one-hot entry (0 for an all-zero row, as argmax): exact, since the
  # one-hot features are exactly 0.0 or 1.0.
  # Written as element-wise adds of the columns (exactly the weighted sum: one term
  # at most is non-zero), which XLA fuses, rather than a reduction over a short
  # minor axis, which it runs as a separate, slow kernel.
  one_hot_index = lambda x: sum(x[:, k] * np.float32(k) for k in range(1, 6)).astype(
      jnp.int32)
  kind = one_hot_index(units[:, 1:7])
  order = jnp.where(alive, one_hot_index(units[:, 10:16]), -1)
  ux = jnp.round(units[:, 7 + 1] * size).astype(jnp.int32)
  uy = jnp.round(units[:, 7 + 2] * size).astype(jnp.int32)
  e_alive = enemies[:, 0] > 0
  ex = jnp.round(enemies[:, 8] * size).astype(jnp.int32)
  ey = jnp.round(enemies[:, 9] * size).astype(jnp.int32)
  e_kind = one_hot_index(enemies[:, 1:7])

  worker = alive & (kind == R.WORKER)
  army = alive & (kind >= R.MELEE)
  has_base = alive[0] & (kind[0] == R.BASE)
  bx, by = ux[0], uy[0]
  # Where the own base stood at the start is mirrored for the enemy base.
  planes = obs['planes']
  # Cells of buildings come from the unit lists (the 'own_buildings' and
  # 'enemy_buildings' planes mark exactly the cells of the own and of the visible
  # enemy buildings): [U] work instead of a pass over the [H, W, K] planes. The first
  # own building cell, 0 when there is none (as the first True cell of the plane).
  num_cells = size * size
  first_own_building = jnp.min(jnp.where(alive & (kind <= R.BARRACKS), uy * size + ux,
                                         num_cells))
  first_own_building = jnp.where(first_own_building < num_cells, first_own_building, 0)
  bcell = jnp.where(has_base, by * size + bx, first_own_building)
  bx, by = bcell % size, bcell // size
  ebx, eby = size - 1 - bx, size - 1 - by
  cheb = lambda ax, ay, bx_, by_: jnp.maximum(jnp.abs(ax - bx_), jnp.abs(ay - by_))
  toward = lambda a, b: jnp.sign(b - a)
  rally_x = jnp.clip(bx + 3 * toward(bx, ebx), 0, size - 1)
  rally_y = jnp.clip(by + 3 * toward(by, eby), 0, size - 1)

  n_workers = worker.sum()
  n_army = army.sum()
  n_barracks = (alive & (kind == R.BARRACKS)).sum() + (worker & (order == R.BUILD)).sum()
  legal_f = mask['function']
  # The harvest target row of the mask is exactly 'resources > 0' (the 'resources'
  # plane is positive there): a contiguous bool row instead of a strided plane.
  resources_left = mask['target'][R.F_HARVEST]

  # 1. An idle worker goes harvesting the field nearest to it (or the base).
  idle_worker = worker & (order == R.IDLE)
  w = _first(idle_worker)
  harvest_ok = resources_left  # the harvest target row
  h_target = _first(harvest_ok, cheb(cx, cy, bx, by) * 2 + cheb(cx, cy, ux[w], uy[w]))
  harvest = (idle_worker.any() & legal_f[R.F_HARVEST] & harvest_ok.any()
             & mask['unit'][R.F_HARVEST, w])

  # 2. Threats near the base: the nearest visible enemy within defend_radius.
  e_dist = cheb(ex, ey, bx, by)
  threat_mask = e_alive & (e_dist <= params.defend_radius)
  threat = _first(threat_mask, e_dist)
  threat_cell = ey[threat] * size + ex[threat]
  under_attack = threat_mask.any()

  # 3. Army commands. Good control picks an army unit not already attacking; poor
  # control picks any army unit at random.
  k_ctrl, k_pick = keys[0], keys[1]
  good = k_ctrl < params.control
  not_attacking = army & (order != R.ATTACK)
  random_army = _sample(k_pick, army)
  chosen = jnp.where(good & not_attacking.any(), _first(not_attacking), random_army)
  # Harass: the enemy's home field (mirror of ours); else their base.
  home_field = _first(resources_left, cheb(cx, cy, bx, by))
  hx, hy = size - 1 - home_field % size, size - 1 - home_field // size
  strike_x = jnp.where(params.harass > 0, hx, ebx)
  strike_y = jnp.where(params.harass > 0, hy, eby)
  # Once the army is big enough everyone attacks; a visible enemy army near ours is
  # engaged where it stands when control is good.
  attacking = n_army >= params.attack_at
  seen = e_alive.any()
  focus = _first(e_alive, cheb(ex, ey, ux[chosen], uy[chosen]))
  focus_cell = ey[focus] * size + ex[focus]
  # When the strike point is in sight and holds no enemy building, search: a random
  # walkable cell out of sight.
  visible = planes[..., 6].reshape(-1) > 0
  e_building = e_alive & (e_kind <= R.BARRACKS)  # visible enemy buildings
  any_enemy_building = e_building.any()
  strike = strike_y * size + strike_x
  cleared = visible[strike] & ~any_enemy_building
  hidden = mask['target'][R.F_ATTACK] & ~visible
  search, any_hidden = _sample(keys[7], hidden, with_any=True)
  strike = jnp.where(cleared & any_hidden, search, strike)
  # The visible enemy building cell nearest to the chosen unit, lowest cell on ties
  # (as the first such cell of the plane by that score).
  e_cell = ey * size + ex
  known_building = jnp.remainder(jnp.min(jnp.where(
      e_building, cheb(ex, ey, ux[chosen], uy[chosen]) * num_cells + e_cell,
      (1 << 20) * num_cells)), num_cells)
  strike = jnp.where(any_enemy_building, known_building, strike)
  strike_cell = jnp.where(seen & (good | cleared), focus_cell, strike)
  army_target = jnp.where(under_attack, threat_cell,
                          jnp.where(attacking, strike_cell, rally_y * size + rally_x))
  army_ok = (army.any() & legal_f[R.F_ATTACK] & mask['unit'][R.F_ATTACK, chosen]
             & mask['target'][R.F_ATTACK, army_target])
  # Skip pointless re-orders: a unit already attack-moving while nothing changed.
  army_useful = army_ok & (under_attack | (order[chosen] != R.ATTACK) | ~good)

  # Workers defend when there is no army and good control.
  pull_workers = under_attack & (n_army == 0) & good
  defender = _first(worker & (order != R.ATTACK))
  worker_defend = (pull_workers & legal_f[R.F_ATTACK] & mask['unit'][R.F_ATTACK, defender]
                   & (worker & (order != R.ATTACK)).any())

  # 4. Production.
  train_worker = legal_f[R.F_TRAIN_WORKER] & (n_workers < params.worker_target)
  base_slot = _first(mask['unit'][R.F_TRAIN_WORKER])
  build_ok = (legal_f[R.F_BUILD] & (n_barracks < params.barracks_target)
              & (n_workers >= params.barracks_after))
  builder = _first(mask['unit'][R.F_BUILD] & (order != R.BUILD),
                   -jnp.arange(num_units))  # the newest worker
  site_score = (cheb(cx, cy, rally_x, rally_y) * 4 + cheb(cx, cy, bx, by)
                + 100 * (cheb(cx, cy, bx, by) < 2))
  site = _first(mask['target'][R.F_BUILD], site_score)
  legal_army = legal_f[R.F_TRAIN_MELEE:R.F_TRAIN_HEAVY + 1]
  kind_pick = _weighted(keys[2], jnp.where(legal_army, params.mix + 1e-6, 0.0))
  train_f = R.F_TRAIN_MELEE + kind_pick
  train_army = legal_army.any()
  barracks_slot = _first(mask['unit'][train_f])

  # Priorities: eco-first bots train workers before the army; rushers the reverse.
  eco = params.eco_first > 0
  candidates = jnp.stack([worker_defend, army_useful & under_attack, harvest,
                          train_worker & eco, build_ok, train_army, train_worker,
                          army_useful])
  functions = jnp.stack([R.F_ATTACK, R.F_ATTACK, R.F_HARVEST, R.F_TRAIN_WORKER,
                         R.F_BUILD, train_f, R.F_TRAIN_WORKER, R.F_ATTACK])
  unit_of = jnp.stack([defender, chosen, w, base_slot, builder, barracks_slot, base_slot,
                       chosen])
  target_of = jnp.stack([threat_cell, army_target, h_target, 0, site, 0, 0, army_target])
  pick = _first(candidates)
  function = jnp.where(candidates.any(), functions[pick], R.F_NOOP).astype(jnp.int32)
  unit = jnp.where(candidates.any(), unit_of[pick], 0).astype(jnp.int32)
  target = jnp.where(candidates.any(), target_of[pick], 0).astype(jnp.int32)

  # Noise: a uniformly random legal action.
  rf = _sample(keys[3], legal_f)
  ru = _sample(keys[4], mask['unit'][rf])
  rt = _sample(keys[5], mask['target'][rf])
  noisy = keys[6] < params.noise
  function = jnp.where(noisy, rf, function)
  unit = jnp.where(noisy, ru, unit)
  target = jnp.where(noisy, rt, target)

  due = scalars[5] > 0
  action = {
      'function': jnp.where(due, function, R.F_NOOP).astype(jnp.int32),
      'unit': jnp.where(due, unit, 0).astype(jnp.int32),
      'target': jnp.where(due, target, 0).astype(jnp.int32),
      'delay': jnp.clip(params.interval - 1, 0, R.NUM_DELAYS - 1).astype(jnp.int32),
  }
  return action, state


def bot(name: str, env=None, rating: float | None = None) -> types.Policy:
  """The bot called `name` (see `names()`) as a `Policy`.

  Args:
    name: e.g. 'rush-3'; unknown names raise a KeyError listing the known ones.
    env: the Skirmish environment (accepted for symmetry with `ladder`; bots read the
      map size from the observation).
    rating: its rating; by default the calibrated one from ladder.json, else NaN.
  """
  del env
  archetype, level = _parse(name)
  if rating is None:
    rating = _ratings().get(name, float('nan'))
  return types.Policy(policy_id=f'bot/{name}', apply=bot_apply,
                      params=make_params(archetype, level), rating=float(rating))


@functools.lru_cache(maxsize=1)
def _load_ladder_file() -> dict:
  if not os.path.exists(LADDER_FILE):
    return {}
  with open(LADDER_FILE) as f:
    return json.load(f)


def _ratings() -> dict:
  return {name: entry['rating']
          for name, entry in _load_ladder_file().get('ratings', {}).items()}


def ladder(env=None) -> list[types.Policy]:
  """The graded ladder, weakest first, with calibrated ratings from ladder.json.

  The ladder was chosen by `offline-rl skirmish calibrate` on the default map so that
  neighbouring levels win about 60-80% of their games against each other.
  """
  data = _load_ladder_file()
  if not data.get('ladder'):
    raise FileNotFoundError(f'No calibrated ladder in {LADDER_FILE}; run '
                            '`offline-rl skirmish calibrate --output=' + LADDER_FILE + '`.')
  ratings = _ratings()
  return [bot(name, env, rating=ratings[name]) for name in data['ladder']]


def stack_params(policies) -> BotParams:
  """Stacks the params of several bots along a new leading axis (for vmap)."""
  return jax.tree.map(lambda *x: jnp.stack(x), *[p.params for p in policies])


