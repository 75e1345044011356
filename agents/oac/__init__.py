"""Offline actor-critic (OAC) and emphatic OAC (E-OAC), as in AlphaStar Unplugged."""
from __future__ import annotations

import functools

from offline_rl import agent as agent_lib
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.oac import config
from offline_rl.agents.oac import losses
from offline_rl.networks import heads


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds OAC (E-OAC when `oac.emphatic`) for `spec`: an actor-critic network, a
  frozen BC teacher of the same network without the value head, and a target network
  when `oac.target_network`."""
  network = common.make_network(spec, cfg, value_head=True)
  teacher_network = common.make_network(spec, cfg, value_head=False)
  action_spec = heads.ordered_action_spec(spec.action, spec.legal_action_mask)
  values = common.section(cfg, 'oac', spec)
  return agent_lib.Agent(
      name=str(cfg.agent), spec=spec, config=cfg, network=network,
      init=common.init_fn(network, spec),
      loss=functools.partial(losses.oac_loss, network, teacher_network, action_spec,
                             values),
      make_policy=common.policy_maker(network, spec, cfg),
      target=(agent_lib.TargetRule(float(values['target_tau']),
                                   int(values['target_period']))
              if values['target_network'] else None),
      teacher=common.init_fn(teacher_network, spec))


OAC = agent_lib.Registration(make_agent, config.get_config)
EOAC = agent_lib.Registration(make_agent, config.get_eoac_config)

__all__ = ['EOAC', 'OAC', 'config', 'losses', 'make_agent']
