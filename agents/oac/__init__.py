"""Offline actor-critic (OAC) and emphatic OAC (E-OAC), as in AlphaStar Unplugged."""
from __future__ import annotations

from offline_rl import agent as agent_lib
from offline_rl import errors
from offline_rl import networks
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.oac import config
from offline_rl.agents.oac import losses


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds OAC (E-OAC when `oac.emphatic`) for `spec`: an actor-critic network (with
  Q heads when `oac.advantage` is 'q'), a frozen BC teacher of the same network
  without the value head, and a target network when `oac.target_network`."""
  if networks.continuous.is_continuous(spec.action):
    raise errors.ConfigError(f'{cfg.agent} is written for discrete actions; for a '
                             'continuous action train bc, iql or cql.')
  advantage = cfg.oac.get('advantage', 'return')
  if advantage not in losses.ADVANTAGES:
    raise errors.ConfigError(f'oac.advantage is one of {losses.ADVANTAGES}, not '
                             f'{advantage!r}.')
  return common.value_agent(spec, cfg, 'oac', losses.oac_loss,
                            dict(value_head=True, q_heads=advantage == 'q'),
                            target=bool(cfg.oac.target_network), teacher=True)


OAC = agent_lib.Registration(make_agent, config.get_config)
EOAC = agent_lib.Registration(make_agent, config.get_eoac_config)

__all__ = ['EOAC', 'OAC', 'config', 'losses', 'make_agent']
