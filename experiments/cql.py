"""CQL: `--config experiments/cql.py --config.dataset=PATH`.

Distillation towards a BC run is optional: `--config.cql.distillation_weight=0.1
--config.teacher=runs/bc` (the teacher also warm-starts the run). On Skirmish, with
a demo-sized budget, start from BC this way with weight 1.0: from scratch CQL
loses to BC (docs/agents.md, "IQL and CQL on Skirmish"). The defaults live in
offline_rl/agents/cql/config.py.
"""
from offline_rl.agents.cql import config as cql_config


def get_config():
  return cql_config.get_config()
