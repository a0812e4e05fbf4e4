"""The SmartExchange compressor and its ablations (numpy; torch only in training), the
compress-and-measure pipeline, the compressed-model directory and the per-layer
statistics the cost model reads (`LayerStats`). Importing it does not import torch."""

from sedse.compress._activations import ACTIVATION_FIELDS, activation_stats
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
from sedse.compress._io import FORMAT, load_compressed, load_compressed_model, save_compressed
from sedse.compress._pipeline import CompressionOutcome, compress_and_measure, plain_encoding
from sedse.compress._smartexchange import (
    DECOMPOSITION_VERSION,
    Decomposition,
    SmartExchangeConfig,
    decomposable,
    decompose,
    decompose_reference,
    kernel_rows,
    quantise_pow2,
    to_blocks,
)
from sedse.compress._stats import (
    LayerFields,
    LayerStats,
    default_activations,
    stats_by_decomposition,
    stats_from_compressed,
    stats_from_file,
)
from sedse.compress._storage import INDEX_SCHEMES, smartexchange_encoding
from sedse.compress._train import (
    DEFAULT_CACHE,
    CompressedModel,
    TrainConfig,
    accuracy,
    compress_model,
    float_key,
    project,
    retrain,
    slim,
    train_float,
)

__all__ = ["ACTIVATION_FIELDS", "DATASETS", "DECOMPOSITION_VERSION", "DEFAULT_CACHE", "FORMAT",
           "INDEX_SCHEMES",
           "CompressedLayer",
           "CompressedModel", "CompressionOutcome", "Compressor", "Dataset", "Decomposition",
           "LayerFields", "LayerStats", "LowRank", "MagnitudePrune", "Pow2Quant",
           "SmartExchange", "SmartExchangeConfig", "TrainConfig", "UniformQuant", "accuracy",
           "activation_stats", "compress_and_measure", "compress_model", "decomposable",
           "decompose", "decompose_reference", "default_activations", "float_key",
           "kernel_rows",
           "load_compressed", "to_blocks",
           "load_compressed_model", "load_dataset", "plain_encoding", "project",
           "quantise_pow2", "retrain", "save_compressed", "slim", "smartexchange_encoding",
           "stats_by_decomposition", "stats_from_compressed", "stats_from_file",
           "to_decomposed", "train_decomposed", "train_float"]
