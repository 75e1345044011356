"""Does an OAC run's behaviour value V^μ know who wins? (offline_rl.agents.oac.diagnostics)
An MZS run's value is scored the same way.

  .venv/bin/python experiments/oac_diagnostics.py RUN [--batches=40] [--batch_size=64]
      [--agreement_batch_sizes=32,256]

prints, as JSON, the diagnostic's summary of RUN's value head on its validation split;
with --agreement_batch_sizes, also how well the policy-gradient term's gradients of
independent training batches of each size agree (`diagnostics.gradient_agreement`),
at RUN's params: is the improvement step signal or noise at that batch size?
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np

from offline_rl import agent as agent_lib
from offline_rl import errors
from offline_rl.agents.oac import diagnostics
from offline_rl.agents.oac import losses as oac_losses
from offline_rl.learner import experiment
from offline_rl.learner import policies


def diagnose(run: str, *, batches: int = 40, batch_size: int = 64, seed: int = 0) -> dict:
  """`summarise` of `batches` validation batches of RUN (a run dir or checkpoint),
  drawn with `seed` (not the run's), so that runs of different seeds are scored on
  the same windows."""
  agent, params, _ = policies.load_agent(run)
  config = agent.config
  # MZS's value (its prediction at the root) is scored like OAC's critic: through
  # the same forward pass, with the λ-returns of its own section.
  section = next((name for name in ('oac', 'muzero') if name in config), None)
  if section is None:
    raise errors.ConfigError(f'{run} is a {config.agent!r} run: the diagnostic scores '
                             'the value head of an OAC, E-OAC or MZS run.')
  if float(config.validation_fraction) <= 0:
    raise errors.ConfigError(f'{run} held out no episodes (validation_fraction=0): '
                             'score a run trained with validation_fraction > 0.')
  config.batch_size = batch_size
  iterator = experiment.make_iterator(config, 'validation', seed=seed)
  cfg = config[section].to_dict()
  score = jax.jit(
      lambda p, b, k: diagnostics.value_and_advantage(agent.network, cfg, p, b, k))
  tick = diagnostics.tick_index(agent.spec)
  parts = [diagnostics.flatten_steps(batch,
                                     *score(params, batch, jax.random.PRNGKey(seed + i)),
                                     i * batch_size, tick)
           for i, batch in zip(range(batches), iterator)]
  merged = diagnostics.ValueSteps(*(np.concatenate(x) for x in zip(*parts)))
  result = dict(run=run, batches=batches, batch_size=batch_size,
                unroll_length=int(config.unroll_length), gamma=cfg['gamma'],
                lambda_=cfg['lambda_'], **diagnostics.summarise(merged, seed=seed))
  if cfg.get('advantage', 'return') == 'q':
    result['q'] = score_q(agent, cfg, params, iterator, batches, batch_size, seed)
  return result


def score_q(agent, cfg, params, iterator, batches, batch_size, seed) -> dict:
  """`diagnostics.summarise_q` of the Q heads on `batches` more validation batches."""
  score = jax.jit(lambda p, b, k: diagnostics.q_and_returns(agent.network, cfg, p, b, k))
  value, returns, q, window = [], [], [], []
  for i, batch in zip(range(batches), iterator):
    v, g, q_i, where = jax.device_get(score(params, batch, jax.random.PRNGKey(seed + i)))
    where = np.asarray(where)
    value.append(v[where])
    returns.append(g[where])
    q.append({n: x[where] for n, x in q_i.items()})
    window.append((i * batch_size + np.nonzero(where)[0]))
  action_spec = agent.loss.args[2]  # Heads in autoregressive order (jit sorts dicts).
  return diagnostics.summarise_q(
      np.concatenate(value), np.concatenate(returns),
      {n: np.concatenate([x[n] for x in q]) for n in action_spec},
      np.concatenate(window), seed=seed)


def policy_gradient_agreement(run: str, batch_sizes, *, batches: int = 4,
                              seed: int = 0, advantage: str = '') -> dict:
  """{batch size: `gradient_agreement`} of RUN's policy-gradient term alone (value and
  KL weights 0, policy weight 1, normalised advantages, no delay: a critic-only run
  works too) on `batches` training batches, with RUN's `oac.advantage` or
  `advantage` ('return' also on a run with Q heads)."""
  agent, params, _ = policies.load_agent(run)
  _, teacher, _ = policies.load_agent(agent.config.teacher)
  network, teacher_network, action_spec, section = agent.loss.args
  cfg = dict(section, value_weight=0.0, distillation_weight=0.0, q_weight=0.0,
             policy_weight=1.0, policy_delay_steps=0, normalize_advantage=True)
  if advantage:
    if advantage == 'q' and section.get('advantage', 'return') != 'q':
      raise errors.ConfigError(f'{run} has no Q heads: its oac.advantage is not q.')
    cfg['advantage'] = advantage
  context = agent_lib.LossContext(target=None, teacher=teacher, step=jnp.int32(0))
  grad = jax.jit(jax.grad(lambda p, b, k: oac_losses.oac_loss(
      network, teacher_network, action_spec, cfg, p, context, b, k)[0]))
  result = {}
  for size in batch_sizes:
    config = agent.config
    config.batch_size = int(size)
    iterator = experiment.make_iterator(config, 'train')
    result[str(size)] = diagnostics.gradient_agreement(
        [grad(params, batch, jax.random.PRNGKey(seed + i))
         for i, batch in zip(range(batches), iterator)])
  return result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('run', help='an OAC / E-OAC run directory or checkpoint')
  parser.add_argument('--batches', type=int, default=40)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--agreement_batch_sizes', default='',
                      help='comma-separated batch sizes for the gradient agreement')
  parser.add_argument('--agreement_batches', type=int, default=4)
  parser.add_argument('--agreement_advantage', default='', choices=('', 'return', 'q'),
                      help="the policy gradient's advantage (default: the run's)")
  args = parser.parse_args(argv)
  result = diagnose(args.run, batches=args.batches, batch_size=args.batch_size,
                    seed=args.seed)
  if args.agreement_batch_sizes:
    result['policy_gradient_agreement'] = policy_gradient_agreement(
        args.run, [int(x) for x in args.agreement_batch_sizes.split(',')],
        batches=args.agreement_batches, seed=args.seed,
        advantage=args.agreement_advantage)
  print(json.dumps(result, indent=1))


if __name__ == '__main__':
  main()
