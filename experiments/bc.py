"""Behaviour cloning configs: `--config experiments/bc.py:bc` or `...:ftbc`.

The defaults live in offline_rl/agents/bc/config.py; override any field from the
command line, e.g. `--config.dataset=PATH --config.num_steps=5000`. Data fields added
here: `num_actions` (see get_config).
"""
from offline_rl.agents.bc import config as bc_config

_CONFIGS = {'bc': bc_config.get_config, 'ftbc': bc_config.get_ftbc_config}


def get_config(name: str = 'bc'):
  if name not in _CONFIGS:
    raise ValueError(f'experiments/bc.py has configs {sorted(_CONFIGS)}, not {name!r}.')
  config = _CONFIGS[name]()
  # The number of discrete actions of a dataset whose spec lacks it (a foreign RLDS
  # dataset's scalar integer action); 0: the spec's, else max + 1 of the data's values.
  config.num_actions = 0
  return config
