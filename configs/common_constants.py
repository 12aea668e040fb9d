"""Values that configs share and that come from outside the project: data, never code.

Configs import only each other and ml_collections (tests/test_layering.py), so these published
constants stand here rather than in the library that meets them too.
"""

# ImageNet's per-channel RGB mean and standard deviation (torchvision's), the normalisation that
# DINOv2 (big_uni/convert/dinov2_onnx.py) and most PyTorch-trained image models expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# That normalisation as a preprocessing op (input_pipeline/ops/image.py) of a pp string.
IMAGENET_NORMALIZE = f'normalize({IMAGENET_MEAN}, {IMAGENET_STD})'

# The CLIP paper's 80 ImageNet prompt templates, '{label}' for the class name: open_clip's
# OPENAI_IMAGENET_TEMPLATES (open_clip/zero_shot_metadata.py of open-clip-torch 3.3.0), copied
# here so that a config builds without fetching that wheel;
# tests/integration/test_clip_zero_shot.py checks this copy against the wheel's
# (big_uni.evaluators.zero_shot.openai_templates reads it).
OPENAI_IMAGENET_TEMPLATES = (
    'a bad photo of a {label}.',
    'a photo of many {label}.',
    'a sculpture of a {label}.',
    'a photo of the hard to see {label}.',
    'a low resolution photo of the {label}.',
    'a rendering of a {label}.',
    'graffiti of a {label}.',
    'a bad photo of the {label}.',
    'a cropped photo of the {label}.',
    'a tattoo of a {label}.',
    'the embroidered {label}.',
    'a photo of a hard to see {label}.',
    'a bright photo of a {label}.',
    'a photo of a clean {label}.',
    'a photo of a dirty {label}.',
    'a dark photo of the {label}.',
    'a drawing of a {label}.',
    'a photo of my {label}.',
    'the plastic {label}.',
    'a photo of the cool {label}.',
    'a close-up photo of a {label}.',
    'a black and white photo of the {label}.',
    'a painting of the {label}.',
    'a painting of a {label}.',
    'a pixelated photo of the {label}.',
    'a sculpture of the {label}.',
    'a bright photo of the {label}.',
    'a cropped photo of a {label}.',
    'a plastic {label}.',
    'a photo of the dirty {label}.',
    'a jpeg corrupted photo of a {label}.',
    'a blurry photo of the {label}.',
    'a photo of the {label}.',
    'a good photo of the {label}.',
    'a rendering of the {label}.',
    'a {label} in a video game.',
    'a photo of one {label}.',
    'a doodle of a {label}.',
    'a close-up photo of the {label}.',
    'a photo of a {label}.',
    'the origami {label}.',
    'the {label} in a video game.',
    'a sketch of a {label}.',
    'a doodle of the {label}.',
    'a origami {label}.',
    'a low resolution photo of a {label}.',
    'the toy {label}.',
    'a rendition of the {label}.',
    'a photo of the clean {label}.',
    'a photo of a large {label}.',
    'a rendition of a {label}.',
    'a photo of a nice {label}.',
    'a photo of a weird {label}.',
    'a blurry photo of a {label}.',
    'a cartoon {label}.',
    'art of a {label}.',
    'a sketch of the {label}.',
    'a embroidered {label}.',
    'a pixelated photo of a {label}.',
    'itap of the {label}.',
    'a jpeg corrupted photo of the {label}.',
    'a good photo of a {label}.',
    'a plushie {label}.',
    'a photo of the nice {label}.',
    'a photo of the small {label}.',
    'a photo of the weird {label}.',
    'the cartoon {label}.',
    'art of the {label}.',
    'a drawing of the {label}.',
    'a photo of the large {label}.',
    'a black and white photo of a {label}.',
    'the plushie {label}.',
    'a dark photo of a {label}.',
    'itap of a {label}.',
    'graffiti of the {label}.',
    'a toy {label}.',
    'itap of my {label}.',
    'a photo of a cool {label}.',
    'a photo of a small {label}.',
    'a tattoo of the {label}.',
)
