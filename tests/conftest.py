import os
import subprocess
import sys
import textwrap

import pytest

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


@pytest.fixture
def run_python():
  """`run(script) -> stdout`: runs `script` in a fresh Python and asserts it succeeded.

  For what JAX fixes at its first computation (devices, XLA's thread pools)."""
  def run(script: str, timeout: int = 300) -> str:
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(script)],
                            capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, JAX_PLATFORMS='cpu'))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
  return run
