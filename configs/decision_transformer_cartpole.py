"""Decision Transformer (models/decision_transformer.py) on CartPole-v1 offline data, against
behaviour cloning with the same model and data.

Data (input_pipeline/trajectories.py): 40 training episodes of each of five policies, the
scripted controller (push towards where the pole falls; 500 every time) taking a random action
with probability 0, 0.25, 0.5, 0.75 and 1; windows of K = 20 timesteps. A tiny model (3 blocks of
D 64, 1 head, the paper's gym layout otherwise), AdamW at 1e-3 (the paper's 1e-4 with 10k warmup
steps is for 100k steps), weight decay 1e-4, gradients clipped at 0.25 as the paper's.
At the end: the task's loss and action accuracy on the validation episodes, and rollouts of 20
episodes at target returns 100, 250 and 500 (behaviour cloning: once), actions drawn from the
softmax (`rollout`) and argmax (`rollout_greedy`), beside the data's own returns.

Variants (`--config=configs/decision_transformer_cartpole.py:<arg>`):
  dt | bc      the Decision Transformer (the default) or behaviour cloning (no return tokens)
  smoke        a few steps of a 1-block 16-wide model on a few episodes
  size=paper   the paper's gym model (3 blocks, D 128, 1 head, K 20), for --mode=shapes

COMMAND:
  python -m big_uni.main --config=configs/decision_transformer_cartpole.py --workdir=/tmp/dt_cartpole
  python -m big_uni.main --config=configs/decision_transformer_cartpole.py:bc --workdir=/tmp/bc_cartpole
Parameters (`--mode=shapes`): 182,914 (DT; BC 182,786, without the return embedding); the
paper's gym size, `:size=paper`: 660,738.
Measured (2,000 steps of 64 windows, CPU reserved (docs/results.md, "Timing"): DT 4 min 0 s to
4 min 35 s wall at ~10 steps/s, BC 2 min 22 s to 3 min 3 s; a second DT run of seed 0 gave the
same figures to the last digit), mean return of 20 episodes at model seeds 0 / 1 / 2
(`--config.seed=N`; the data is the same) and their mean +- std:
                          target 100             target 250              target 500
  DT, sampled actions     64.0 / 97.0 / 79.0     226.2 / 338.4 / 323.4   476.6 / 451.6 / 469.1
                          = 80.0 +- 16.5         = 296.0 +- 60.9         = 465.7 +- 12.9
  DT, argmax actions      324.5 / 421.9 / 117.5  500 / 500 / 478.4       500 / 500 / 500
  BC, sampled actions     251.0 / 186.7 / 142.2 = 193.3 +- 54.7 (no target)
  BC, argmax actions      500 / 500 / 500 (no target)
  the data (200 episodes) mean 209.3, max 500; per policy epsilon 0: 500.0, 0.25: 373.1,
  0.5: 111.0, 0.75: 41.2, 1: 21.2
  validation action accuracy (noisy policies' actions), seed 0: DT 87.18% (loss 0.331), BC
  86.75% (0.348)
Sampled, the DT's return rises with its target at every seed, and at 500 it beats BC (about the
data's average policy) and the data's mean at every seed. Argmax actions remove the random part of
every noisy policy, which on this data is the scripted controller itself: BC then reaches 500
too, and so does the DT unless the target is low (288 on average at 100).
"""
import ml_collections

from configs import common

TARGETS = (100, 250, 500)


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, method=('dt', 'bc'), smoke=False, size=('tiny', 'paper'))
  config = common.core(task='decision_transformer', total_steps=2000, log_every_steps=200,
                       checkpoint_every_steps=1000)
  config.model = ml_collections.ConfigDict(dict(
      name='decision_transformer', state_dim=4, num_actions=2, max_timestep=500,
      returns=arg.method == 'dt', return_scale=100.0))
  if arg.size == 'tiny':
    config.model.update(dict(width=64, depth=3, num_heads=1, mlp_dim=256))
  config.input = ml_collections.ConfigDict(dict(
      dataset='CartPole-v1', train_split='train', eval_split='validation', context_length=20,
      batch_size=64, eval_batch_size=512))
  config.optimizer.update(dict(lr=1e-3, weight_decay=1e-4, grad_clip_norm=0.25,
                               warmup_steps=100))
  config.evals.rollout = dict(kind='rollout', targets=TARGETS, episodes=20)
  config.evals.rollout_greedy = dict(kind='rollout', targets=TARGETS, episodes=20, sample=False)
  return smoke(config) if arg.smoke else config


def smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """4 steps of a 1-block 16-wide model on one episode of a random and of the scripted policy,
  windows of 4 steps; rollouts of 2 episodes at one target."""
  config.update(dict(total_steps=4, log_every_steps=2, checkpoint_every_steps=2))
  config.model.update(dict(width=16, depth=1, num_heads=1, mlp_dim=32))
  config.input.update(dict(context_length=4, batch_size=8, eval_batch_size=64,
                           epsilons=(0.0, 1.0), train_episodes=1, validation_episodes=1))
  for name in ('rollout', 'rollout_greedy'):
    config.evals[name].update(dict(targets=(500,), episodes=2))
  return config
