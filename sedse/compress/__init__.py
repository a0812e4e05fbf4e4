"""The SmartExchange compressor and its ablations (numpy; torch only in training)."""

from sedse.compress._compressors import (
    CompressedLayer,
    Compressor,
    LowRank,
    MagnitudePrune,
    Pow2Quant,
    SmartExchange,
    UniformQuant,
)
from sedse.compress._data import DATASETS, Dataset, load_dataset
from sedse.compress._decomposed import to_decomposed, train_decomposed
from sedse.compress._smartexchange import (
    Decomposition,
    SmartExchangeConfig,
    decomposable,
    decompose,
    quantise_pow2,
)
from sedse.compress._storage import INDEX_SCHEMES, smartexchange_encoding
from sedse.compress._train import (
    CompressedModel,
    TrainConfig,
    accuracy,
    compress_model,
    project,
    retrain,
    slim,
    train_float,
)

__all__ = ["DATASETS", "INDEX_SCHEMES", "CompressedLayer", "Compressor", "Dataset",
           "Decomposition", "LowRank", "load_dataset", "CompressedModel", "TrainConfig",
           "accuracy", "compress_model", "project", "retrain", "slim", "train_float",
           "to_decomposed", "train_decomposed",
           "MagnitudePrune", "Pow2Quant", "SmartExchange", "SmartExchangeConfig",
           "UniformQuant", "decomposable", "decompose", "quantise_pow2",
           "smartexchange_encoding"]
