"""Networks built from specs: encoders by observation kind, masked autoregressive heads,
the LSTM core's resets, and clear errors for specs they cannot serve."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import networks
from offline_rl import specs
from offline_rl.networks import conv
from offline_rl.networks import dense

TINY = dict(mlp_sizes=(16, 16), conv_channels=(4,), conv_blocks=1, entity_width=8,
            entity_layers=1, entity_heads=2, core='none', core_size=8, head_hidden=(),
            pointer_heads=('unit:units',), spatial_heads=('target:planes',),
            scatter_width=4,
            value_head=True, value_hidden=(8,), q_heads=False, policy_from_q=False,
            use_prev_action=True, use_rating=True,
            rating_offset=1000.0, rating_scale=500.0)
NUM_FUNCTIONS, NUM_UNITS, NUM_CELLS = 3, 4, 16


def strategy_spec(**overrides):
  """A Skirmish-shaped spec: planes, unit lists, scalars; function-conditioned heads."""
  kwargs = dict(
      env_id='test/strategy', version='0', num_players=2,
      observation={'planes': specs.ArraySpec((4, 4, 2), 'float32'),
                   'units': specs.ArraySpec((NUM_UNITS, 3), 'float32'),
                   'scalars': specs.ArraySpec((2,), 'float32')},
      action={'function': specs.ArraySpec((), 'int32', num_values=NUM_FUNCTIONS),
              'unit': specs.ArraySpec((), 'int32', num_values=NUM_UNITS),
              'target': specs.ArraySpec((), 'int32', num_values=NUM_CELLS)},
      legal_action_mask={
          'function': specs.ArraySpec((NUM_FUNCTIONS,), 'bool'),
          'unit': specs.ArraySpec((NUM_FUNCTIONS, NUM_UNITS), 'bool'),
          'target': specs.ArraySpec((NUM_FUNCTIONS, NUM_CELLS), 'bool')},
      max_episode_steps=10, params={'unit_features': ['alive', 'x', 'y']})
  kwargs.update(overrides)
  return specs.EnvSpec(**kwargs)


@pytest.fixture(scope='module')
def strategy():
  spec = strategy_spec()
  net = networks.make_network(spec, TINY)
  params = net.init(jax.random.PRNGKey(0), networks.dummy_inputs(spec))
  apply = jax.jit(net.apply, static_argnames='greedy')
  return spec, net, params, apply


def random_inputs(spec, key, batch, time):
  keys = iter(jax.random.split(key, 16))
  obs = {k: jax.random.normal(next(keys), (batch, time) + v.shape)
         for k, v in spec.observation.items()}
  # Function 0 may use only unit 1 and cells < 4; function 1 only unit 3 and cell 9;
  # function 2 uses neither head (all-False rows). Function 1 is illegal at random.
  unit = np.zeros((NUM_FUNCTIONS, NUM_UNITS), bool)
  unit[0, 1] = unit[1, 3] = True
  target = np.zeros((NUM_FUNCTIONS, NUM_CELLS), bool)
  target[0, :4] = target[1, 9] = True
  function = np.ones((batch, time, NUM_FUNCTIONS), bool)
  function[..., 1] = np.asarray(jax.random.bernoulli(next(keys), 0.5, (batch, time)))
  mask = {'function': function,
          'unit': np.broadcast_to(unit, (batch, time) + unit.shape),
          'target': np.broadcast_to(target, (batch, time) + target.shape)}
  prev = {k: jnp.zeros((batch, time), jnp.int32) for k in spec.action}
  return networks.NetworkInputs(obs, mask, prev, jnp.zeros((batch, time), bool),
                                jnp.full((batch, time), 1200.0))


def test_sampled_actions_respect_conditional_masks(strategy):
  spec, net, params, apply = strategy
  inputs = random_inputs(spec, jax.random.PRNGKey(1), 64, 2)
  outputs, _ = apply(params, inputs, (), jax.random.PRNGKey(2))
  assert outputs.value.shape == (64, 2)
  assert outputs.logits['target'].shape == (64, 2, NUM_CELLS)
  function = np.asarray(outputs.action['function'])
  legal_function = np.take_along_axis(inputs.legal_action_mask['function'],
                                      function[..., None], -1)[..., 0]
  assert legal_function.all()
  # Each function's own row decides unit and target.
  unit, target = np.asarray(outputs.action['unit']), np.asarray(outputs.action['target'])
  assert set(np.unique(function)) >= {0, 2}
  np.testing.assert_array_equal(unit[function == 0], 1)
  assert (target[function == 0] < 4).all()
  np.testing.assert_array_equal(unit[function == 1], 3)
  np.testing.assert_array_equal(target[function == 1], 9)
  # Illegal logits are pushed far below the legal ones.
  logits = np.asarray(outputs.logits['unit'])[function == 0]
  assert (logits[:, [0, 2, 3]] < -1e8).all() and (logits[:, 1] > -1e3).all()


def test_teacher_forcing_uses_the_given_function_and_greedy_is_deterministic(strategy):
  spec, net, params, apply = strategy
  inputs = random_inputs(spec, jax.random.PRNGKey(3), 8, 1)
  forced = {'function': jnp.zeros((8, 1), jnp.int32),
            'unit': jnp.ones((8, 1), jnp.int32), 'target': jnp.zeros((8, 1), jnp.int32)}
  outputs, _ = apply(params, inputs, (), jax.random.PRNGKey(4), forced)
  np.testing.assert_array_equal(outputs.action['function'], 0)
  assert (np.asarray(outputs.logits['unit'])[..., [0, 2, 3]] < -1e8).all()
  # The chosen argument is fed back: another unit changes the target logits.
  other = dict(forced, unit=jnp.full((8, 1), 2, jnp.int32))
  outputs2, _ = apply(params, inputs, (), jax.random.PRNGKey(4), other)
  assert not np.allclose(outputs.logits['target'][..., :4],
                         outputs2.logits['target'][..., :4])
  a, _ = apply(params, inputs, (), jax.random.PRNGKey(5), greedy=True)
  b, _ = apply(params, inputs, (), jax.random.PRNGKey(6), greedy=True)
  jax.tree.map(np.testing.assert_array_equal, a.action, b.action)


def test_a_missing_rating_reads_as_the_offset(strategy):
  """A NaN rating (an episode without one) gives the logits of a rating equal to the
  offset, which is what evaluation feeds when no rating is known; another rating
  changes them (the input is read)."""
  spec, net, params, apply = strategy
  inputs = random_inputs(spec, jax.random.PRNGKey(5), 4, 1)
  logits = lambda rating: np.asarray(apply(
      params, inputs._replace(rating=jnp.full((4, 1), rating)), (),
      jax.random.PRNGKey(6))[0].logits['function'])
  missing = logits(jnp.nan)
  assert np.isfinite(missing).all()
  np.testing.assert_allclose(missing, logits(TINY['rating_offset']), atol=1e-6)
  assert np.abs(missing - logits(2000.0)).max() > 1e-4


def test_lstm_core_resets_at_episode_start():
  spec = strategy_spec(observation={'scalars': specs.ArraySpec((3,), 'float32')})
  net = networks.make_network(spec, dict(TINY, core='lstm', use_rating=False))
  inputs = random_inputs(spec, jax.random.PRNGKey(0), 2, 4)
  params = net.init(jax.random.PRNGKey(0), inputs)
  apply = jax.jit(net.apply)
  is_first = jnp.array([[True, False, True, False]] * 2)
  inputs = inputs._replace(is_first=is_first)
  out, state = apply(params, inputs, net.initial_state(2), jax.random.PRNGKey(1))
  assert state[0].shape == (2, TINY['core_size'])
  # Steps 2..3 after the reset equal a fresh unroll of steps 2..3.
  tail = jax.tree.map(lambda x: x[:, 2:], inputs)
  out_tail, _ = apply(params, tail, net.initial_state(2), jax.random.PRNGKey(1))
  np.testing.assert_allclose(out.value[:, 2:], out_tail.value, rtol=1e-5, atol=1e-6)
  # Without the reset, memory changes the outputs.
  no_reset = inputs._replace(is_first=jnp.array([[True, False, False, False]] * 2))
  out_memory, _ = apply(params, no_reset, net.initial_state(2), jax.random.PRNGKey(1))
  assert not np.allclose(out_memory.value[:, 2:], out_tail.value)


def test_vector_only_specs_build_an_mlp():
  spec = specs.EnvSpec(
      'test/cartpole', '0', 1,
      observation={'observation': specs.ArraySpec((4,), 'float32')},
      action={'action': specs.ArraySpec((), 'int64', num_values=2)},
      legal_action_mask=None, max_episode_steps=500)
  net = networks.make_network(spec, dict(TINY, use_prev_action=False, use_rating=False))
  params = net.init(jax.random.PRNGKey(0), networks.dummy_inputs(spec, 3, 2))
  names = set(params['params'])
  assert 'vector_mlp' in names and not any(n.startswith('planes') for n in names)
  out, _ = net.apply(params, networks.dummy_inputs(spec, 3, 2), (), jax.random.PRNGKey(0))
  assert out.logits['action'].shape == (3, 2, 2)
  assert out.value.shape == (3, 2)


def test_a_board_keeps_its_cells_when_the_conv_does_not_downsample_it():
  """connect_four's 6x7 board: at the default the first stage strides it to 3x4; with
  conv_downsample_above=6 every cell reaches the flattened projection. TINY has no
  such field, as a run written before it: it reads the default, 4."""
  spec = specs.EnvSpec(
      'test/board', '0', 2, observation={'board': specs.ArraySpec((6, 7, 2), 'bool')},
      action={'column': specs.ArraySpec((), 'int32', num_values=7)},
      legal_action_mask={'column': specs.ArraySpec((7,), 'bool')}, max_episode_steps=42)
  config = dict(TINY, use_prev_action=False, use_rating=False)
  assert 'conv_downsample_above' not in config
  for downsample_above, cells in ((None, 3 * 4), (6, 6 * 7)):
    if downsample_above is not None:
      config['conv_downsample_above'] = downsample_above
    net = networks.make_network(spec, config)
    params = net.init(jax.random.PRNGKey(0), networks.dummy_inputs(spec, 2, 1))
    projection = params['params']['planes_board']['Dense_0']['kernel']
    assert projection.shape[0] == cells * TINY['conv_channels'][-1]


def test_without_a_value_head_there_are_no_value_parameters():
  spec = strategy_spec()
  net = networks.make_network(spec, dict(TINY, value_head=False))
  params = net.init(jax.random.PRNGKey(0), networks.dummy_inputs(spec, 3, 2))
  assert 'value' not in params['params']
  out, _ = net.apply(params, networks.dummy_inputs(spec, 3, 2), (), jax.random.PRNGKey(0))
  assert out.value is None and out.logits['function'].shape == (3, 2, NUM_FUNCTIONS)


def test_clear_errors_for_unsupported_specs_and_configs():
  continuous = strategy_spec(action={'force': specs.ArraySpec((2, 2), 'float32')},
                             legal_action_mask=None)
  with pytest.raises(ValueError, match='takes a vector'):
    networks.make_network(continuous, TINY)
  bad_mask = strategy_spec(legal_action_mask={'unit': specs.ArraySpec((7,), 'bool')})
  with pytest.raises(ValueError, match=r"legal_action_mask\['unit'\] has shape"):
    networks.make_network(bad_mask, TINY)
  with pytest.raises(ValueError, match="core must be 'none' or 'lstm'"):
    networks.make_network(strategy_spec(), dict(TINY, core='gru'))
  with pytest.raises(ValueError, match='unknown fields'):
    networks.make_network(strategy_spec(), dict(TINY, depth=3))
  video = strategy_spec(observation={'frames': specs.ArraySpec((2, 4, 4, 3), 'uint8')})
  net = networks.make_network(video, TINY)
  with pytest.raises(ValueError, match='reshape it'):
    net.init(jax.random.PRNGKey(0), networks.dummy_inputs(video))


def test_the_conditioning_head_goes_first_even_after_a_json_round_trip():
  base = strategy_spec()
  with_delay = strategy_spec(
      action=dict(base.action, delay=specs.ArraySpec((), 'int32', num_values=5)),
      legal_action_mask=dict(base.legal_action_mask,
                             delay=specs.ArraySpec((5,), 'bool')))
  # JSON keeps the order; a foreign dataset's features may still list heads by name.
  assert list(specs.EnvSpec.from_json(with_delay.to_json()).action) == list(
      with_delay.action)
  spec = dataclasses.replace(
      with_delay, action=dict(sorted(with_delay.action.items())),
      legal_action_mask=dict(sorted(with_delay.legal_action_mask.items())))
  assert list(spec.action)[0] == 'delay'
  ordered = networks.heads.ordered_action_spec(spec.action, spec.legal_action_mask)
  assert list(ordered) == ['function', 'delay', 'target', 'unit']
  ambiguous = dict(spec.action, aaa=specs.ArraySpec((), 'int32', num_values=3))
  with pytest.raises(ValueError, match='Cannot tell which action head'):
    networks.heads.ordered_action_spec(ambiguous, spec.legal_action_mask)


@pytest.mark.parametrize('shape', [(10, 16, 4), (10, 16, 16), (2, 5, 16, 8)])
def test_dense_layers_have_the_values_and_gradients_of_nn_dense(shape):
  """dense.Dense computes its kernel gradient in XLA:CPU's fast orientation."""
  *lead, d, f = shape
  x = jax.random.normal(jax.random.PRNGKey(0), (*lead, d))
  ours_module, plain_module = dense.Dense(f), nn.Dense(f)
  params = plain_module.init(jax.random.PRNGKey(1), x)
  loss = lambda module: lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)))
  ours = jax.value_and_grad(loss(ours_module), (0, 1))(params, x)
  plain = jax.value_and_grad(loss(plain_module), (0, 1))(params, x)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(plain)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert set(ours_module.init(jax.random.PRNGKey(1), x)['params']) == {'kernel', 'bias'}


@pytest.mark.parametrize('shape, kernel, stride', [
    ((3, 8, 8, 5), (3, 3), 2),  # the torso's downsampling stage (padding 0/1)
    ((3, 7, 9, 5), (3, 3), 1),  # residual blocks and the decoder, odd sizes
    ((2, 8, 8, 4), (1, 1), 1),  # the decoder's 1x1 convolution of the planes
    ((2, 10, 10, 4), (5, 5), 3)])
def test_conv_layers_have_the_values_and_gradients_of_nn_conv(shape, kernel, stride):
  """conv.Conv (im2col then one GEMM) is nn.Conv: parameters, values, gradients."""
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  ours_module = conv.Conv(6, kernel, strides=stride)
  plain_module = nn.Conv(6, kernel, strides=stride)
  params = plain_module.init(jax.random.PRNGKey(1), x)
  jax.tree.map(np.testing.assert_array_equal,
               ours_module.init(jax.random.PRNGKey(1), x), params)
  loss = lambda module: lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)))
  ours = jax.value_and_grad(loss(ours_module), (0, 1))(params, x)
  plain = jax.value_and_grad(loss(plain_module), (0, 1))(params, x)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(plain)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
