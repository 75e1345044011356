"""Offline actor-critic configs: `--config experiments/oac.py:oac` or `...:eoac`.

Both need a trained BC run as their frozen teacher (and starting point):
  offline-rl train --config experiments/oac.py:oac --config.dataset=PATH \\
      --config.teacher=runs/bc --workdir=runs/oac
The defaults live in offline_rl/agents/oac/config.py.
"""
from offline_rl.agents.oac import config as oac_config

_CONFIGS = {'oac': oac_config.get_config, 'eoac': oac_config.get_eoac_config}


def get_config(name: str = 'oac'):
  if name not in _CONFIGS:
    raise ValueError(f'experiments/oac.py has configs {sorted(_CONFIGS)}, not {name!r}.')
  return _CONFIGS[name]()
