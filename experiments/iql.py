"""IQL: `--config experiments/iql.py --config.dataset=PATH`.

Distillation towards a BC run is optional: `--config.iql.distillation_weight=0.1
--config.teacher=runs/bc` (the teacher also warm-starts the run). On Skirmish, with
a demo-sized budget, start from BC this way with weight 1.0 and
`--config.iql.temperature=1.0`: from scratch IQL loses to BC (docs/agents.md, "IQL
and CQL on Skirmish"). The defaults live in offline_rl/agents/iql/config.py.
"""
from offline_rl.agents.iql import config as iql_config


def get_config():
  return iql_config.get_config()
