"""Dense layers whose kernel gradient XLA:CPU computes as a plain GEMM.

The kernel gradient of y = x @ W is x.T @ g, a dot that contracts the rows of both
operands, which XLA:CPU runs in a slow generic kernel. A kernel whose output is
narrow (< a quarter of its input) gets it as (g.T @ x).T instead: 6 us against 39 us
for 256x4 at batch 100. Other kernels materialise x.T first, so that the dot is a
plain GEMM: BC's update at batch 256 on two cores ran 7% faster, and the same on one
core. The optimisation barriers keep XLA from folding the transposes back. Values
and gradients are those of `nn.Dense` (tests/test_networks.py); docs/learner.md has
the measurements.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax


@jax.custom_vjp
def matmul(x, kernel):
  """x [N, D] @ kernel [D, F] -> [N, F]."""
  return x @ kernel


def _matmul_fwd(x, kernel):
  return x @ kernel, (x, kernel)


def _matmul_bwd(residuals, g):
  x, kernel = residuals
  d, f = kernel.shape
  if 4 * f < d:
    kernel_grad = jax.lax.optimization_barrier(g.T @ x).T
  else:
    kernel_grad = jax.lax.optimization_barrier(x.T) @ g
  return g @ kernel.T, kernel_grad


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def dot_general(x, kernel, dimension_numbers, precision=None,
                preferred_element_type=None):
  """`nn.Dense`'s contraction (x's last axis with the kernel's first) via `matmul`.

  Only on XLA:CPU, where it was measured, and only for the default precision: on
  other backends, or with `precision` / `preferred_element_type` set, it is
  `jax.lax.dot_general` as in `nn.Dense`. (`matmul` has a custom VJP, so forward-mode
  autodiff through it is unsupported on CPU; no loss of the project uses it.)
  """
  if (jax.default_backend() != 'cpu' or precision is not None or
      preferred_element_type is not None):
    return jax.lax.dot_general(x, kernel, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type)
  if dimension_numbers != (((x.ndim - 1,), (0,)), ((), ())) or kernel.ndim != 2:
    raise ValueError(f'dense.dot_general contracts x [..., D] with a kernel [D, F]; '
                     f'got {dimension_numbers} for shapes {x.shape}, {kernel.shape}.')
  y = matmul(x.reshape(-1, x.shape[-1]), kernel)
  return y.reshape(x.shape[:-1] + kernel.shape[1:])


# Parameter names stay those of nn.Dense ('Dense_0', ...).
Dense = functools.partial(nn.Dense, dot_general=dot_general)
