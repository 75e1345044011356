"""Conservative Q-learning (CQL) for discrete and factorised actions."""
from __future__ import annotations

from offline_rl import agent as agent_lib
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.cql import config
from offline_rl.agents.cql import losses


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds CQL for `spec`: per-head Q that the policy acts on, its target, and a
  frozen BC teacher when `cql.distillation_weight` > 0."""
  return common.value_agent(spec, cfg, 'cql', losses.cql_loss,
                            dict(q_heads=True, policy_from_q=True), target=True,
                            teacher=float(cfg.cql.distillation_weight) > 0)


CQL = agent_lib.Registration(make_agent, config.get_config)

__all__ = ['CQL', 'config', 'losses', 'make_agent']
