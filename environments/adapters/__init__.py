"""Adapters: gymnasium, PettingZoo, pgx and OpenSpiel environments behind the protocol.

Importing this package imports none of the optional libraries; each adapter imports
its library when it is built and names the package to install when it is missing.
See docs/adapters.md.
"""
from offline_rl.environments.adapters import bots
from offline_rl.environments.adapters._deps import MissingDependencyError
from offline_rl.environments.adapters.check import check
from offline_rl.environments.adapters.check import CheckReport
from offline_rl.environments.adapters.check import ConformanceError
from offline_rl.environments.adapters.gymnasium_env import GymnasiumEnv
from offline_rl.environments.adapters.gymnasium_env import SpaceViolation
from offline_rl.environments.adapters.openspiel_env import mcts_bot
from offline_rl.environments.adapters.openspiel_env import OpenSpielEnv
from offline_rl.environments.adapters.pettingzoo_env import PettingZooEnv
from offline_rl.environments.adapters.pgx_bots import search_bot
from offline_rl.environments.adapters.pgx_bots import SearchParams
from offline_rl.environments.adapters.pgx_env import PgxEnv
from offline_rl.policies import random_policy
from offline_rl.environments.adapters.spaces import UnsupportedSpaceError
from offline_rl.environments.adapters.turns import WAITING_ACTION

__all__ = [
    'CheckReport',
    'ConformanceError',
    'GymnasiumEnv',
    'MissingDependencyError',
    'OpenSpielEnv',
    'PettingZooEnv',
    'PgxEnv',
    'SearchParams',
    'SpaceViolation',
    'UnsupportedSpaceError',
    'WAITING_ACTION',
    'bots',
    'check',
    'mcts_bot',
    'random_policy',
    'search_bot',
]
