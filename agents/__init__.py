"""Agents: one folder each (config.py, networks.py, losses.py), behind one registry."""
from offline_rl.agents.registry import Agent
from offline_rl.agents.registry import default_config
from offline_rl.agents.registry import make
from offline_rl.agents.registry import register
from offline_rl.agents.registry import registered

__all__ = ['Agent', 'default_config', 'make', 'register', 'registered']
