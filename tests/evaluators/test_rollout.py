"""The rollout evaluation's play loop on policies checked by hand: what they get and what the
model is shown at each step."""
import gymnasium
import numpy as np

from big_uni.evaluators.kinds import rollout
from input_pipeline import trajectories

K = 4


def _controller_logits(returns_to_go, states, actions, timesteps):
  """The scripted controller's action at every step of the windows, as logits [N, K, 2]."""
  del returns_to_go, actions, timesteps
  pushes = (states[..., 2] + 0.5 * states[..., 3] > 0).astype(int)
  return np.eye(2)[pushes] * 10.0


def test_the_scripted_controller_played_greedily_reaches_the_time_limit():
  returns = rollout.play(_controller_logits, 'CartPole-v1', episodes=3, context_length=K,
                         seed=5)
  assert returns.tolist() == [500.0] * 3


def _pushed_left(seed: int) -> int:
  """The return of always pushing left from reset seed `seed`, stepped here by hand."""
  env = gymnasium.make('CartPole-v1')
  env.reset(seed=seed)
  steps, done = 0, False
  while not done:
    _, _, terminated, truncated, _ = env.step(0)
    steps, done = steps + 1, terminated or truncated
  return steps


def test_always_left_gets_what_stepping_by_hand_gets_and_sees_its_own_history():
  """A policy that always pushes left, recording what it is shown: the returns-to-go start at
  the target and lose each reward (1), timesteps count from 0, the window is the last K steps
  with the actions taken, and the step being decided has action 0 still."""
  shown = []

  def left(returns_to_go, states, actions, timesteps):
    shown.append((returns_to_go.copy(), states.copy(), actions.copy(), timesteps.copy()))
    return np.tile([1.0, 0.0], (*actions.shape, 1))

  returns = rollout.play(left, 'CartPole-v1', episodes=2, context_length=K, target=42.0, seed=7)
  assert returns.tolist() == [_pushed_left(7), _pushed_left(8)]
  assert len(shown) == max(returns)  # One call a step, until every episode has ended.
  for t, (returns_to_go, states, actions, timesteps) in enumerate(shown):
    start = max(0, t - K + 1)
    now = t - start
    for row in np.flatnonzero(t < returns):  # The episodes still running at step t.
      assert timesteps[row].tolist() == list(range(start, start + K))
      np.testing.assert_array_equal(returns_to_go[row, :now + 1],
                                    42.0 - np.arange(start, t + 1))
      assert not actions[row].any()  # Every action taken was 0 (left).
      assert states[row, now].any() and not states[row, now + 1:].any()


def test_sampled_actions_follow_the_softmax():
  rng = np.random.default_rng(0)
  logits = np.log(np.tile([0.2, 0.8], (20_000, 1)))
  assert abs(rollout._choose(logits, True, rng).mean() - 0.8) < 0.01
  assert rollout._choose(logits, False, rng).tolist() == [1] * 20_000


def test_the_controller_is_the_data_generators():
  state = np.array([0.0, 0.0, 0.01, -0.1], np.float32)  # Leaning right, falling left.
  assert trajectories.cartpole_controller(state) == 0
  assert _controller_logits(None, state[None, None], None, None)[0, 0].argmax() == 0
