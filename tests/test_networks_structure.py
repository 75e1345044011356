"""The heads that read the observation's structure: a pointer head over the units, a
spatial head over the map's cells, scatter connections, rating conditioning, and the
same config building for every environment of the registry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import configs
from offline_rl import environments
from offline_rl import errors
from offline_rl import networks
from offline_rl import specs
from offline_rl.networks import torsos

NUM_FUNCTIONS, NUM_UNITS, SIZE = 3, 5, 4
NUM_CELLS = SIZE * SIZE
TINY = dict(configs.network_config(**dict(
    configs.STRUCTURED_NETWORK, mlp_sizes=(16,), conv_channels=(4,), conv_blocks=0,
    entity_width=8, entity_layers=1, entity_heads=2, core_size=8, scatter_width=4,
    use_rating=True)))


def structured_spec():
  """Skirmish's layout in small: planes, a unit list with x/y columns, scalars."""
  return specs.EnvSpec(
      env_id='test/structured', version='0', num_players=2,
      observation={'planes': specs.ArraySpec((SIZE, SIZE, 2), 'float32'),
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


def structured_inputs(key, batch, rating=1200.0):
  """Units alive at random cells; random legal units and cells per function (each
  function row has at least one of each), all functions legal. T = 1."""
  k_units, k_planes, k_unit, k_cell, k_scalars = jax.random.split(key, 5)
  cells = jax.random.randint(k_units, (batch, NUM_UNITS), 0, NUM_CELLS)
  units = jnp.stack([jnp.ones((batch, NUM_UNITS)), (cells % SIZE) / SIZE,
                     (cells // SIZE) / SIZE], -1)
  unit = np.array(jax.random.bernoulli(k_unit, 0.4, (batch, NUM_FUNCTIONS, NUM_UNITS)))
  unit[..., 0] = True
  cell = np.array(jax.random.bernoulli(k_cell, 0.2, (batch, NUM_FUNCTIONS, NUM_CELLS)))
  cell[..., -1] = True
  observation = {'planes': jax.random.uniform(k_planes, (batch, 1, SIZE, SIZE, 2)),
                 'units': units[:, None],
                 'scalars': jax.random.normal(k_scalars, (batch, 1, 2))}
  mask = {'function': np.ones((batch, 1, NUM_FUNCTIONS), bool),
          'unit': unit[:, None], 'target': cell[:, None]}
  prev = {name: jnp.zeros((batch, 1), jnp.int32) for name in ('function', 'unit',
                                                               'target')}
  return networks.NetworkInputs(observation, mask, prev, jnp.ones((batch, 1), bool),
                                jnp.full((batch, 1), rating, jnp.float32))


@pytest.fixture(scope='module')
def structured():
  spec = structured_spec()
  net = networks.make_network(spec, TINY)
  params = net.init(jax.random.PRNGKey(0), networks.dummy_inputs(spec))
  return spec, net, params, jax.jit(net.apply, static_argnames='greedy')


def test_heads_read_units_and_cells_and_the_units_are_scattered(structured):
  spec, _, params, apply = structured
  names = set(params['params'])
  assert {'cells_planes', 'scatter_units'} <= names
  heads = params['params']['heads']
  # The pointer and spatial logits are additive attention over items, not [D, V] MLPs.
  assert heads['unit_logits']['Dense_2']['kernel'].shape == (TINY['entity_width'], 1)
  assert heads['target_logits']['Dense_2']['kernel'].shape == (TINY['conv_channels'][-1],
                                                               1)
  inputs = structured_inputs(jax.random.PRNGKey(1), 6)
  out, _ = apply(params, inputs, (), jax.random.PRNGKey(2))
  assert out.logits['unit'].shape == (6, 1, NUM_UNITS)
  assert out.logits['target'].shape == (6, 1, NUM_CELLS)
  # A pointer head is equivariant: listing the units in another order permutes their
  # logits (the scatter, the pooling and the spatial stream do not see the order).
  order = np.array([3, 0, 4, 1, 2])
  permuted_obs = dict(inputs.observation, units=inputs.observation['units'][:, :, order])
  permuted_mask = dict(inputs.legal_action_mask,
                       unit=inputs.legal_action_mask['unit'][..., order])
  permuted = inputs._replace(observation=permuted_obs, legal_action_mask=permuted_mask)
  forced = {'function': jnp.zeros((6, 1), jnp.int32), 'unit': jnp.zeros((6, 1), jnp.int32),
            'target': jnp.zeros((6, 1), jnp.int32)}
  a, _ = apply(params, inputs, (), jax.random.PRNGKey(2), forced)
  b, _ = apply(params, permuted, (), jax.random.PRNGKey(2), forced)
  np.testing.assert_allclose(np.asarray(a.logits['unit'])[..., order],
                             b.logits['unit'], rtol=1e-4, atol=1e-4)


def test_scatter_adds_present_units_at_their_cells():
  embeddings = jnp.array([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0], [3.0, 3.0]]])
  x = jnp.array([[1 / 4, 1 / 4, 0.0, 3 / 4]])
  y = jnp.array([[2 / 4, 2 / 4, 0.0, 0.0]])
  present = jnp.array([[True, True, False, True]])
  grid = torsos.scatter(embeddings, x, y, present, 3, 4)
  expected = np.zeros((1, 3, 4, 2), np.float32)
  expected[0, 2, 1] = [1.0, 2.0]  # Two units share the cell (row 2, column 1).
  expected[0, 0, 3] = [3.0, 3.0]  # The absent unit at (0, 0) scatters nothing.
  np.testing.assert_array_equal(grid, expected)


def test_pointer_and_spatial_heads_choose_only_legal_units_and_cells(structured):
  _, _, params, apply = structured
  batch = 64
  inputs = structured_inputs(jax.random.PRNGKey(3), batch)
  # Training: teacher-forced on each function in turn, the log-probabilities of the
  # legal values of that function's row are finite and sum to one; the rest vanish.
  for function in range(NUM_FUNCTIONS):
    forced = {'function': jnp.full((batch, 1), function, jnp.int32),
              'unit': jnp.zeros((batch, 1), jnp.int32),
              'target': jnp.zeros((batch, 1), jnp.int32)}
    out, _ = apply(params, inputs, (), jax.random.PRNGKey(4), forced)
    for head in ('unit', 'target'):
      legal = np.asarray(inputs.legal_action_mask[head])[:, :, function]
      log_probs = np.asarray(jax.nn.log_softmax(out.logits[head]))
      assert np.isfinite(log_probs).all() and (log_probs[legal] > -50).all()
      assert (log_probs[~legal] < -1e8).all()
      np.testing.assert_allclose(np.exp(log_probs).sum(-1), 1.0, rtol=1e-5)
  # Inference: over many keys, sampled units and cells are legal for the sampled
  # function, and several distinct ones are drawn.
  sample = jax.jit(jax.vmap(lambda key: apply(params, inputs, (), key)[0].action))
  actions = jax.tree.map(np.asarray, sample(jax.random.split(jax.random.PRNGKey(5), 16)))
  function = actions['function'][..., None, None]
  for head in ('unit', 'target'):
    rows = np.take_along_axis(np.asarray(inputs.legal_action_mask[head])[None],
                              function, axis=-2)[..., 0, :]  # [K, B, 1, V]
    chosen = np.take_along_axis(rows, actions[head][..., None], axis=-1)
    assert chosen.all(), head
    assert len(np.unique(actions[head])) > 2


def test_q_heads_score_units_and_cells(structured):
  spec, *_ = structured
  net = networks.make_network(spec, dict(TINY, q_heads=True, policy_from_q=True))
  inputs = structured_inputs(jax.random.PRNGKey(6), 4)
  params = net.init(jax.random.PRNGKey(0), inputs)
  out, _ = net.apply(params, inputs, (), jax.random.PRNGKey(7))
  assert out.q['unit'].shape == (4, 1, NUM_UNITS)
  assert out.q['target'].shape == (4, 1, NUM_CELLS)
  assert 'Dense_2' in params['params']['heads']['target_q']


def test_rating_conditioning_changes_the_policy(structured):
  _, _, params, apply = structured
  key = jax.random.PRNGKey(8)
  low, _ = apply(params, structured_inputs(key, 8, rating=600.0), (), key)
  high, _ = apply(params, structured_inputs(key, 8, rating=1800.0), (), key)
  assert np.abs(np.asarray(low.logits['function'] - high.logits['function'])).max() > 1e-3


def test_a_head_and_leaf_of_different_sizes_is_a_config_error():
  with pytest.raises(errors.ConfigError, match="head 'unit' has 5 values but "
                     "'planes'"):
    networks.make_network(structured_spec(), dict(TINY, pointer_heads=('unit:units',),
                                                  spatial_heads=('unit:planes',)))
  with pytest.raises(errors.ConfigError, match="'head:leaf'"):
    networks.make_network(structured_spec(), dict(TINY, pointer_heads=('unit',)))


# One example of every adapted family (minari needs a local dataset); a new family
# fails the test until it has one.
FAMILY_EXAMPLES = {
    'gym/': 'gym/CartPole-v1',
    'pettingzoo/': 'pettingzoo/classic/connect_four_v3',
    'pgx/': 'pgx/connect_four',
    'openspiel/': 'openspiel/connect_four',
}


def test_the_default_config_builds_and_runs_for_every_environment():
  families = set(environments.registered_families()) - {'minari/'}
  assert families == set(FAMILY_EXAMPLES), 'add an example of the new family'
  for env_id in environments.registered() + list(FAMILY_EXAMPLES.values()):
    spec = environments.make(env_id).spec
    net = networks.make_network(spec, TINY)
    inputs = networks.dummy_inputs(spec, 2, 1)
    params = net.init(jax.random.PRNGKey(0), inputs)
    out, _ = net.apply(params, inputs, (), jax.random.PRNGKey(1))
    for name, leaf in spec.action.items():
      assert out.logits[name].shape == (2, 1, leaf.num_values), env_id
      assert np.isfinite(np.asarray(out.logits[name])).all(), env_id
    structured = {'cells_planes', 'scatter_units'} <= set(params['params'])
    assert structured == env_id.startswith('skirmish/'), env_id
