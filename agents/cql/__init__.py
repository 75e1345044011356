"""Conservative Q-learning (CQL) for discrete and factorised actions."""
from __future__ import annotations

import functools

from offline_rl import agent as agent_lib
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.cql import config
from offline_rl.agents.cql import losses
from offline_rl.networks import heads


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds CQL for `spec`: per-head Q that the policy acts on, its target, and a
  frozen BC teacher when `cql.distillation_weight` > 0."""
  network = common.make_network(spec, cfg, q_heads=True, policy_from_q=True)
  teacher_network = common.make_network(spec, cfg, q_heads=False, policy_from_q=False,
                                        value_head=False)
  action_spec = heads.ordered_action_spec(spec.action, spec.legal_action_mask)
  values = common.section(cfg, 'cql', spec)
  distils = float(values['distillation_weight']) > 0
  return agent_lib.Agent(
      name=str(cfg.agent), spec=spec, config=cfg, network=network,
      init=common.init_fn(network, spec),
      loss=functools.partial(losses.cql_loss, network, teacher_network, action_spec,
                             values),
      make_policy=common.policy_maker(network, spec, cfg),
      target=agent_lib.TargetRule(float(values['target_tau']),
                                  int(values['target_period'])),
      teacher=common.init_fn(teacher_network, spec) if distils else None)


CQL = agent_lib.Registration(make_agent, config.get_config)

__all__ = ['CQL', 'config', 'losses', 'make_agent']
