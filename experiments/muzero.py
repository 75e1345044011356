"""MuZero Supervised: `--config experiments/muzero.py:mzs` (acts by its prior) or
`...:mzs_mcts` (searches at inference).

  offline-rl train --config experiments/muzero.py:mzs_mcts --config.dataset=PATH \\
      --workdir=runs/mzs_mcts

Both train the same loss; `mzs_mcts` plays through Gumbel MuZero search
(`--config.muzero.num_simulations`, `--config.muzero.num_samples`: 0 enumerates a
one-head action, as pgx connect_four's or CartPole's). The defaults live in
offline_rl/agents/muzero/config.py.
"""
from offline_rl import errors
from offline_rl.agents.muzero import config as muzero_config

_CONFIGS = {'mzs': muzero_config.get_config, 'mzs_mcts': muzero_config.get_mcts_config}


def get_config(name: str = 'mzs'):
  if name not in _CONFIGS:
    raise errors.ConfigError(f'experiments/muzero.py has configs {sorted(_CONFIGS)}, '
                             f'not {name!r}: use experiments/muzero.py:mzs.')
  return _CONFIGS[name]()
