"""Agents: one folder each (config.py, losses.py, __init__.py building the Agent), found
through the one registry of `offline_rl.agent` (entry points declared in setup.py)."""
from offline_rl.agent import Agent
from offline_rl.agent import LossContext
from offline_rl.agent import TargetRule
from offline_rl.agent import default_config
from offline_rl.agent import make
from offline_rl.agent import register
from offline_rl.agent import registered

__all__ = ['Agent', 'LossContext', 'TargetRule', 'default_config', 'make', 'register',
           'registered']
