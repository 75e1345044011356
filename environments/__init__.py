"""Environments: the built-in game, toy test games and adapters, behind one registry."""
from offline_rl.environments.registry import make
from offline_rl.environments.registry import register
from offline_rl.environments.registry import registered

__all__ = ['make', 'register', 'registered']
