"""2-D convolutions whose gradients are GEMMs over image patches (im2col), for XLA:CPU.

XLA:CPU runs a convolution's kernel gradient, and the input gradient of a 3x3
convolution, in a slow generic loop: in the structured Skirmish network's update
(batch 128, 8x8 map) the kernel gradient of the spatial decoder's 3x3 convolution of
16 channels took 75-100 ms of a 185 ms update (docs/learner.md). `conv2d` keeps XLA's
convolution for the forward pass, which is fast, and takes the backward pass of
`patches [N*H'*W', kh*kw*C] @ kernel [kh*kw*C, F]` through `dense.matmul`: both
gradients are plain GEMMs, and the patches' own gradient is a sum of padded slices
that XLA fuses. The maths and the parameters are `nn.Conv`'s (tests/test_networks.py
checks values and gradients); only the order of the floating-point sums differs.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from offline_rl.networks import dense


def patches(x, kernel_size, strides, padding):
  """The receptive field of every output cell, flattened.

  Args:
    x: [N, H, W, C].
    kernel_size: (kh, kw).
    strides: (sh, sw).
    padding: ((top, bottom), (left, right)) zeros added around the map.

  Returns:
    [N, H', W', kh * kw * C], ordered (row offset, column offset, channel) like a
    kernel [kh, kw, C, F] reshaped to [kh * kw * C, F].
  """
  (kh, kw), (sh, sw) = kernel_size, strides
  x = jnp.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),))
  height = (x.shape[1] - kh) // sh + 1
  width = (x.shape[2] - kw) // sw + 1
  if (kh, kw, sh, sw) == (1, 1, 1, 1):
    return x
  return jnp.concatenate(
      [x[:, i:i + sh * (height - 1) + 1:sh, j:j + sw * (width - 1) + 1:sw]
       for i in range(kh) for j in range(kw)], axis=-1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x, kernel, strides, padding):
  """x [N, H, W, C] * kernel [kh, kw, C, F] -> [N, H', W', F], `nn.Conv`'s maths.

  The forward pass is XLA's convolution (fast on XLA:CPU); the backward pass is the
  GEMMs of `dense.matmul` over `patches`. strides (sh, sw); padding as `patches`.
  """
  return jax.lax.conv_general_dilated(x, kernel, strides, padding,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _conv2d_fwd(x, kernel, strides, padding):
  return conv2d(x, kernel, strides, padding), (x, kernel)


def _conv2d_bwd(strides, padding, residuals, g):
  x, kernel = residuals
  columns, unpatch = jax.vjp(
      lambda x: patches(x, kernel.shape[:2], strides, padding), x)
  _, pullback = jax.vjp(dense.matmul, columns.reshape(-1, columns.shape[-1]),
                        kernel.reshape(-1, kernel.shape[-1]))
  columns_grad, kernel_grad = pullback(g.reshape(-1, g.shape[-1]))
  x_grad, = unpatch(columns_grad.reshape(columns.shape))
  return x_grad, kernel_grad.reshape(kernel.shape)


conv2d.defvjp(_conv2d_fwd, _conv2d_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None,
                         preferred_element_type=None):
  """`nn.Conv`'s 2-D convolution (lhs [N, H, W, C], rhs [kh, kw, C, F]) via `conv2d`.

  Only on XLA:CPU, where it was measured, and only for what the project's torsos use
  (no dilation, one feature group, default precision); otherwise it is
  `jax.lax.conv_general_dilated`, as in `nn.Conv`. (`conv2d` has a custom VJP, so
  forward-mode autodiff through it is unsupported on CPU; no loss uses it.)
  """
  plain = all(d in (None, 1) or set(d) == {1} for d in (lhs_dilation, rhs_dilation))
  if (jax.default_backend() != 'cpu' or not plain or feature_group_count != 1 or
      precision is not None or preferred_element_type is not None):
    return jax.lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
  if lhs.ndim != 4 or tuple(dimension_numbers) != ((0, 3, 1, 2), (3, 2, 0, 1),
                                                   (0, 3, 1, 2)):
    raise ValueError(f'conv.conv_general_dilated takes 2-D maps [N, H, W, C] and '
                     f'kernels [kh, kw, C, F]; got {dimension_numbers} for shapes '
                     f'{lhs.shape}, {rhs.shape}.')
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides,
                                      padding)
  return conv2d(lhs, rhs, tuple(window_strides), tuple(map(tuple, padding)))


# Parameter names stay those of nn.Conv ('Conv_0', ...).
Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)
