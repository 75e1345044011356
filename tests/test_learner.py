"""The generic learner: exact resume, two devices equal one, NaN errors, logs,
schedules, checkpoint errors, and a Haiku network trained through the same interface."""
import os
import subprocess
import sys
import tempfile
import textwrap

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from offline_rl import agent as agent_lib
from offline_rl import agents
from offline_rl import data
from offline_rl import learner
from offline_rl import networks
from offline_rl import rollout
from offline_rl.environments import make
from offline_rl.environments import toy


def tiny_config(**overrides):
  config = agents.default_config('bc')
  config.network.mlp_sizes = (16, 16)
  config.batch_size = 32
  config.num_steps = 30
  config.updates_per_call = 5
  config.log_every = 10
  config.checkpoint_every = 10
  config.optimizer.learning_rate = 3e-3
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def env():
  return make('toy/corridor-v0', length=5, max_steps=12)


_DATASETS = {}


def corridor_path(env):
  """A recorded dataset of a strong bot (rating 1500) against a weak one (800); it is
  recorded once per process."""
  if 'path' not in _DATASETS:
    from offline_rl import datasets  # pylint: disable=g-import-not-at-top
    path = os.path.join(tempfile.mkdtemp(), 'corridor')
    datasets.record(env, [(toy.bot(0.9, 1500.0), toy.bot(0.3, 800.0))], path,
                    num_episodes=64, seed=0, num_envs=32, progress=False, log=None)
    _DATASETS['path'] = path
  return _DATASETS['path']


def corridor_data(env, batch_size=32, seed=0, **kwargs):
  """Windows of the strong bot's seat, through the data layer's one sampler."""
  kwargs.setdefault('filters', 'rating>=1500')
  kwargs.setdefault('validation_fraction', 0.0)
  return data.make_iterator(corridor_path(env), batch_size=batch_size, unroll_length=1,
                            seed=seed, **kwargs)


def params_equal(a, b):
  return all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))


def assert_resumes_exactly(resumed_learner, final, position_field):
  """A learner restored from its step-20 checkpoint trains to step 30 exactly as an
  uninterrupted run did: same params, optimiser state and key."""
  assert int(resumed_learner.state.step) == 20
  assert resumed_learner.iterator.get_state()[position_field] == 20
  resumed = resumed_learner.train()
  assert int(resumed.step) == 30
  assert params_equal(resumed.params, final.params)
  assert params_equal(resumed.opt_state, final.opt_state)
  np.testing.assert_array_equal(resumed.key, final.key)


class Crash(Exception):
  pass


def test_killed_and_resumed_run_equals_uninterrupted_run(env, bc_agent, tmp_path):
  config = tiny_config()
  agent = bc_agent
  whole = learner.Learner(agent, corridor_data(env), config, str(tmp_path / 'whole'),
                          progress=False)
  final = whole.train()
  assert int(final.step) == 30

  def crash_at_25(params, step):
    if step == 25:
      raise Crash
    return {'ok': 1.0}
  crashed_config = tiny_config(eval_every=5)
  first = learner.Learner(agent, corridor_data(env), crashed_config,
                          str(tmp_path / 'resumed'), eval_fn=crash_at_25,
                          progress=False)
  with pytest.raises(Crash):
    first.train()
  # A new process would start from scratch: a fresh iterator, a fresh learner.
  second = learner.Learner(agent, corridor_data(env), config, str(tmp_path / 'resumed'),
                           progress=False)
  assert_resumes_exactly(second, final, 'batch_index')  # From the last checkpoint.
  # Logs: CSV rows at each log step, TensorBoard events, the run files.
  rows = learner.read_metrics(str(tmp_path / 'whole'))
  assert [r['step'] for r in rows] == [10, 20, 30]
  assert rows[-1]['loss'] < rows[0]['loss']
  assert {'action/accuracy', 'grad_norm', 'learning_rate', 'steps_per_second'} <= set(
      rows[0])
  tb = os.listdir(tmp_path / 'whole' / 'tb')
  assert tb and tb[0].startswith('events.out.tfevents')
  assert {'config.json', 'spec.json', 'checkpoints'} <= set(
      os.listdir(tmp_path / 'whole'))


class NextOnly:
  """A data iterator without next_many: the learner's fallback path."""

  def __init__(self, iterator):
    self._it, self.spec = iterator, iterator.spec

  def __next__(self):
    return next(self._it)

  def get_state(self):
    return self._it.get_state()

  def set_state(self, state):
    self._it.set_state(state)


def test_next_many_trains_like_one_next_call_per_batch(env, bc_agent, tmp_path):
  make_it = lambda: corridor_data(env, seed=4)
  config = tiny_config()
  whole = learner.Learner(bc_agent, make_it(), config, str(tmp_path / 'whole'),
                          progress=False)
  assert hasattr(whole.iterator, 'next_many')
  final = whole.train()
  assert whole.iterator.get_state()['batch_index'] == 30
  # The same batches drawn one call each (the fallback) give the same parameters.
  single = learner.Learner(bc_agent, NextOnly(make_it()), config,
                           str(tmp_path / 'single'), progress=False).train()
  assert params_equal(single.params, final.params)
  assert params_equal(single.opt_state, final.opt_state)


_TWO_DEVICES = textwrap.dedent('''
    import os, sys, tempfile
    os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'
    os.environ['JAX_PLATFORMS'] = 'cpu'
    sys.path.insert(0, os.path.dirname(sys.argv[1]))
    import jax, numpy as np
    assert len(jax.local_devices()) == 2, jax.local_devices()
    import test_learner as t
    from offline_rl import agents, learner
    env = t.make('toy/corridor-v0', length=5, max_steps=12)
    results = []
    for devices in (1, 2):
      config = t.tiny_config(num_devices=devices, num_steps=20)
      agent = agents.make('bc', env.spec, config)
      run = learner.Learner(agent, t.corridor_data(env), config,
                            tempfile.mkdtemp(), progress=False)
      results.append(run.train().params)
    sharding = run.state.params['params']['vector_mlp']['Dense_0']['kernel'].sharding
    assert len(sharding.device_set) == 2
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in
               zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])))
    scale = max(float(np.max(np.abs(a))) for a in jax.tree.leaves(results[0]))
    try:
      learner.Learner(agent, t.corridor_data(env, batch_size=31),
                      t.tiny_config(num_devices=2), tempfile.mkdtemp(),
                      progress=False).train()
      error = 'none'
    except ValueError as e:
      error = str(e)
    # An iterator with next_many: its [K, B, ...] batches are split on B (axis 1).
    class Many:
      def __init__(self, it):
        self.it, self.spec = it, it.spec
      def __next__(self):
        return next(self.it)
      def next_many(self, count):
        return jax.tree.map(lambda *x: np.stack(x), *[next(self.it) for _ in range(count)])
      def get_state(self):
        return self.it.get_state()
      def set_state(self, state):
        self.it.set_state(state)
    config = t.tiny_config(num_devices=2, num_steps=20)
    many = learner.Learner(agent, Many(t.corridor_data(env)), config,
                           tempfile.mkdtemp(), progress=False)
    group = many._next_group(3)
    assert group.mask.shape == (3, 32, 2), group.mask.shape
    assert group.mask.sharding.spec == jax.sharding.PartitionSpec(None, 'data')
    assert {s.data.shape for s in group.mask.addressable_shards} == {(3, 16, 2)}
    many = learner.Learner(agent, Many(t.corridor_data(env)), config,
                           tempfile.mkdtemp(), progress=False)
    many_params = many.train().params
    many_diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in
                    zip(jax.tree.leaves(results[1]), jax.tree.leaves(many_params)))
    print('RESULT', diff, scale)
    print('MANY', many_diff)
    print('ERROR', error)
''')


def test_two_forced_cpu_devices_train_like_one():
  result = subprocess.run(
      [sys.executable, '-c', _TWO_DEVICES, os.path.abspath(__file__)],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = dict(line.split(' ', 1) for line in result.stdout.splitlines()
               if line.startswith(('RESULT', 'MANY', 'ERROR')))
  diff, scale = map(float, lines['RESULT'].split())
  assert scale > 0.1 and diff < 1e-4, (diff, scale)
  # next_many's stacked batches, sharded on B, train exactly like next()'s.
  assert float(lines['MANY']) == 0.0, lines['MANY']
  assert 'does not divide over 2 devices' in lines['ERROR']


def test_nan_loss_raises_a_clear_error(env, tmp_path):
  agent = agents.make('bc', env.spec, tiny_config())

  def nan_after_first_update(params, context, batch, key):
    loss, metrics = agent.loss(params, context, batch, key)
    step_is_late = jnp.abs(params['params']['vector_mlp']['Dense_0']['bias']).sum() > 0
    return jnp.where(step_is_late, jnp.nan, loss), metrics
  broken = agent._replace(loss=nan_after_first_update)
  run = learner.Learner(broken, corridor_data(env), tiny_config(), str(tmp_path),
                        progress=False)
  # No checkpoint exists yet, and the message does not claim one.
  with pytest.raises(FloatingPointError,
                     match=r'loss became nan at update 2 .*No checkpoint was written'):
    run.train()


def test_schedules_and_optimizer_errors():
  base = dict(learning_rate=1.0, schedule='cosine', warmup_steps=10,
              end_learning_rate_fraction=0.1, b1=0.9, b2=0.98, eps=1e-8,
              weight_decay=0.0, max_grad_norm=1.0)
  schedule = learner.make_schedule(base, num_steps=110)
  np.testing.assert_allclose([schedule(0), schedule(5), schedule(10), schedule(110)],
                             [0.0, 0.5, 1.0, 0.1], atol=1e-6)
  linear = learner.make_schedule(dict(base, schedule='linear', warmup_steps=0), 100)
  np.testing.assert_allclose(linear(50), 0.55, atol=1e-6)
  with pytest.raises(ValueError, match="Unknown learning-rate schedule 'step'"):
    learner.make_schedule(dict(base, schedule='step'), 10)
  # Clipping scales the gradient to norm max_grad_norm before Adam's moments: the
  # first moment holds (1 - b1) * the clipped gradient, and Adam's first step is
  # -lr * sign(g) where g is non-zero.
  optimizer, _ = learner.make_optimizer(dict(base, warmup_steps=0), 10)
  params = {'w': jnp.zeros(3)}
  updates, state = optimizer.update({'w': jnp.array([100.0, 0, 0])},
                                    optimizer.init(params), params)
  np.testing.assert_allclose(state.mu['w'], [0.1, 0.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(state.nu['w'], [0.02, 0.0, 0.0], rtol=1e-5)
  np.testing.assert_allclose(updates['w'], [-1.0, 0.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize('max_grad_norm', [0.0, 1.0])
def test_the_fused_optimizer_matches_the_optax_chain(max_grad_norm):
  config = dict(learning_rate=0.1, schedule='cosine', warmup_steps=3,
                end_learning_rate_fraction=0.1, b1=0.9, b2=0.98, eps=1e-8,
                weight_decay=1e-2, max_grad_norm=max_grad_norm)
  fused, schedule = learner.make_optimizer(config, 20)
  parts = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm > 0 else []
  chain = optax.chain(*parts, optax.adamw(schedule, b1=0.9, b2=0.98, eps=1e-8,
                                          weight_decay=1e-2))
  rng = np.random.default_rng(0)
  params = {'w': jnp.asarray(rng.normal(size=(5, 3)), jnp.float32), 'b': jnp.ones(3)}
  ours, theirs = dict(params), dict(params)
  state_ours, state_theirs = fused.init(params), chain.init(params)
  clipped = 0
  for _ in range(20):
    grads = {k: jnp.asarray(rng.normal(size=v.shape) * 2, jnp.float32)
             for k, v in params.items()}
    clipped += float(optax.global_norm(grads)) > max_grad_norm > 0
    u, state_ours = fused.update(grads, state_ours, ours)
    ours = optax.apply_updates(ours, u)
    u, state_theirs = chain.update(grads, state_theirs, theirs)
    theirs = optax.apply_updates(theirs, u)
  assert clipped == (20 if max_grad_norm else 0)  # The clip was exercised (or off).
  for k in params:
    np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours[k], params[k])


@pytest.fixture(scope='module')
def bc_agent(env):
  """One agent for the tests that share its compiled update."""
  return agents.make('bc', env.spec, tiny_config())


def test_checkpoint_paths_and_mismatches_give_clear_errors(env, bc_agent, tmp_path):
  with pytest.raises(FileNotFoundError, match='No run or checkpoint'):
    learner.load_params(str(tmp_path / 'missing'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(FileNotFoundError, match='neither a run directory'):
    learner.load_params(str(tmp_path / 'empty'))
  config = tiny_config()
  agent = bc_agent
  learner.Learner(agent, corridor_data(env), config, str(tmp_path / 'run'),
                  progress=False).train()
  params, meta, step = learner.load_params(str(tmp_path / 'run'))
  assert step == 30 and meta['iterators'][0]['batch_index'] == 30
  assert meta['run']['top_rating'] == 1500.0
  wider = agents.make('bc', env.spec, tiny_config(
      network=dict(tiny_config().network.to_dict(), mlp_sizes=(24, 16))))
  with pytest.raises(ValueError, match='does not fit this network'):
    learner.load_params(str(tmp_path / 'run' / 'checkpoints' / '30'),
                        wider.init(jax.random.PRNGKey(0)))
  with pytest.raises(ValueError, match='num_devices=4 but only'):
    learner.Learner(agent, corridor_data(env), tiny_config(num_devices=4),
                    str(tmp_path / 'four'), progress=False)


def _haiku_network(spec):
  """A Haiku MLP policy for single-head specs, with the shared mask helpers."""
  (name, leaf), = spec.action.items()

  def forward(inputs, core_state, actions=None, greedy=False):
    obs = jnp.concatenate([x.reshape(x.shape[:2] + (-1,)).astype(jnp.float32)
                           for x in jax.tree.leaves(inputs.observation)], -1)
    hidden = hk.nets.MLP([32, 32], activate_final=True)(obs)
    logits = hk.Linear(leaf.num_values)(hidden)
    legal = (None if inputs.legal_action_mask is None else
             inputs.legal_action_mask[name])
    if legal is not None:
      logits = networks.heads.apply_mask(logits, legal)
    if actions is None:
      chosen = networks.heads.choose(logits, hk.next_rng_key(), greedy)
    else:
      chosen = actions[name]
    value = hk.Linear(1)(hidden)[..., 0]
    return networks.NetworkOutputs({name: logits}, {name: chosen}, value), core_state
  return networks.from_haiku(hk.transform(forward))


def test_a_haiku_network_trains(env, tmp_path):
  from offline_rl.agents import bc  # pylint: disable=g-import-not-at-top
  from offline_rl.agents import common  # pylint: disable=g-import-not-at-top
  import functools  # pylint: disable=g-import-not-at-top
  config = tiny_config(num_steps=150, updates_per_call=50, log_every=50)
  network = _haiku_network(env.spec)
  flax_agent = agents.make('bc', env.spec, config)
  agent = flax_agent._replace(
      network=network,
      init=lambda key: network.init(key, networks.dummy_inputs(env.spec)),
      loss=functools.partial(bc.losses.bc_loss, network, dict(env.spec.action), {}),
      make_policy=lambda params, **kw: common.network_policy(
          network, env.spec, params, greedy=True))
  run = learner.Learner(agent, corridor_data(env), config, str(tmp_path),
                        progress=False)
  assert 'mlp/~/linear_0' in run.state.params
  run.train()
  rows = learner.read_metrics(str(tmp_path))
  assert rows[-1]['loss'] < 0.6 * np.log(3)  # from uniform over 3 actions
  assert rows[-1]['action/accuracy'] > 0.85
  results = learner.evaluate(env, agent.make_policy(run.params), [toy.bot(0.3)], 100)
  assert results['win_rate'] > 0.8


def test_validation_loss_is_logged_on_held_out_episodes_and_resumes_exactly(
    env, bc_agent, tmp_path):
  """At every log step train.csv holds the loss on fixed batches of the held-out
  split: it is the agent's loss on those batches at that step's params (recomputed
  here), it differs from the training loss, and a resumed run logs the same values."""
  def split(name):
    return corridor_data(env, split=name, validation_fraction=0.25)

  def run(workdir, config=None, **kwargs):
    return learner.Learner(bc_agent, split('train'), config or tiny_config(),
                           str(tmp_path / workdir), validation=split('validation'),
                           progress=False, **kwargs)

  whole = run('whole')
  final = whole.train()
  rows = learner.read_metrics(str(tmp_path / 'whole'))
  assert [r['step'] for r in rows] == [10, 20, 30]
  for row in rows:
    assert np.isfinite(row['validation_loss']) and row['validation_loss'] != row['loss']
    assert 0 <= row['validation_action/accuracy'] <= 1
  # The same number from the agent's loss on the first batches of the held-out split.
  held_out = split('validation')
  context = agent_lib.LossContext(final.target, None, final.step)
  losses = [float(bc_agent.loss(final.params, context, next(held_out),
                                jax.random.PRNGKey(0))[0])
            for _ in range(learner.VALIDATION_BATCHES)]
  np.testing.assert_allclose(rows[-1]['validation_loss'], np.mean(losses), rtol=1e-5)

  def crash_at_25(params, step):
    if step == 25:
      raise Crash
    return {}
  with pytest.raises(Crash):
    run('resumed', tiny_config(eval_every=5), eval_fn=crash_at_25).train()
  assert_resumes_exactly(run('resumed'), final, 'batch_index')
  resumed = learner.read_metrics(str(tmp_path / 'resumed'))
  assert ([r['validation_loss'] for r in resumed]
          == [r['validation_loss'] for r in rows])
