"""CartPole trajectories: deterministic generation, returns-to-go, windows cut at episode ends."""
import ml_collections
import numpy as np

from input_pipeline import trajectories

EPSILONS = (0.0, 1.0)


def _input(**fields):
  return ml_collections.ConfigDict(dict(
      kind='trajectories', dataset='CartPole-v1', train_split='train', eval_split='validation',
      batch_size=8, context_length=6, epsilons=EPSILONS, train_episodes=2,
      validation_episodes=1, **fields))


def test_generation_is_a_function_of_its_seeds():
  first = trajectories.generate('CartPole-v1', EPSILONS, 2, 0, 'train')
  again = trajectories.generate('CartPole-v1', EPSILONS, 2, 0, 'train')
  for name in ('states', 'actions', 'rewards', 'returns'):
    np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
  other_seed = trajectories.generate('CartPole-v1', EPSILONS, 2, 1, 'train')
  other_split = trajectories.generate('CartPole-v1', EPSILONS, 2, 0, 'validation')
  assert not np.array_equal(first.states[:5], other_seed.states[:5])
  assert not np.array_equal(first.states[:5], other_split.states[:5])


def test_the_scripted_controller_holds_the_pole_and_random_actions_drop_it():
  data = trajectories.episodes(_input(), 'train')
  assert data.policies.tolist() == [0, 0, 1, 1]
  assert data.returns[:2].tolist() == [500.0, 500.0]  # The time limit.
  assert data.returns[2:].max() < 200


def test_returns_to_go_sum_the_rewards_from_each_step_on():
  rewards = np.array([1.0, 0.5, 2.0, -1.0])
  np.testing.assert_array_equal(trajectories.returns_to_go(rewards), [2.5, 1.5, 1.0, -1.0])
  data = trajectories.episodes(_input(), 'train')
  ends = np.flatnonzero(data.timesteps == 0)[1:]
  for episode, (states, rtg, steps) in enumerate(zip(
      np.split(data.states, ends), np.split(data.returns_to_go, ends),
      np.split(data.timesteps, ends))):
    # CartPole rewards 1 a step: R_t is the steps left, R_0 the return.
    np.testing.assert_array_equal(rtg, len(rtg) - np.arange(len(rtg)))
    np.testing.assert_array_equal(steps, np.arange(len(rtg)))
    assert rtg[0] == data.returns[episode] and len(states) == len(rtg)


def test_windows_are_consecutive_steps_cut_at_their_episodes_end():
  data = trajectories.episodes(_input(), 'train')
  last = np.flatnonzero(data.timesteps == 0)[1] - 1  # The last step of episode 0.
  window = trajectories.windows(data, np.array([0, last - 2]), context_length=6)
  assert window['step_mask'].tolist() == [[True] * 6, [True] * 3 + [False] * 3]
  np.testing.assert_array_equal(window['states'][0], data.states[:6])
  np.testing.assert_array_equal(window['actions'][1, :3], data.actions[last - 2:last + 1])
  np.testing.assert_array_equal(window['returns_to_go'][1], [3, 2, 1, 0, 0, 0])
  np.testing.assert_array_equal(window['timesteps'][1, :3], [497, 498, 499])
  assert not window['states'][1, 3:].any()


def test_batches_restart_exactly_and_eval_reads_every_window_once():
  config = _input()
  stream = trajectories.get_iterator(config, 'train', train=True, global_batch_size=8, seed=3)
  batches = [next(stream) for _ in range(3)]
  resumed = next(trajectories.get_iterator(config, 'train', train=True, global_batch_size=8,
                                           seed=3, start_step=2))
  for name, values in resumed.items():
    np.testing.assert_array_equal(values, batches[2][name])
  size = trajectories.num_examples(config, 'validation')
  rows = sum(int(b['mask'].sum()) for b in trajectories.get_iterator(
      config, 'validation', train=False, global_batch_size=64, seed=0))
  assert rows == size == len(trajectories.episodes(config, 'validation').actions)
