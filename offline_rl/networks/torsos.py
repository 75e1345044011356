"""Encoders for the three observation kinds: vectors, spatial planes and unit lists.

Letters: N rows (batch and time flattened), H, W, C planes, U units, F unit features,
D embedding width.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from offline_rl.networks import conv
from offline_rl.networks import dense


class MLP(nn.Module):
  """Dense layers with ReLU. [N, X] -> [N, sizes[-1]].

  Attributes:
    sizes: widths of the hidden layers, in order.
    activate_final: apply the activation after the last layer too.
  """
  sizes: Sequence[int]
  activate_final: bool = True

  @nn.compact
  def __call__(self, x):
    for i, size in enumerate(self.sizes):
      x = dense.Dense(size)(x)
      if i < len(self.sizes) - 1 or self.activate_final:
        x = nn.relu(x)
    return x


class ResidualBlock(nn.Module):
  """Two 3x3 convolutions with a skip connection (pre-activation). [N, H, W, C]."""

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    y = nn.relu(x)
    y = conv.Conv(channels, (3, 3))(y)
    y = nn.relu(y)
    y = conv.Conv(channels, (3, 3))(y)
    return x + y


class ConvResNet(nn.Module):
  """Strided convolutions then residual blocks, flattened to a vector.

  [N, H, W, C] -> ([N, output_size], feature map [N, h, w, channels[-1]]). Each stage
  halves H and W (stride 2) while the map's smaller side is above `downsample_above`,
  as AlphaStar's spatial encoder does on large maps; the feature map feeds the spatial
  heads (`SpatialDecoder`).

  Attributes:
    channels: output channels of each stage.
    blocks_per_stage: residual blocks after each stage.
    output_size: width of the final dense projection.
    downsample_above: a stage strides by 2 while min(H, W) is above this. A board
      game's few cells each matter (connect_four's 6x7 would be cut to 3x4 at 4,
      before any layer sees a line of four): set it to the board's side to keep them.
  """
  channels: Sequence[int] = (32, 32)
  blocks_per_stage: int = 1
  output_size: int = 256
  downsample_above: int = 4

  @nn.compact
  def __call__(self, x):
    for channels in self.channels:
      stride = 2 if min(x.shape[-3], x.shape[-2]) > self.downsample_above else 1
      x = conv.Conv(channels, (3, 3), strides=(stride, stride))(x)
      for _ in range(self.blocks_per_stage):
        x = ResidualBlock()(x)
    x = nn.relu(x)
    vector = nn.relu(dense.Dense(self.output_size)(x.reshape(x.shape[:-3] + (-1,))))
    return vector, x


class SpatialDecoder(nn.Module):
  """The encoder's map back at the planes' resolution, one feature vector per cell.

  AlphaStar's deconvolution for target locations: the coarse map [N, h, w, C] is
  resized to [N, H, W, C] and convolved, and a 1x1 convolution of the input planes
  [N, H, W, K] adds back the detail the strides lost. -> [N, H * W, width], cells in
  row-major order (cell = y * W + x).
  """
  width: int

  @nn.compact
  def __call__(self, features, planes):
    shape = planes.shape[:-1] + features.shape[-1:]
    x = jax.image.resize(features, shape, 'nearest')
    x = conv.Conv(self.width, (3, 3))(x) + conv.Conv(self.width, (1, 1))(planes)
    return nn.relu(x).reshape(shape[:-3] + (-1, self.width))


def scatter(embeddings, x, y, present, height: int, width: int):
  """Adds each present unit's embedding into its cell (AlphaStar's scatter connection).

  Args:
    embeddings: [N, U, E].
    x, y: [N, U] float, the unit's column and row as fractions of the map size.
    present: [N, U] bool; absent units scatter nothing.
    height, width: H, W of the map.

  Returns:
    [N, H, W, E]: the sum of the embeddings of the units in each cell.
  """
  column = jnp.clip(jnp.round(x * width), 0, width - 1).astype(jnp.int32)
  row = jnp.clip(jnp.round(y * height), 0, height - 1).astype(jnp.int32)
  cells = jax.nn.one_hot(row * width + column, height * width) * present[..., None]
  grid = jnp.einsum('nuc,nue->nce', cells, embeddings)
  return grid.reshape(grid.shape[:1] + (height, width, -1))


class EntityTransformer(nn.Module):
  """A transformer over a padded unit list, pooled into one vector (AlphaStar).

  Rows whose features are all zero are padding: they are neither attended to nor
  pooled. [N, U, F] -> ([N, output_size], unit embeddings [N, U, D]).

  Attributes:
    width: D, the per-unit embedding width.
    num_layers: transformer layers.
    num_heads: attention heads (must divide `width`).
    output_size: width of the pooled vector.
  """
  width: int = 64
  num_layers: int = 1
  num_heads: int = 2
  output_size: int = 256

  @nn.compact
  def __call__(self, units):
    present = jnp.any(units != 0, axis=-1)  # [N, U]
    x = dense.Dense(self.width)(units)
    attention_mask = present[:, None, None, :]  # [N, 1, 1(query), U(key)]
    for _ in range(self.num_layers):
      y = nn.LayerNorm()(x)
      y = nn.MultiHeadDotProductAttention(num_heads=self.num_heads)(
          y, y, mask=attention_mask)
      x = x + y
      y = nn.LayerNorm()(x)
      y = dense.Dense(self.width)(nn.relu(dense.Dense(2 * self.width)(y)))
      x = x + y
    x = jnp.where(present[..., None], x, 0.0)
    count = jnp.maximum(present.sum(-1, keepdims=True), 1).astype(x.dtype)
    pooled = x.sum(-2) / count  # [N, D]
    return nn.relu(dense.Dense(self.output_size)(pooled)), x
