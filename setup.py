"""bert4keras_ext: eight 2020 "Scientific Spaces" articles as reusable parts for bert4keras on TF 2.21.

bert4keras 0.11.5 itself is NOT listed in install_requires: its `keras<=2.3.1` pin conflicts with TensorFlow 2.21
(`ResolutionImpossible`). Install it with `pip install --no-deps bert4keras==0.11.5` (scripts/setup.sh does).
"""
from setuptools import find_packages, setup

setup(
    name='bert4keras_ext',
    version='0.1.0',
    description='Keras 2 (tf-keras) extensions for bert4keras: decoding, losses, regularizers, training steps',
    packages=find_packages(include=['bert4keras_ext', 'bert4keras_ext.*']),
    # the shipped models (assets/tiny_bert_zh, assets/qa_generator, assets/qa_reader) with their settings
    package_data={'bert4keras_ext': ['assets/*/*']},
    python_requires='>=3.11,<3.13',  # 3.12: checked (TF 2.21 wheels, a test subset passes),
    install_requires=[
        'tensorflow==2.21.*',
        'tf-keras==2.21.*',
        'numpy',
        'snownlp',
        'safetensors',
        'matplotlib',
        'prometheus_client',  # the /metrics endpoint of the QA server
    ],
    extras_require={'test': ['pytest', 'hypothesis']},
)
