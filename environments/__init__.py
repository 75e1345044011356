"""Environments: the built-in game, toy test games and adapters, behind one registry."""
from offline_rl.environments import adapters
from offline_rl.environments.adapters import check
from offline_rl.environments.registry import make
from offline_rl.environments.registry import register
from offline_rl.environments.registry import register_family
from offline_rl.environments.registry import registered
from offline_rl.environments.registry import registered_families

__all__ = [
    'adapters',
    'check',
    'make',
    'register',
    'register_family',
    'registered',
    'registered_families',
]
