"""Conservative Q-learning (CQL) for discrete, factorised and continuous actions."""
from __future__ import annotations

from offline_rl import agent as agent_lib
from offline_rl import networks
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.cql import config
from offline_rl.agents.cql import losses


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds CQL for `spec`: per-head Q that the policy acts on (continuous actions: a
  Gaussian actor and Q(s, a)), its target, and a frozen BC teacher when
  `cql.distillation_weight` > 0."""
  teacher = float(cfg.cql.distillation_weight) > 0
  if networks.continuous.is_continuous(spec.action):  # A Gaussian actor beside Q.
    return common.value_agent(spec, cfg, 'cql', losses.continuous_cql_loss,
                              dict(q_heads=True), target=True, teacher=teacher)
  return common.value_agent(spec, cfg, 'cql', losses.cql_loss,
                            dict(q_heads=True, policy_from_q=True), target=True,
                            teacher=teacher)


CQL = agent_lib.Registration(make_agent, config.get_config)

__all__ = ['CQL', 'config', 'losses', 'make_agent']
