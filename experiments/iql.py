"""IQL: `--config experiments/iql.py --config.dataset=PATH`.

Distillation towards a BC run is optional: `--config.iql.distillation_weight=0.1
--config.teacher=runs/bc`. The defaults live in offline_rl/agents/iql/config.py.
"""
from offline_rl.agents.iql import config as iql_config


def get_config():
  return iql_config.get_config()
