"""Implicit Q-learning (IQL) for discrete and factorised actions."""
from __future__ import annotations

from offline_rl import agent as agent_lib
from offline_rl import specs
from offline_rl.agents import common
from offline_rl.agents.iql import config
from offline_rl.agents.iql import losses


def make_agent(spec: specs.EnvSpec, cfg) -> agent_lib.Agent:
  """Builds IQL for `spec`: one network with policy logits, V and per-head Q, its
  target, and a frozen BC teacher when `iql.distillation_weight` > 0."""
  return common.value_agent(spec, cfg, 'iql', losses.iql_loss,
                            dict(value_head=True, q_heads=True), target=True,
                            teacher=float(cfg.iql.distillation_weight) > 0)


IQL = agent_lib.Registration(make_agent, config.get_config)

__all__ = ['IQL', 'config', 'losses', 'make_agent']
