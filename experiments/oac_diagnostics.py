"""Does an OAC run's behaviour value V^μ know who wins? (offline_rl.agents.oac.diagnostics)

  .venv/bin/python experiments/oac_diagnostics.py RUN [--batches=40] [--batch_size=64]

prints, as JSON, the diagnostic's summary of RUN's value head on its validation split.
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from offline_rl import errors
from offline_rl.agents.oac import diagnostics
from offline_rl.learner import experiment
from offline_rl.learner import policies


def diagnose(run: str, *, batches: int = 40, batch_size: int = 64, seed: int = 0) -> dict:
  """`summarise` of `batches` validation batches of RUN (a run dir or checkpoint)."""
  agent, params, _ = policies.load_agent(run)
  config = agent.config
  if 'oac' not in config:
    raise errors.ConfigError(f'{run} is a {config.agent!r} run: the diagnostic scores '
                             'the value head of an OAC or E-OAC run.')
  if float(config.validation_fraction) <= 0:
    raise errors.ConfigError(f'{run} held out no episodes (validation_fraction=0): '
                             'score a run trained with validation_fraction > 0.')
  config.batch_size = batch_size
  iterator = experiment.make_iterator(config, 'validation')
  cfg = config.oac.to_dict()
  score = jax.jit(
      lambda p, b, k: diagnostics.value_and_advantage(agent.network, cfg, p, b, k))
  tick = diagnostics.tick_index(agent.spec)
  parts = [diagnostics.flatten_steps(batch,
                                     *score(params, batch, jax.random.PRNGKey(seed + i)),
                                     i * batch_size, tick)
           for i, batch in zip(range(batches), iterator)]
  merged = diagnostics.ValueSteps(*(np.concatenate(x) for x in zip(*parts)))
  return dict(run=run, batches=batches, batch_size=batch_size,
              unroll_length=int(config.unroll_length), gamma=cfg['gamma'],
              lambda_=cfg['lambda_'], **diagnostics.summarise(merged, seed=seed))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('run', help='an OAC / E-OAC run directory or checkpoint')
  parser.add_argument('--batches', type=int, default=40)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  print(json.dumps(diagnose(args.run, batches=args.batches, batch_size=args.batch_size,
                            seed=args.seed), indent=1))


if __name__ == '__main__':
  main()
