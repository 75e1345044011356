"""offline_rl: offline reinforcement learning research platform (JAX)."""
import setuptools

# The top-level folders agents/, datasets/, environments/ and experiments/ install as
# subpackages of offline_rl: their bare names collide with popular PyPI packages (see
# docs/ARCHITECTURE.md), and an installed package needs the recipes `offline-rl demo` runs.
_MAPPED = {'agents': 'agents', 'datasets': 'datasets', 'environments': 'environments',
           'experiments': 'experiments'}


def _packages():
  packages = setuptools.find_packages(include=['offline_rl', 'offline_rl.*'])
  for name, folder in _MAPPED.items():
    packages.append(f'offline_rl.{name}')
    packages += [f'offline_rl.{name}.{sub}' for sub in setuptools.find_packages(folder)]
  return packages


setuptools.setup(
    name='offline_rl',
    version='0.1.0',
    description='Offline RL research platform: RLDS data, BC / value / MuZero agents, '
    'a built-in strategy game, tournaments and Elo.',
    python_requires='>=3.11,<3.14',
    packages=_packages(),
    package_dir={f'offline_rl.{name}': folder for name, folder in _MAPPED.items()},
    package_data={'': ['*.html', '*.js', '*.css', '*.json']},
    install_requires=[
        'jax>=0.10,<0.11',
        'flax>=0.12,<0.13',
        'optax>=0.2.8,<0.3',
        'chex>=0.1.90',
        'dm-haiku>=0.0.17,<0.1',
        'mctx>=0.0.71,<0.1',
        'orbax-checkpoint>=0.12,<0.13',
        'ml-collections>=1.1,<2',
        'absl-py>=2.1,<3',
        'tensorflow>=2.21,<2.22',
        'tf-keras>=2.21,<2.22',
        'tensorflow-datasets==4.9.10',
        'rlds==0.1.8',
        'array_record>=0.8,<0.9',
        'importlib_resources',
        'gymnasium>=1.4,<1.5',
        'pettingzoo[classic]>=1.27,<1.28',
        'pgx>=2.6,<2.7',
        'open_spiel>=2.0.2,<2.1',
        'minatar>=1.0.15,<1.1',
        'Box2D>=2.3.10,<2.4',  # gymnasium's LunarLander; a manylinux wheel, no swig.
        'minari>=0.5.4,<0.6',
        'h5py>=3.10',
        'numpy>=2.0,<2.5',
        'matplotlib>=3.8',
        'rich>=13',
        'tensorboard',
    ],
    # dm-env: envlogger's dependency (the Makefile installs envlogger without its pins).
    # cuda: NVIDIA GPUs through JAX's CUDA 12 plugin and its pip-installed CUDA
    # libraries, pinned by jax[cuda12] to the installed jax's version (docs/scaling.md).
    extras_require={'test': ['pytest>=8', 'pytest-xdist>=3.5', 'dm-env>=1.6,<2'],
                    'cuda': ['jax[cuda12]>=0.10,<0.11']},
    entry_points={
        'console_scripts': ['offline-rl=offline_rl.cli:run'],
        # The shipped agents; another package declares its own in the same group.
        'offline_rl.agents': [
            'bc=offline_rl.agents.bc:BC',
            'ftbc=offline_rl.agents.bc:FTBC',
            'oac=offline_rl.agents.oac:OAC',
            'eoac=offline_rl.agents.oac:EOAC',
            'iql=offline_rl.agents.iql:IQL',
            'cql=offline_rl.agents.cql:CQL',
            'mzs=offline_rl.agents.muzero:MZS',
            'mzs_mcts=offline_rl.agents.muzero:MZS_MCTS',
        ],
    },
)
