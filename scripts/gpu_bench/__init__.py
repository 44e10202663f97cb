"""Row families of scripts/bench_gpu.py: size profiles (core), model builders (models), and one
module per stage family (generation, captioning + CLIP score, training + loader, evaluation)."""
