"""CQL: `--config experiments/cql.py --config.dataset=PATH`.

Distillation towards a BC run is optional: `--config.cql.distillation_weight=0.1
--config.teacher=runs/bc`. The defaults live in offline_rl/agents/cql/config.py.
"""
from offline_rl.agents.cql import config as cql_config


def get_config():
  return cql_config.get_config()
