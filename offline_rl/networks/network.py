"""Policy-value networks built from an EnvSpec, behind one library-neutral interface.

A `Network` is a NamedTuple of pure functions, so the learner and the agents do not
care which library built it:

    params = network.init(key, inputs)
    outputs, core_state = network.apply(params, inputs, core_state, key,
                                        actions=None, greedy=False)
    core_state = network.initial_state(batch_size)

`make_network` builds the Flax one from a spec: each observation leaf picks its
encoder by rank (vectors [X] -> MLP, unit lists [U, F] -> transformer, planes
[H, W, C] -> conv ResNet), the streams merge into one vector, an optional LSTM core
follows (or none: AlphaStar Unplugged found no memory best for BC), then the
autoregressive heads and an optional value head. `from_haiku` wraps a Haiku network.

As in AlphaStar, the observation's structure reaches the heads where the spec has it:
a pointer head (`pointer_heads`, 'head:unit_list') scores each unit's transformer
embedding, a spatial head (`spatial_heads`, 'head:planes') scores each cell of the
conv torso's map brought back to the planes' resolution, and the units' embeddings
are scattered onto the planes before the conv torso (`scatter_width`) at their
positions: the columns named 'x' and 'y' (fractions of the map size) of the spec's
`params['unit_features']`. Entries whose head or leaf the spec lacks are skipped, so
one config serves every environment.

Letters: B batch, T time, V a head's values, S core size, N = B * T rows, U units,
H, W map size.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import errors
from offline_rl import specs
from offline_rl.networks import continuous
from offline_rl.networks import dense
from offline_rl.networks import heads as heads_lib
from offline_rl.networks import torsos

PyTree = Any
Array = Any


class NetworkInputs(NamedTuple):
  """What a network reads, all [B, T, ...].

  Attributes:
    observation: pytree [B, T, ...] keyed like the observation spec.
    legal_action_mask: pytree [B, T, ...] bool keyed like the action, or None.
    prev_action: pytree [B, T] int: the action taken at the previous step (zeros at
      the first step of an episode).
    is_first: [B, T] bool: resets the memory core.
    rating: [B, T] float32: the acting player's rating (read when conditioning),
      NaN where none is known.
  """
  observation: PyTree
  legal_action_mask: PyTree | None
  prev_action: PyTree
  is_first: Array
  rating: Array


class NetworkOutputs(NamedTuple):
  """What one forward pass gives every loss term.

  Attributes:
    logits: dict of [B, T, V] (illegal values masked).
    action: dict of [B, T] int32 (teacher-forced or chosen).
    value: [B, T] float32, or None without a value head.
    q: dict of [B, T, V] float32 Q-values per head (unmasked: losses mask them with
      the legal masks), or None without Q heads.
    embedding: [B, T, D] the torso's (and core's) output that the heads read, or None.

  A continuous action's head (`continuous.py`) gives its Gaussian parameters
  [B, T, 2A] as logits, actions [B, T, A] and Q [B, T] of the given action.
  """
  logits: dict
  action: dict
  value: Array | None
  q: dict | None = None
  embedding: Array | None = None


class Network(NamedTuple):
  """A network as pure functions (see the module docstring)."""
  init: Callable[[Array, NetworkInputs], PyTree]
  apply: Callable[..., tuple[NetworkOutputs, PyTree]]
  initial_state: Callable[[int], PyTree]


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  """The network's hyperparameters; their defaults live in the agents' configs.

  Attributes:
    mlp_sizes: the vector torso's layers; the last is the stream width.
    conv_channels: channels of the conv stages for planes.
    conv_blocks: residual blocks per conv stage.
    conv_downsample_above: a conv stage halves the map while its smaller side is
      above this (`torsos.ConvResNet`); runs written before the field read 4.
    entity_width, entity_layers, entity_heads: the unit-list transformer.
    core: 'none' or 'lstm'.
    core_size: LSTM width.
    head_hidden: hidden layers of each action head (empty: linear heads).
    pointer_heads: 'head:unit_list' pairs: the head chooses among the rows of that
      [U, F] observation leaf by scoring their embeddings.
    spatial_heads: 'head:planes' pairs: the head chooses among the H * W cells of that
      [H, W, C] observation leaf by scoring the conv torso's map at each cell.
    scatter_width: width of the unit embeddings scattered onto the planes before the
      conv torso (0: no scatter connection).
    value_head: whether the network has a value head. Agents that learn no value (BC)
      leave it out: its parameters would get no gradient yet still be decayed by
      AdamW, and cost a third of a small MLP's update.
    value_hidden: hidden layers of the value head.
    q_heads: give every action head Q-values beside its logits (value agents that
      learn Q: IQL, CQL).
    policy_from_q: the heads' logits are their Q-values (needs q_heads; CQL).
    use_prev_action: feed the previous action as an input.
    use_rating: feed the player's rating as an input (AlphaStar's MMR); a NaN
      rating (none known) reads as the offset.
    rating_offset, rating_scale: the rating input is (rating - offset) / scale.
  """
  mlp_sizes: tuple[int, ...]
  conv_channels: tuple[int, ...]
  conv_blocks: int
  entity_width: int
  entity_layers: int
  entity_heads: int
  core: str
  core_size: int
  head_hidden: tuple[int, ...]
  pointer_heads: tuple[str, ...]
  spatial_heads: tuple[str, ...]
  scatter_width: int
  value_head: bool
  value_hidden: tuple[int, ...]
  q_heads: bool
  policy_from_q: bool
  use_prev_action: bool
  use_rating: bool
  rating_offset: float
  rating_scale: float
  conv_downsample_above: int = 4

  @classmethod
  def from_mapping(cls, values: Mapping[str, Any]) -> NetworkConfig:
    values = dict(values)
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING}
    unknown, missing = set(values) - names, required - set(values)
    if unknown or missing:
      raise ValueError(f'Network config: unknown fields {sorted(unknown)}, missing '
                       f'fields {sorted(missing)}. Known fields: {sorted(names)}.')
    for name in ('mlp_sizes', 'conv_channels', 'head_hidden', 'value_hidden'):
      values[name] = tuple(int(v) for v in values[name])
    for name in ('pointer_heads', 'spatial_heads'):
      values[name] = tuple(str(v) for v in values[name])
      for pair in values[name]:
        if len(pair.split(':')) != 2:
          raise errors.ConfigError(f"Network config: {name} entries are 'head:leaf' "
                                   f'(e.g. unit:units), got {pair!r}.')
    if values['core'] not in ('none', 'lstm'):
      raise ValueError(f"Network config: core must be 'none' or 'lstm', got "
                       f"{values['core']!r}.")
    if values['policy_from_q'] and not values['q_heads']:
      raise ValueError('Network config: policy_from_q needs q_heads=True.')
    if not values['mlp_sizes']:
      raise ValueError('Network config: mlp_sizes needs at least one layer.')
    return cls(**values)


def _get(tree, path: str):
  for part in path.split('/'):
    tree = tree[part]
  return tree


class _ResettingLSTMStep(nn.Module):
  size: int

  @nn.compact
  def __call__(self, state, inputs):
    x, first = inputs  # [B, D], [B]
    state = jax.tree.map(lambda s: jnp.where(first[:, None], 0.0, s), state)
    return nn.OptimizedLSTMCell(self.size)(state, x)


class LSTMCore(nn.Module):
  """An LSTM over time that resets its state where `is_first`.

  x [B, T, D], is_first [B, T], state (c, h) [B, S] -> (y [B, T, S], state).
  """
  size: int

  @nn.compact
  def __call__(self, x, is_first, state):
    scan = nn.scan(_ResettingLSTMStep, variable_broadcast='params',
                   split_rngs={'params': False}, in_axes=1, out_axes=1)
    state, y = scan(self.size)(state, (x, is_first))
    return y, state


def encode(observation_shapes, action_spec, cfg: NetworkConfig, inputs: NetworkInputs,
           core_state, unit_positions=(), spatial_paths=()):
  """The torso (and memory core) of a network, called inside a Flax module's compact
  method, whose parameters it creates (the policy-value network's and MuZero's
  representation share it).

  Args:
    observation_shapes, action_spec: as `PolicyValueNet` holds them.
    cfg: NetworkConfig.
    inputs: NetworkInputs [B, T].
    core_state: the memory core's state.
    unit_positions: ((unit-list path, (x column, y column)), ...) to scatter onto the
      planes (AlphaStar's scatter connections).
    spatial_paths: the plane leaves whose per-cell features a spatial head reads.

  Returns:
    (x [B*T, D], core_state, embeddings {unit-list path: [B*T, U, E]},
     cells {plane path: [B*T, H*W, C]}).
  """
  batch, time = inputs.is_first.shape
  rows = batch * time
  flat = lambda x: x.reshape((rows,) + x.shape[2:])
  width = cfg.mlp_sizes[-1]
  leaves = {path: flat(_get(inputs.observation, path)).astype(jnp.float32)
            for path, _ in observation_shapes}
  vectors, streams, embeddings, cells = [], [], {}, {}
  # Unit lists first: their embeddings are scattered onto the planes.
  for path, shape in sorted(observation_shapes, key=lambda p: len(p[1]) != 2):
    x, label = leaves[path], path.replace('/', '_')
    if len(shape) <= 1:
      vectors.append(x.reshape(rows, -1))
    elif len(shape) == 2:
      pooled, embeddings[path] = torsos.EntityTransformer(
          cfg.entity_width, cfg.entity_layers, cfg.entity_heads, width,
          name=f'entities_{label}')(x)
      streams.append(pooled)
    elif len(shape) == 3:
      if unit_positions:
        x = jnp.concatenate(
            [x, _scatter(cfg, unit_positions, leaves, embeddings, shape)], axis=-1)
      vector, features = torsos.ConvResNet(
          cfg.conv_channels, cfg.conv_blocks, width, cfg.conv_downsample_above,
          name=f'planes_{label}')(x)
      streams.append(vector)
      if path in spatial_paths:
        cells[path] = torsos.SpatialDecoder(
            cfg.conv_channels[-1], name=f'cells_{label}')(features, x)
    else:
      raise ValueError(f'Observation {path!r} has shape {shape}: the networks '
                       'encode vectors [X], unit lists [U, F] and planes [H, W, C]; '
                       'reshape it to one of those in the environment adapter.')
  if cfg.use_rating:
    # No rating (NaN: a dataset without ratings) reads as the offset, the input that
    # evaluation without a rating gives: training and acting then agree.
    rating = inputs.rating.astype(jnp.float32)
    rating = jnp.where(jnp.isnan(rating), 0.0,
                       (rating - cfg.rating_offset) / cfg.rating_scale)
    vectors.append(rating.reshape(rows, 1))
  if cfg.use_prev_action:
    for name, leaf in action_spec:
      prev = flat(inputs.prev_action[name])
      vectors.append(prev.reshape(rows, -1).astype(jnp.float32)
                     if leaf.num_values is None else
                     jax.nn.one_hot(prev, leaf.num_values))
  if vectors:
    streams.insert(0, torsos.MLP(cfg.mlp_sizes, name='vector_mlp')(
        jnp.concatenate(vectors, axis=-1)))
  if len(streams) == 1:
    x = streams[0]
  else:
    x = nn.relu(dense.Dense(width, name='merge')(jnp.concatenate(streams, axis=-1)))
  if cfg.core == 'lstm':
    y, core_state = LSTMCore(cfg.core_size, name='core')(
        x.reshape(batch, time, -1), inputs.is_first, core_state)
    x = flat(y)
  return x, core_state, embeddings, cells


def _scatter(cfg: NetworkConfig, unit_positions, leaves, embeddings, shape):
  """[N, H, W, scatter_width]: every unit list's embeddings at its units' cells."""
  height, width = shape[:2]
  grids = []
  for path, (x_column, y_column) in unit_positions:
    units = leaves[path]
    projected = dense.Dense(cfg.scatter_width,
                            name=f'scatter_{path.replace("/", "_")}')(embeddings[path])
    grids.append(torsos.scatter(projected, units[..., x_column], units[..., y_column],
                                jnp.any(units != 0, axis=-1), height, width))
  return sum(grids)


class PolicyValueNet(nn.Module):
  """The Flax policy-value network (see the module docstring).

  Attributes:
    observation_shapes: ((path, shape), ...) of the observation leaves.
    action_spec: ((name, ArraySpec), ...) heads in autoregressive order.
    config: NetworkConfig.
    pointer_heads, spatial_heads: ((head, observation path), ...) that the spec has.
    unit_positions: ((unit-list path, (x column, y column)), ...) to scatter.
  """
  observation_shapes: tuple[tuple[str, tuple[int, ...]], ...]
  action_spec: tuple[tuple[str, specs.ArraySpec], ...]
  config: NetworkConfig
  pointer_heads: tuple[tuple[str, str], ...] = ()
  spatial_heads: tuple[tuple[str, str], ...] = ()
  unit_positions: tuple[tuple[str, tuple[int, int]], ...] = ()

  @nn.compact
  def __call__(self, inputs: NetworkInputs, core_state, key, actions=None,
               greedy: bool = False):
    cfg = self.config
    batch, time = inputs.is_first.shape
    flat = lambda x: x.reshape((batch * time,) + x.shape[2:])
    x, core_state, embeddings, cells = encode(
        self.observation_shapes, self.action_spec, cfg, inputs, core_state,
        self.unit_positions, tuple(path for _, path in self.spatial_heads))
    masks = (None if inputs.legal_action_mask is None else
             jax.tree.map(flat, inputs.legal_action_mask))
    head_args = (dict(self.action_spec), cfg.head_hidden, cfg.q_heads, cfg.policy_from_q)
    head_inputs = (x, masks, key,
                   None if actions is None else jax.tree.map(flat, actions), greedy)
    if continuous.is_continuous(dict(self.action_spec)):
      logits, chosen, q = continuous.GaussianHeads(*head_args, name='heads')(*head_inputs)
    else:
      items = {**{head: embeddings[path] for head, path in self.pointer_heads},
               **{head: cells[path] for head, path in self.spatial_heads}}
      logits, chosen, q = heads_lib.AutoregressiveHeads(*head_args, name='heads')(
          *head_inputs, items)
    unflat = lambda v: v.reshape((batch, time) + v.shape[1:])
    value = None
    if cfg.value_head:
      value = unflat(torsos.MLP(cfg.value_hidden + (1,), activate_final=False,
                                name='value')(x)[:, 0])
    outputs = NetworkOutputs(jax.tree.map(unflat, logits), jax.tree.map(unflat, chosen),
                             value, None if q is None else jax.tree.map(unflat, q),
                             unflat(x))
    return outputs, core_state


def _structure(spec: specs.EnvSpec, action_spec: Mapping[str, specs.ArraySpec],
               config: NetworkConfig):
  """The pointer heads, spatial heads and unit positions that `spec` has.

  Returns:
    (pointer_heads, spatial_heads, unit_positions) as `PolicyValueNet` takes them.
  """
  shapes = {path: leaf.shape for path, leaf in specs.flatten(spec.observation).items()}
  def pairs(entries, rank, size, kind):
    found = []
    for entry in entries:
      head, path = entry.split(':')
      if head not in action_spec or len(shapes.get(path, ())) != rank:
        continue
      if size(shapes[path]) != action_spec[head].num_values:
        raise errors.ConfigError(
            f'Network config: {kind} {entry!r}: head {head!r} has '
            f'{action_spec[head].num_values} values but {path!r} {list(shapes[path])} '
            f'has {size(shapes[path])}; name a head and leaf of the same size.')
      found.append((head, path))
    return tuple(found)
  pointer_heads = pairs(config.pointer_heads, 2, lambda s: s[0], 'pointer head')
  spatial_heads = pairs(config.spatial_heads, 3, lambda s: s[0] * s[1], 'spatial head')
  columns = list(spec.params.get('unit_features', ()))
  unit_positions = ()
  if (config.scatter_width and {'x', 'y'} <= set(columns)
      and any(len(s) == 3 for s in shapes.values())):
    unit_positions = tuple(
        (path, (columns.index('x'), columns.index('y'))) for path, s in shapes.items()
        if len(s) == 2 and s[1] == len(columns))
  return pointer_heads, spatial_heads, unit_positions


def initial_core_state(config: NetworkConfig, batch_size: int):
  """The memory core's state at an episode's start: (c, h) [B, S] each, or ()."""
  if config.core == 'lstm':
    zeros = jnp.zeros((batch_size, config.core_size), jnp.float32)
    return (zeros, zeros)
  return ()


def make_network(spec: specs.EnvSpec, config: NetworkConfig | Mapping[str, Any]
                 ) -> Network:
  """Builds the Flax network for `spec` (see the module docstring)."""
  if not isinstance(config, NetworkConfig):
    config = NetworkConfig.from_mapping(config)
  action_spec = heads_lib.ordered_action_spec(spec.action, spec.legal_action_mask)
  if continuous.is_continuous(action_spec):
    continuous.check_action_spec(action_spec)
  else:
    heads_lib.check_action_spec(action_spec, spec.legal_action_mask)
  observation_shapes = tuple(
      (path, leaf.shape) for path, leaf in specs.flatten(spec.observation).items())
  module = PolicyValueNet(observation_shapes, tuple(action_spec.items()), config,
                          *_structure(spec, action_spec, config))

  initial_state = functools.partial(initial_core_state, config)

  @jax.jit
  def init(key, inputs: NetworkInputs):
    batch = inputs.is_first.shape[0]
    return module.init(key, inputs, initial_state(batch), jax.random.key(0))

  def apply(params, inputs, core_state, key, actions=None, greedy=False):
    return module.apply(params, inputs, core_state, key, actions, greedy)

  return Network(init, apply, initial_state)


def from_haiku(transformed, initial_state: Callable[[int], PyTree] = lambda b: ()
               ) -> Network:
  """Wraps a Haiku network into the `Network` interface.

  Args:
    transformed: `hk.transform(fn)` of `fn(inputs, core_state, actions=None,
      greedy=False) -> (NetworkOutputs, core_state)`; sampling draws from
      `hk.next_rng_key()`. `offline_rl.networks.heads` has the mask helpers.
    initial_state: batch_size -> the core state (default: no memory).
  """
  def init(key, inputs):
    return transformed.init(key, inputs, initial_state(inputs.is_first.shape[0]))

  def apply(params, inputs, core_state, key, actions=None, greedy=False):
    return transformed.apply(params, key, inputs, core_state, actions, greedy)

  return Network(init, apply, initial_state)


def dummy_inputs(spec: specs.EnvSpec, batch_size: int = 1, time: int = 1
                 ) -> NetworkInputs:
  """Zero inputs [B, T, ...] shaped by the spec and no rating (NaN), for
  `Network.init` and for reading the network without a rating."""
  shape = (batch_size, time)
  def zeros(tree):
    if isinstance(tree, specs.ArraySpec):
      return jnp.zeros(shape + tree.shape, tree.dtype)
    return {k: zeros(v) for k, v in tree.items()}
  mask = (None if spec.legal_action_mask is None else
          jax.tree.map(lambda s: jnp.ones(shape + s.shape, bool),
                       dict(spec.legal_action_mask),
                       is_leaf=lambda x: isinstance(x, specs.ArraySpec)))
  prev_action = {name: jnp.zeros(shape, jnp.int32) if leaf.num_values is not None
                 else jnp.zeros(shape + leaf.shape, jnp.float32)
                 for name, leaf in spec.action.items()}
  return NetworkInputs(zeros(dict(spec.observation)), mask, prev_action,
                       jnp.ones(shape, bool), jnp.full(shape, jnp.nan, jnp.float32))


def num_parameters(params) -> int:
  """The number of scalars in a parameter tree."""
  return int(sum(np.size(x) for x in jax.tree.leaves(params)))
