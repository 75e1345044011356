"""Skirmish: the built-in two-player strategy game with fog of war (JAX).

Registry ids (offline_rl.environments.make): 'skirmish/8x8' (tiny, tests),
'skirmish/16x16' (default), 'skirmish/32x32'. Gymnasium ids (importing this package
registers them): 'offline_rl/Skirmish-8x8-v0', 'offline_rl/Skirmish-16x16-v0',
'offline_rl/Skirmish-32x32-v0' (kwargs: opponent, level, seat, render_mode).

Modules: game (rules, the functional environment), bots (the graded bot family and
the ladder that offline_rl.evaluation.calibration made), render (frames, records, the
HTML viewer), views (gymnasium and PettingZoo views).
"""
import gymnasium as _gymnasium

from offline_rl.environments.skirmish.game import IllegalActionError
from offline_rl.environments.skirmish.game import Skirmish
from offline_rl.environments.skirmish.game import State


def _register_gymnasium() -> None:
  for size in (8, 16, 32):
    env_id = f'offline_rl/Skirmish-{size}x{size}-v0'
    if env_id not in _gymnasium.registry:
      _gymnasium.register(
          id=env_id, entry_point='offline_rl.environments.skirmish.views:SkirmishGymEnv',
          kwargs={'size': size})


_register_gymnasium()

__all__ = ['IllegalActionError', 'Skirmish', 'State']
