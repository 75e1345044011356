"""Skirmish: a two-player real-time strategy game with fog of war, written in JAX.

Functional environment (see `offline_rl.types.Environment`):

    env = Skirmish(size=16)
    state, timestep = env.reset(key)
    state, timestep = env.step(state, action)   # action: dict of int32 [P=2]

One environment step is one game tick. Each seat decides only when it is *due*: its
`delay` head (value d) says that its next decision comes d + 1 ticks later, so one agent
decision spans several ticks (as in AlphaStar). While a seat is not due, only the
`no_op` function is legal for it, with unit 0, target 0 and delay 0, and its action is
ignored. A head that the chosen function ignores allows only value 0 (no_op's unit and
target, stop's and train_*'s target): such a head carries no choice and BC trains
nothing on it (`offline_rl.losses.head_terms`, `skip_no_choice`).

Rules (all integer maths, every unit rule vectorised over fixed unit slots):
  * Economy: workers with a harvest order walk next to a resource cell, gather
    HARVEST_AMOUNT over HARVEST_TICKS and carry it to their base.
  * Production: the base trains workers; workers build barracks (paid when ordered);
    barracks train melee, ranged and heavy units (paid when ordered).
  * Combat: units with no order or an attack-move order fire at the nearest enemy in
    range (lowest HP first on ties); attack-moving units chase enemies in their sight.
    Melee x2 vs ranged, ranged x2 vs heavy, heavy x2 vs melee.
  * Orders persist across ticks: move, attack-move, harvest, build, train, stop.
  * Outcome: +1 / -1 when one side has lost all its buildings (0 if both at once);
    truncation with reward 0 at the tick limit.
  * Fog of war: a seat sees the cells within the sight of its living units; enemy units
    outside are absent from its observation. Terrain and resources are public.

Illegal actions (against the legal-action mask) are replaced by a no-op; the number of
illegal actions per seat is counted in `state.illegal_actions`. With `debug=True`, an
illegal action raises `IllegalActionError` naming the head and value instead.

Letters: P = 2 seats, U unit slots per seat, H = W map size, C = H * W cells,
F unit features, S scalars, K plane channels.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from offline_rl import specs
from offline_rl import types
from offline_rl.environments.skirmish import maps
from offline_rl.environments.skirmish import rules as R

# '2': a head that the chosen function ignores allows only value 0 (no_op's unit and
# target, stop's and train_*'s target), and so does `delay` while the seat is not due.
VERSION = '2'
# Which target row of `_mask_parts` each function uses: 0 cell 0 only (the functions
# that ignore the target, `rules.USES_TARGET`), 1 walkable, 2 harvestable, 3 buildable.
_TARGET_ROW = (0, 0, 1, 1, 2, 3, 0, 0, 0, 0)
assert all((row == 0) == (not uses) for row, uses in zip(_TARGET_ROW, R.USES_TARGET))
ACTION_HEADS = ('function', 'unit', 'target', 'delay')
# The packed per-cell code of one seat's planes (see `Skirmish._cell_code`): bit
# fields in PLANE_NAMES order. Unit counts per cell are below 32 (U <= 32 slots, one of
# them the base); building counts get 6 bits and are capped at 1 when expanded.
_PLANE_SHIFT = np.array([0, 1, 7, 12, 18, 23, 29, 30], np.int32)
_PLANE_MASK = np.array([1, 63, 31, 63, 31, 63, 1, 1], np.int32)
_PLANE_CAP = np.array([1, 63, 31, 1, 31, 1, 1, 1], np.int32)
_PLANE_IS_RESOURCES = np.arange(len(R.PLANE_NAMES)) == R.PLANE['resources']
# One unit (or one resource, one visible / explored flag) in a plane's field.
_ONE = {name: 1 << int(shift) for name, shift in zip(R.PLANE_NAMES, _PLANE_SHIFT)}
_BUILDING_BITS = 63 * (_ONE['own_buildings'] | _ONE['enemy_buildings'])
# The unit-feature columns a seat sees of the enemy's units (1) and not (0).
_ENEMY_KEEP = np.zeros(len(R.UNIT_FEATURES), np.float32)
for _name in R.ENEMY_VISIBLE:
  _ENEMY_KEEP[R.UNIT[_name]] = 1.0


# Starting positions per map pool, shared by environments with the same configuration.
_INITIAL_CACHE: dict = {}
_JIT_CACHE: dict = {}


class IllegalActionError(ValueError):
  """Raised in debug mode when an action is not allowed by the legal-action mask."""


@struct.dataclass
class Units:
  """Fixed unit slots of both seats; every field is int32/bool [P, U]."""
  alive: jax.Array
  kind: jax.Array
  hp: jax.Array
  pos: jax.Array  # cell index y * W + x
  order: jax.Array
  target: jax.Array  # order's target cell
  carry: jax.Array  # resources carried (workers)
  attack_cd: jax.Array  # ticks until it may fire again
  move_cd: jax.Array  # ticks until it may move again
  work: jax.Array  # harvest timer / ticks left to train or construct
  train_kind: jax.Array


@struct.dataclass
class State:
  """Skirmish game state (one environment)."""
  map_id: jax.Array  # [] int32, index into the map pool
  resources: jax.Array  # [C] int32, resources left in each cell
  units: Units
  bank: jax.Array  # [P] int32, each seat's resources
  visible: jax.Array  # [P, C] bool, cells each seat sees now
  explored: jax.Array  # [P, C] bool
  tick: jax.Array  # [] int32
  next_due: jax.Array  # [P] int32, tick of each seat's next decision
  illegal_actions: jax.Array  # [P] int32, illegal actions replaced by no-ops so far
  done: jax.Array  # [] bool
  terminated: jax.Array  # [] bool, ended by the rules (not by the tick limit)
  outcome: jax.Array  # [P] float32, final result (+1 win, -1 loss, 0 draw/running)


def _i32(x):
  return jnp.asarray(x, jnp.int32)


def argmin_first(x, axis: int = -1):
  """`jnp.argmin(x, axis)` (first index on ties) of small integers, as one plain min.

  Packs the index into the value (x * n + index) so that XLA emits a simple min
  reduction instead of a (value, index) pair reduction, which is several times slower
  on CPU. Exact for int32 `x` with |x| * n < 2**31 (callers use values below 2**21).
  """
  x = jnp.moveaxis(jnp.asarray(x, jnp.int32), axis, -1)
  n = x.shape[-1]
  packed = jnp.min(x * n + jnp.arange(n, dtype=jnp.int32), -1)
  return jnp.remainder(packed, n)


def _bits(mask) -> jax.Array:
  """uint32 [P]: bit j set where mask[p, j] (bool [P, U], U <= 32)."""
  bit = jnp.asarray(np.uint32(1) << np.arange(mask.shape[-1], dtype=np.uint32))
  return jnp.sum(jnp.where(mask, bit, jnp.uint32(0)), -1, dtype=jnp.uint32)


def _same_bits(a, b) -> jax.Array:
  """uint32 [P, U, P]: bit j of [p, i, q] set where a[p, i] == b[q, j] (int [P, U]).

  Pairwise tests over both seats' slots reduce to bit sets of cheap inputs (order
  targets, positions), so that the expensive per-unit flags they are combined with
  are computed once per unit rather than once per pair."""
  return _bits(a[:, :, None, None] == b[None, None, :, :])


def _earlier_bits(num_units: int) -> np.ndarray:
  """uint32 [P, U, P]: the slots (q, j) that come before slot (p, i) in the flat
  seat-major order p * U + i."""
  out = np.zeros((2, num_units, 2), np.uint32)
  for p in range(2):
    for i in range(num_units):
      for q in range(2):
        n = num_units if q < p else (i if q == p else 0)
        out[p, i, q] = (1 << n) - 1
  return out


def _earlier_count(same, mask, num_units: int) -> jax.Array:
  """int32 [P, U]: how many slots before (p, i) in seat-major order have their bit
  set in both `same` [P, U, P] (from `_same_bits`) and `mask` bool [P, U]."""
  hits = same & _bits(mask)[None, None, :] & jnp.asarray(_earlier_bits(num_units))
  return jax.lax.population_count(hits).astype(jnp.int32).sum(-1)


class Skirmish:
  """The Skirmish environment for one map size (see the module docstring).

  Args:
    size: map side, one of 8, 16, 32.
    map_seed: seed of the map pool.
    num_maps: maps in the pool; `reset(key)` picks one.
    max_ticks: tick limit (truncation); default from the map size.
    debug: raise `IllegalActionError` on illegal actions instead of counting them.
  """
  jittable = True

  def __init__(self, size: int = 16, map_seed: int = 0, num_maps: int = 8,
               max_ticks: int | None = None, debug: bool = False):
    if size not in maps.MAP_CONFIGS:
      raise ValueError(f'Unknown Skirmish map size {size!r}; known sizes: '
                       f'{sorted(maps.MAP_CONFIGS)} (ids: '
                       f'{", ".join(f"skirmish/{s}x{s}" for s in maps.MAP_CONFIGS)}).')
    config = maps.MAP_CONFIGS[size]
    self.size = size
    self.num_cells = size * size
    self.num_units = config.num_units
    self.max_ticks = int(max_ticks or config.max_ticks)
    if self.max_ticks < 1:
      raise ValueError(f'max_ticks must be >= 1, got {max_ticks}.')
    self.debug = debug
    self.map_seed, self.num_maps = map_seed, num_maps
    self.tables = maps.build_tables(size, map_seed, num_maps)
    self.max_resource = int(self.tables.resources.max())
    # The packed cell code gives resources 6 bits and unit counts 5 (`_PLANE_SHIFT`),
    # and the slot bit sets are uint32 (`_bits`).
    assert self.max_resource < 64 and self.num_units <= 32, (self.max_resource, self.num_units)
    # distance_to[m, b, a] = distance[m, a, b] (see `_dist`).
    self._distance_to = np.ascontiguousarray(self.tables.distance.transpose(0, 2, 1))
    # Buildings stand on at most 2 U cells, so on maps with more walkable cells than
    # that some walkable cell is always free of buildings: the 'buildable' target row
    # is never empty, and the legality check of a chosen action need not build it.
    self._always_buildable = bool(self.tables.passable.sum(1).min() > 2 * self.num_units)
    self.spec = self._make_spec()
    # The starting (state, timestep) of every map, shared by equal configurations.
    cache_key = (size, map_seed, num_maps, self.max_ticks)
    if cache_key not in _INITIAL_CACHE:
      _INITIAL_CACHE[cache_key] = jax.device_get(jax.jit(jax.vmap(self._reset_map))(
          jnp.arange(num_maps, dtype=jnp.int32)))
    self._initial = _INITIAL_CACHE[cache_key]

  @property
  def config(self) -> tuple:
    """The configuration; environments with equal configurations behave identically."""
    return (self.size, self.map_seed, self.num_maps, self.max_ticks, self.debug)

  def jitted(self):
    """(jit(reset), jit(step)), shared by every environment with this configuration so
    that each is compiled once per process."""
    if self.config not in _JIT_CACHE:
      _JIT_CACHE[self.config] = (jax.jit(self.reset), jax.jit(self.step))
    return _JIT_CACHE[self.config]

  # ----------------------------------------------------------------------- specs
  def _make_spec(self) -> specs.EnvSpec:
    U, C, H = self.num_units, self.num_cells, self.size
    f32 = 'float32'
    observation = {
        'planes': specs.ArraySpec((H, H, len(R.PLANE_NAMES)), f32),
        'units': specs.ArraySpec((U, len(R.UNIT_FEATURES)), f32),
        'enemies': specs.ArraySpec((U, len(R.UNIT_FEATURES)), f32),
        'scalars': specs.ArraySpec((len(R.SCALAR_NAMES),), f32),
    }
    action = {
        'function': specs.ArraySpec((), 'int32', num_values=R.NUM_FUNCTIONS),
        'unit': specs.ArraySpec((), 'int32', num_values=U),
        'target': specs.ArraySpec((), 'int32', num_values=C),
        'delay': specs.ArraySpec((), 'int32', num_values=R.NUM_DELAYS),
    }
    mask = {
        'function': specs.ArraySpec((R.NUM_FUNCTIONS,), 'bool'),
        'unit': specs.ArraySpec((R.NUM_FUNCTIONS, U), 'bool'),
        'target': specs.ArraySpec((R.NUM_FUNCTIONS, C), 'bool'),
        'delay': specs.ArraySpec((R.NUM_DELAYS,), 'bool'),
    }
    return specs.EnvSpec(
        env_id=f'skirmish/{H}x{H}', version=VERSION, num_players=2,
        observation=observation, action=action, legal_action_mask=mask,
        max_episode_steps=self.max_ticks,
        params={
            'size': H, 'map_seed': self.map_seed, 'num_maps': self.num_maps,
            'max_ticks': self.max_ticks, 'num_units': U,
            'function_names': list(R.FUNCTION_NAMES),
            # Heads read by each function; a learner masks the others' losses.
            'head_used_by_function': {
                'unit': R.USES_UNIT.tolist(), 'target': R.USES_TARGET.tolist(),
                'delay': [True] * R.NUM_FUNCTIONS},
            'plane_names': list(R.PLANE_NAMES),
            'unit_features': list(R.UNIT_FEATURES),
            'scalar_names': list(R.SCALAR_NAMES),
            'ticks_per_step': 1,
        })

  # ----------------------------------------------------------------------- helpers
  def _xy(self, cell):
    return cell % self.size, cell // self.size

  def _dist(self, map_id, a, b):
    """Path distance from cells a to cells b (broadcast), int32."""
    # Read from the table stored goal-major: a unit's 9 neighbour cells toward one
    # goal then lie in three short runs of one row (few cache lines per unit).
    return jnp.asarray(self._distance_to)[map_id, b, a].astype(jnp.int32)

  @staticmethod
  def _stat(table, kind):
    return jnp.asarray(table)[kind]

  # ----------------------------------------------------------------------- reset
  def reset(self, key) -> tuple[State, types.TimeStep]:
    """A new game on a map drawn from the pool with `key`.

    The starting position of every map is computed once (host side) and looked up
    here, so `reset` costs a gather: rollouts reset inside every scan step.
    """
    return jax.tree.map(lambda x: jnp.asarray(x)[self._map_of(key)], self._initial)

  def _map_of(self, key) -> jax.Array:
    """The pool map a reset with `key` starts on (int32 [])."""
    return jax.random.randint(key, (), 0, self.num_maps, dtype=jnp.int32)

  def _reset_map(self, map_id) -> tuple[State, types.TimeStep]:
    """The starting position on map `map_id` of the pool."""
    U = self.num_units
    start = jnp.asarray(self.tables.start)[map_id]  # [P]
    slot = jnp.arange(U)
    kind = jnp.where(slot == 0, R.BASE, R.WORKER)[None, :].repeat(2, 0)
    alive = (slot < 1 + R.START_WORKERS)[None, :].repeat(2, 0)
    # Workers start next to the base (first free neighbours toward the map centre).
    nbrs = jnp.asarray(self.tables.neighbours)[start]  # [P, 9]
    passable = jnp.asarray(self.tables.passable)[map_id]
    toward = jnp.where(jnp.arange(2)[:, None] == 0, jnp.array([8, 7, 5, 0, 0, 0, 0, 0, 0]),
                       jnp.array([1, 2, 4, 0, 0, 0, 0, 0, 0]))  # diagonal/right/down or mirror
    worker_cell = jnp.take_along_axis(nbrs, toward, 1)  # [P, 9]
    worker_cell = jnp.where(passable[worker_cell], worker_cell, start[:, None])
    pos = jnp.where(slot[None, :] == 0, start[:, None],
                    jnp.take_along_axis(worker_cell, jnp.clip(slot - 1, 0, 8)[None, :]
                                        .repeat(2, 0), 1))
    zeros = jnp.zeros((2, U), jnp.int32)
    units = Units(alive=alive, kind=_i32(kind),
                  hp=jnp.where(alive, self._stat(R.MAX_HP, kind), 0),
                  pos=_i32(pos), order=zeros, target=_i32(pos), carry=zeros,
                  attack_cd=zeros, move_cd=zeros, work=zeros, train_kind=zeros)
    state = State(
        map_id=map_id, resources=jnp.asarray(self.tables.resources)[map_id],
        units=units, bank=jnp.full((2,), R.START_RESOURCES, jnp.int32),
        visible=jnp.zeros((2, self.num_cells), bool),
        explored=jnp.zeros((2, self.num_cells), bool), tick=jnp.int32(0),
        next_due=jnp.zeros((2,), jnp.int32), illegal_actions=jnp.zeros((2,), jnp.int32),
        done=jnp.bool_(False), terminated=jnp.bool_(False), outcome=jnp.zeros((2,), jnp.float32))
    visible = self._visibility(state.units)
    state = state.replace(visible=visible, explored=visible)
    return state, self._timestep(state, jnp.zeros((2,), jnp.float32),
                                 first=True, terminal=jnp.bool_(False))

  # ----------------------------------------------------------------------- masks
  def _mask_parts(self, state: State, target_rows: bool = True, code=None):
    """The pieces of the legal-action mask, cheap to evaluate for one chosen action.

    A head that a function ignores allows exactly value 0 (no_op's unit row is slot 0;
    target row 0, cell 0 only, serves the functions that ignore the target), so a
    step without a choice has one legal value in every head and trains nothing.

    Returns:
      unit: bool [P, F, U], which unit slots may carry out each function;
      targets: tuple of bool [P, C] target rows (cell 0 only, walkable, harvestable,
        buildable), indexed by `_TARGET_ROW[function]`;
      due: bool [P], whether each seat decides this tick.
    """
    U, C = self.num_units, self.num_cells
    u = state.units
    passable = jnp.asarray(self.tables.passable)[state.map_id]  # [C]
    mobile = u.alive & (self._stat(R.MOVE_TICKS, u.kind) > 0)
    worker = u.alive & (u.kind == R.WORKER)
    n_alive = u.alive.sum(1, keepdims=True)
    idle_building = u.alive & (u.order == R.IDLE)
    bank = state.bank[:, None]
    can_build = bank >= R.COST[R.BARRACKS]
    train = []
    for f in range(R.F_TRAIN_WORKER, R.F_TRAIN_HEAVY + 1):
      kind = int(R.TRAINED_KIND[f])
      maker = R.BASE if kind == R.WORKER else R.BARRACKS
      train.append(idle_building & (u.kind == maker) & (bank >= R.COST[kind]) &
                   (n_alive < U))
    slot_0 = jnp.broadcast_to(jnp.arange(U) == 0, (2, U))
    unit = jnp.stack([slot_0, mobile, mobile, mobile, worker, worker & can_build]
                     + train, 1)  # [P, F, U]
    due = state.tick >= state.next_due  # [P]
    if not target_rows:
      return unit, None, due
    cell_0 = jnp.broadcast_to(jnp.arange(C) == 0, (2, C))
    walkable = jnp.broadcast_to(passable, (2, C))
    harvestable = jnp.broadcast_to(state.resources > 0, (2, C))
    if code is None:
      code = self._cell_code(state)
    # Cells holding a building this seat knows of (own or visible enemy).
    buildable = walkable & ((code & _BUILDING_BITS) == 0)  # [P, C]
    return unit, (cell_0, walkable, harvestable, buildable), due

  def _function_mask(self, unit, targets, due, any_row=None):
    """bool [P, F]; `any_row` [P, 4] (whether each target row has a True cell) is
    computed from `targets` unless given."""
    if any_row is None:
      any_row = jnp.stack([t.any(-1) for t in targets], -1)
    any_target = any_row[:, _TARGET_ROW]  # [P, F]
    function = unit.any(-1) & any_target
    noop_only = jnp.arange(R.NUM_FUNCTIONS) == R.F_NOOP
    return jnp.where(due[:, None], function, noop_only) | noop_only

  def legal_action_mask(self, state: State, code=None) -> dict:
    """Each seat's legal-action mask: dict of bool [P, ...] keyed like the action.

    `code` is `_cell_code(state)` when the caller already has it."""
    unit, targets, due = self._mask_parts(state, code=code)
    # The four distinct rows as bits of one int per cell, expanded per function by a
    # shift (a uniform element-wise op instead of a ten-way concatenate).
    row_bits = sum(t.astype(jnp.int32) << r for r, t in enumerate(targets))  # [P, C]
    target = ((row_bits[:, None, :] >> np.asarray(_TARGET_ROW, np.int32)[:, None]) & 1
              ).astype(bool)  # [P, F, C]
    return {'function': self._function_mask(unit, targets, due), 'unit': unit,
            'target': target, 'delay': self._delay_mask(due)}

  @staticmethod
  def _delay_mask(due) -> jax.Array:
    """bool [P, D]: every delay for a due seat; only 0 for one that is not due, whose
    delay is ignored (`_apply_commands` sets `next_due` only when due)."""
    return due[:, None] | (jnp.arange(R.NUM_DELAYS) == 0)

  # ----------------------------------------------------------------------- observe
  def _cell_code(self, state: State) -> jax.Array:
    """int32 [P, C]: each seat's eight planes of a cell packed into bit fields.

    Fields (`_PLANE_SHIFT`): rock, resources, own non-building units (count), own
    buildings (count), visible enemy units, visible enemy buildings, visible, explored.
    The map part comes from one element-wise op, the unit counts from one scatter-add
    of every unit into its own seat's code and, when the other seat sees it, into the
    other seat's. The observation's planes and the mask's buildable cells both read it.
    """
    u = state.units
    vis = state.visible.astype(jnp.int32)
    rock = (~jnp.asarray(self.tables.passable)[state.map_id]
            & (state.resources == 0)).astype(jnp.int32)  # [C]
    # [P, C]; resources < 64 fit their field.
    base = ((rock * _ONE['rock'] + state.resources * _ONE['resources'])[None, :]
            + vis * _ONE['visible'] + state.explored.astype(jnp.int32) * _ONE['explored'])
    building = u.kind <= R.BARRACKS
    seen_by_other = self._seen_by_other(state)
    own_w = jnp.where(building, _ONE['own_buildings'], _ONE['own_units']) * u.alive
    enemy_w = (jnp.where(building, _ONE['enemy_buildings'], _ONE['enemy_units'])
               * seen_by_other)
    seat = jnp.arange(2)[:, None]
    rows = jnp.concatenate([jnp.broadcast_to(seat, u.pos.shape),
                            jnp.broadcast_to(1 - seat, u.pos.shape)], 1)  # [P, 2U]
    cells = jnp.concatenate([u.pos, u.pos], 1)
    weights = jnp.concatenate([own_w, enemy_w], 1).astype(jnp.int32)
    return base.at[rows, cells].add(weights)

  @staticmethod
  def _seen_by_other(state: State) -> jax.Array:
    """bool [P, U]: which living units of each seat the other seat sees now."""
    u = state.units
    return jnp.take_along_axis(state.visible[::-1], u.pos, 1) & u.alive

  def _visibility(self, units) -> jax.Array:
    """[P, C] bool: cells within the (Chebyshev) sight of a living unit of each seat."""
    # Each unit sees a square: rows |y' - y| <= sight, columns |x' - x| <= sight. The
    # columns of a row are a bit set (W <= 32 fits a uint32): OR over the units whose
    # rows include it, then expand the bits. No [U, H, W] product.
    x, y = self._xy(units.pos)
    lin = jnp.arange(self.size)
    sight = self._stat(R.SIGHT, units.kind)
    rows = ((jnp.abs(y[..., None] - lin) <= sight[..., None])
            & units.alive[..., None])  # [P, U, H]
    lo = jnp.maximum(x - sight, 0).astype(jnp.uint32)
    hi = jnp.minimum(x + sight, self.size - 1).astype(jnp.uint32)
    ones = jnp.uint32(0xFFFFFFFF)
    # Bits lo..hi set; shifts stay below 32 because hi <= W - 1 <= 31.
    bits = (ones >> (jnp.uint32(31) - hi)) & (ones << lo)  # [P, U]
    row_bits = jax.lax.reduce(jnp.where(rows, bits[..., None], jnp.uint32(0)),
                              jnp.uint32(0), jax.lax.bitwise_or, (1,))  # [P, H]
    seen = (row_bits[..., None] >> lin.astype(jnp.uint32)) & 1  # [P, H, W]
    return (seen > 0).reshape(2, self.num_cells)

  def _unit_features(self, units, max_hp):
    """float32 [P, U, F]: the columns of `rules.UNIT`, filled by name; zero for dead
    slots."""
    x, y = self._xy(units.pos)
    alive = units.alive.astype(jnp.float32)
    busy = jnp.where(units.order >= R.TRAIN, units.work, 0).astype(jnp.float32) / 20.0
    column = {
        'alive': alive, 'kind': jax.nn.one_hot(units.kind, R.NUM_KINDS),
        'hp': units.hp / max_hp, 'x': x / self.size, 'y': y / self.size,
        'order': jax.nn.one_hot(units.order, R.NUM_ORDERS)[..., :len(R.OBSERVED_ORDERS)],
        'carrying': units.carry > 0, 'busy': busy}
    cols = [column[name].astype(jnp.float32).reshape(alive.shape + (-1,))
            for name in R.UNIT]
    # alive * alive = alive, so one product zeroes every column of a dead slot.
    return jnp.concatenate(cols, -1) * alive[..., None]

  def observe(self, state: State, code=None) -> dict:
    """Each seat's fogged observation: dict of float32 [P, ...].

    `code` is `_cell_code(state)` when the caller already has it."""
    u = state.units
    H = self.size
    if code is None:
      code = self._cell_code(state)
    # Every plane is a small integer per cell (the resources plane divided by the
    # largest amount): one shift-and-mask per channel expands the packed code, a
    # uniform element-wise op instead of an eight-way interleaving concatenate.
    field = jnp.minimum((code[..., None] >> _PLANE_SHIFT) & _PLANE_MASK,
                        _PLANE_CAP)  # [P, C, K]
    # The resources plane is resources / max_resource, computed as XLA computes that
    # division (times the float32 reciprocal); every other plane is its integer.
    scale = np.where(_PLANE_IS_RESOURCES, np.float32(1) / np.float32(self.max_resource),
                     np.float32(1)).astype(np.float32)
    planes = (field.astype(jnp.float32) * scale).reshape(2, H, H, -1)
    max_hp = self._stat(R.MAX_HP, u.kind)
    feats = self._unit_features(u, max_hp)  # [P, U, F]
    enemy_seen = self._seen_by_other(state)  # [P, U] seen by the other seat
    enemy_feats = feats[::-1] * enemy_seen[::-1][..., None]
    enemy_feats = enemy_feats * _ENEMY_KEEP  # hide orders and internal state
    army = (u.alive & (u.kind >= R.MELEE)).sum(1)
    due_in = jnp.maximum(state.next_due - state.tick, 0)
    scalar = {
        'resources': state.bank / 50.0,
        'tick': jnp.broadcast_to(state.tick / self.max_ticks, (2,)),
        'own_units': u.alive.sum(1) / self.num_units,
        'visible_enemies': enemy_seen[::-1].sum(1) / self.num_units,
        'seat': jnp.arange(2, dtype=jnp.float32),
        'due': (due_in == 0).astype(jnp.float32),
        'ticks_to_due': due_in / R.NUM_DELAYS, 'army': army / self.num_units}
    scalars = jnp.stack([scalar[name] for name in R.SCALAR], -1).astype(jnp.float32)
    return {'planes': planes, 'units': feats, 'enemies': enemy_feats,
            'scalars': scalars}

  def _timestep(self, state, reward, first, terminal) -> types.TimeStep:
    code = self._cell_code(state)
    return types.TimeStep(
        observation=self.observe(state, code),
        legal_action_mask=self.legal_action_mask(state, code),
        reward=reward.astype(jnp.float32),
        discount=jnp.where(terminal, 0.0, 1.0).astype(jnp.float32),
        is_first=jnp.asarray(first),
        is_last=state.done,
        is_terminal=terminal)

  # ----------------------------------------------------------------------- actions
  def check_action(self, action) -> None:
    """Raises ValueError naming what was expected when `action` has the wrong layout."""
    if not isinstance(action, dict) or set(action) != set(ACTION_HEADS):
      got = sorted(action) if isinstance(action, dict) else type(action).__name__
      raise ValueError(f'Skirmish action must be a dict with keys {list(ACTION_HEADS)} '
                       f'(each int32 [2], one value per seat); got {got}.')
    for head in ACTION_HEADS:
      value = action[head]
      shape, dtype = tuple(np.shape(value)), getattr(value, 'dtype', None)
      if shape != (2,) or dtype is None or not np.issubdtype(np.dtype(dtype), np.integer):
        raise ValueError(f'Skirmish action head {head!r} must be an integer array of '
                         f'shape [2] (one value per seat, expected int32[2]); got '
                         f'{dtype}{list(shape)}.')

  def _legal_chosen(self, state, f, unit, target, delay):
    """[P] bool: whether each seat's chosen action is legal, and per-head flags."""
    take = lambda m, i: jnp.take_along_axis(m, i[:, None], 1)[:, 0]
    tc = jnp.clip(target, 0, self.num_cells - 1)
    if self._always_buildable:
      # The target rows only at the chosen cells (as `_mask_parts` would give them),
      # without building the [P, C] rows.
      u = state.units
      unit_mask, _, due = self._mask_parts(state, target_rows=False)
      passable = jnp.asarray(self.tables.passable)[state.map_id]  # [C]
      has_resources = state.resources > 0  # [C]
      walk = passable[tc]  # [P]
      building = u.alive & (u.kind <= R.BARRACKS)  # [P, U]
      own_at = (building & (u.pos == tc[:, None])).any(1)
      enemy_at = ((building[::-1] & (u.pos[::-1] == tc[:, None])).any(1)
                  & take(state.visible, tc))
      true = jnp.ones((2,), bool)
      rows = jnp.stack([tc == 0, walk, has_resources[tc], walk & ~(own_at | enemy_at)],
                       -1)
      any_row = jnp.stack([true, jnp.broadcast_to(passable.any(), (2,)),
                           jnp.broadcast_to(has_resources.any(), (2,)), true], -1)
      function_mask = self._function_mask(unit_mask, None, due, any_row)
    else:
      unit_mask, targets, due = self._mask_parts(state)
      function_mask = self._function_mask(unit_mask, targets, due)
      rows = jnp.stack([take(t, tc) for t in targets], -1)  # [P, 4]
    in_range = ((f >= 0) & (f < R.NUM_FUNCTIONS) & (unit >= 0) & (unit < self.num_units)
                & (target >= 0) & (target < self.num_cells) & (delay >= 0)
                & (delay < R.NUM_DELAYS))
    fc = jnp.clip(f, 0, R.NUM_FUNCTIONS - 1)
    uc = jnp.clip(unit, 0, self.num_units - 1)
    f_ok = take(function_mask, fc)
    u_ok = take(jnp.take_along_axis(unit_mask, fc[:, None, None], 1)[:, 0], uc)
    t_ok = take(rows, jnp.asarray(_TARGET_ROW)[fc])
    d_ok = take(self._delay_mask(due), jnp.clip(delay, 0, R.NUM_DELAYS - 1))
    return in_range & f_ok & u_ok & t_ok & d_ok, (in_range, f_ok, u_ok, t_ok, d_ok)

  def _raise_if_illegal(self, legal, flags, f, unit, target, delay, tick):
    legal, (in_range, f_ok, u_ok, t_ok, d_ok) = np.asarray(legal), map(np.asarray, flags)
    for p in range(2):
      if legal[p]:
        continue
      if not in_range[p]:
        why = (f'a head is out of range (function {int(f[p])} in [0, {R.NUM_FUNCTIONS}), '
               f'unit {int(unit[p])} in [0, {self.num_units}), target {int(target[p])} '
               f'in [0, {self.num_cells}), delay {int(delay[p])} in [0, {R.NUM_DELAYS}))')
      elif not f_ok[p]:
        why = f"head 'function' = {int(f[p])} ({R.FUNCTION_NAMES[int(f[p])]}) is masked"
      elif not u_ok[p]:
        name = R.FUNCTION_NAMES[int(f[p])]
        why = (f"head 'unit' = {int(unit[p])} cannot carry out {name}" if R.USES_UNIT[f[p]]
               else f"head 'unit' = {int(unit[p])}, but {name} ignores the unit: send 0")
      elif not t_ok[p]:
        name = R.FUNCTION_NAMES[int(f[p])]
        why = (f"head 'target' = cell {int(target[p])} is not a legal target of {name}"
               if R.USES_TARGET[f[p]] else
               f"head 'target' = cell {int(target[p])}, but {name} ignores the target: "
               'send 0')
      else:
        why = (f"head 'delay' = {int(delay[p])} while the seat is not due (its delay is "
               'ignored): send 0')
      raise IllegalActionError(
          f'Illegal Skirmish action for seat {p} at tick {int(tick)}: {why}. Sample '
          'from timestep.legal_action_mask (True = legal), or construct the environment '
          'with debug=False to replace illegal actions by no-ops and count them in '
          'state.illegal_actions.')

  def _apply_commands(self, state: State, action, legal) -> State:
    """Applies each due seat's (legal) command to its units' orders."""
    U = self.num_units
    u = state.units
    f = jnp.where(legal, action['function'], R.F_NOOP)  # [P]
    target = jnp.clip(action['target'], 0, self.num_cells - 1)
    who = jax.nn.one_hot(jnp.clip(action['unit'], 0, U - 1), U, dtype=bool)  # [P, U]
    sel = lambda fs: who & jnp.isin(f, jnp.asarray(fs))[:, None]
    order_to = {R.IDLE: sel([R.F_STOP]), R.MOVE: sel([R.F_MOVE]),
                R.ATTACK: sel([R.F_ATTACK]), R.HARVEST: sel([R.F_HARVEST]),
                R.BUILD: sel([R.F_BUILD]),
                R.TRAIN: sel(list(range(R.F_TRAIN_WORKER, R.F_TRAIN_HEAVY + 1)))}
    order, tgt, work = u.order, u.target, u.work
    for new_order, where in order_to.items():
      order = jnp.where(where, new_order, order)
    targeted = sel([R.F_MOVE, R.F_ATTACK, R.F_HARVEST, R.F_BUILD])
    tgt = jnp.where(targeted, target[:, None], tgt)
    work = jnp.where(sel([R.F_HARVEST, R.F_STOP, R.F_MOVE, R.F_ATTACK, R.F_BUILD]), 0,
                     work)
    trained = jnp.asarray(R.TRAINED_KIND)[f]  # [P]
    training = order_to[R.TRAIN]
    train_kind = jnp.where(training, trained[:, None], u.train_kind)
    work = jnp.where(training, self._stat(R.BUILD_TICKS, jnp.maximum(trained, 0))[:, None],
                     work)
    cost = jnp.where(trained >= 0, self._stat(R.COST, jnp.maximum(trained, 0)), 0)
    cost = cost + jnp.where(f == R.F_BUILD, R.COST[R.BARRACKS], 0)
    # A worker already on its way to build that gets a new order is refunded.
    refund = ((u.order == R.BUILD) & who & (f != R.F_NOOP)[:, None]).sum(1) * R.COST[R.BARRACKS]
    delay = jnp.clip(action['delay'], 0, R.NUM_DELAYS - 1)
    due = state.tick >= state.next_due
    next_due = jnp.where(due, state.tick + delay + 1, state.next_due)
    return state.replace(
        units=u.replace(order=order, target=tgt, work=work, train_kind=train_kind),
        bank=state.bank - cost + refund, next_due=next_due,
        illegal_actions=state.illegal_actions + (~legal).astype(jnp.int32))

  # ----------------------------------------------------------------------- tick
  def _spawn(self, u: Units, request, kind, cell, order, work):
    """Places requested units into free slots, per seat. Inputs [P, U]; returns
    (units, granted [P, U])."""
    free = ~u.alive
    rank_req = jnp.cumsum(request, 1) - 1
    rank_free = jnp.cumsum(free, 1) - 1
    num_free = free.sum(1, keepdims=True)
    granted = request & (rank_req < num_free)
    # The request of rank r goes to the free slot of rank r (when both exist). The
    # pairing reads only the ranks (cumulative sums): request i is where rank_req
    # steps up. src[p, j]: the request that free slot j receives.
    before = jnp.concatenate([jnp.full((2, 1), -1, rank_req.dtype), rank_req[:, :-1]], 1)
    is_request = rank_req > before
    pair = is_request[:, :, None] & (rank_req[:, :, None] == rank_free[:, None, :])
    src = jnp.sum(jnp.where(pair, jnp.arange(self.num_units)[None, :, None], 0), 1)
    filled = free & (rank_free < rank_req[:, -1:] + 1)  # [P, U] slots receiving a unit

    # All the fields move at once, packed into one int32: kind (3 bits), cell (10),
    # order (3) and work (the rest; small timers). Exact integer packing, unpacked
    # below.
    assert self.num_cells <= 1024, 'cell packing needs C <= 1024 (maps up to 32x32)'
    packed = kind + 8 * (cell + 1024 * (order + 8 * work))
    new = jnp.take_along_axis(packed, src, 1)
    kind_new = jnp.where(filled, new % 8, u.kind)
    cell_new = (new // 8) % 1024
    u = Units(alive=u.alive | filled, kind=kind_new,
              hp=jnp.where(filled, self._stat(R.MAX_HP, kind_new), u.hp),
              pos=jnp.where(filled, cell_new, u.pos),
              order=jnp.where(filled, (new // 8192) % 8, u.order),
              target=jnp.where(filled, cell_new, u.target),
              carry=jnp.where(filled, 0, u.carry),
              attack_cd=jnp.where(filled, 0, u.attack_cd),
              move_cd=jnp.where(filled, 0, u.move_cd),
              work=jnp.where(filled, new // 65536, u.work),
              train_kind=jnp.where(filled, 0, u.train_kind))
    return u, granted

  def _tick(self, state: State) -> State:
    """Advances the game by one tick (combat, movement, economy, production)."""
    u = state.units
    mid = state.map_id
    U = self.num_units
    x, y = self._xy(u.pos)
    ex, ey = x[::-1], y[::-1]
    e_alive, e_kind = u.alive[::-1], u.kind[::-1]
    # ---- combat: everyone fires at once.
    dist = jnp.maximum(jnp.abs(x[:, :, None] - ex[:, None, :]),
                       jnp.abs(y[:, :, None] - ey[:, None, :]))  # [P, U, U(enemy)]
    damage = self._stat(R.DAMAGE, u.kind)
    fighting_order = (u.order == R.IDLE) | (u.order == R.ATTACK)
    in_range = e_alive[:, None, :] & (dist <= self._stat(R.RANGE, u.kind)[:, :, None])
    score = jnp.where(in_range, dist * 1024 + u.hp[::-1][:, None, :], 1 << 20)
    aim = argmin_first(score)  # [P, U]
    engaged = u.alive & fighting_order & (damage > 0) & in_range.any(-1)
    fires = engaged & (u.attack_cd == 0)
    aim_kind = jnp.take_along_axis(e_kind, aim, 1)
    hit = damage * jnp.asarray(R.MULTIPLIER)[u.kind, aim_kind] * fires  # [P, U]
    dealt = (jax.nn.one_hot(aim, U, dtype=jnp.int32) * hit[..., None]).sum(1)  # [P, U]
    hp = u.hp - dealt[::-1]
    attack_cd = jnp.where(fires, self._stat(R.ATTACK_TICKS, u.kind) - 1,
                          jnp.maximum(u.attack_cd - 1, 0))
    alive = u.alive & (hp > 0)
    # ---- movement toward each order's goal.
    sighted = e_alive[:, None, :] & (dist <= self._stat(R.SIGHT, u.kind)[:, :, None])
    nearest = argmin_first(jnp.where(sighted, dist, 1 << 20))
    chase = (u.order == R.ATTACK) & sighted.any(-1)
    chase_cell = jnp.take_along_axis(u.pos[::-1], nearest, 1)
    base_cell = u.pos[:, :1]  # the base lives in slot 0
    has_base = alive[:, :1] & (u.kind[:, :1] == R.BASE)
    goal = jnp.where(chase, chase_cell, u.target)
    goal = jnp.where((u.order == R.HARVEST) & (u.carry > 0), base_cell, goal)
    stop = jnp.where((u.order == R.HARVEST) | (u.order == R.BUILD), 1,
                     jnp.where(chase, self._stat(R.RANGE, u.kind), 0))
    moving_order = ((u.order == R.MOVE) | (u.order == R.ATTACK) | (u.order == R.HARVEST)
                    | (u.order == R.BUILD))
    # One gather of path distances per unit: from its cell and its 8 neighbours (the
    # first "neighbour" is the cell itself) to its goal.
    steps = jnp.asarray(self.tables.neighbours)[u.pos]  # [P, U, 9]
    step_dist = self._dist(mid, steps, goal[..., None])
    here = step_dist[..., 0]
    mobile = self._stat(R.MOVE_TICKS, u.kind) > 0
    wants = alive & mobile & moving_order & (here > stop) & ~engaged
    best_k = argmin_first(step_dist)
    best = jnp.take_along_axis(steps, best_k[..., None], -1)[..., 0]
    moves = wants & (u.move_cd == 0) & (here < maps.UNREACHABLE)
    pos = jnp.where(moves, best, u.pos)
    move_cd = jnp.where(moves, self._stat(R.MOVE_TICKS, u.kind) - 1,
                        jnp.maximum(u.move_cd - 1, 0))
    order = u.order
    # Distance to the goal after moving (goal: the field for empty workers, the base
    # for carrying ones, the site for builders).
    now = jnp.where(moves, jnp.take_along_axis(step_dist, best_k[..., None], -1)[..., 0],
                    here)
    arrived = (now == 0) & ((order == R.MOVE) | ((order == R.ATTACK) & ~chase))
    lost_way = moving_order & (here >= maps.UNREACHABLE)
    order = jnp.where(arrived | lost_way, R.IDLE, order)
    # ---- economy: gather next to the resource, deposit next to the base.
    resources = state.resources
    flat = lambda a: a.reshape(-1)
    res_cell = u.target
    at_field = alive & (order == R.HARVEST) & (u.carry == 0) & (now <= 1)
    left = resources[res_cell]  # [P, U]
    work = jnp.where(at_field & (left > 0), u.work + 1, u.work)
    ready = at_field & (work >= R.HARVEST_TICKS) & (left > 0)
    # Split a cell's remaining resources between workers finishing on the same tick:
    # each takes what the ready workers before it (seat-major slot order) left.
    same_target = _same_bits(u.target, u.target)  # [P, U, P]; also the build sites
    prior = _earlier_count(same_target, ready, U) * R.HARVEST_AMOUNT
    amount = jnp.clip(left - prior, 0, R.HARVEST_AMOUNT) * ready
    resources = resources.at[flat(res_cell)].add(-flat(amount))
    carry = u.carry + amount
    work = jnp.where(ready, 0, work)
    depleted = at_field & (left == 0)
    order = jnp.where(depleted & (carry == 0), R.IDLE, order)
    # Workers that were already carrying, next to their base (the goal of carriers).
    deposit = alive & (order == R.HARVEST) & (u.carry > 0) & has_base & (now <= 1)
    bank = state.bank + (carry * deposit).sum(1)
    carry = jnp.where(deposit, 0, carry)
    # ---- construction: workers next to their build site found a barracks.
    building_cells = (alive & (u.kind <= R.BARRACKS))
    site = u.target
    arrive = alive & (order == R.BUILD) & (now <= 1)
    occupied = ((_same_bits(site, u.pos) & _bits(building_cells)[None, None, :])
                != 0).any(-1)  # [P, U]
    # The first arriving builder (seat-major slot order) takes a contested site.
    dup = _earlier_count(same_target, arrive & ~occupied, U) > 0
    found = arrive & ~occupied & ~dup
    # ---- training and construction timers.
    training = alive & (order == R.TRAIN)
    constructing = alive & (order == R.CONSTRUCT)
    work = jnp.where((training | constructing) & (work > 0), work - 1, work)
    trained = training & (work == 0)
    order = jnp.where(constructing & (work == 0), R.IDLE, order)
    # ---- spawn new units into free slots (dead slots are free).
    u = u.replace(alive=alive, hp=jnp.where(alive, hp, 0), pos=pos, order=order,
                  carry=jnp.where(alive, carry, 0), attack_cd=attack_cd,
                  move_cd=move_cd, work=work)
    request = found | trained
    kind = jnp.where(found, R.BARRACKS, u.train_kind)
    cell = jnp.where(found, site, pos)
    new_order = jnp.where(found, R.CONSTRUCT, R.IDLE)
    new_work = jnp.where(found, R.BUILD_TICKS[R.BARRACKS], 0)
    u, granted = self._spawn(u, request, kind, cell, new_order, new_work)
    # Builders go idle (refunded when the site was taken or no slot was free);
    # trainers go idle once their unit is out, else retry next tick.
    failed_build = arrive & ~(found & granted)
    bank = bank + (failed_build & u.alive).sum(1) * R.COST[R.BARRACKS]
    order = jnp.where(arrive & u.alive & ~(u.kind == R.BARRACKS), R.IDLE, u.order)
    order = jnp.where(trained & granted, R.IDLE, order)
    u = u.replace(order=order)
    return state.replace(units=u, resources=resources, bank=bank, tick=state.tick + 1)

  # ----------------------------------------------------------------------- step
  def step(self, state: State, action) -> tuple[State, types.TimeStep]:
    """Applies both seats' actions (dict of int [P]) and advances one tick."""
    new, reward = self._advance(state, action)
    return new, self._timestep(new, reward, first=False, terminal=new.terminated)

  def step_or_reset(self, state: State, action, key, reset) -> tuple[State, types.TimeStep]:
    """`reset(key)` where `reset` (bool []) else `step(state, action)`, bit for bit.

    The autoreset step of a rollout (`offline_rl.rollout` uses it when an environment
    has it): the choice is made on the small game state, and the observation and
    masks are computed once, for the chosen state, instead of computing the stepped
    time step, looking up the fresh one and selecting between the two.
    """
    new, reward = self._advance(state, action)
    map_id = self._map_of(key)
    fresh_state, fresh_timestep = self._initial
    fresh = jax.tree.map(lambda x: jnp.asarray(x)[map_id], fresh_state)
    new = jax.tree.map(lambda f, n: jnp.where(reset, f, n), fresh, new)
    reward = jnp.where(reset, jnp.zeros_like(reward), reward)
    # A fresh state has terminated False, as reset's time step.
    timestep = self._timestep(new, reward, first=reset, terminal=new.terminated)
    # The stored starting scalars were computed with exact divisions (XLA folded them
    # as constants); a compiled step multiplies by reciprocals, which can differ in
    # the last bit (resources 10 / 50). Take the stored ones: [P, S], cheap.
    observation = dict(timestep.observation)
    observation['scalars'] = jnp.where(
        reset, jnp.asarray(fresh_timestep.observation['scalars'])[map_id],
        observation['scalars'])
    return new, timestep._replace(observation=observation)

  def _advance(self, state: State, action) -> tuple[State, jax.Array]:
    """The state after one tick and the reward [P] (see `step`)."""
    self.check_action(action)
    action = {k: jnp.asarray(v, jnp.int32) for k, v in action.items()}
    legal, flags = self._legal_chosen(state, action['function'], action['unit'],
                                      action['target'], action['delay'])
    if self.debug:
      args = (legal, flags, action['function'], action['unit'], action['target'],
              action['delay'], state.tick)
      if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(args)):
        jax.debug.callback(self._raise_if_illegal, *args)
      else:
        self._raise_if_illegal(*args)
    new = self._apply_commands(state, action, legal)
    new = self._tick(new)
    visible = self._visibility(new.units)
    has_building = (new.units.alive & (new.units.kind <= R.BARRACKS)).any(1)  # [P]
    lost = ~has_building
    terminal = lost.any()
    reward = (lost[::-1].astype(jnp.float32) - lost.astype(jnp.float32))
    truncated = (new.tick >= self.max_ticks) & ~terminal
    new = new.replace(visible=visible, explored=new.explored | visible,
                      done=terminal | truncated, terminated=terminal, outcome=reward)
    # A finished game does not move.
    new = jax.tree.map(lambda n, o: jnp.where(state.done, o, n), new, state)
    reward = jnp.where(state.done, 0.0, reward)
    return new, reward


def make_8x8(**kwargs) -> Skirmish:
  """'skirmish/8x8': the tiny map, for tests."""
  return Skirmish(size=8, **kwargs)


def make_16x16(**kwargs) -> Skirmish:
  """'skirmish/16x16': the default map."""
  return Skirmish(size=16, **kwargs)


def make_32x32(**kwargs) -> Skirmish:
  """'skirmish/32x32': the standard map."""
  return Skirmish(size=32, **kwargs)
