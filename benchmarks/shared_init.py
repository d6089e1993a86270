"""The speech experiment's RVQ codec trained per estimator, with and without the shared initialisation,
side by side in one process.

    python -m benchmarks.shared_init                  # 24.4 kbps, STE then NSVQ, quick preset, 1 thread
    python -m benchmarks.shared_init --rate 8 --methods STE,NSVQ,DiVeQ

Training one codec per (estimator, bitrate) with the same seed, every estimator's quantizers start
from the same ``init_from_data``. Both ways train the codecs
of ``--methods`` in turn (:func:`vqcore.experiments.speech_runs.train_codec`, the preset's
recipe): once each on its own, once inside :func:`vqcore.training.shared_initialisation`. The
script checks that the trained codecs are equal tensor for tensor and prints the training seconds
of each codec both ways (the first codec computes the initialisation in both).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from contextlib import nullcontext

import torch

from vqcore.experiments.nsvq2022_presets import METHODS, get_speech_preset
from vqcore.experiments.speech_presets import SpeechRunKey
from vqcore.experiments.speech_runs import SpeechData, train_codec
from vqcore.training import shared_initialisation


def _train(label: str, key: SpeechRunKey, preset, data: SpeechData) -> tuple[dict[str, torch.Tensor], float]:
    method = METHODS[label]
    recipe = preset if method.replace else dataclasses.replace(preset, replace_every=0)
    start = time.perf_counter()
    codec, _ = train_codec(key, recipe, data, torch.device("cpu"),
                           options={"estimator": method.estimator, "diveq_noise_std": preset.diveq_noise_std})
    return codec.state_dict(), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--rate", type=float, default=24.4, help="bitrate (kbps)")
    parser.add_argument("--methods", default="STE,NSVQ", help="labels of the figure's methods, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    preset = get_speech_preset(args.preset)
    data = SpeechData(preset, None, False)
    labels = args.methods.split(",")
    key = SpeechRunKey("RVQ", args.rate, 0)
    results = {}
    for shared in (False, True):
        with shared_initialisation() if shared else nullcontext():
            results[shared] = [_train(label, key, preset, data) for label in labels]
    for label, (alone, t_alone), (together, t_shared) in zip(labels, results[False], results[True]):
        same = alone.keys() == together.keys() and all(torch.equal(alone[k], together[k]) for k in alone)
        print(f"{label} {key.name}: train {t_alone:.1f} s alone, {t_shared:.1f} s shared; identical codec: {same}")
        if not same:
            raise AssertionError(f"{label} {key.name}: the shared initialisation changed the codec")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
