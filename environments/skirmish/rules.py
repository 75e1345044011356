"""Skirmish constants: unit kinds and their statistics, orders, functions (action heads).

All statistics are small integers; the game uses integer maths only.
"""
from __future__ import annotations

import numpy as np

# Unit kinds.
BASE, BARRACKS, WORKER, MELEE, RANGED, HEAVY = range(6)
KIND_NAMES = ('base', 'barracks', 'worker', 'melee', 'ranged', 'heavy')
NUM_KINDS = 6

# Per-kind statistics, indexed by kind.
#                         base barracks worker melee ranged heavy
MAX_HP = np.array([60, 40, 10, 16, 10, 30], np.int32)
DAMAGE = np.array([0, 0, 1, 4, 3, 4], np.int32)
RANGE = np.array([0, 0, 1, 1, 3, 1], np.int32)  # Chebyshev cells
SIGHT = np.array([4, 3, 3, 3, 4, 3], np.int32)
MOVE_TICKS = np.array([0, 0, 2, 1, 2, 3], np.int32)  # ticks per cell; 0 = immobile
ATTACK_TICKS = np.array([1, 1, 3, 2, 3, 4], np.int32)  # ticks between attacks
COST = np.array([0, 8, 5, 8, 10, 12], np.int32)
BUILD_TICKS = np.array([0, 20, 10, 12, 14, 18], np.int32)
# Counters: damage multiplier [attacker, defender]. Melee beats ranged, ranged beats
# heavy, heavy beats melee (x2); everything else x1.
MULTIPLIER = np.ones((NUM_KINDS, NUM_KINDS), np.int32)
MULTIPLIER[MELEE, RANGED] = 2
MULTIPLIER[RANGED, HEAVY] = 2
MULTIPLIER[HEAVY, MELEE] = 2

# Economy.
HARVEST_TICKS = 3  # ticks next to a resource cell to fill the load
HARVEST_AMOUNT = 2  # resources per trip
START_RESOURCES = 10
START_WORKERS = 3

# Orders (persistent across ticks).
IDLE, MOVE, ATTACK, HARVEST, BUILD, TRAIN, CONSTRUCT = range(7)
ORDER_NAMES = ('idle', 'move', 'attack', 'harvest', 'build', 'train', 'construct')
NUM_ORDERS = 7

# Action functions (the 'function' head).
(F_NOOP, F_STOP, F_MOVE, F_ATTACK, F_HARVEST, F_BUILD, F_TRAIN_WORKER, F_TRAIN_MELEE,
 F_TRAIN_RANGED, F_TRAIN_HEAVY) = range(10)
FUNCTION_NAMES = ('no_op', 'stop', 'move', 'attack_move', 'harvest', 'build_barracks',
                  'train_worker', 'train_melee', 'train_ranged', 'train_heavy')
NUM_FUNCTIONS = 10
# Which heads each function reads (the others are ignored; their mask rows allow only
# value 0, so they carry no choice).
USES_UNIT = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1], bool)
USES_TARGET = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0, 0], bool)
TRAINED_KIND = np.array([-1, -1, -1, -1, -1, -1, WORKER, MELEE, RANGED, HEAVY], np.int32)
# The 'delay' head: value d means this seat next decides d + 1 ticks later.
NUM_DELAYS = 8

# Observation layout: the feature axes of the observation's arrays, in order. The
# observation builder (`game.Skirmish.observe`) fills them by these names and the bots
# read them by these names; `*_NAMES`/`UNIT_FEATURES` list every column (the spec's
# metadata), and `PLANE`, `UNIT`, `SCALAR` map a name to its column, or a one-hot
# group ('kind', 'order') to its slice of columns.


def _layout(*groups) -> tuple[tuple[str, ...], dict]:
  """(column names, {name: column index, or slice of a group's columns}).

  Each group is a name, or (name, members) for a one-hot group whose columns are
  named '<name>_<member>'.
  """
  names, columns = [], {}
  for group in groups:
    start = len(names)
    if isinstance(group, str):
      names.append(group)
      columns[group] = start
    else:
      group, members = group
      names += [f'{group}_{m}' for m in members]
      columns[group] = slice(start, len(names))
  return tuple(names), columns


# planes [H, W, K]: one channel per cell property.
PLANE_NAMES, PLANE = _layout('rock', 'resources', 'own_units', 'own_buildings',
                             'enemy_units', 'enemy_buildings', 'visible', 'explored')
# units / enemies [U, F]: one row per unit slot; x and y are cell / map size. The last
# order (construct) has no column: a building under construction reads as no order.
OBSERVED_ORDERS = ORDER_NAMES[:CONSTRUCT]
UNIT_FEATURES, UNIT = _layout('alive', ('kind', KIND_NAMES), 'hp', 'x', 'y',
                              ('order', OBSERVED_ORDERS), 'carrying', 'busy')
# What a seat sees of the enemy's units; their orders and internal state stay hidden.
ENEMY_VISIBLE = ('alive', 'kind', 'hp', 'x', 'y')
# scalars [S].
SCALAR_NAMES, SCALAR = _layout('resources', 'tick', 'own_units', 'visible_enemies',
                               'seat', 'due', 'ticks_to_due', 'army')
