"""Behaviour cloning configs: `--config experiments/bc.py:bc` or `...:ftbc`.

The defaults live in offline_rl/agents/bc/config.py; override any field from the
command line, e.g. `--config.dataset=PATH --config.num_steps=5000`.
"""
from offline_rl.agents.bc import config as bc_config

_CONFIGS = {'bc': bc_config.get_config, 'ftbc': bc_config.get_ftbc_config}


def get_config(name: str = 'bc'):
  if name not in _CONFIGS:
    raise ValueError(f'experiments/bc.py has configs {sorted(_CONFIGS)}, not {name!r}.')
  return _CONFIGS[name]()
