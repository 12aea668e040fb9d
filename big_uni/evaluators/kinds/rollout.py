"""A policy played in its environment: the task's `action_logits` choose one action per step of
`episodes` episodes, for each target return of a return-conditioned model (the Decision
Transformer), or once for a model without returns (behaviour cloning).

  config.evals.rollout = dict(kind='rollout', targets=(100, 250, 500), episodes=10)

As the paper evaluates: the first return-to-go is the target, and each reward is subtracted from
it for the next step; the model reads the last K = input.context_length steps (fewer at the
start, padded after them: the causal mask hides the padding). Actions are drawn from the
softmax of the logits (the paper's Atari evaluation), or the argmax with sample=False. Episode i
starts from reset seed `seed` + i, the same for every target. Env steps are Python calls, the
model one jitted forward of [episodes, K] windows per step (a few ms at K = 20).

Metrics: 'target_<R>_return_mean' and '_return_std' per target (without returns: 'return_mean',
'return_std'), and beside them the returns of the training split's episodes, which the policy
learnt from: 'data_return_mean', 'data_return_max', 'data_epsilon_<e>_return_mean' per policy.
"""
import functools

import jax
import numpy as np

from big_uni import errors
from big_uni.evaluators import registry
from input_pipeline import trajectories


def _choose(logits: np.ndarray, sample: bool, rng: np.random.Generator) -> np.ndarray:
  """logits [N, A] -> actions int [N]: drawn from their softmax, or the argmax."""
  if not sample:
    return logits.argmax(-1)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  cumulative = np.cumsum(probs / probs.sum(-1, keepdims=True), axis=-1)
  return np.minimum((cumulative < rng.random((len(logits), 1))).sum(-1), logits.shape[-1] - 1)


def play(act, env_name: str, *, episodes: int, context_length: int, target: float = 0.0,
         seed: int = 0, sample: bool = False, rng: np.random.Generator | None = None):
  """The returns float [episodes] of `act` playing `episodes` episodes of `env_name` side by side.

  act(returns_to_go float32 [N, K], states float32 [N, K, S], actions int32 [N, K], timesteps
  int32 [N, K]) -> logits [N, K, A] (N = episodes, K = context_length), each step's from the
  steps up to it. At step t the window holds steps max(0, t - K + 1) onwards, step t's action
  still 0 and the steps after it zeros; the returns-to-go start at `target` and lose each
  reward.
  """
  envs = [trajectories.make_env(env_name) for _ in range(episodes)]
  horizon = envs[0].spec.max_episode_steps
  if horizon < context_length:
    raise ValueError(f'episodes of {horizon} steps are shorter than the context of '
                     f'{context_length}')
  states = np.zeros((episodes, horizon, *envs[0].observation_space.shape), np.float32)
  actions = np.zeros((episodes, horizon), np.int32)
  returns_to_go = np.full((episodes, horizon), target, np.float32)
  returns, done = np.zeros(episodes), np.zeros(episodes, bool)
  for i, env in enumerate(envs):
    states[i, 0] = env.reset(seed=seed + i)[0]
  for t in range(horizon):
    start = max(0, t - context_length + 1)
    window = slice(start, start + context_length)
    timesteps = np.broadcast_to(np.arange(start, start + context_length, dtype=np.int32),
                                (episodes, context_length))
    logits = np.asarray(act(returns_to_go[:, window], states[:, window], actions[:, window],
                            timesteps))[:, t - start]
    actions[:, t] = _choose(logits, sample, rng)
    for i in np.flatnonzero(~done):
      state, reward, terminated, truncated, _ = envs[i].step(int(actions[i, t]))
      returns[i] += reward
      done[i] = terminated or truncated
      if not done[i]:
        states[i, t + 1] = state
        returns_to_go[i, t + 1] = returns_to_go[i, t] - reward
    if done.all():
      break
  for env in envs:
    env.close()
  return returns


@registry.register
class Rollout(registry.Evaluator):
  kind = 'rollout'

  def __init__(self):
    self._compiled = {}  # task -> its jitted action_logits: compiled once per run.

  def input_kind(self, config, task):
    return config.input.kind  # The environment and data the task trains on.

  def feature_problem(self, task, task_name):
    if not task.acts:
      return f'rollout needs a task that chooses actions; the {task_name} task does not'
    return None

  def _act(self, task, params):
    if task not in self._compiled:
      self._compiled[task] = jax.jit(task.action_logits)
    return functools.partial(self._compiled[task], params)

  def __call__(self, features, entry):
    trainer, task = features.trainer, features.trainer.task
    config = trainer.config
    horizon = trajectories.make_env(entry.dataset).spec.max_episode_steps
    if horizon > config.model.max_timestep:
      raise errors.UserInputError(
          f'{entry.dataset} episodes run {horizon} steps but the model embeds timesteps up to '
          f'{config.model.max_timestep}: set model.max_timestep={horizon}')
    play_episodes = functools.partial(
        play, self._act(task, features.params), entry.dataset, episodes=entry.episodes,
        context_length=config.input.context_length, seed=entry.seed, sample=entry.sample)
    metrics = {}
    with trainer.context():
      for target in entry.targets if task.return_conditioned else (None,):
        returns = play_episodes(target=target or 0.0,
                                rng=np.random.default_rng([entry.seed, int(target or 0)]))
        name = 'return' if target is None else f'target_{target:g}_return'
        metrics.update({f'{name}_mean': float(returns.mean()),
                        f'{name}_std': float(returns.std())})
        print(f'  {name}s: {returns.astype(int).tolist()}', flush=True)
    data = trajectories.return_summary(self.input_config(config, task, entry),
                                       config.input.train_split)
    return {**metrics, **{f'data_{name}': value for name, value in data.items()}}
