"""`--mode=sample`: a trained language model continues a prompt.

  python -m big_uni.main --config=configs/lm_austen.py --workdir=/tmp/lm_austen --mode=sample \\
      --prompt="It is a truth universally acknowledged" --num_tokens=60 --temperature=0.8 \\
      --top_k=40 --top_p=0.95 --num_samples=3 --seed=0

The params are the latest checkpoint's in the workdir; the prompt is tokenized as the training
text was (the config's tokenizer, no special tokens: a window of text is all the LM saw) and
continued with decoding.generate, greedy at temperature 0. Shapes: N samples, P prompt tokens,
T new tokens.
"""
import functools

import jax
import ml_collections
import numpy as np

from big_uni import decoding, errors, models, pretrained
from input_pipeline import tokenizers

# The families (config.model.name) whose model continues text from nothing but a prompt; the
# encoder-decoder writes from a source text instead.
SAMPLING_FAMILIES = ('causal_lm',)


def sample(config, workdir: str, prompt: str, *, num_tokens: int, num_samples: int = 1,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           seed: int = 0) -> tuple[np.ndarray, list[str]]:
  """(token ids int32 [N, P + T], the prompt's then each sample's own; their texts) of
  `num_samples` continuations of `prompt` by `num_tokens` tokens, drawn after
  decoding.filter_logits (greedy, every row alike, when temperature is 0)."""
  _check_can_sample(config.model.name)
  _check_options(num_tokens, num_samples, temperature, top_k, top_p, config.model.vocab_size)
  tokenizer = tokenizers.build_tokenizer(config.input.tokenizer)
  prompt_ids = tokenizer.encode(prompt)
  if not prompt_ids:
    raise errors.UserInputError('--prompt is empty: give the text to continue')
  length = len(prompt_ids) + num_tokens
  if length > config.model.max_len:
    raise errors.UserInputError(
        f'the prompt ({len(prompt_ids)} tokens) and --num_tokens={num_tokens} need {length} '
        f'positions; model.max_len={config.model.max_len}: ask for fewer tokens')
  params = pretrained.load_source(  # The latest checkpoint's, as export reads them.
      ml_collections.ConfigDict(dict(kind='checkpoint', path=workdir)), config.model)
  prompts = np.tile(np.asarray(prompt_ids, np.int32), (num_samples, 1))
  ids = np.asarray(generate(models.build_model(config.model), params, prompts,
                            jax.random.key(seed) if temperature > 0 else None,
                            num_tokens=num_tokens, temperature=temperature, top_k=top_k,
                            top_p=top_p))
  return ids, [tokenizer.decode(row) for row in ids]


# Compiled once per model and options: the seed and the prompt's tokens are arguments.
@functools.partial(jax.jit, static_argnames=('model', 'num_tokens', 'temperature', 'top_k',
                                             'top_p'))
def generate(model, params, prompts, rng, *, num_tokens: int, temperature: float, top_k: int,
             top_p: float):
  """prompts int32 [N, P] -> int32 [N, P + T]: decoding.generate with a cache of P + T
  positions; greedy when rng is None."""
  cache = decoding.init_cache(model, prompts.shape[0], prompts.shape[1] + num_tokens)
  return decoding.generate(decoding.model_step(model, params), cache, prompts, num_tokens,
                           rng=rng, temperature=temperature, top_k=top_k, top_p=top_p)


def run(config, workdir: str, prompt: str, **options) -> None:
  """Prints each sample of `sample(config, workdir, prompt, **options)`, prompt included."""
  _, texts = sample(config, workdir, prompt, **options)
  for i, text in enumerate(texts):
    print(f'--- sample {i + 1} of {len(texts)}\n{text}')


def _check_can_sample(name: str) -> None:
  if name not in SAMPLING_FAMILIES:
    raise errors.UserInputError(
        f'model.name={name!r} cannot sample: --mode=sample continues a prompt with a language '
        f'model ({", ".join(SAMPLING_FAMILIES)})')


def _check_options(num_tokens, num_samples, temperature, top_k, top_p, vocab_size) -> None:
  for bad, why in ((num_tokens < 1, f'--num_tokens={num_tokens}: at least 1'),
                   (num_samples < 1, f'--num_samples={num_samples}: at least 1'),
                   (temperature < 0, f'--temperature={temperature}: 0 (greedy) or more'),
                   (not 0 <= top_k <= vocab_size,
                    f'--top_k={top_k}: 0 (all) to the vocabulary size {vocab_size}'),
                   (not 0 < top_p <= 1, f'--top_p={top_p}: above 0, at most 1 (all)')):
    if bad:
      raise errors.UserInputError(why)

