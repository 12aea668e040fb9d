"""Offline trajectories of a control task (input.kind='trajectories'), for the Decision
Transformer (Chen et al. 2021): windows of K consecutive timesteps of recorded episodes.

The episodes are generated here, in a gymnasium environment, by a scripted controller and noisy
versions of it: each policy of `input.epsilons` takes a uniformly random action with that
probability and the controller's otherwise, so the data spans returns from the controller's down
to a random policy's. Every episode is a pure function of (generation_seed, split, policy,
episode): its reset seed and its random actions come from one numpy SeedSequence of the four,
and the environments' dynamics are deterministic. A split is generated once per process
(CartPole: about 60k steps in a few seconds).

Example i of a split is the window starting at its step i (steps of every episode concatenated,
so windows are drawn uniformly over timesteps, as the paper's sampler does): steps i .. i + K - 1,
cut at the end of i's episode and padded at the end (step_mask False), so a causal model's real
positions never see the padding. The batch at step s is a pure function of (seed, s)
(sampling.py), so restarts are exact.

input_config fields: dataset (a gymnasium environment of CONTROLLERS: 'CartPole-v1'),
train_split, eval_split ('train', 'validation'), context_length (K), epsilons, train_episodes and
validation_episodes (per policy), generation_seed.
"""
import dataclasses
from typing import Callable

import numpy as np

from input_pipeline import config_schema, errors, sampling

SPLITS = ('train', 'validation')
_GENERATED = {}  # (dataset, epsilons, episodes, generation_seed, split) -> Episodes.


def cartpole_controller(state: np.ndarray) -> int:
  """Push towards the side the pole falls to: 1 (right) when angle + 0.5 * angular velocity > 0.
  On CartPole-v1 it holds the pole for all 500 steps from every start."""
  return int(state[2] + 0.5 * state[3] > 0)


# Environment -> its scripted controller (state -> action).
CONTROLLERS: dict[str, Callable[[np.ndarray], int]] = {'CartPole-v1': cartpole_controller}


def make_env(name: str):
  """The gymnasium environment `name` (one of CONTROLLERS), with its time limit."""
  if name not in CONTROLLERS:
    raise errors.UserInputError(f'no scripted controller for environment {name!r}: use one of '
                                f'{sorted(CONTROLLERS)}')
  import gymnasium  # pylint: disable=g-import-not-at-top
  return gymnasium.make(name)


@dataclasses.dataclass(frozen=True)
class Episodes:
  """Every step of E episodes, concatenated (T steps in all, S state dimensions)."""
  states: np.ndarray  # float32 [T, S]: the observation each action was taken in.
  actions: np.ndarray  # int32 [T]
  rewards: np.ndarray  # float32 [T]
  returns_to_go: np.ndarray  # float32 [T]: the rewards from this step to the episode's end.
  timesteps: np.ndarray  # int32 [T]: the step's index in its episode.
  episode_ends: np.ndarray  # int64 [T]: one past the last step of the step's episode.
  returns: np.ndarray  # float32 [E]: each episode's return.
  policies: np.ndarray  # int32 [E]: the index in `epsilons` of the policy that played it.


def returns_to_go(rewards: np.ndarray) -> np.ndarray:
  """float [T] rewards of one episode -> [T]: R_t = r_t + r_{t+1} + ... + r_{T-1}."""
  return np.cumsum(rewards[::-1])[::-1].astype(np.float32)


def play_episode(env, controller, epsilon: float, seed_sequence: np.random.SeedSequence):
  """One episode of the controller with epsilon-random actions -> (states float32 [T, S],
  actions int32 [T], rewards float32 [T])."""
  reset_seed, action_seed = seed_sequence.spawn(2)
  rng = np.random.default_rng(action_seed)
  state, _ = env.reset(seed=int(reset_seed.generate_state(1)[0]))
  states, actions, rewards = [], [], []
  done = False
  while not done:
    action = controller(state)
    if rng.random() < epsilon:
      action = int(rng.integers(env.action_space.n))
    states.append(state)
    actions.append(action)
    state, reward, terminated, truncated, _ = env.step(action)
    rewards.append(reward)
    done = terminated or truncated
  return (np.asarray(states, np.float32), np.asarray(actions, np.int32),
          np.asarray(rewards, np.float32))


def generate(dataset: str, epsilons, episodes: int, generation_seed: int,
             split: str) -> Episodes:
  """`episodes` episodes of each policy of `epsilons` in environment `dataset`."""
  env, controller = make_env(dataset), CONTROLLERS[dataset]
  played, policies = [], []
  for policy, epsilon in enumerate(epsilons):
    for episode in range(episodes):
      seeds = np.random.SeedSequence([generation_seed, SPLITS.index(split), policy, episode])
      played.append(play_episode(env, controller, epsilon, seeds))
      policies.append(policy)
  env.close()
  lengths = np.array([len(actions) for _, actions, _ in played])
  return Episodes(
      states=np.concatenate([states for states, _, _ in played]),
      actions=np.concatenate([actions for _, actions, _ in played]),
      rewards=np.concatenate([rewards for _, _, rewards in played]),
      returns_to_go=np.concatenate([returns_to_go(rewards) for _, _, rewards in played]),
      timesteps=np.concatenate([np.arange(n, dtype=np.int32) for n in lengths]),
      episode_ends=np.repeat(np.cumsum(lengths), lengths),
      returns=np.array([rewards.sum() for _, _, rewards in played], np.float32),
      policies=np.array(policies, np.int32))


def episodes(input_config, split: str) -> Episodes:
  """The episodes of `split`, generated once per process."""
  c = config_schema.completed(input_config, config_schema.INPUT)
  if split not in SPLITS:
    raise errors.UserInputError(f'trajectories split {split!r}: use one of {SPLITS}')
  count = c.train_episodes if split == 'train' else c.validation_episodes
  key = (c.dataset, tuple(c.epsilons), count, c.generation_seed, split)
  if key not in _GENERATED:
    _GENERATED[key] = generate(c.dataset, tuple(c.epsilons), count, c.generation_seed, split)
  return _GENERATED[key]


def windows(data: Episodes, starts: np.ndarray, context_length: int) -> dict:
  """The windows of K = context_length steps starting at steps `starts` int [B]:
  returns_to_go float32 [B, K], states float32 [B, K, S], actions int32 [B, K], timesteps int32
  [B, K], step_mask bool [B, K] (False past the end of the start's episode; those steps are
  zeros)."""
  steps = starts[:, None] + np.arange(context_length)
  step_mask = steps < data.episode_ends[starts][:, None]
  steps = np.where(step_mask, steps, 0)

  def gather(values):
    mask = step_mask.reshape(*step_mask.shape, *[1] * (values.ndim - 1))
    return np.where(mask, values[steps], 0).astype(values.dtype)

  return {'returns_to_go': gather(data.returns_to_go), 'states': gather(data.states),
          'actions': gather(data.actions), 'timesteps': gather(data.timesteps),
          'step_mask': step_mask}


def get_iterator(input_config, split: str, *, train: bool, global_batch_size: int, seed: int,
                 start_step: int = 0, num_steps: int | None = None, process_index: int = 0,
                 process_count: int = 1):
  """Yields this process's rows of each global batch (B = global_batch_size // process_count),
  the windows of `windows`. train=True: endless (or `num_steps` batches) from `start_step`,
  epoch e a permutation of the split's steps seeded by (seed, e). train=False: every window in
  order, padded, with a 'mask' bool [B]."""
  context_length = config_schema.completed(input_config, config_schema.INPUT).context_length
  data = episodes(input_config, split)
  return sampling.batches(
      len(data.actions), lambda rows: windows(data, rows, context_length), train=train,
      seed=seed, start_step=start_step, num_steps=num_steps,
      global_batch_size=global_batch_size, process_index=process_index,
      process_count=process_count)


def num_examples(input_config, split: str) -> int:
  return len(episodes(input_config, split).actions)


def class_names(input_config) -> None:
  del input_config
  return None


def return_summary(input_config, split: str = 'train') -> dict[str, float]:
  """The returns of the split's episodes: mean and max of all, and each policy's mean
  ('epsilon_0.25_return_mean')."""
  data = episodes(input_config, split)
  epsilons = config_schema.completed(input_config, config_schema.INPUT).epsilons
  summary = {'return_mean': float(data.returns.mean()), 'return_max': float(data.returns.max())}
  for policy, epsilon in enumerate(epsilons):
    summary[f'epsilon_{epsilon:g}_return_mean'] = float(
        data.returns[data.policies == policy].mean())
  return summary
